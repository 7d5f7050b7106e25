// Package lambdagc gives a benchmark the garbage-collector settings of a
// Lambda container, so what it measures is what a deployed function spends.
package lambdagc

import (
	"os"
	"runtime/debug"
	"strconv"
	"testing"

	"github.com/offpush/offpush/shared/lambdahttp"
)

// MessagePushMemoryMB is message-push's MemorySize in template.yaml.
const MessagePushMemoryMB = 512

// Apply sets the collector as lambdahttp.TuneGC does in a container of
// memoryMB (GOGC or GOMEMLIMIT in the environment still win), logs the
// settings, and restores the previous ones when tb ends.
func Apply(tb testing.TB, memoryMB int) {
	tb.Helper()
	percent, limit := debug.SetGCPercent(-1), debug.SetMemoryLimit(-1)
	debug.SetGCPercent(percent)
	tb.Cleanup(func() {
		debug.SetGCPercent(percent)
		debug.SetMemoryLimit(limit)
	})
	p, l := lambdahttp.TuneGC(func(k string) string {
		if k == "AWS_LAMBDA_FUNCTION_MEMORY_SIZE" {
			return strconv.Itoa(memoryMB)
		}
		return os.Getenv(k)
	})
	tb.Logf("garbage collector as in a %d MB Lambda container: GOGC %d, memory limit %d MiB", memoryMB, p, l>>20)
}
