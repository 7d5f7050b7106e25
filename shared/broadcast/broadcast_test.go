package broadcast

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/offpush/offpush/shared/cert"
	"github.com/offpush/offpush/shared/delivery"
	"github.com/offpush/offpush/shared/device"
	"github.com/offpush/offpush/shared/push"
	"github.com/offpush/offpush/shared/store"
	"github.com/offpush/offpush/shared/store/embedded"
	"github.com/offpush/offpush/shared/store/storetest"
)

// sentClient accepts every target and counts them by token.
type sentClient struct {
	mu   sync.Mutex
	sent map[string]int
}

func (c *sentClient) Requests(m *push.Message, ts []push.Target) ([]push.Request, []push.Result) {
	return nil, make([]push.Result, len(ts))
}

func (c *sentClient) Send(_ context.Context, _ *push.Message, ts []push.Target) []push.Result {
	c.mu.Lock()
	defer c.mu.Unlock()
	out := make([]push.Result, len(ts))
	for i, t := range ts {
		c.sent[t.Token]++
		out[i] = push.Result{Outcome: push.Sent}
	}
	return out
}

type clients struct{ c *sentClient }

func (c clients) For(cert.Certificate) (push.Client, error) { return c.c, nil }

// queues collects batches and runs planning tasks inline.
type queues struct {
	mu      sync.Mutex
	batches []delivery.Batch
	planner *Planner
	tasks   []Task
	failAt  int // SendBatches fails on this call (1-based), once
	calls   int
}

func (q *queues) SendBatches(_ context.Context, bs []delivery.Batch) error {
	q.mu.Lock()
	defer q.mu.Unlock()
	q.calls++
	if q.calls == q.failAt {
		q.batches = append(q.batches, bs...) // sent, but the planner dies before its checkpoint
		return errors.New("planner crashed")
	}
	q.batches = append(q.batches, bs...)
	return nil
}

func (q *queues) EnqueueTask(_ context.Context, t Task) error {
	q.mu.Lock()
	q.tasks = append(q.tasks, t)
	q.mu.Unlock()
	return nil
}

// drain runs queued planning tasks until none are left.
func (q *queues) drain(t *testing.T, ctx context.Context) {
	t.Helper()
	for {
		q.mu.Lock()
		if len(q.tasks) == 0 {
			q.mu.Unlock()
			return
		}
		task := q.tasks[0]
		q.tasks = q.tasks[1:]
		q.mu.Unlock()
		if err := q.planner.Run(ctx, task); err != nil {
			t.Fatalf("plan %+v: %v", task, err)
		}
	}
}

type env struct {
	t        *testing.T
	st       *embedded.Store
	clock    *storetest.Clock
	q        *queues
	planner  *Planner
	svc      *Service
	worker   *delivery.Worker
	client   *sentClient
	progress *Progress
	sched    *fakeScheduler
}

type fakeScheduler struct {
	mu        sync.Mutex
	scheduled map[string]string
}

func (f *fakeScheduler) Schedule(_ context.Context, id, expr, tz string) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.scheduled[id] = expr + " " + tz
	return nil
}

func (f *fakeScheduler) Unschedule(_ context.Context, id string) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	delete(f.scheduled, id)
	return nil
}

func newEnv(t *testing.T) *env {
	e := &env{t: t, clock: storetest.NewClock(), client: &sentClient{sent: map[string]int{}}, sched: &fakeScheduler{scheduled: map[string]string{}}}
	e.st = embedded.OpenMemory(store.Options{Now: e.clock.Now})
	e.q = &queues{}
	log := slog.New(slog.DiscardHandler)
	e.planner = NewPlanner(PlannerConfig{Store: e.st, Batches: e.q, Tasks: e.q, Log: log, Now: e.clock.Now, Segments: 4})
	e.q.planner = e.planner
	e.svc = NewService(e.st, e.planner, e.sched, e.clock.Now)
	e.progress = NewProgress(e.st, e.clock.Now)
	dl := delivery.New(delivery.Config{Store: e.st, Clients: clients{e.client}, Log: log, Now: e.clock.Now})
	e.worker = delivery.NewWorker(dl, delivery.WorkerConfig{Jobs: e.st, Queue: nopQueue{}, Progress: e.progress, Active: e.progress.Active})
	if _, err := e.st.CreateCertificate(context.Background(), cert.Certificate{ID: 1, Vendor: device.Huawei, Name: "hw", Huawei: &cert.Huawei{}}); err != nil {
		t.Fatal(err)
	}
	return e
}

