package broadcasttest

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"slices"
	"sort"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aws/aws-lambda-go/events"
	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	ddbtypes "github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
	"github.com/aws/aws-sdk-go-v2/service/sqs"
	sqstypes "github.com/aws/aws-sdk-go-v2/service/sqs/types"

	"github.com/offpush/offpush/shared/broadcast"
	"github.com/offpush/offpush/shared/cert"
	"github.com/offpush/offpush/shared/delivery"
	"github.com/offpush/offpush/shared/device"
	"github.com/offpush/offpush/shared/push"
	"github.com/offpush/offpush/shared/queue"
	"github.com/offpush/offpush/shared/store"
	"github.com/offpush/offpush/shared/store/dynamo"
	"github.com/offpush/offpush/shared/testinfra/dynamolocal"
	"github.com/offpush/offpush/shared/testinfra/fauxqs"
	"github.com/offpush/offpush/shared/vendors"
	"github.com/offpush/offpush/shared/vendors/vendortest"
)

// The Huawei app every integration environment registers.
const (
	hwAppID  = "104000001"
	hwSecret = "integration-secret"
	certID   = int64(10002)
)

// invocationTimeout is the Lambda timeout the queue pumps give each
// invocation (the functions' default).
const invocationTimeout = 60 * time.Second

// envConfig shapes one environment.
type envConfig struct {
	// Segments is the planner's scan segments (default 8).
	Segments int
	// MaxAttempts and RetryDelay configure the bulk worker (defaults 5 and
	// 30 s).
	MaxAttempts int
	RetryDelay  time.Duration
	// DeliveryAttempts is the sends per device inside one invocation
	// (default 3).
	DeliveryAttempts int
	// BulkVisibility and PlanVisibility are the queues' visibility
	// timeouts (default an invocation's timeout, so that no message runs
	// twice at once unless a test wants it); MaxReceive
	// their redrive count (default 5).
	BulkVisibility, PlanVisibility time.Duration
	MaxReceive                     int
	// WrapBatches, if set, wraps the planner's batch sender (crash tests).
	WrapBatches func(broadcast.BatchSender) broadcast.BatchSender
}

// env is one deployment: its own tables in DynamoDB Local, its own bulk
// and planning queues (with dead-letter queues) in fauxqs, its own Huawei
// mock, and the functions' objects wired as the Lambda functions wire them.
type env struct {
	t   *testing.T
	ctx context.Context

	db     *dynamodb.Client
	prefix string
	st     *dynamo.Store

	sqs                *sqs.Client
	bulkURL, bulkDLQ   string
	planURL, planDLQ   string
	bulk               *queue.SQS
	tasks              *queue.SQSTasks
	planner            *broadcast.Planner
	svc                *broadcast.Service
	mock               *vendortest.HuaweiMock
	venv               *push.Env
	cfg                envConfig
	handled, delivered atomic.Int64 // bulk messages handled; of them, returned nil
}

type noScheduler struct{}

func (noScheduler) Schedule(context.Context, string, string, string) error { return nil }
func (noScheduler) Unschedule(context.Context, string) error               { return nil }

