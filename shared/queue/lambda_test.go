package queue

import (
	"bytes"
	"context"
	"errors"
	"log/slog"
	"reflect"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aws/aws-lambda-go/events"
)

func sqsEvent(bodies ...string) events.SQSEvent {
	var ev events.SQSEvent
	for i, b := range bodies {
		ev.Records = append(ev.Records, events.SQSMessage{
			MessageId:  "m" + string(rune('0'+i)),
			Body:       b,
			Attributes: map[string]string{"ApproximateReceiveCount": "1"},
		})
	}
	return ev
}

// captureLog sends slog.Default() to a buffer for the test.
func captureLog(t *testing.T) *syncBuffer {
	t.Helper()
	var buf syncBuffer
	old := slog.Default()
	slog.SetDefault(slog.New(slog.NewTextHandler(&buf, nil)))
	t.Cleanup(func() { slog.SetDefault(old) })
	return &buf
}

type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

func TestLambdaSQSReportsOnlyFailures(t *testing.T) {
	log := captureLog(t)
	handle := func(ctx context.Context, body []byte) error {
		switch string(body) {
		case "bad":
			return errors.New("store down")
		case "panic":
			panic("boom")
		}
		return nil
	}
	resp := LambdaSQS(context.Background(), sqsEvent("ok", "bad", "ok", "panic", "bad", "ok"), handle, 2)
	var got []string
	for _, f := range resp.BatchItemFailures {
		got = append(got, f.ItemIdentifier)
	}
	if want := []string{"m1", "m3", "m4"}; !reflect.DeepEqual(got, want) {
		t.Fatalf("batch item failures %v; want %v", got, want)
	}
	lines := strings.Split(strings.TrimSpace(log.String()), "\n")
	if len(lines) != 3 {
		t.Fatalf("logged %d lines; want one per failure:\n%s", len(lines), log)
	}
	for i, id := range []string{"m1", "m3", "m4"} {
		if !strings.Contains(lines[i], "messageId="+id) {
			t.Errorf("line %q does not name message %s", lines[i], id)
		}
	}
	if !strings.Contains(lines[1], "panicked: boom") {
		t.Errorf("panic not logged: %q", lines[1])
	}
}

func TestLambdaSQSAllSucceed(t *testing.T) {
	log := captureLog(t)
	resp := LambdaSQS(context.Background(), sqsEvent("a", "b"), func(context.Context, []byte) error { return nil }, 0)
	// An empty list, not null: SQS deletes every record.
	if resp.BatchItemFailures == nil || len(resp.BatchItemFailures) != 0 {
		t.Fatalf("batch item failures %#v; want an empty list", resp.BatchItemFailures)
	}
	if log.String() != "" {
		t.Fatalf("logged on success: %s", log)
	}
}

func TestLambdaSQSConcurrency(t *testing.T) {
	captureLog(t)
	for _, tc := range []struct{ concurrency, want int32 }{{2, 2}, {0, 4}} {
		var running, most atomic.Int32
		handle := func(context.Context, []byte) error {
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
		LambdaSQS(context.Background(), sqsEvent("a", "b", "c", "d", "e", "f", "g", "h", "i", "j"), handle, int(tc.concurrency))
		if m := most.Load(); m != tc.want {
			t.Errorf("concurrency %d: %d records at once; want %d", tc.concurrency, m, tc.want)
		}
	}
}

func TestLambdaSQSDeadlinePassed(t *testing.T) {
	captureLog(t)
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	var calls atomic.Int32
	resp := LambdaSQS(ctx, sqsEvent("a", "b"), func(context.Context, []byte) error { calls.Add(1); return nil }, 1)
	if len(resp.BatchItemFailures) != 2 || calls.Load() != 0 {
		t.Fatalf("%d failures after %d calls; want both records failed, none run", len(resp.BatchItemFailures), calls.Load())
	}
}
