package emulator

import "syscall"

// sysProcAttr kills the emulator when the test process dies, even if it dies
// without running Main's cleanup (a panic, a timeout, go test -c killed).
func sysProcAttr() *syscall.SysProcAttr {
	return &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
}