func newEnv(t *testing.T, cfg envConfig) *env {
	t.Helper()
	if cfg.Segments == 0 {
		cfg.Segments = 8
	}
	if cfg.BulkVisibility == 0 {
		cfg.BulkVisibility = invocationTimeout
	}
	if cfg.PlanVisibility == 0 {
		cfg.PlanVisibility = invocationTimeout
	}
	if cfg.MaxReceive == 0 {
		cfg.MaxReceive = 5
	}
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	e := &env{t: t, ctx: ctx, cfg: cfg}
	e.db = dynamolocal.Client(t)
	e.prefix = dynamolocal.UniquePrefix()
	if err := dynamo.CreateTables(ctx, e.db, e.prefix); err != nil {
		t.Fatalf("CreateTables: %v", err)
	}
	e.st = dynamo.New(e.db, e.prefix, store.Options{})
	e.sqs = fauxqs.Client(t)
	e.bulkURL, e.bulkDLQ = fauxqs.NewQueue(t, "bulk-"+t.Name(), cfg.MaxReceive, cfg.BulkVisibility)
	e.planURL, e.planDLQ = fauxqs.NewQueue(t, "plan-"+t.Name(), cfg.MaxReceive, cfg.PlanVisibility)
	// The bulk queue's dead letters go to its redrive queue, as in the
	// template.
	e.bulk = queue.NewSQS(e.sqs, e.bulkURL, e.bulkDLQ)
	e.tasks = queue.NewSQSTasks(e.sqs, e.planURL)

	e.mock = vendortest.NewHuawei(t, vendortest.Options{}, hwAppID, hwSecret)
	t.Cleanup(func() { e.mock.Log.CheckClean(t) })
	vars := map[string]string{push.URLHuawei: e.mock.URL(), push.URLHuaweiAuth: e.mock.URL(), push.CAFile: e.mock.CAFile}
	quiet := slog.New(slog.DiscardHandler)
	venv, err := push.NewEnv(func(k string) string { return vars[k] }, push.EnvConfig{Tokens: e.st, Log: quiet})
	if err != nil {
		t.Fatal(err)
	}
	e.venv = venv
	if _, err := e.st.CreateCertificate(ctx, cert.Certificate{ID: certID, Vendor: device.Huawei, Name: "hw",
		Huawei: &cert.Huawei{AppID: hwAppID, AppSecret: hwSecret}}); err != nil {
		t.Fatal(err)
	}

	var batches broadcast.BatchSender = e.bulk
	if cfg.WrapBatches != nil {
		batches = cfg.WrapBatches(batches)
	}
	e.planner = broadcast.NewPlanner(broadcast.PlannerConfig{Store: e.st, Batches: batches, Tasks: e.tasks, Log: quiet, Segments: cfg.Segments})
	e.svc = broadcast.NewService(e.st, e.planner, noScheduler{}, nil)
	return e
}

// newWorker is one message-push container's bulk worker: its own vendor
// clients, certificate cache and job-status cache.
func (e *env) newWorker() *delivery.Worker {
	quiet := slog.New(slog.DiscardHandler)
	dl := delivery.New(delivery.Config{Store: e.st, Clients: vendors.NewClients(e.venv, nil), Log: quiet,
		Retry: delivery.Retry{Attempts: e.cfg.DeliveryAttempts}})
	progress := broadcast.NewProgress(e.st, nil)
	return delivery.NewWorker(dl, delivery.WorkerConfig{Jobs: e.st, Queue: e.bulk, Progress: progress, Active: progress.Active,
		MaxAttempts: e.cfg.MaxAttempts, RetryDelay: e.cfg.RetryDelay})
}

// handleBatch is the worker's handler, counting.
func (e *env) handleBatch(w *delivery.Worker) func(context.Context, []byte) error {
	return func(ctx context.Context, body []byte) error {
		e.handled.Add(1)
		err := w.Handle(ctx, body)
		if err == nil {
			e.delivered.Add(1)
		}
		return err
	}
}

// handleTask is the broadcast function's planning-queue handler.
func (e *env) handleTask() func(context.Context, []byte) error {
	return queue.TaskHandler(e.planner.Run)
}

// pump emulates an event source mapping on url: workers pollers each
// receive up to max messages, hand them to the function through
// queue.LambdaSQS (one invocation each, invocationTimeout), and delete the
// records it did not report as failed; failed ones come back after the
// queue's visibility timeout. It stops when stop is called.
type pump struct {
	cancel context.CancelFunc
	wg     sync.WaitGroup
}

func (e *env) pump(url string, handle func(context.Context, []byte) error, workers int, max int32) *pump {
	ctx, cancel := context.WithCancel(e.ctx)
	p := &pump{cancel: cancel}
	for range workers {
		p.wg.Go(func() {
			for ctx.Err() == nil {
				msgs, err := e.receive(ctx, url, max, 1)
				if err != nil {
					if ctx.Err() == nil {
						e.t.Logf("receive from %s: %v", url, err)
						time.Sleep(100 * time.Millisecond)
					}
					continue
				}
				if len(msgs) == 0 {
					continue
				}
				e.invoke(ctx, url, msgs, handle)
			}
		})
	}
	e.t.Cleanup(p.stop)
	return p
}

func (p *pump) stop() {
	p.cancel()
	p.wg.Wait()
}

// receive long-polls url once.
func (e *env) receive(ctx context.Context, url string, max, wait int32) ([]sqstypes.Message, error) {
	out, err := e.sqs.ReceiveMessage(ctx, &sqs.ReceiveMessageInput{
		QueueUrl: aws.String(url), MaxNumberOfMessages: max, WaitTimeSeconds: wait,
		MessageSystemAttributeNames: []sqstypes.MessageSystemAttributeName{sqstypes.MessageSystemAttributeNameAll},
		MessageAttributeNames:       []string{"All"},
	})
	if err != nil {
		return nil, err
	}
	return out.Messages, nil
}

