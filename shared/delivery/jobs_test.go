package delivery

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/offpush/offpush/shared/store"
)

type fakeQueue struct {
	// maxUsers makes Enqueue refuse larger batches as too large.
	maxUsers int
	mu       sync.Mutex
	enqueued []Batch
	delays   []time.Duration
	dead     []Batch
	rejected []string // bodies
	reasons  []string
	// rejectErr makes Reject fail.
	rejectErr error
}

func (q *fakeQueue) Reject(_ context.Context, body []byte, reason string) error {
	q.mu.Lock()
	defer q.mu.Unlock()
	if q.rejectErr != nil {
		return q.rejectErr
	}
	q.rejected = append(q.rejected, string(body))
	q.reasons = append(q.reasons, reason)
	return nil
}

func (q *fakeQueue) Enqueue(_ context.Context, b Batch, d time.Duration) error {
	q.mu.Lock()
	defer q.mu.Unlock()
	if q.maxUsers > 0 && len(b.Users) > q.maxUsers {
		return ErrTooLarge
	}
	q.enqueued = append(q.enqueued, b)
	q.delays = append(q.delays, d)
	return nil
}

func (q *fakeQueue) DeadLetter(_ context.Context, b Batch, reason string) error {
	q.mu.Lock()
	defer q.mu.Unlock()
	q.dead = append(q.dead, b)
	return nil
}

type countingJobs struct {
	Jobs
	n int
}

func (c *countingJobs) GetJob(ctx context.Context, id string) (store.Job, error) {
	c.n++
	return c.Jobs.GetJob(ctx, id)
}

type progress struct {
	mu    sync.Mutex
	final []bool
	sent  int
}

func (p *progress) BatchDone(_ context.Context, b Batch, r *Response, final bool) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.final = append(p.final, final)
	_, sent, _, _, _ := r.Counts(final)
	p.sent += sent
	return nil
}

func newWorker(t *testing.T, h *harness) (*Worker, *fakeQueue, *countingJobs, *progress) {
	t.Helper()
	h.dl.retry.Attempts = 1 // retries come back through the queue
	job := store.Job{ID: "job-1", CreatedAt: h.clock.Now(), Message: *textMsg()}
	if err := h.st.PutJob(context.Background(), job); err != nil {
		t.Fatal(err)
	}
	q, jobs, prog := &fakeQueue{}, &countingJobs{Jobs: h.st}, &progress{}
	return NewWorker(h.dl, WorkerConfig{Jobs: jobs, Queue: q, Progress: prog, MaxAttempts: 3}), q, jobs, prog
}

func body(t *testing.T, b Batch) []byte {
	raw, err := json.Marshal(b)
	if err != nil {
		t.Fatal(err)
	}
	return raw
}

func TestWorkerDeliversOnce(t *testing.T) {
	h := newHarness(t)
	w, q, jobs, prog := newWorker(t, h)
	h.upload("alice", "a", 2, "hw-a")
	h.upload("bob", "b", 2, "hw-b")
	msg := body(t, Batch{JobID: "job-1", Batch: 0, Users: []string{"alice", "bob"}, Attempt: 1})
	ctx := context.Background()
	if err := w.Handle(ctx, msg); err != nil {
		t.Fatal(err)
	}
	// SQS delivers the same message again: nothing more is sent.
	if err := w.Handle(ctx, msg); err != nil {
		t.Fatal(err)
	}
	if len(h.huawei.sent) != 2 || len(q.enqueued) != 0 || prog.sent != 2 || fmt.Sprint(prog.final) != "[true]" {
		t.Fatalf("sends %d, enqueued %d, progress %+v", len(h.huawei.sent), len(q.enqueued), prog)
	}
	// The job's content was read once for the container.
	if err := w.Handle(ctx, body(t, Batch{JobID: "job-1", Batch: 1, Users: []string{"alice"}, Attempt: 1})); err != nil {
		t.Fatal(err)
	}
	if jobs.n != 1 {
		t.Fatalf("job read %d times", jobs.n)
	}
}

func TestWorkerRequeuesOnlyFailingUsers(t *testing.T) {
	h := newHarness(t)
	w, q, _, prog := newWorker(t, h)
	h.upload("alice", "a", 2, "hw-a")
	h.upload("bob", "ok", 2, "hw-bob-ok")
	h.upload("bob", "busy", 2, "busy1-bob")
	ctx := context.Background()
	if err := w.Handle(ctx, body(t, Batch{JobID: "job-1", Batch: 4, Users: []string{"alice", "bob"}, Attempt: 1})); err != nil {
		t.Fatal(err)
	}
	if len(q.enqueued) != 1 {
		t.Fatalf("%d re-enqueued", len(q.enqueued))
	}
	next := q.enqueued[0]
	if fmt.Sprint(next.Users) != "[bob]" || next.Attempt != 2 || next.Batch != 4 || fmt.Sprint(next.Devices) != "[bob/busy]" || q.delays[0] != 30*time.Second {
		t.Fatalf("retry batch %+v after %v", next, q.delays[0])
	}
	if err := w.Handle(ctx, body(t, next)); err != nil {
		t.Fatal(err)
	}
	// bob's ok device was not pushed twice; the busy one recovered.
	count := map[string]int{}
	for _, s := range h.huawei.sent {
		count[s.Token]++
	}
	if count["hw-bob-ok"] != 1 || count["busy1-bob"] != 2 || count["hw-a"] != 1 {
		t.Fatalf("sends per token %v", count)
	}
	if len(q.enqueued) != 1 || fmt.Sprint(prog.final) != "[false true]" {
		t.Fatalf("enqueued %d, progress %v", len(q.enqueued), prog.final)
	}
	// Every device is counted once across the two attempts.
	if prog.sent != 3 {
		t.Fatalf("sent counted %d times, want 3 (alice, bob's ok, bob's busy after the retry)", prog.sent)
	}
}

