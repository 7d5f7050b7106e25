package lambdahttp

import (
	"math"
	"runtime/debug"
	"testing"
)

func TestTuneGC(t *testing.T) {
	percent0, limit0 := debug.SetGCPercent(100), debug.SetMemoryLimit(math.MaxInt64)
	t.Cleanup(func() { debug.SetGCPercent(percent0); debug.SetMemoryLimit(limit0) })
	for _, tc := range []struct {
		name    string
		env     map[string]string
		percent int
		limit   int64
	}{
		{"outside Lambda", map[string]string{}, 100, math.MaxInt64},
		{"memory size not a number", map[string]string{"AWS_LAMBDA_FUNCTION_MEMORY_SIZE": "lots"}, 100, math.MaxInt64},
		{"512 MB function", map[string]string{"AWS_LAMBDA_FUNCTION_MEMORY_SIZE": "512"}, 400, 384 << 20},
		{"GOGC set", map[string]string{"AWS_LAMBDA_FUNCTION_MEMORY_SIZE": "256", "GOGC": "100"}, 100, 192 << 20},
		{"GOMEMLIMIT set", map[string]string{"AWS_LAMBDA_FUNCTION_MEMORY_SIZE": "1024", "GOMEMLIMIT": "900MiB"}, 400, math.MaxInt64},
	} {
		t.Run(tc.name, func(t *testing.T) {
			debug.SetGCPercent(100)
			debug.SetMemoryLimit(math.MaxInt64)
			percent, limit := TuneGC(func(k string) string { return tc.env[k] })
			if percent != tc.percent || limit != tc.limit {
				t.Fatalf("TuneGC = %d, %d; want %d, %d", percent, limit, tc.percent, tc.limit)
			}
			if got := debug.SetGCPercent(100); got != tc.percent {
				t.Fatalf("GC percent in force %d, want %d", got, tc.percent)
			}
			if got := debug.SetMemoryLimit(-1); got != tc.limit {
				t.Fatalf("memory limit in force %d, want %d", got, tc.limit)
			}
		})
	}
}
