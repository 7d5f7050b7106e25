package queue

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"reflect"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/sqs"
	sqstypes "github.com/aws/aws-sdk-go-v2/service/sqs/types"
	"github.com/aws/smithy-go/middleware"

	"github.com/offpush/offpush/shared/delivery"
	"github.com/offpush/offpush/shared/testinfra/fauxqs"
)

func batches(job string, n int) []delivery.Batch {
	var bs []delivery.Batch
	for i := 0; i < n; i++ {
		bs = append(bs, delivery.Batch{JobID: job, Batch: int64(i), Users: []string{"u" + strconv.Itoa(i), "v" + strconv.Itoa(i)}, Attempt: 1})
	}
	return bs
}

// countCalls returns a client option counting the calls of each operation.
func countCalls(counts *sync.Map) func(*sqs.Options) {
	return func(o *sqs.Options) {
		o.APIOptions = append(o.APIOptions, func(stack *middleware.Stack) error {
			return stack.Initialize.Add(middleware.InitializeMiddlewareFunc("countCalls",
				func(ctx context.Context, in middleware.InitializeInput, next middleware.InitializeHandler) (middleware.InitializeOutput, middleware.Metadata, error) {
					name := fmt.Sprintf("%T", in.Parameters)
					n, _ := counts.LoadOrStore(name, new(atomic.Int64))
					n.(*atomic.Int64).Add(1)
					return next.HandleInitialize(ctx, in)
				}), middleware.Before)
		})
	}
}

func callCount(counts *sync.Map, input any) int64 {
	n, ok := counts.Load(fmt.Sprintf("%T", input))
	if !ok {
		return 0
	}
	return n.(*atomic.Int64).Load()
}

// receive long-polls url for up to wait seconds and returns what came.
func receive(t *testing.T, c *sqs.Client, url string, max, wait int32) []sqstypes.Message {
	t.Helper()
	out, err := c.ReceiveMessage(context.Background(), &sqs.ReceiveMessageInput{
		QueueUrl: aws.String(url), MaxNumberOfMessages: max, WaitTimeSeconds: wait,
		MessageAttributeNames: []string{"All"},
	})
	if err != nil {
		t.Fatalf("ReceiveMessage: %v", err)
	}
	return out.Messages
}

func decode(t *testing.T, body *string) delivery.Batch {
	t.Helper()
	var b delivery.Batch
	if err := json.Unmarshal([]byte(aws.ToString(body)), &b); err != nil {
		t.Fatalf("message body %q: %v", aws.ToString(body), err)
	}
	return b
}

func TestSQSEnqueue(t *testing.T) {
	c := fauxqs.Client(t)
	url, dlq := fauxqs.NewQueue(t, "enqueue", 3, 30*time.Second)
	q := NewSQS(c, url, dlq)
	want := delivery.Batch{JobID: "job1", Batch: 7, Users: []string{"alice", "bob<&>"}, Devices: []string{"alice/d1"}, Attempt: 2}
	if err := q.Enqueue(context.Background(), want, 0); err != nil {
		t.Fatal(err)
	}
	msgs := receive(t, c, url, 10, 2)
	if len(msgs) != 1 {
		t.Fatalf("received %d messages; want 1", len(msgs))
	}
	if got := decode(t, msgs[0].Body); !reflect.DeepEqual(got, want) {
		t.Fatalf("received %+v; want %+v", got, want)
	}
}

func TestSQSEnqueueDelay(t *testing.T) {
	c := fauxqs.Client(t)
	url, dlq := fauxqs.NewQueue(t, "delay", 3, 30*time.Second)
	q := NewSQS(c, url, dlq)
	start := time.Now()
	// 1.5 s rounds up to 2 s: never early.
	if err := q.Enqueue(context.Background(), batches("job", 1)[0], 1500*time.Millisecond); err != nil {
		t.Fatal(err)
	}
	if msgs := receive(t, c, url, 10, 1); len(msgs) != 0 {
		t.Fatalf("received a message %s after a 1.5 s delay was asked", time.Since(start))
	}
	msgs := receive(t, c, url, 10, 5)
	if len(msgs) != 1 {
		t.Fatal("the delayed message never came")
	}
	if d := time.Since(start); d < 1900*time.Millisecond {
		t.Fatalf("delayed message came after %s; want 2 s", d)
	}
}