type nopQueue struct{}

func (nopQueue) Enqueue(context.Context, delivery.Batch, time.Duration) error { return nil }
func (nopQueue) DeadLetter(context.Context, delivery.Batch, string) error     { return nil }
func (nopQueue) Reject(context.Context, []byte, string) error                 { return nil }

// users creates n users with one device each, tags, and a city attribute.
func (e *env) users(n int) []string {
	e.t.Helper()
	ctx := context.Background()
	var ids []string
	for i := 0; i < n; i++ {
		id := fmt.Sprintf("user-%05d", i)
		ids = append(ids, id)
		if _, err := e.st.UpsertDevice(ctx, device.Upload{UserID: id, DeviceID: "d", CertificateID: 1, Token: "tok-" + id, Platform: device.Android}); err != nil {
			e.t.Fatal(err)
		}
		var tags []string
		if i%2 == 0 {
			tags = append(tags, "even")
		}
		if i%3 == 0 {
			tags = append(tags, "three")
		}
		if len(tags) > 0 {
			if _, err := e.st.UpdateTags(ctx, id, tags, nil); err != nil {
				e.t.Fatal(err)
			}
		}
		city := []string{"sh", "bj", "gz"}[i%3]
		if _, err := e.st.UpdateAttributes(ctx, id, map[string]*string{"city": &city}); err != nil {
			e.t.Fatal(err)
		}
	}
	return ids
}

// deliver hands every enqueued batch to the worker, as the queue would.
func (e *env) deliver() {
	e.t.Helper()
	e.q.mu.Lock()
	batches := append([]delivery.Batch(nil), e.q.batches...)
	e.q.mu.Unlock()
	for _, b := range batches {
		raw, _ := json.Marshal(b)
		if err := e.worker.Handle(context.Background(), raw); err != nil {
			e.t.Fatalf("batch %d: %v", b.Batch, err)
		}
	}
}

func (e *env) create(a Audience) View {
	e.t.Helper()
	v, err := e.svc.Create(context.Background(), Request{From: "admin", Audience: a, OfflinePushInfo: push.OfflinePushInfo{Desc: "Sale"}})
	if err != nil {
		e.t.Fatal(err)
	}
	e.q.drain(e.t, context.Background())
	return v
}

// batchUsers lists every user in the enqueued batches, checking sizes and
// that batch numbers are distinct.
func (e *env) batchUsers() []string {
	e.t.Helper()
	var out []string
	seen := map[string]bool{}
	for _, b := range e.q.batches {
		if len(b.Users) == 0 || len(b.Users) > PageSize {
			e.t.Fatalf("batch %d has %d users", b.Batch, len(b.Users))
		}
		key := fmt.Sprint(b.JobID, "#", b.Batch)
		if seen[key] {
			e.t.Fatalf("batch %s enqueued twice", key)
		}
		seen[key] = true
		out = append(out, b.Users...)
	}
	sort.Strings(out)
	return out
}

