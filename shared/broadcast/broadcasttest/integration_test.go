package broadcasttest

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/sqs"
	sqstypes "github.com/aws/aws-sdk-go-v2/service/sqs/types"

	"github.com/offpush/offpush/shared/broadcast"
	"github.com/offpush/offpush/shared/delivery"
	"github.com/offpush/offpush/shared/queue"
	"github.com/offpush/offpush/shared/store"
)

// TestBroadcastToAll20k broadcasts to 20,000 users through the planning and
// bulk queues: every device is pushed once, as the vendor saw it, and the
// job's counters add up.
func TestBroadcastToAll20k(t *testing.T) {
	t.Parallel()
	const users = 20000
	e := newEnv(t, envConfig{Segments: 8})
	start := time.Now()
	e.seedUsers(users)
	t.Logf("seeded %d users in %s", users, time.Since(start).Round(time.Millisecond))

	log := newBatchLog()
	e.pump(e.planURL, e.handleTask(), 2, 10)
	// Four message-push containers, each taking ten messages an invocation.
	for range 4 {
		e.pump(e.bulkURL, log.wrap(e.handleBatch(e.newWorker())), 1, 10)
	}
	start = time.Now()
	id := e.create(broadcast.Audience{All: true})
	j := e.waitJob(id, 60*time.Second, finished)
	t.Logf("broadcast to %d users %s in %s: %+v", users, j.Status, time.Since(start).Round(time.Millisecond), j.Counts)
	e.waitEmpty(e.bulkURL, 10*time.Second)
	e.waitEmpty(e.planURL, 10*time.Second)

	got, _ := e.pushed(0)
	checkOnce(t, got, tokens(users))
	batches, messages := log.distinct()
	c := j.Counts
	if j.Status != store.JobCompleted || c.Users != users || c.Devices != users || c.Sent != users || c.Skipped+c.Failed+c.InvalidTokens != 0 ||
		c.Batches != int64(batches) || c.BatchesDone != c.Batches || messages != batches {
		t.Fatalf("job %s %+v; %d distinct batches in %d messages", j.Status, c, batches, messages)
	}
	checkCounts(t, j)
	// Each segment is planned into full batches but its last: 40 batches
	// for 20,000 users in one segment, a few more in eight segments.
	want := 0
	for seg, sizes := range log.perSegment() {
		n := 0
		for k, s := range sizes {
			if s != broadcast.PageSize && k != len(sizes)-1 {
				t.Errorf("segment %d batch %d has %d users", seg, k, s)
			}
			n += s
		}
		want += (n + broadcast.PageSize - 1) / broadcast.PageSize
	}
	if batches != want || batches < users/broadcast.PageSize {
		t.Fatalf("%d batches, want %d (%d segments)", batches, want, len(log.perSegment()))
	}
	t.Logf("%d batches over %d segments", batches, len(log.perSegment()))
}

