package queue

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/offpush/offpush/shared/delivery"
)

var quiet = slog.New(slog.NewTextHandler(io.Discard, nil))

// recorder is a handler that records the batches it is given.
type recorder struct {
	mu    sync.Mutex
	calls []delivery.Batch
	at    []time.Time
	fail  func(b delivery.Batch, call int) error // nil: succeed
}

func (r *recorder) handle(ctx context.Context, body []byte) error {
	var b delivery.Batch
	if err := json.Unmarshal(body, &b); err != nil {
		return err
	}
	r.mu.Lock()
	r.calls = append(r.calls, b)
	r.at = append(r.at, time.Now())
	n := len(r.calls)
	r.mu.Unlock()
	if r.fail != nil {
		return r.fail(b, n)
	}
	return nil
}

func (r *recorder) count() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return len(r.calls)
}

// eventually waits up to 5 s for cond.
func eventually(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// noLocalGoroutines fails if a goroutine of a Local outlives its Close.
func noLocalGoroutines(t *testing.T) {
	t.Helper()
	deadline := time.Now().Add(2 * time.Second)
	for {
		buf := make([]byte, 1<<20)
		buf = buf[:runtime.Stack(buf, true)]
		if !bytes.Contains(buf, []byte("queue.(*Local)")) {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("goroutines of Local left after Close:\n%s", buf)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func closeLocal(t *testing.T, l *Local) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := l.Close(ctx); err != nil {
		t.Fatalf("Close: %v", err)
	}
	noLocalGoroutines(t)
	l.mu.Lock()
	defer l.mu.Unlock()
	if len(l.timers) != 0 || len(l.ready) != 0 || l.workers != 0 {
		t.Fatalf("after Close: %d timers, %d ready, %d workers; want none", len(l.timers), len(l.ready), l.workers)
	}
}

func TestLocalDelivers(t *testing.T) {
	var r recorder
	l := NewLocal(r.handle, LocalOptions{Log: quiet})
	bs := batches("job", 23)
	if err := l.SendBatches(context.Background(), bs[:22]); err != nil {
		t.Fatal(err)
	}
	if err := l.Enqueue(context.Background(), bs[22], 0); err != nil {
		t.Fatal(err)
	}
	eventually(t, "23 batches handled", func() bool { return r.count() == 23 })
	closeLocal(t, l)
	seen := map[int64]int{}
	for _, b := range r.calls {
		seen[b.Batch]++
	}
	for i := range bs {
		if seen[int64(i)] != 1 {
			t.Fatalf("batch %d handled %d times", i, seen[int64(i)])
		}
	}
	if d := l.DeadLetters(); len(d) != 0 {
		t.Fatalf("dead letters %v", d)
	}
}

func TestLocalDelay(t *testing.T) {
	var r recorder
	l := NewLocal(r.handle, LocalOptions{Log: quiet})
	start := time.Now()
	// 600 ms rounds up to 1 s, as SQS's DelaySeconds does.
	if err := l.Enqueue(context.Background(), batches("job", 1)[0], 600*time.Millisecond); err != nil {
		t.Fatal(err)
	}
	time.Sleep(700 * time.Millisecond)
	if r.count() != 0 {
		t.Fatal("delayed message handled early")
	}
	eventually(t, "the delayed message", func() bool { return r.count() == 1 })
	if d := r.at[0].Sub(start); d < time.Second {
		t.Fatalf("handled after %s; want 1 s", d)
	}
	closeLocal(t, l)
}

func TestLocalRetriesThenDeadLetters(t *testing.T) {
	const visibility = 50 * time.Millisecond
	r := recorder{fail: func(delivery.Batch, int) error { return errors.New("store down") }}
	l := NewLocal(r.handle, LocalOptions{Visibility: visibility, MaxReceive: 3, Log: quiet})
	if err := l.Enqueue(context.Background(), batches("job", 1)[0], 0); err != nil {
		t.Fatal(err)
	}
	eventually(t, "a dead letter", func() bool { return len(l.DeadLetters()) == 1 })
	time.Sleep(3 * visibility) // it must not come back again
	if n := r.count(); n != 3 {
		t.Fatalf("handled %d times; want MaxReceive = 3", n)
	}
	for i := 1; i < len(r.at); i++ {
		if gap := r.at[i].Sub(r.at[i-1]); gap < visibility {
			t.Fatalf("came back after %s; want the visibility timeout %s", gap, visibility)
		}
	}
	d := l.DeadLetters()[0]
	var b delivery.Batch
	if err := json.Unmarshal(d.Body, &b); err != nil || b.JobID != "job" || d.Receives != 3 || !strings.Contains(d.Reason, "store down") {
		t.Fatalf("dead letter %+v (%v)", d, err)
	}
	closeLocal(t, l)
}

func TestLocalRetrySucceeds(t *testing.T) {
	r := recorder{fail: func(_ delivery.Batch, call int) error {
		if call < 3 {
			return delivery.ErrBusy
		}
		return nil
	}}
	l := NewLocal(r.handle, LocalOptions{Visibility: 10 * time.Millisecond, MaxReceive: 3, Log: quiet})
	if err := l.Enqueue(context.Background(), batches("job", 1)[0], 0); err != nil {
		t.Fatal(err)
	}
	eventually(t, "the third try", func() bool { return r.count() == 3 })
	closeLocal(t, l)
	if r.count() != 3 || len(l.DeadLetters()) != 0 {
		t.Fatalf("%d calls, dead letters %v; want 3 calls and none", r.count(), l.DeadLetters())
	}
}

func TestLocalPanicIsAFailure(t *testing.T) {
	l := NewLocal(func(context.Context, []byte) error { panic("boom") }, LocalOptions{MaxReceive: 1, Log: quiet})
	if err := l.Enqueue(context.Background(), batches("job", 1)[0], 0); err != nil {
		t.Fatal(err)
	}
	eventually(t, "a dead letter", func() bool { return len(l.DeadLetters()) == 1 })
	if r := l.DeadLetters()[0].Reason; !strings.Contains(r, "panicked: boom") {
		t.Fatalf("reason %q", r)
	}
	closeLocal(t, l)
}

func TestLocalDeadLetter(t *testing.T) {
	var r recorder
	l := NewLocal(r.handle, LocalOptions{Log: quiet})
	b := batches("job", 1)[0]
	if err := l.DeadLetter(context.Background(), b, "still failing after 5 attempts"); err != nil {
		t.Fatal(err)
	}
	d := l.DeadLetters()
	if len(d) != 1 || d[0].Reason != "still failing after 5 attempts" || d[0].Receives != 0 {
		t.Fatalf("dead letters %+v", d)
	}
	closeLocal(t, l)
	if r.count() != 0 {
		t.Fatal("a dead letter was handled")
	}
}

func TestLocalReject(t *testing.T) {
	var r recorder
	l := NewLocal(r.handle, LocalOptions{Log: quiet})
	body := []byte("{")
	if err := l.Reject(context.Background(), body, "malformed batch message"); err != nil {
		t.Fatal(err)
	}
	body[0] = 'x' // the dead letter keeps its own copy
	d := l.DeadLetters()
	if len(d) != 1 || string(d[0].Body) != "{" || d[0].Reason != "malformed batch message" {
		t.Fatalf("dead letters %+v", d)
	}
	closeLocal(t, l)
	if r.count() != 0 {
		t.Fatal("a rejected message was handled")
	}
}

func TestLocalBoundedWorkers(t *testing.T) {
	var running, most atomic.Int32
	handler := func(context.Context, []byte) error {
		n := running.Add(1)
		for {
			m := most.Load()
			if n <= m || most.CompareAndSwap(m, n) {
				break
			}
		}
		time.Sleep(10 * time.Millisecond)
		running.Add(-1)
		return nil
	}
	l := NewLocal(handler, LocalOptions{Workers: 3, Log: quiet})
	if err := l.SendBatches(context.Background(), batches("job", 20)); err != nil {
		t.Fatal(err)
	}
	closeLocal(t, l)
	if m := most.Load(); m != 3 {
		t.Fatalf("at most %d handlers at once; want Workers = 3", m)
	}
}

func TestLocalCloseDrains(t *testing.T) {
	r := recorder{fail: func(delivery.Batch, int) error {
		time.Sleep(20 * time.Millisecond)
		return nil
	}}
	l := NewLocal(r.handle, LocalOptions{Workers: 2, Log: quiet})
	if err := l.SendBatches(context.Background(), batches("job", 10)); err != nil {
		t.Fatal(err)
	}
	if err := l.Enqueue(context.Background(), batches("later", 1)[0], time.Minute); err != nil {
		t.Fatal(err)
	}
	closeLocal(t, l) // checks that no goroutine is left, timers included
	if n := r.count(); n != 10 {
		t.Fatalf("Close returned after %d of 10 ready batches", n)
	}
	for _, b := range r.calls {
		if b.JobID == "later" {
			t.Fatal("a message not yet due was handled at Close")
		}
	}
	if err := l.Enqueue(context.Background(), batches("job", 1)[0], 0); !errors.Is(err, ErrClosed) {
		t.Fatalf("Enqueue after Close = %v; want ErrClosed", err)
	}
	if err := l.SendBatches(context.Background(), batches("job", 1)); !errors.Is(err, ErrClosed) {
		t.Fatalf("SendBatches after Close = %v; want ErrClosed", err)
	}
	if err := l.Close(context.Background()); err != nil {
		t.Fatalf("second Close: %v", err)
	}
}

func TestLocalCloseGivesUp(t *testing.T) {
	started := make(chan struct{}, 10)
	var cancelled atomic.Int32
	handler := func(ctx context.Context, _ []byte) error {
		started <- struct{}{}
		<-ctx.Done()
		cancelled.Add(1)
		return ctx.Err()
	}
	l := NewLocal(handler, LocalOptions{Workers: 1, Log: quiet})
	if err := l.SendBatches(context.Background(), batches("job", 3)); err != nil {
		t.Fatal(err)
	}
	<-started
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	if err := l.Close(ctx); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("Close = %v; want the context's deadline", err)
	}
	noLocalGoroutines(t)
	if n := cancelled.Load(); n != 1 {
		t.Fatalf("%d handler calls cancelled; want the one running, the others dropped", n)
	}
}