func TestBroadcastToAll(t *testing.T) {
	e := newEnv(t)
	ids := e.users(1234)
	v := e.create(Audience{All: true})
	users := e.batchUsers()
	if fmt.Sprint(users) != fmt.Sprint(ids) {
		t.Fatalf("planned %d users, want each of %d once", len(users), len(ids))
	}
	j, _ := e.st.GetJob(context.Background(), v.BroadcastID)
	if j.Status != store.JobSending || !j.Planned || j.Counts.Users != 1234 || j.Counts.Batches != int64(len(e.q.batches)) {
		t.Fatalf("after planning: %+v", j)
	}
	e.deliver()
	j, _ = e.st.GetJob(context.Background(), v.BroadcastID)
	c := j.Counts
	if j.Status != store.JobCompleted || c.BatchesDone != c.Batches || c.Devices != 1234 || c.Sent != 1234 || c.Sent+c.Skipped+c.Failed != c.Devices {
		t.Fatalf("after delivery: %s %+v", j.Status, c)
	}
	for tok, n := range e.client.sent {
		if n != 1 {
			t.Fatalf("%s pushed %d times", tok, n)
		}
	}
	if len(e.client.sent) != 1234 {
		t.Fatalf("%d devices pushed", len(e.client.sent))
	}
}

func TestAudiences(t *testing.T) {
	e := newEnv(t)
	e.users(1100)
	count := func(pred func(i int) bool) int {
		n := 0
		for i := 0; i < 1100; i++ {
			if pred(i) {
				n++
			}
		}
		return n
	}
	for name, c := range map[string]struct {
		a    Audience
		want int
	}{
		"tagsOr":        {Audience{TagsOr: []string{"even", "three"}}, count(func(i int) bool { return i%2 == 0 || i%3 == 0 })},
		"tagsAnd":       {Audience{TagsAnd: []string{"even", "three"}}, count(func(i int) bool { return i%6 == 0 })},
		"attributesOr":  {Audience{AttributesOr: map[string]string{"city": "sh"}}, count(func(i int) bool { return i%3 == 0 })},
		"attributesAnd": {Audience{AttributesAnd: map[string]string{"city": "bj"}}, count(func(i int) bool { return i%3 == 1 })},
	} {
		t.Run(name, func(t *testing.T) {
			e.q.batches = nil
			e.create(c.a)
			users := e.batchUsers()
			if len(users) != c.want {
				t.Fatalf("%d users, want %d", len(users), c.want)
			}
			for i := 1; i < len(users); i++ {
				if users[i] == users[i-1] {
					t.Fatalf("%s planned twice", users[i])
				}
			}
		})
	}
}

func TestExplicitList(t *testing.T) {
	e := newEnv(t)
	var list []string
	for i := 0; i < 2001; i++ {
		list = append(list, fmt.Sprintf("listed-%04d", i))
	}
	list = append(list, "listed-0000", "listed-0001") // duplicates
	v := e.create(Audience{Users: list})
	if len(e.q.batches) != 5 || len(e.batchUsers()) != 2001 {
		t.Fatalf("%d batches, %d users", len(e.q.batches), len(e.batchUsers()))
	}
	if v.Audience.UsersCount != 2001 || len(v.Audience.Users) != 0 {
		t.Fatalf("view audience %+v", v.Audience)
	}
	// Users without devices: delivered with nothing to push, completed.
	e.deliver()
	if j, _ := e.st.GetJob(context.Background(), v.BroadcastID); j.Status != store.JobCompleted || j.Counts.BatchesDone != 5 {
		t.Fatalf("list broadcast: %s %+v", j.Status, j.Counts)
	}
}

func TestEmptyAudienceCompletes(t *testing.T) {
	e := newEnv(t)
	v := e.create(Audience{TagsOr: []string{"nobody-has-this"}})
	if j, _ := e.st.GetJob(context.Background(), v.BroadcastID); j.Status != store.JobCompleted || j.Counts.Batches != 0 {
		t.Fatalf("empty audience: %s %+v", j.Status, j.Counts)
	}
}

