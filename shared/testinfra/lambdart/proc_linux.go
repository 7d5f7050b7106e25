package lambdart

import "syscall"

// sysProcAttr kills the function's process when the test process dies, even
// without its cleanup (a panic, a timeout, a killed test binary).
func sysProcAttr() *syscall.SysProcAttr {
	return &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
}
