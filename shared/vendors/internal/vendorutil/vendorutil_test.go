package vendorutil

import (
	"net/http"
	"reflect"
	"testing"
	"time"

	"github.com/offpush/offpush/shared/push"
)

func TestBatches(t *testing.T) {
	targets := []push.Target{{Token: "a"}, {Token: "bad"}, {Token: "c"}, {Token: "d"}, {Token: "e"}}
	got := Batches(targets, 2, func(_ int, t push.Target) bool { return t.Token != "bad" })
	want := []Batch{{Idx: []int{0, 2}, Tokens: []string{"a", "c"}}, {Idx: []int{3, 4}, Tokens: []string{"d", "e"}}}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("Batches = %v, want %v", got, want)
	}
	if got := Batches(nil, 2, nil); got != nil {
		t.Fatalf("Batches(nil) = %v", got)
	}
}

func TestDistinct(t *testing.T) {
	var d Distinct
	for i, tok := range []string{"a", "b", "a", "c", "b"} {
		d.Add(i, tok)
	}
	if !reflect.DeepEqual(d.Tokens, []string{"a", "b", "c"}) || !reflect.DeepEqual(d.Slots, [][]int{{0, 2}, {1, 4}, {3}}) {
		t.Fatalf("Distinct = %v %v", d.Tokens, d.Slots)
	}
	if got := Flatten(d.Slots); !reflect.DeepEqual(got, []int{0, 2, 1, 4, 3}) {
		t.Fatalf("Flatten = %v", got)
	}
}

func TestRetryAfter(t *testing.T) {
	now := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	for v, want := range map[string]time.Duration{
		"": 0, "30": 30 * time.Second, " 7 ": 7 * time.Second, "0": 0, "-5": 0, "soon": 0,
		now.Add(90 * time.Second).Format(http.TimeFormat): 90 * time.Second,
		now.Add(-time.Minute).Format(http.TimeFormat):     0,
	} {
		if got := RetryAfter(v, now); got != want {
			t.Errorf("RetryAfter(%q) = %v, want %v", v, got, want)
		}
	}
}