func TestSQSSendBatches(t *testing.T) {
	var counts sync.Map
	c := fauxqs.Client(t, countCalls(&counts))
	url, dlq := fauxqs.NewQueue(t, "broadcast", 3, 30*time.Second)
	q := NewSQS(c, url, dlq)
	bs := batches("job-b", 23)
	if err := q.SendBatches(context.Background(), bs); err != nil {
		t.Fatal(err)
	}
	if n := callCount(&counts, &sqs.SendMessageBatchInput{}); n != 3 {
		t.Fatalf("%d SendMessageBatch calls for 23 batches; want 3", n)
	}
	var got []int
	for len(got) < len(bs) {
		msgs := receive(t, c, url, 10, 1)
		if len(msgs) == 0 {
			break
		}
		for _, m := range msgs {
			b := decode(t, m.Body)
			if !reflect.DeepEqual(b, bs[b.Batch]) {
				t.Fatalf("received %+v; want %+v", b, bs[b.Batch])
			}
			got = append(got, int(b.Batch))
		}
	}
	sort.Ints(got)
	for i := range bs {
		if i >= len(got) || got[i] != i {
			t.Fatalf("received batches %v; want 0 to 22 once each", got)
		}
	}
}

// TestSQSFullBatches sends the largest batches, of every kind of character,
// through the emulator, which checks sizes and characters as SQS does.
func TestSQSFullBatches(t *testing.T) {
	c := fauxqs.Client(t)
	url, dlq := fauxqs.NewQueue(t, "full", 3, 30*time.Second)
	q := NewSQS(c, url, dlq)
	var bs []delivery.Batch
	for i, fill := range []string{"u", `"`, "<", "é", "\u2028", "\uFFFF", "😀"} {
		b := fullBatch(fill)
		b.Batch = int64(i)
		bs = append(bs, b)
	}
	if err := q.SendBatches(context.Background(), bs); err != nil {
		t.Fatal(err)
	}
	if err := q.Enqueue(context.Background(), bs[len(bs)-1], 0); err != nil {
		t.Fatal(err)
	}
	got := 0
	for got < len(bs)+1 {
		msgs := receive(t, c, url, 10, 1)
		if len(msgs) == 0 {
			t.Fatalf("received %d of %d batches", got, len(bs)+1)
		}
		for _, m := range msgs {
			b := decode(t, m.Body)
			if !reflect.DeepEqual(b, bs[b.Batch]) {
				t.Fatalf("batch %d came back changed", b.Batch)
			}
			got++
		}
	}
}

func TestSQSDeadLetter(t *testing.T) {
	c := fauxqs.Client(t)
	url, dlq := fauxqs.NewQueue(t, "deadletter", 3, 30*time.Second)
	q := NewSQS(c, url, dlq)
	b := batches("job-d", 1)[0]
	if err := q.DeadLetter(context.Background(), b, "still failing after 5 attempts"); err != nil {
		t.Fatal(err)
	}
	if msgs := receive(t, c, url, 10, 0); len(msgs) != 0 {
		t.Fatal("dead letter went to the main queue")
	}
	msgs := receive(t, c, dlq, 10, 2)
	if len(msgs) != 1 {
		t.Fatalf("dead-letter queue holds %d messages; want 1", len(msgs))
	}
	if got := decode(t, msgs[0].Body); !reflect.DeepEqual(got, b) {
		t.Fatalf("dead letter %+v; want %+v", got, b)
	}
	if r := aws.ToString(msgs[0].MessageAttributes[ReasonAttribute].StringValue); r != "still failing after 5 attempts" {
		t.Fatalf("reason attribute %q", r)
	}
	if err := NewSQS(c, url, "").DeadLetter(context.Background(), b, "x"); err == nil {
		t.Fatal("DeadLetter without a dead-letter queue succeeded")
	}
}

func TestSQSReject(t *testing.T) {
	c := fauxqs.Client(t)
	url, dlq := fauxqs.NewQueue(t, "reject", 3, 30*time.Second)
	q := NewSQS(c, url, dlq)
	body := `{"jobId":"job-r","users":["a"],"attempt":0}`
	if err := q.Reject(context.Background(), []byte(body), "malformed batch message: attempt: must be at least 1\x00"); err != nil {
		t.Fatal(err)
	}
	if msgs := receive(t, c, url, 10, 0); len(msgs) != 0 {
		t.Fatal("a rejected message went to the main queue")
	}
	msgs := receive(t, c, dlq, 10, 2)
	if len(msgs) != 1 || aws.ToString(msgs[0].Body) != body {
		t.Fatalf("dead-letter queue holds %d messages (%v); want the body as it came", len(msgs), msgs)
	}
	if r := aws.ToString(msgs[0].MessageAttributes[ReasonAttribute].StringValue); r != "malformed batch message: attempt: must be at least 1 " {
		t.Fatalf("reason attribute %q: want the reason, its control character replaced", r)
	}
	if err := NewSQS(c, url, "").Reject(context.Background(), []byte(body), "x"); err == nil {
		t.Fatal("Reject without a dead-letter queue succeeded")
	}
	huge := strings.Repeat("x", MaxMessageBytes)
	if err := q.Reject(context.Background(), []byte(huge), "too big"); !errors.Is(err, ErrTooLarge) {
		t.Fatalf("Reject of a body at the size limit = %v, want ErrTooLarge (the reason attribute counts)", err)
	}
}

