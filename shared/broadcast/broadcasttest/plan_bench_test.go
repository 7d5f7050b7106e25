package broadcasttest

import (
	"context"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/offpush/offpush/shared/broadcast"
	"github.com/offpush/offpush/shared/cert"
	"github.com/offpush/offpush/shared/delivery"
	"github.com/offpush/offpush/shared/device"
	"github.com/offpush/offpush/shared/push"
	"github.com/offpush/offpush/shared/store"
	"github.com/offpush/offpush/shared/store/embedded"
)

const (
	planUsers    = 1_000_000
	planSegments = 8
)

// seedEmbedded uploads users 0..n-1, one Huawei device each, into an
// embedded store through UpsertDevice: the store's own writes, no HTTP.
func seedEmbedded(tb testing.TB, st *embedded.Store, n int) {
	tb.Helper()
	ctx := context.Background()
	if _, err := st.CreateCertificate(ctx, cert.Certificate{ID: certID, Vendor: device.Huawei, Name: "hw",
		Huawei: &cert.Huawei{AppID: hwAppID, AppSecret: hwSecret}}); err != nil {
		tb.Fatal(err)
	}
	for i := range n {
		if _, err := st.UpsertDevice(ctx, device.Upload{UserID: userID(i), DeviceID: "phone", CertificateID: certID, Token: token(i),
			Platform: device.Android, AppVersion: "2.0.0"}); err != nil {
			tb.Fatal(err)
		}
	}
}

// countingSender counts what the planner enqueues: one SendBatches call is
// one SQS SendMessageBatch call (≤ 10 batches of short user IDs fit one).
type countingSender struct {
	calls, batches, users atomic.Int64
	mu                    sync.Mutex
	seen                  map[string]int // users enqueued, when checking
}

func (c *countingSender) SendBatches(_ context.Context, bs []delivery.Batch) error {
	if len(bs) > 10 {
		return fmt.Errorf("%d batches in one call", len(bs))
	}
	c.calls.Add(1)
	c.batches.Add(int64(len(bs)))
	for _, b := range bs {
		c.users.Add(int64(len(b.Users)))
	}
	if c.seen != nil {
		c.mu.Lock()
		for _, b := range bs {
			for _, u := range b.Users {
				c.seen[u]++
			}
		}
		c.mu.Unlock()
	}
	return nil
}

// inlineTasks runs each planning task in a goroutine of its own, as the
// planning queue's concurrent invocations would.
type inlineTasks struct {
	planner *broadcast.Planner
	wg      sync.WaitGroup
	mu      sync.Mutex
	err     error
}

func (q *inlineTasks) EnqueueTask(ctx context.Context, t broadcast.Task) error {
	q.wg.Go(func() {
		if err := q.planner.Run(context.WithoutCancel(ctx), t); err != nil {
			q.mu.Lock()
			q.err = err
			q.mu.Unlock()
		}
	})
	return nil
}

var planFixture struct {
	once sync.Once
	st   *embedded.Store
	seed time.Duration
}

// BenchmarkPlan1M plans a broadcast to everyone among 1,000,000 users on the
// embedded in-memory store, in 8 scan segments planned at once, into a
// counting batch sender. It reports users/s and, per broadcast, the batches
// and the SQS SendMessageBatch calls they would take.
func BenchmarkPlan1M(b *testing.B) {
	planFixture.once.Do(func() {
		start := time.Now()
		planFixture.st = embedded.OpenMemory(store.Options{})
		seedEmbedded(b, planFixture.st, planUsers)
		planFixture.seed = time.Since(start)
	})
	b.Logf("seeded %d users in %s (once per process)", planUsers, planFixture.seed.Round(time.Millisecond))
	st := planFixture.st
	ctx := context.Background()
	quiet := slog.New(slog.DiscardHandler)
	var elapsed time.Duration
	var calls, batches int64
	b.ResetTimer()
	for i := range b.N {
		sender := &countingSender{}
		if i == 0 {
			sender.seen = make(map[string]int, planUsers)
		}
		tasks := &inlineTasks{}
		tasks.planner = broadcast.NewPlanner(broadcast.PlannerConfig{Store: st, Batches: sender, Tasks: tasks, Log: quiet, Segments: planSegments})
		svc := broadcast.NewService(st, tasks.planner, noScheduler{}, nil)
		start := time.Now()
		v, err := svc.Create(ctx, broadcast.Request{From: "admin", Audience: broadcast.Audience{All: true},
			OfflinePushInfo: push.OfflinePushInfo{Desc: "plan"}})
		if err != nil {
			b.Fatal(err)
		}
		tasks.wg.Wait()
		elapsed += time.Since(start)
		if tasks.err != nil {
			b.Fatal(tasks.err)
		}
		j, err := st.GetJob(ctx, v.BroadcastID)
		if err != nil {
			b.Fatal(err)
		}
		if !j.Planned || j.Counts.Users != planUsers || j.Counts.Batches != sender.batches.Load() || sender.users.Load() != planUsers {
			b.Fatalf("planned %v: %+v; sender saw %d batches of %d users", j.Planned, j.Counts, sender.batches.Load(), sender.users.Load())
		}
		if sender.seen != nil {
			b.StopTimer()
			for u, n := range sender.seen {
				if n != 1 {
					b.Fatalf("%s enqueued %d times", u, n)
				}
			}
			if len(sender.seen) != planUsers {
				b.Fatalf("%d distinct users enqueued", len(sender.seen))
			}
			b.StartTimer()
		}
		calls += sender.calls.Load()
		batches += sender.batches.Load()
	}
	b.ReportMetric(float64(planUsers)*float64(b.N)/elapsed.Seconds(), "users/s")
	b.ReportMetric(float64(calls)/float64(b.N), "sqs-calls/op")
	b.ReportMetric(float64(batches)/float64(b.N), "batches/op")
}