func TestPlannerCrashResumesWithoutDuplicates(t *testing.T) {
	e := newEnv(t)
	e.users(6000) // 12+ batches over 4 segments
	e.q.failAt = 2
	v, err := e.svc.Create(context.Background(), Request{From: "admin", Audience: Audience{All: true}, OfflinePushInfo: push.OfflinePushInfo{Desc: "x"}})
	if err != nil {
		t.Fatal(err)
	}
	// Run tasks; the crashing one errors and stays queued (SQS would redeliver it).
	for len(e.q.tasks) > 0 {
		task := e.q.tasks[0]
		if err := e.planner.Run(context.Background(), task); err != nil {
			continue // redelivered: stays at the head
		}
		e.q.tasks = e.q.tasks[1:]
	}
	// The crashed send was re-sent under the same batch numbers.
	byNumber := map[int64][]string{}
	for _, b := range e.q.batches {
		if prev, ok := byNumber[b.Batch]; ok && fmt.Sprint(prev) != fmt.Sprint(b.Users) {
			t.Fatalf("batch %d re-sent with other users", b.Batch)
		}
		byNumber[b.Batch] = b.Users
	}
	e.deliver() // duplicates included: the worker delivers each batch once
	j, _ := e.st.GetJob(context.Background(), v.BroadcastID)
	if j.Counts.Users != 6000 || j.Counts.Batches != int64(len(byNumber)) || j.Status != store.JobCompleted || j.Counts.Sent != 6000 {
		t.Fatalf("after the crash: %s %+v (distinct batches %d)", j.Status, j.Counts, len(byNumber))
	}
	for tok, n := range e.client.sent {
		if n != 1 {
			t.Fatalf("%s pushed %d times", tok, n)
		}
	}
}

func TestCancelStopsUnsentBatches(t *testing.T) {
	e := newEnv(t)
	e.users(1500)
	v := e.create(Audience{All: true})
	first := e.q.batches[0]
	raw, _ := json.Marshal(first)
	if err := e.worker.Handle(context.Background(), raw); err != nil {
		t.Fatal(err)
	}
	if _, err := e.svc.Cancel(context.Background(), v.BroadcastID); err != nil {
		t.Fatal(err)
	}
	e.clock.Advance(time.Minute) // past the workers' status cache
	e.deliver()
	if len(e.client.sent) != len(first.Users) {
		t.Fatalf("%d pushed after cancel, want only the %d of the first batch", len(e.client.sent), len(first.Users))
	}
	if _, err := e.svc.Cancel(context.Background(), v.BroadcastID); !errors.Is(err, ErrFinished) {
		t.Fatalf("cancel twice: %v", err)
	}
}

func TestScheduledAndCampaigns(t *testing.T) {
	e := newEnv(t)
	e.users(10)
	ctx := context.Background()
	at := e.clock.Now().Add(time.Hour)
	v, err := e.svc.Create(ctx, Request{From: "admin", Audience: Audience{All: true}, SendAt: &at, OfflinePushInfo: push.OfflinePushInfo{Desc: "x"}})
	if err != nil || v.Status != store.JobScheduled || e.sched.scheduled[v.BroadcastID] != "at(2026-11-21T11:00:00) UTC" {
		t.Fatalf("sendAt: %+v %v %v", v, err, e.sched.scheduled)
	}
	if err := e.svc.Fire(ctx, v.BroadcastID, time.Time{}); err != nil {
		t.Fatal(err)
	}
	e.q.drain(t, ctx)
	if err := e.svc.Fire(ctx, v.BroadcastID, time.Time{}); err != nil { // a repeated firing
		t.Fatal(err)
	}
	e.q.drain(t, ctx)
	if n := len(e.batchUsers()); n != 10 {
		t.Fatalf("a one-time broadcast planned %d users, want 10 once", n)
	}

	c, err := e.svc.Create(ctx, Request{From: "admin", Audience: Audience{TagsOr: []string{"even"}}, Cron: "cron(0 8 * * ? *)", Timezone: "Asia/Shanghai", OfflinePushInfo: push.OfflinePushInfo{Desc: "daily"}})
	if err != nil || c.Status != store.JobScheduled || e.sched.scheduled[c.BroadcastID] != "cron(0 8 * * ? *) Asia/Shanghai" {
		t.Fatalf("cron: %+v %v", c, err)
	}
	e.q.batches = nil
	e.svc.Fire(ctx, c.BroadcastID, time.Time{})
	e.svc.Fire(ctx, c.BroadcastID, time.Time{}) // the same minute: one run
	e.q.drain(t, ctx)
	e.clock.Advance(24 * time.Hour)
	e.svc.Fire(ctx, c.BroadcastID, time.Time{}) // the next day: a second run
	e.q.drain(t, ctx)
	runs, _ := e.svc.List(ctx, "")
	n := 0
	for _, r := range runs {
		if r.CampaignID == c.BroadcastID {
			n++
		}
	}
	if n != 2 || len(e.batchUsers()) != 10 {
		t.Fatalf("%d runs, %d users planned; want 2 runs of 5", n, len(e.batchUsers()))
	}
	if _, err := e.svc.Cancel(ctx, c.BroadcastID); err != nil || e.sched.scheduled[c.BroadcastID] != "" {
		t.Fatalf("cancel a campaign: %v, schedule %q", err, e.sched.scheduled[c.BroadcastID])
	}
}