// TestAudiences broadcasts to tag (AND, OR), attribute (AND, OR) and
// explicit-list audiences of 1,200 users with labels set through the store:
// exactly the matching devices are pushed, once each.
func TestAudiences(t *testing.T) {
	t.Parallel()
	const users = 1200
	e := newEnv(t, envConfig{})
	ids := make([]int, users)
	for i := range ids {
		ids[i] = i
	}
	start := time.Now()
	e.upload(ids, token, func(i int) ([]string, map[string]*string) {
		var tags []string
		if i%2 == 0 {
			tags = append(tags, "even")
		}
		if i%3 == 0 {
			tags = append(tags, "three")
		}
		city, tier := []string{"sh", "bj", "gz"}[i%3], "silver"
		if i%4 == 0 {
			tier = "gold"
		}
		return tags, map[string]*string{"city": &city, "tier": &tier}
	})
	t.Logf("uploaded %d users with tags and attributes in %s", users, time.Since(start).Round(time.Millisecond))
	e.pump(e.planURL, e.handleTask(), 1, 10)
	e.pump(e.bulkURL, e.handleBatch(e.newWorker()), 2, 10)

	matching := func(pred func(i int) bool) []string {
		var out []string
		for i := range users {
			if pred(i) {
				out = append(out, token(i))
			}
		}
		return out
	}
	var list []string
	for i := range users {
		list = append(list, userID(i))
	}
	for i := users; len(list) < 2001; i++ {
		list = append(list, userID(i)) // users without devices
	}
	for _, c := range []struct {
		name    string
		a       broadcast.Audience
		want    []string
		batches int64
	}{
		{"tagsOr", broadcast.Audience{TagsOr: []string{"even", "three"}}, matching(func(i int) bool { return i%2 == 0 || i%3 == 0 }), 0},
		{"tagsAnd", broadcast.Audience{TagsAnd: []string{"even", "three"}}, matching(func(i int) bool { return i%6 == 0 }), 0},
		{"attributesOr", broadcast.Audience{AttributesOr: map[string]string{"city": "bj", "tier": "gold"}}, matching(func(i int) bool { return i%3 == 1 || i%4 == 0 }), 0},
		{"attributesAnd", broadcast.Audience{AttributesAnd: map[string]string{"city": "sh", "tier": "gold"}}, matching(func(i int) bool { return i%12 == 0 }), 0},
		{"attribute", broadcast.Audience{AttributesAnd: map[string]string{"city": "gz"}}, matching(func(i int) bool { return i%3 == 2 }), 0},
		{"list2001", broadcast.Audience{Users: list}, matching(func(int) bool { return true }), 5},
	} {
		t.Run(c.name, func(t *testing.T) {
			_, before := e.pushed(0)
			id := e.create(c.a)
			j := e.waitJob(id, 30*time.Second, finished)
			e.waitEmpty(e.bulkURL, 10*time.Second)
			got, _ := e.pushed(before)
			checkOnce(t, got, c.want)
			n := int64(len(c.want))
			if c := j.Counts; j.Status != store.JobCompleted || c.Devices != n || c.Sent != n || c.Users < n {
				t.Fatalf("job %s %+v, want %d devices sent", j.Status, c, n)
			}
			if c.batches != 0 && (j.Counts.Batches != c.batches || j.Counts.Users != int64(len(list))) {
				t.Fatalf("list: %d users in %d batches, want %d in %d", j.Counts.Users, j.Counts.Batches, len(list), c.batches)
			}
			if c.batches == 0 && j.Counts.Users != n {
				t.Fatalf("%d users planned, want %d", j.Counts.Users, n)
			}
			checkCounts(t, j)
			t.Logf("%s: %+v", c.name, j.Counts)
		})
	}
}

// TestCancelMidway cancels a 4,000-user broadcast after a container has
// delivered three of its eight batches: the others are dropped by a fresh
// container (no cached status) and deleted from the queue, and the counters
// show exactly what went out.
func TestCancelMidway(t *testing.T) {
	t.Parallel()
	const users = 4000
	e := newEnv(t, envConfig{Segments: 1})
	e.seedUsers(users)
	e.pump(e.planURL, e.handleTask(), 1, 10)
	id := e.create(broadcast.Audience{All: true})
	e.waitJob(id, 30*time.Second, func(j store.Job) bool { return j.Planned })
	e.waitEmpty(e.planURL, 10*time.Second)

	// Container A takes one message at a time until three are delivered.
	w := e.handleBatch(e.newWorker())
	for e.delivered.Load() < 3 {
		msgs, err := e.receive(e.ctx, e.bulkURL, 1, 1)
		if err != nil {
			t.Fatal(err)
		}
		e.invoke(e.ctx, e.bulkURL, msgs, w)
	}
	v, err := e.svc.Cancel(e.ctx, id)
	if err != nil || v.Status != store.JobCancelled {
		t.Fatalf("cancel: %+v %v", v, err)
	}
	// Container B drains the rest.
	e.pump(e.bulkURL, e.handleBatch(e.newWorker()), 2, 10)
	e.waitEmpty(e.bulkURL, 20*time.Second)

	got, _ := e.pushed(0)
	if len(got) != 3*broadcast.PageSize {
		t.Fatalf("%d devices pushed, want the %d of three batches", len(got), 3*broadcast.PageSize)
	}
	for tok, n := range got {
		if n != 1 {
			t.Fatalf("%s pushed %d times", tok, n)
		}
	}
	j, err := e.st.GetJob(e.ctx, id)
	if err != nil {
		t.Fatal(err)
	}
	c := j.Counts
	if j.Status != store.JobCancelled || c.Users != users || c.Batches != users/broadcast.PageSize || c.BatchesDone != 3 ||
		c.Devices != 3*broadcast.PageSize || c.Sent != c.Devices || e.handled.Load() != users/broadcast.PageSize {
		t.Fatalf("after cancel: %s %+v, %d messages handled", j.Status, c, e.handled.Load())
	}
	checkCounts(t, j)
	if _, err := e.svc.Cancel(e.ctx, id); !errors.Is(err, broadcast.ErrFinished) {
		t.Fatalf("second cancel: %v", err)
	}
}

// crashingSender sends the batches of its crashAt-th call and then fails,
// as a planner that dies between enqueueing and checkpointing.
type crashingSender struct {
	next    broadcast.BatchSender
	crashAt int64
	calls   atomic.Int64
	sent    atomic.Int64 // batches enqueued
	crashed atomic.Int64 // batches enqueued by the crashed call
}

