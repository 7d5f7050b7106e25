//go:build !linux

package lambdart

import "syscall"

// sysProcAttr has no parent-death signal outside Linux; Close and the test
// cleanup stop the function's process.
func sysProcAttr() *syscall.SysProcAttr { return nil }
