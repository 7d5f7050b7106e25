package lambdahttp

import (
	"runtime/debug"
	"strconv"
)

// Garbage-collector settings of a Lambda container (TuneGC).
const (
	// LambdaGCPercent replaces Go's default of 100: the collector runs when
	// the heap has grown by four times what was live, not once.
	LambdaGCPercent = 400
	// lambdaMemoryShare is the part of the function's memory the Go heap
	// may reach before the collector works harder to stay under it.
	lambdaMemoryShare = 0.75
)

// TuneGC sets the garbage collector for a Lambda container, from its
// memory size (AWS_LAMBDA_FUNCTION_MEMORY_SIZE, in MB): GOGC 400, with a
// soft memory limit at three quarters of the function's memory.
//
// A container serves one invocation at a time and its memory is paid for
// whether used or not, while CPU is billed by the millisecond: offpush's
// live heap is tens of megabytes of a 512 MB function, so Go's default
// (collect whenever the heap doubles) spends CPU to keep memory nobody else
// can use. At GOGC 400 the pushing functions collect a quarter as often;
// the memory limit makes the collector work harder before the heap could
// approach the function's memory, so a large batch cannot run out of it.
//
// GOGC or GOMEMLIMIT set in the function's environment win, and outside
// Lambda (no memory size) nothing changes. It returns the settings in
// force: percent and limit in bytes (math.MaxInt64 for none).
func TuneGC(getenv func(string) string) (percent int, limit int64) {
	percent, limit = debug.SetGCPercent(-1), debug.SetMemoryLimit(-1)
	debug.SetGCPercent(percent)
	mb, err := strconv.Atoi(getenv("AWS_LAMBDA_FUNCTION_MEMORY_SIZE"))
	if err != nil || mb <= 0 {
		return percent, limit
	}
	if getenv("GOMEMLIMIT") == "" {
		limit = int64(float64(mb) * lambdaMemoryShare * (1 << 20))
		debug.SetMemoryLimit(limit)
	}
	if getenv("GOGC") == "" {
		percent = LambdaGCPercent
		debug.SetGCPercent(percent)
	}
	return percent, limit
}