// invoke runs one invocation on msgs and deletes the ones handled.
func (e *env) invoke(ctx context.Context, url string, msgs []sqstypes.Message, handle func(context.Context, []byte) error) {
	ev := events.SQSEvent{}
	for _, m := range msgs {
		ev.Records = append(ev.Records, events.SQSMessage{MessageId: aws.ToString(m.MessageId), ReceiptHandle: aws.ToString(m.ReceiptHandle),
			Body: aws.ToString(m.Body), Attributes: m.Attributes})
	}
	ictx, cancel := context.WithTimeout(ctx, invocationTimeout)
	resp := queue.LambdaSQS(ictx, ev, handle, 4)
	cancel()
	failed := map[string]bool{}
	for _, f := range resp.BatchItemFailures {
		failed[f.ItemIdentifier] = true
	}
	for _, m := range msgs {
		if !failed[aws.ToString(m.MessageId)] {
			e.deleteMessage(url, m)
		}
	}
}

func (e *env) deleteMessage(url string, m sqstypes.Message) {
	if _, err := e.sqs.DeleteMessage(context.Background(), &sqs.DeleteMessageInput{QueueUrl: aws.String(url), ReceiptHandle: m.ReceiptHandle}); err != nil {
		e.t.Errorf("DeleteMessage: %v", err)
	}
}

// queueCounts is a queue's visible, in-flight and delayed messages.
func (e *env) queueCounts(url string) (visible, inFlight, delayed int) {
	out, err := e.sqs.GetQueueAttributes(context.Background(), &sqs.GetQueueAttributesInput{QueueUrl: aws.String(url),
		AttributeNames: []sqstypes.QueueAttributeName{sqstypes.QueueAttributeNameApproximateNumberOfMessages,
			sqstypes.QueueAttributeNameApproximateNumberOfMessagesNotVisible, sqstypes.QueueAttributeNameApproximateNumberOfMessagesDelayed}})
	if err != nil {
		e.t.Fatalf("GetQueueAttributes: %v", err)
	}
	n := func(a sqstypes.QueueAttributeName) int {
		v, _ := strconv.Atoi(out.Attributes[string(a)])
		return v
	}
	return n(sqstypes.QueueAttributeNameApproximateNumberOfMessages), n(sqstypes.QueueAttributeNameApproximateNumberOfMessagesNotVisible),
		n(sqstypes.QueueAttributeNameApproximateNumberOfMessagesDelayed)
}

