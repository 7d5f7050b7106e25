//go:build !unix

package apns

import (
	"fmt"
	"os"
)

// mockProcessEnv: see mockproc_test.go; the throughput benchmark, which
// measures CPU time with getrusage, runs on Unix only.
const mockProcessEnv = "OFFPUSH_APNS_MOCK_PROCESS"

func runMockProcess() int {
	fmt.Fprintln(os.Stderr, "apns mock process: Unix only")
	return 2
}
