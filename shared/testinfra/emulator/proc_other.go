//go:build !linux

package emulator

import "syscall"

// sysProcAttr has no parent-death signal outside Linux; Main stops the
// emulator when the tests end.
func sysProcAttr() *syscall.SysProcAttr { return nil }