// TestSQSRedrive runs a consumer like the event source mapping that never
// deletes the message: after maxReceive receives it is in the dead-letter
// queue.
func TestSQSRedrive(t *testing.T) {
	c := fauxqs.Client(t)
	const maxReceive = 2
	url, dlq := fauxqs.NewQueue(t, "redrive", maxReceive, time.Second)
	q := NewSQS(c, url, dlq)
	if err := q.Enqueue(context.Background(), batches("job-r", 1)[0], 0); err != nil {
		t.Fatal(err)
	}
	handled := 0
	deadline := time.Now().Add(10 * time.Second)
	for time.Now().Before(deadline) {
		msgs := receive(t, c, url, 10, 1)
		handled += len(msgs) // the handler fails: nothing deleted
		if handled > maxReceive {
			t.Fatalf("message received %d times; want %d", handled, maxReceive)
		}
		if dead := receive(t, c, dlq, 10, 0); len(dead) == 1 {
			if handled != maxReceive {
				t.Fatalf("dead-lettered after %d receives; want %d", handled, maxReceive)
			}
			if b := decode(t, dead[0].Body); b.JobID != "job-r" {
				t.Fatalf("dead letter %+v", b)
			}
			return
		}
	}
	t.Fatalf("message not in the dead-letter queue after %d receives", handled)
}

// fakeAPI answers SendMessageBatch with failures chosen by the test.
type fakeAPI struct {
	mu    sync.Mutex
	calls [][]string // entry IDs of each SendMessageBatch call
	sent  map[string]string
	tries map[string]int
	// fail says how an entry fails on its try'th send (from 1), or nil.
	fail func(id string, try int) *sqstypes.BatchResultErrorEntry
	// err fails the call'th call (from 1) as a whole, or returns nil.
	err func(call int) error
}

func (f *fakeAPI) SendMessage(ctx context.Context, in *sqs.SendMessageInput, _ ...func(*sqs.Options)) (*sqs.SendMessageOutput, error) {
	return nil, errors.New("not used")
}

func (f *fakeAPI) SendMessageBatch(ctx context.Context, in *sqs.SendMessageBatchInput, _ ...func(*sqs.Options)) (*sqs.SendMessageBatchOutput, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	var ids []string
	for _, e := range in.Entries {
		ids = append(ids, aws.ToString(e.Id))
	}
	f.calls = append(f.calls, ids)
	call := len(f.calls)
	if f.err != nil {
		if err := f.err(call); err != nil {
			return nil, err
		}
	}
	out := &sqs.SendMessageBatchOutput{}
	seen := map[string]bool{}
	for _, e := range in.Entries {
		id := aws.ToString(e.Id)
		if seen[id] {
			return nil, &sqstypes.BatchEntryIdsNotDistinct{}
		}
		seen[id] = true
		if f.tries == nil {
			f.tries = map[string]int{}
		}
		f.tries[id]++
		if f.fail != nil {
			if fe := f.fail(id, f.tries[id]); fe != nil {
				fe.Id = e.Id
				out.Failed = append(out.Failed, *fe)
				continue
			}
		}
		if f.sent == nil {
			f.sent = map[string]string{}
		}
		f.sent[id] = aws.ToString(e.MessageBody)
		out.Successful = append(out.Successful, sqstypes.SendMessageBatchResultEntry{Id: e.Id})
	}
	return out, nil
}

func fastSQS(api API) *SQS {
	q := NewSQS(api, "https://sqs.example/q", "https://sqs.example/dlq")
	q.backoff = time.Millisecond
	return q
}

func TestSendBatchesRetriesFailedEntries(t *testing.T) {
	api := &fakeAPI{fail: func(id string, try int) *sqstypes.BatchResultErrorEntry {
		if (id == "3" || id == "12") && try <= 3 {
			return &sqstypes.BatchResultErrorEntry{Code: aws.String("InternalError"), Message: aws.String("try again")}
		}
		return nil
	}}
	if err := fastSQS(api).SendBatches(context.Background(), batches("j", 13)); err != nil {
		t.Fatalf("SendBatches: %v", err)
	}
	if len(api.sent) != 13 {
		t.Fatalf("%d batches sent; want 13", len(api.sent))
	}
	// Each chunk's failed entries are sent again, alone, before the next chunk.
	var got []string
	for _, ids := range api.calls {
		got = append(got, strings.Join(ids, ","))
	}
	want := []string{"0,1,2,3,4,5,6,7,8,9", "3", "3", "3", "10,11,12", "12", "12", "12"}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("calls sent entries %q; want %q", got, want)
	}
}

