// Package vendorutil holds the small pieces the vendor clients share:
// splitting targets into vendor-sized batches, filling results with one
// outcome, and reading Retry-After.
package vendorutil

import (
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/offpush/offpush/shared/push"
)

// Invalid is the InvalidArgument result for a message or target that
// breaks a vendor limit, its reason prefixed with the vendor's name.
func Invalid(vendor string, err error) push.Result {
	return push.Result{Outcome: push.InvalidArgument, Reason: vendor + ": " + err.Error()}
}

// FillAll sets every result to r.
func FillAll(results []push.Result, r push.Result) {
	for i := range results {
		results[i] = r
	}
}

// FillAt sets the results at idx to r.
func FillAt(results []push.Result, idx []int, r push.Result) {
	for _, i := range idx {
		results[i] = r
	}
}

// Fill returns n copies of r.
func Fill(n int, r push.Result) []push.Result {
	out := make([]push.Result, n)
	FillAll(out, r)
	return out
}

// Batch is one request's share of the targets: their indexes into the
// targets given and their tokens.
type Batch struct {
	Idx    []int
	Tokens []string
}

// Batches splits targets, in order, into batches of at most size. When
// keep is not nil, only the targets it accepts are batched (it records the
// result of those it refuses).
func Batches(targets []push.Target, size int, keep func(i int, t push.Target) bool) []Batch {
	var out []Batch
	var cur Batch
	for i, t := range targets {
		if keep != nil && !keep(i, t) {
			continue
		}
		if cur.Idx == nil {
			n := min(size, len(targets)-i)
			cur = Batch{Idx: make([]int, 0, n), Tokens: make([]string, 0, n)}
		}
		cur.Idx = append(cur.Idx, i)
		cur.Tokens = append(cur.Tokens, t.Token)
		if len(cur.Idx) == size {
			out = append(out, cur)
			cur = Batch{}
		}
	}
	if len(cur.Idx) > 0 {
		out = append(out, cur)
	}
	return out
}

// Checked is a keep function for Batches: a target whose token check
// fails gets vendor's InvalidArgument result and is left out.
func Checked(results []push.Result, vendor string, check func(token string) error) func(int, push.Target) bool {
	return func(i int, t push.Target) bool {
		if err := check(t.Token); err != nil {
			results[i] = Invalid(vendor, err)
			return false
		}
		return true
	}
}

// Distinct collects distinct tokens in the order first seen, with the
// indexes of every target that carries each: a token given twice is sent
// once and its result goes to both targets.
type Distinct struct {
	Tokens []string
	Slots  [][]int
	seen   map[string]int
}

// Add records target i with token.
func (d *Distinct) Add(i int, token string) {
	if j, ok := d.seen[token]; ok {
		d.Slots[j] = append(d.Slots[j], i)
		return
	}
	if d.seen == nil {
		d.seen = map[string]int{}
	}
	d.seen[token] = len(d.Tokens)
	d.Tokens = append(d.Tokens, token)
	d.Slots = append(d.Slots, []int{i})
}

// Flatten joins slots into one list of indexes.
func Flatten(slots [][]int) []int {
	var out []int
	for _, s := range slots {
		out = append(out, s...)
	}
	return out
}

// Chunks splits n items into the fewest runs of at most size items, of
// nearly equal length: [start, end) pairs.
func Chunks(n, size int) [][2]int {
	if n == 0 {
		return nil
	}
	k := (n + size - 1) / size
	out := make([][2]int, 0, k)
	start := 0
	for i := range k {
		end := start + n/k
		if i < n%k {
			end++
		}
		out = append(out, [2]int{start, end})
		start = end
	}
	return out
}

// RetryAfter parses a Retry-After value: whole seconds, or an HTTP date
// after now. Anything else, and a value that is not positive, gives 0.
func RetryAfter(v string, now time.Time) time.Duration {
	v = strings.TrimSpace(v)
	if v == "" {
		return 0
	}
	if s, err := strconv.Atoi(v); err == nil {
		if s <= 0 {
			return 0
		}
		return time.Duration(s) * time.Second
	}
	if t, err := http.ParseTime(v); err == nil && t.After(now) {
		return t.Sub(now)
	}
	return 0
}

// RetryAfterHeader is RetryAfter of h's Retry-After header.
func RetryAfterHeader(h http.Header, now time.Time) time.Duration {
	return RetryAfter(h.Get("Retry-After"), now)
}

// DryRunResult is the result of a target in a dry run of a vendor without
// a validate-only mode: built and checked, nothing sent.
var DryRunResult = push.Result{Outcome: push.Sent, Reason: "dry_run"}

// Parallel runs do(0) to do(n-1), at most limit at a time, and returns
// when all are done: how every batching vendor sends its requests.
func Parallel(n, limit int, do func(i int)) {
	sem := make(chan struct{}, max(limit, 1))
	var wg sync.WaitGroup
	for i := range n {
		wg.Add(1)
		sem <- struct{}{}
		go func() {
			defer func() { <-sem; wg.Done() }()
			do(i)
		}()
	}
	wg.Wait()
}