func (c *crashingSender) SendBatches(ctx context.Context, bs []delivery.Batch) error {
	if err := c.next.SendBatches(ctx, bs); err != nil {
		return err
	}
	c.sent.Add(int64(len(bs)))
	if c.calls.Add(1) == c.crashAt {
		c.crashed.Store(int64(len(bs)))
		return errors.New("planner crashed after sending, before its checkpoint")
	}
	return nil
}

// TestPlannerCrashResumes crashes a planning task after it enqueued ten
// batches and before it saved its checkpoint: the task comes back from the
// planning queue after its visibility timeout, re-sends those batches under
// the same numbers, and the workers push each device once.
func TestPlannerCrashResumes(t *testing.T) {
	t.Parallel()
	const users = 4000
	var crash *crashingSender
	// Short visibility timeouts: the crashed task comes back within a second,
	// and a re-sent batch that met its original still in flight (ErrBusy)
	// within two.
	e := newEnv(t, envConfig{Segments: 2, PlanVisibility: time.Second, BulkVisibility: 2 * time.Second, WrapBatches: func(next broadcast.BatchSender) broadcast.BatchSender {
		crash = &crashingSender{next: next, crashAt: 1}
		return crash
	}})
	e.seedUsers(users)
	log := newBatchLog()
	e.pump(e.planURL, e.handleTask(), 2, 10)
	e.pump(e.bulkURL, log.wrap(e.handleBatch(e.newWorker())), 2, 10)
	id := e.create(broadcast.Audience{All: true})
	j := e.waitJob(id, 45*time.Second, finished)
	e.waitEmpty(e.planURL, 10*time.Second)
	e.waitEmpty(e.bulkURL, 10*time.Second)

	batches, handled := log.distinct()
	// At least the crashed call's batches went out twice; more may have, if
	// a slow task outlived its visibility timeout and ran twice at once.
	if crashed := crash.crashed.Load(); crashed == 0 || crash.sent.Load() < int64(batches)+crashed {
		t.Fatalf("%d batches enqueued, want the %d distinct ones and the %d of the crashed call again", crash.sent.Load(), batches, crashed)
	}
	if m := log.mismatched(); len(m) > 0 {
		t.Fatalf("batches %v re-sent with other users", m)
	}
	got, _ := e.pushed(0)
	checkOnce(t, got, tokens(users))
	c := j.Counts
	if j.Status != store.JobCompleted || c.Users != users || c.Batches != int64(batches) || c.BatchesDone != c.Batches || c.Sent != users {
		t.Fatalf("after the crash: %s %+v; %d distinct batches", j.Status, c, batches)
	}
	checkCounts(t, j)
	t.Logf("%d batches, %d enqueued (%d re-sent after the crash), %d handlings of first attempts (busy duplicates came back)",
		batches, crash.sent.Load(), crash.crashed.Load(), handled)
}