func TestBroadcastIdempotent(t *testing.T) {
	e := newEnv(t)
	e.users(3)
	rnd := uint32(99)
	r := Request{From: "admin", Audience: Audience{All: true}, MsgRandom: &rnd, OfflinePushInfo: push.OfflinePushInfo{Desc: "x"}}
	a, err := e.svc.Create(context.Background(), r)
	if err != nil {
		t.Fatal(err)
	}
	b, err := e.svc.Create(context.Background(), r)
	if err != nil || !b.Duplicate || b.BroadcastID != a.BroadcastID {
		t.Fatalf("second: %+v %v", b, err)
	}
	e.q.drain(t, context.Background())
	if n := len(e.batchUsers()); n != 3 {
		t.Fatalf("%d users planned for two identical broadcasts", n)
	}
}

func TestRequestValidation(t *testing.T) {
	now := time.Date(2026, 11, 21, 10, 0, 0, 0, time.UTC)
	past, future := now.Add(-time.Hour), now.Add(time.Hour)
	many := make([]string, 11)
	for i := range many {
		many[i] = fmt.Sprint("t", i)
	}
	for field, r := range map[string]Request{
		"audience":                {From: "a", Audience: Audience{}},
		"audience ":               {From: "a", Audience: Audience{All: true, TagsOr: []string{"x"}}},
		"audience  ":              {From: "a", Audience: Audience{TagsOr: []string{"x"}, AttributesOr: map[string]string{"a": "b"}}},
		"audience.tagsOr":         {From: "a", Audience: Audience{TagsOr: many}},
		"audience.tagsAnd[0]":     {From: "a", Audience: Audience{TagsAnd: []string{strings.Repeat("x", 51)}}},
		"audience.attributesOr.a": {From: "a", Audience: Audience{AttributesOr: map[string]string{"a": ""}}},
		"audience.users[1]":       {From: "a", Audience: Audience{Users: []string{"ok", "bad/id"}}},
		"sendAt":                  {From: "a", Audience: Audience{All: true}, SendAt: &past},
		"cron":                    {From: "a", Audience: Audience{All: true}, Cron: "every day"},
		"cron ":                   {From: "a", Audience: Audience{All: true}, Cron: "cron(0 8 * * ? *)", SendAt: &future},
		"timezone":                {From: "a", Audience: Audience{All: true}, Timezone: "Mars/Base"},
		"from":                    {Audience: Audience{All: true}},
		"offlinePushInfo.ext":     {From: "a", Audience: Audience{All: true}, OfflinePushInfo: push.OfflinePushInfo{Ext: "nope"}},
	} {
		_, _, err := r.Validate(now)
		var fe *device.FieldError
		if !errors.As(err, &fe) || fe.Field != strings.TrimSpace(field) {
			t.Errorf("%s: %v", field, err)
		}
	}
}