func TestSendBatchesReportsWhatNeverGotThrough(t *testing.T) {
	api := &fakeAPI{fail: func(id string, _ int) *sqstypes.BatchResultErrorEntry {
		switch id {
		case "1":
			return &sqstypes.BatchResultErrorEntry{Code: aws.String("InternalError"), Message: aws.String("down")}
		case "4":
			return &sqstypes.BatchResultErrorEntry{Code: aws.String("InvalidMessageContents"), Message: aws.String("bad"), SenderFault: true}
		}
		return nil
	}}
	q := fastSQS(api)
	err := q.SendBatches(context.Background(), batches("job-x", 6))
	var se *SendError
	if !errors.As(err, &se) {
		t.Fatalf("SendBatches = %v; want a *SendError", err)
	}
	if se.Total != 6 || len(se.Unsent) != 2 {
		t.Fatalf("SendError %+v; want batches 1 and 4 of 6 unsent", se)
	}
	byBatch := map[int64]string{}
	for _, u := range se.Unsent {
		byBatch[u.Batch.Batch] = u.Reason
	}
	if r := byBatch[1]; !strings.Contains(r, "InternalError: down") || !strings.Contains(r, "after 5 tries") {
		t.Errorf("batch 1 reason %q", r)
	}
	if r := byBatch[4]; !strings.Contains(r, "InvalidMessageContents") {
		t.Errorf("batch 4 reason %q", r)
	}
	for _, want := range []string{"2 of 6 not sent", "job job-x batch 1", "job job-x batch 4"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q does not say %q", err, want)
		}
	}
	// The sender's fault is not retried; SQS's is, a bounded number of times.
	if tries := api.tries; tries["4"] != 1 || tries["1"] != q.tries || tries["0"] != 1 {
		t.Fatalf("tries per entry %v; want 4 once, 1 %d times, the rest once", tries, q.tries)
	}
}

func TestSendBatchesStopsWhenTheCallFails(t *testing.T) {
	api := &fakeAPI{err: func(call int) error {
		if call == 2 {
			return errors.New("connection refused")
		}
		return nil
	}}
	err := fastSQS(api).SendBatches(context.Background(), batches("j", 25))
	var se *SendError
	if !errors.As(err, &se) || len(se.Unsent) != 15 || len(api.calls) != 2 {
		t.Fatalf("SendBatches = %v after %d calls; want batches 10-24 unsent after 2 calls", err, len(api.calls))
	}
	if se.Unsent[0].Batch.Batch != 10 || !strings.Contains(se.Unsent[0].Reason, "connection refused") ||
		se.Unsent[14].Batch.Batch != 24 || !strings.Contains(se.Unsent[14].Reason, "not tried") {
		t.Fatalf("unsent %+v", se.Unsent)
	}
	if !strings.Contains(err.Error(), "and 10 more") {
		t.Fatalf("error %q does not shorten the list", err)
	}
}

func TestSendBatchesTooLargeSendsNothing(t *testing.T) {
	api := &fakeAPI{}
	bs := batches("j", 3)
	bs[2].Devices = make([]string, 3000)
	for i := range bs[2].Devices {
		bs[2].Devices[i] = strings.Repeat("x", 100) + "/d"
	}
	err := fastSQS(api).SendBatches(context.Background(), bs)
	if !errors.Is(err, ErrTooLarge) || len(api.calls) != 0 || !strings.Contains(err.Error(), "batch 2 of job j") {
		t.Fatalf("SendBatches = %v with %d calls; want ErrTooLarge naming batch 2 and no call", err, len(api.calls))
	}
}

func TestCutReason(t *testing.T) {
	for _, tc := range []struct{ in, want string }{
		{"", "unspecified"},
		{"plain", "plain"},
		{"a\x00b\uFFFFc", "a b c"},
		{"bad \xff utf8", "bad \uFFFD utf8"},
	} {
		if got := cutReason(tc.in); got != tc.want {
			t.Errorf("cutReason(%q) = %q; want %q", tc.in, got, tc.want)
		}
	}
	long := strings.Repeat("é", maxReasonBytes) // 2 bytes each
	if got := cutReason(long); len(got) > maxReasonBytes || !strings.HasPrefix(long, got) || len(got) < maxReasonBytes-1 {
		t.Errorf("cutReason of %d bytes gave %d bytes", len(long), len(got))
	}
}