// TestWorkerRedelivery hands the same SQS message to the worker twice, as
// SQS does when a delete is lost: the second delivery pushes nothing and
// counts nothing.
func TestWorkerRedelivery(t *testing.T) {
	t.Parallel()
	const users = 1000
	e := newEnv(t, envConfig{Segments: 1})
	e.seedUsers(users)
	e.pump(e.planURL, e.handleTask(), 1, 10)
	id := e.create(broadcast.Audience{All: true})
	e.waitJob(id, 30*time.Second, func(j store.Job) bool { return j.Planned })

	handle := e.handleBatch(e.newWorker())
	msgs, err := e.receive(e.ctx, e.bulkURL, 1, 2)
	if err != nil || len(msgs) != 1 {
		t.Fatalf("receive: %d messages, %v", len(msgs), err)
	}
	first := msgs[0]
	if err := handle(e.ctx, []byte(aws.ToString(first.Body))); err != nil {
		t.Fatal(err)
	}
	// The delete is lost: the message becomes visible again.
	if _, err := e.sqs.ChangeMessageVisibility(e.ctx, &sqs.ChangeMessageVisibilityInput{QueueUrl: aws.String(e.bulkURL),
		ReceiptHandle: first.ReceiptHandle, VisibilityTimeout: 0}); err != nil {
		t.Fatal(err)
	}
	_, before := e.pushed(0)
	j1, _ := e.st.GetJob(e.ctx, id)
	again := false
	for !again {
		msgs, err := e.receive(e.ctx, e.bulkURL, 10, 1)
		if err != nil {
			t.Fatal(err)
		}
		for _, m := range msgs {
			if aws.ToString(m.MessageId) != aws.ToString(first.MessageId) {
				// The other batch: leave it for later.
				e.sqs.ChangeMessageVisibility(e.ctx, &sqs.ChangeMessageVisibilityInput{QueueUrl: aws.String(e.bulkURL), ReceiptHandle: m.ReceiptHandle, VisibilityTimeout: 0})
				continue
			}
			if rc := m.Attributes["ApproximateReceiveCount"]; rc != "2" {
				t.Errorf("redelivered message has receive count %q", rc)
			}
			again = true
			e.invoke(e.ctx, e.bulkURL, []sqstypes.Message{m}, handle)
		}
	}
	if got, _ := e.pushed(before); len(got) != 0 {
		t.Fatalf("the redelivered batch pushed %d devices again", len(got))
	}
	if j2, _ := e.st.GetJob(e.ctx, id); j2.Counts != j1.Counts {
		t.Fatalf("the redelivered batch changed the counters: %+v → %+v", j1.Counts, j2.Counts)
	}
	// Concurrent duplicates: two containers get the other batch at once.
	msgs, err = e.receive(e.ctx, e.bulkURL, 1, 2)
	if err != nil || len(msgs) != 1 {
		t.Fatalf("receive: %d messages, %v", len(msgs), err)
	}
	other := e.handleBatch(e.newWorker())
	var wg sync.WaitGroup
	errs := make([]error, 2)
	for k, h := range []func(context.Context, []byte) error{handle, other} {
		wg.Go(func() { errs[k] = h(e.ctx, []byte(aws.ToString(msgs[0].Body))) })
	}
	wg.Wait()
	for _, err := range errs {
		if err != nil && !errors.Is(err, delivery.ErrBusy) {
			t.Fatalf("concurrent duplicate: %v", err)
		}
	}
	e.deleteMessage(e.bulkURL, msgs[0])
	j := e.waitJob(id, 10*time.Second, finished)
	got, _ := e.pushed(0)
	checkOnce(t, got, tokens(users))
	if c := j.Counts; j.Status != store.JobCompleted || c.Batches != 2 || c.BatchesDone != 2 || c.Devices != users || c.Sent != users {
		t.Fatalf("job %s %+v", j.Status, c)
	}
	checkCounts(t, j)
}

// TestDeadLetterAfterMaxAttempts broadcasts to a user whose device the
// vendor keeps refusing as busy: after MaxAttempts (2) the batch, with that
// device, goes to the dead-letter queue given to queue.NewSQS, and the job
// completes with it failed.
func TestDeadLetterAfterMaxAttempts(t *testing.T) {
	t.Parallel()
	e := newEnv(t, envConfig{Segments: 1, MaxAttempts: 2, RetryDelay: time.Millisecond, DeliveryAttempts: 1})
	e.upload([]int{0}, func(int) string { return "busy99-device" }, nil)
	e.upload([]int{1, 2}, token, nil)
	e.pump(e.planURL, e.handleTask(), 1, 10)
	log := newBatchLog()
	e.pump(e.bulkURL, log.wrap(e.handleBatch(e.newWorker())), 1, 10)
	// The busy device alone: Huawei answers a whole request busy.
	id := e.create(broadcast.Audience{Users: []string{userID(0)}})
	j := e.waitJob(id, 30*time.Second, finished)
	e.waitEmpty(e.bulkURL, 10*time.Second)

	got, _ := e.pushed(0)
	if got["busy99-device"] != 2 || len(got) != 1 {
		t.Fatalf("vendor saw %v, want the busy device twice", got)
	}
	c := j.Counts
	if j.Status != store.JobCompleted || c.Batches != 1 || c.BatchesDone != 1 || c.Devices != 1 || c.Failed != 1 || c.Sent != 0 {
		t.Fatalf("job %s %+v", j.Status, c)
	}
	checkCounts(t, j)
	dead, err := e.receive(e.ctx, e.bulkDLQ, 10, 2)
	if err != nil || len(dead) != 1 {
		t.Fatalf("dead-letter queue: %d messages, %v", len(dead), err)
	}
	var b delivery.Batch
	if err := json.Unmarshal([]byte(aws.ToString(dead[0].Body)), &b); err != nil {
		t.Fatal(err)
	}
	reason := aws.ToString(dead[0].MessageAttributes[queue.ReasonAttribute].StringValue)
	if b.JobID != id || fmt.Sprint(b.Users) != "["+userID(0)+"]" || fmt.Sprint(b.Devices) != "["+userID(0)+"/phone]" || b.Attempt != 3 ||
		reason != "still failing after 2 attempts" {
		t.Fatalf("dead letter %+v, reason %q", b, reason)
	}
	if n, _ := log.distinct(); n != 1 || log.retried() != 1 {
		t.Fatalf("%d first attempts, %d retries", n, log.retried())
	}
}