func TestWorkerDeadLettersAfterMaxAttempts(t *testing.T) {
	h := newHarness(t)
	w, q, _, _ := newWorker(t, h)
	h.upload("bob", "busy", 2, "busy99-bob")
	b := Batch{JobID: "job-1", Batch: 0, Users: []string{"bob"}, Attempt: 1}
	ctx := context.Background()
	for i := 0; i < 3; i++ {
		if err := w.Handle(ctx, body(t, b)); err != nil {
			t.Fatal(err)
		}
		if i < 2 {
			b = q.enqueued[len(q.enqueued)-1]
		}
	}
	if len(q.enqueued) != 2 || len(q.dead) != 1 || q.dead[0].Attempt != 4 || q.delays[1] != 60*time.Second {
		t.Fatalf("enqueued %d (delays %v), dead %+v", len(q.enqueued), q.delays, q.dead)
	}
}

func TestWorkerRejectsMalformed(t *testing.T) {
	h := newHarness(t)
	w, q, _, _ := newWorker(t, h)
	h.upload("a", "d1", 2, "hw-a")
	cases := []struct {
		name, reason string
		body         []byte
	}{
		{"not json", "unexpected end of JSON input", []byte("{")},
		{"no users", "users", body(t, Batch{JobID: "job-1", Attempt: 1})},
		{"no attempt", "attempt", body(t, Batch{JobID: "job-1", Users: []string{"a"}})},
		{"retry without devices", "devices", body(t, Batch{JobID: "job-1", Users: []string{"a"}, Attempt: 2})},
		{"bad user", "users[0]", body(t, Batch{JobID: "job-1", Users: []string{"a/b"}, Attempt: 1})},
		{"unknown job", "nope", body(t, Batch{JobID: "nope", Users: []string{"a"}, Attempt: 1})},
	}
	for _, c := range cases {
		if err := w.Handle(context.Background(), c.body); err != nil {
			t.Errorf("%s: %v, want nil: the message is dead-lettered, and must not come back", c.name, err)
		}
	}
	if len(q.rejected) != len(cases) {
		t.Fatalf("%d messages dead-lettered, want %d", len(q.rejected), len(cases))
	}
	for i, c := range cases {
		if q.rejected[i] != string(c.body) || !strings.Contains(q.reasons[i], ErrMalformed.Error()) || !strings.Contains(q.reasons[i], c.reason) {
			t.Errorf("%s: dead letter %q with reason %q, want the body as it came and a reason naming %q", c.name, q.rejected[i], q.reasons[i], c.reason)
		}
	}
	if len(h.huawei.sent) != 0 || len(q.enqueued) != 0 || len(q.dead) != 0 {
		t.Fatalf("malformed messages sent %d, enqueued %d, dead-lettered %d batches", len(h.huawei.sent), len(q.enqueued), len(q.dead))
	}

	// When the dead-letter queue cannot take it, the message comes back.
	q.rejectErr = errors.New("queue unavailable")
	if err := w.Handle(context.Background(), []byte("{")); !errors.Is(err, ErrMalformed) || !strings.Contains(err.Error(), "queue unavailable") {
		t.Fatalf("Handle with the dead-letter queue down = %v, want ErrMalformed naming the queue's failure", err)
	}
}

func TestWorkerConcurrentDuplicate(t *testing.T) {
	h := newHarness(t)
	w, _, _, _ := newWorker(t, h)
	h.upload("alice", "a", 2, "hw-a")
	release := make(chan struct{})
	h.huawei.before = func(string) { <-release }
	msg := body(t, Batch{JobID: "job-1", Users: []string{"alice"}, Attempt: 1})
	errs := make(chan error, 2)
	go func() { errs <- w.Handle(context.Background(), msg) }()
	time.Sleep(50 * time.Millisecond)
	go func() { errs <- w.Handle(context.Background(), msg) }()
	first := <-errs
	close(release)
	second := <-errs
	if !errors.Is(first, ErrBusy) || second != nil || len(h.huawei.sent) != 1 {
		t.Fatalf("errors %v, %v; %d sends", first, second, len(h.huawei.sent))
	}
}

func TestWorkerSplitsARetryTooLargeForTheQueue(t *testing.T) {
	h := newHarness(t)
	w, q, _, _ := newWorker(t, h)
	q.maxUsers = 2
	var users []string
	for i := 0; i < 5; i++ {
		u := fmt.Sprintf("u%d", i)
		users = append(users, u)
		h.upload(u, "ok", 2, "hw-ok-"+u)
		h.upload(u, "busy", 2, "busy1-"+u)
	}
	if err := w.Handle(context.Background(), body(t, Batch{JobID: "job-1", Users: users, Attempt: 1})); err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, b := range q.enqueued {
		if len(b.Users) > 2 {
			t.Fatalf("a batch of %d users was enqueued", len(b.Users))
		}
		for _, u := range b.Users {
			got = append(got, u)
			if !contains(b.Devices, u+"/busy") || contains(b.Devices, u+"/ok") {
				t.Fatalf("batch %+v: want %s's busy device and not its delivered one", b, u)
			}
		}
		for _, d := range b.Devices {
			if u, _, _ := cut(d); !contains(b.Users, u) {
				t.Fatalf("batch %+v carries another batch's device %s", b, d)
			}
		}
	}
	if fmt.Sprint(got) != fmt.Sprint(users) {
		t.Fatalf("users re-enqueued %v, want %v", got, users)
	}
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}