// waitEmpty waits until url holds no message at all.
func (e *env) waitEmpty(url string, within time.Duration) {
	e.t.Helper()
	deadline := time.Now().Add(within)
	for {
		v, f, d := e.queueCounts(url)
		if v+f+d == 0 {
			return
		}
		if time.Now().After(deadline) {
			e.t.Fatalf("queue %s still holds %d visible, %d in flight, %d delayed messages", url, v, f, d)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// waitJob polls a job until done says so.
func (e *env) waitJob(id string, within time.Duration, done func(store.Job) bool) store.Job {
	e.t.Helper()
	deadline := time.Now().Add(within)
	for {
		j, err := e.st.GetJob(context.Background(), id)
		if err != nil {
			e.t.Fatalf("GetJob: %v", err)
		}
		if done(j) {
			return j
		}
		if time.Now().After(deadline) {
			e.t.Fatalf("broadcast %s after %s: %s %+v (planned %v)", id, within, j.Status, j.Counts, j.Planned)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func finished(j store.Job) bool {
	return j.Status == store.JobCompleted || j.Status == store.JobCancelled || j.Status == store.JobFailed
}

// create creates a broadcast now.
func (e *env) create(a broadcast.Audience) string {
	e.t.Helper()
	v, err := e.svc.Create(e.ctx, broadcast.Request{From: "admin", Audience: a,
		OfflinePushInfo: push.OfflinePushInfo{Title: "Sale", Desc: "Everything half price"}})
	if err != nil {
		e.t.Fatalf("create broadcast: %v", err)
	}
	return v.BroadcastID
}

// pushed counts the targets the vendor mock accepted, by token, from the
// n-th accepted request on.
func (e *env) pushed(from int) (map[string]int, int) {
	recv := e.mock.Log.Received()
	out := map[string]int{}
	for _, r := range recv[min(from, len(recv)):] {
		for _, tok := range r.Targets {
			out[tok]++
		}
	}
	return out, len(recv)
}

// checkOnce fails unless exactly the tokens want were pushed, once each.
func checkOnce(t *testing.T, got map[string]int, want []string) {
	t.Helper()
	for tok, n := range got {
		if n != 1 {
			t.Errorf("token %s pushed %d times", tok, n)
		}
	}
	missing := 0
	for _, tok := range want {
		if got[tok] == 0 {
			if missing < 5 {
				t.Errorf("token %s never pushed", tok)
			}
			missing++
		}
	}
	if len(got) != len(want) || missing > 0 {
		t.Fatalf("%d distinct tokens pushed, want %d (%d missing)", len(got), len(want), missing)
	}
}

// checkCounts checks that a finished job's counters add up.
func checkCounts(t *testing.T, j store.Job) {
	t.Helper()
	c := j.Counts
	if c.Sent+c.Skipped+c.Failed != c.Devices {
		t.Errorf("sent %d + skipped %d + failed %d != devices %d", c.Sent, c.Skipped, c.Failed, c.Devices)
	}
	if j.Status == store.JobCompleted && (c.BatchesDone != c.Batches || !j.Planned) {
		t.Errorf("completed with %d of %d batches done (planned %v)", c.BatchesDone, c.Batches, j.Planned)
	}
}

// userID and token name seeded user i.
func userID(i int) string { return fmt.Sprintf("u%06d", i) }
func token(i int) string  { return fmt.Sprintf("hw-%06d-%s", i, "0123456789abcdef0123456789abcdef") }

func tokens(n int) []string {
	out := make([]string, n)
	for i := range out {
		out[i] = token(i)
	}
	return out
}

// seedUsers writes users 0..n-1 with one Huawei device each. User 0 is
// uploaded through the store; the others are copies of its user item (the
// store's layout: a dev#phone map with the token) written with
// BatchWriteItem, 25 items a call, 16 calls at once. Their tokens get no
// index entries: those serve uploads and dead-token cleanup, which these
// users never see, and would double the writes.
func (e *env) seedUsers(n int) {
	e.t.Helper()
	ctx := e.ctx
	if _, err := e.st.UpsertDevice(ctx, device.Upload{UserID: userID(0), DeviceID: "phone", CertificateID: certID, Token: token(0),
		Platform: device.Android, AppVersion: "2.0.0"}); err != nil {
		e.t.Fatal(err)
	}
	users := e.prefix + dynamo.UsersTable
	uo, err := e.db.GetItem(ctx, &dynamodb.GetItemInput{TableName: &users, ConsistentRead: aws.Bool(true),
		Key: map[string]ddbtypes.AttributeValue{"userId": &ddbtypes.AttributeValueMemberS{Value: userID(0)}}})
	if err != nil || uo.Item == nil {
		e.t.Fatalf("read the template user: %v", err)
	}
	devAttr := "dev#phone"
	if _, ok := uo.Item[devAttr].(*ddbtypes.AttributeValueMemberM); !ok {
		e.t.Fatalf("template user item has no %s map: %v", devAttr, uo.Item)
	}
	var writes []ddbtypes.WriteRequest
	var tables []string
	for i := 1; i < n; i++ {
		u := make(map[string]ddbtypes.AttributeValue, len(uo.Item))
		for k, v := range uo.Item {
			u[k] = v
		}
		u["userId"] = &ddbtypes.AttributeValueMemberS{Value: userID(i)}
		dev := map[string]ddbtypes.AttributeValue{}
		for k, v := range uo.Item[devAttr].(*ddbtypes.AttributeValueMemberM).Value {
			dev[k] = v
		}
		dev["token"] = &ddbtypes.AttributeValueMemberS{Value: token(i)}
		u[devAttr] = &ddbtypes.AttributeValueMemberM{Value: dev}
		writes = append(writes, ddbtypes.WriteRequest{PutRequest: &ddbtypes.PutRequest{Item: u}})
		tables = append(tables, users)
	}
	e.batchWrite(writes, tables)
}

// batchWrite writes items (each to its table) with BatchWriteItem, retrying
// unprocessed items.
func (e *env) batchWrite(writes []ddbtypes.WriteRequest, tables []string) {
	e.t.Helper()
	const per, parallel = 25, 16
	sem := make(chan struct{}, parallel)
	errs := make(chan error, len(writes)/per+1)
	var wg sync.WaitGroup
	for lo := 0; lo < len(writes); lo += per {
		hi := min(lo+per, len(writes))
		req := map[string][]ddbtypes.WriteRequest{}
		for i := lo; i < hi; i++ {
			req[tables[i]] = append(req[tables[i]], writes[i])
		}
		sem <- struct{}{}
		wg.Go(func() {
			defer func() { <-sem }()
			for len(req) > 0 {
				out, err := e.db.BatchWriteItem(e.ctx, &dynamodb.BatchWriteItemInput{RequestItems: req})
				if err != nil {
					errs <- err
					return
				}
				req = out.UnprocessedItems
			}
		})
	}
	wg.Wait()
	close(errs)
	if err := <-errs; err != nil {
		e.t.Fatalf("BatchWriteItem: %v", err)
	}
}

// upload uploads users' devices through the store, 32 at once, then sets
// their labels with labels(i).
func (e *env) upload(ids []int, tok func(i int) string, labels func(i int) (tags []string, attrs map[string]*string)) {
	e.t.Helper()
	sem := make(chan struct{}, 32)
	errs := make(chan error, len(ids))
	var wg sync.WaitGroup
	for _, i := range ids {
		sem <- struct{}{}
		wg.Go(func() {
			defer func() { <-sem }()
			if _, err := e.st.UpsertDevice(e.ctx, device.Upload{UserID: userID(i), DeviceID: "phone", CertificateID: certID, Token: tok(i),
				Platform: device.Android, AppVersion: "2.0.0"}); err != nil {
				errs <- err
				return
			}
			if labels == nil {
				return
			}
			tags, attrs := labels(i)
			if len(tags) > 0 {
				if _, err := e.st.UpdateTags(e.ctx, userID(i), tags, nil); err != nil {
					errs <- err
					return
				}
			}
			if len(attrs) > 0 {
				if _, err := e.st.UpdateAttributes(e.ctx, userID(i), attrs); err != nil {
					errs <- err
				}
			}
		})
	}
	wg.Wait()
	close(errs)
	if err := <-errs; err != nil {
		e.t.Fatalf("upload: %v", err)
	}
}

// batchLog records the bulk batches a handler saw.
type batchLog struct {
	mu       sync.Mutex
	seen     map[int64]int      // batch number → times handled (attempt 1)
	users    map[int64][]string // batch number → its users
	retries  int
	mismatch []int64 // batch numbers seen again with other users
}

func newBatchLog() *batchLog { return &batchLog{seen: map[int64]int{}, users: map[int64][]string{}} }

func (l *batchLog) wrap(h func(context.Context, []byte) error) func(context.Context, []byte) error {
	return func(ctx context.Context, body []byte) error {
		var b delivery.Batch
		if err := json.Unmarshal(body, &b); err == nil {
			l.mu.Lock()
			if b.Attempt == 1 {
				if prev, ok := l.users[b.Batch]; ok && !slices.Equal(prev, b.Users) {
					l.mismatch = append(l.mismatch, b.Batch)
				}
				l.seen[b.Batch]++
				l.users[b.Batch] = b.Users
			} else {
				l.retries++
			}
			l.mu.Unlock()
		}
		return h(ctx, body)
	}
}

// distinct is how many distinct first-attempt batches were seen, and how
// many messages carried them.
func (l *batchLog) distinct() (batches, messages int) {
	l.mu.Lock()
	defer l.mu.Unlock()
	for _, n := range l.seen {
		messages += n
	}
	return len(l.seen), messages
}

// mismatched lists the batch numbers that came again with other users.
func (l *batchLog) mismatched() []int64 {
	l.mu.Lock()
	defer l.mu.Unlock()
	return append([]int64(nil), l.mismatch...)
}

// retried is how many retry messages (attempt 2 and later) were seen.
func (l *batchLog) retried() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.retries
}

// perSegment is, by segment, the sizes of its batches in batch order.
func (l *batchLog) perSegment() map[int64][]int {
	l.mu.Lock()
	defer l.mu.Unlock()
	var nums []int64
	for b := range l.users {
		nums = append(nums, b)
	}
	sort.Slice(nums, func(i, j int) bool { return nums[i] < nums[j] })
	out := map[int64][]int{}
	for _, b := range nums {
		out[b/broadcast.BatchStride] = append(out[b/broadcast.BatchStride], len(l.users[b]))
	}
	return out
}