func TestParseSchedule(t *testing.T) {
	utc := time.UTC
	sh, _ := time.LoadLocation("Asia/Shanghai")
	base := time.Date(2026, 11, 21, 10, 0, 0, 0, utc) // a Saturday
	for _, c := range []struct {
		expr string
		loc  *time.Location
		want time.Time
	}{
		{"cron(0 8 * * ? *)", utc, time.Date(2026, 11, 22, 8, 0, 0, 0, utc)},
		{"cron(0 8 * * ? *)", sh, time.Date(2026, 11, 22, 8, 0, 0, 0, sh)},
		{"cron(30 10 ? * MON-FRI *)", utc, time.Date(2026, 11, 23, 10, 30, 0, 0, utc)},
		{"cron(*/15 * * * ? *)", utc, time.Date(2026, 11, 21, 10, 15, 0, 0, utc)},
		{"cron(0 0 1 JAN ? *)", utc, time.Date(2027, 1, 1, 0, 0, 0, 0, utc)},
		{"cron(0 12 ? * 1 *)", utc, time.Date(2026, 11, 22, 12, 0, 0, 0, utc)}, // 1 = Sunday
		{"cron(0 9 ? JUL SAT 2027)", utc, time.Date(2027, 7, 3, 9, 0, 0, 0, utc)},
		{"rate(5 minutes)", utc, time.Date(2026, 11, 21, 10, 5, 0, 0, utc)},
		{"rate(1 day)", utc, time.Date(2026, 11, 22, 0, 0, 0, 0, utc)},
		{"at(2026-12-01T08:00:00)", utc, time.Date(2026, 12, 1, 8, 0, 0, 0, utc)},
		{"at(2026-01-01T08:00:00)", utc, time.Time{}},
	} {
		s, err := ParseSchedule(c.expr)
		if err != nil {
			t.Fatalf("%s: %v", c.expr, err)
		}
		if got := s.Next(base, c.loc); !got.Equal(c.want) {
			t.Errorf("%s in %s: next %v, want %v", c.expr, c.loc, got, c.want)
		}
	}
	for _, bad := range []string{"cron(0 8 * * * *)", "cron(0 8 ? * ? *)", "cron(0 8 L * ? *)", "cron(0 8 ? * 6#3 *)", "cron(61 8 * * ? *)",
		"cron(0 8 * *)", "rate(0 minutes)", "rate(1 minutes)", "rate(5 weeks)", "at(tomorrow)", "0 8 * * *"} {
		if _, err := ParseSchedule(bad); err == nil {
			t.Errorf("%s accepted", bad)
		}
	}
}

func TestLocalSchedulerFiresOnce(t *testing.T) {
	fired := make(chan string, 4)
	l := NewLocalScheduler(func(_ context.Context, id string, _ time.Time) error { fired <- id; return nil }, slog.New(slog.DiscardHandler))
	defer l.Close()
	at := time.Now().Add(1500 * time.Millisecond).UTC()
	if err := l.Schedule(context.Background(), "b1", AtExpression(at), "UTC"); err != nil {
		t.Fatal(err)
	}
	select {
	case id := <-fired:
		if id != "b1" {
			t.Fatalf("fired %s", id)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("the schedule did not fire")
	}
	select {
	case id := <-fired:
		t.Fatalf("fired again: %s", id)
	case <-time.After(1500 * time.Millisecond):
	}
}

// every fires at fixed short intervals: a recurring schedule at test speed.
type every time.Duration

func (e every) Next(t time.Time, _ *time.Location) time.Time { return t.Add(time.Duration(e)) }

func TestLocalSchedulerRecurs(t *testing.T) {
	fired := make(chan string, 16)
	l := NewLocalScheduler(func(_ context.Context, id string, _ time.Time) error { fired <- id; return nil }, slog.New(slog.DiscardHandler))
	defer l.Close()
	l.arm("c1", every(150*time.Millisecond), time.UTC, time.Now(), nil)
	for i := 0; i < 3; i++ {
		select {
		case <-fired:
		case <-time.After(3 * time.Second):
			t.Fatalf("firing %d did not come", i+1)
		}
	}
	if err := l.Unschedule(context.Background(), "c1"); err != nil {
		t.Fatal(err)
	}
	time.Sleep(200 * time.Millisecond)
	for len(fired) > 0 {
		<-fired
	}
	select {
	case <-fired:
		t.Fatal("fired after Unschedule")
	case <-time.After(400 * time.Millisecond):
	}
}
