package fauxqs

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strconv"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/sqs"
	sqstypes "github.com/aws/aws-sdk-go-v2/service/sqs/types"
)

func TestMain(m *testing.M) { os.Exit(Main(m)) }

// The tests below pin down the SQS behaviour the queue package relies on, so
// a fauxqs upgrade that changes it fails here first.

func TestClientAnswers(t *testing.T) {
	if _, err := Client(t).ListQueues(context.Background(), &sqs.ListQueuesInput{}); err != nil {
		t.Fatalf("ListQueues: %v", err)
	}
	if Endpoint(t) != Endpoint(t) {
		t.Fatal("endpoint changed between calls")
	}
}

func TestNewQueueIsolated(t *testing.T) {
	a, adlq := NewQueue(t, "same", 3, time.Second)
	b, bdlq := NewQueue(t, "same", 3, time.Second)
	if a == b || adlq == bdlq || a == adlq {
		t.Fatalf("NewQueue returned shared queues: %s %s %s %s", a, adlq, b, bdlq)
	}
}

func TestRedriveAfterMaxReceive(t *testing.T) {
	c := Client(t)
	ctx := context.Background()
	url, dlq := NewQueue(t, "redrive", 2, 30*time.Second)
	send(t, c, url, "poison")
	for i := 1; i <= 2; i++ {
		m := receiveOne(t, c, url, 1)
		if m == nil {
			t.Fatalf("receive %d: no message", i)
		}
		// Make it visible again at once, as a consumer that gives up would.
		if _, err := c.ChangeMessageVisibility(ctx, &sqs.ChangeMessageVisibilityInput{
			QueueUrl: aws.String(url), ReceiptHandle: m.ReceiptHandle, VisibilityTimeout: 0,
		}); err != nil {
			t.Fatalf("ChangeMessageVisibility: %v", err)
		}
	}
	if m := receiveOne(t, c, url, 0); m != nil {
		t.Fatalf("third receive got %q; want it moved to the dead-letter queue", aws.ToString(m.Body))
	}
	m := receiveOne(t, c, dlq, 1)
	if m == nil || aws.ToString(m.Body) != "poison" {
		t.Fatalf("dead-letter queue holds %v; want the poison message", m)
	}
}

func TestDelayAndLongPoll(t *testing.T) {
	c := Client(t)
	url, _ := NewQueue(t, "delay", 3, 30*time.Second)
	start := time.Now()
	if _, err := c.SendMessage(context.Background(), &sqs.SendMessageInput{
		QueueUrl: aws.String(url), MessageBody: aws.String("later"), DelaySeconds: 1,
	}); err != nil {
		t.Fatalf("SendMessage: %v", err)
	}
	if m := receiveOne(t, c, url, 0); m != nil {
		t.Fatal("delayed message received at once")
	}
	m := receiveOne(t, c, url, 5)
	if m == nil {
		t.Fatal("delayed message never arrived")
	}
	if d := time.Since(start); d < 900*time.Millisecond || d > 4*time.Second {
		t.Fatalf("delayed message arrived after %s; want about 1s (long polling returns when it is due)", d)
	}
}

func TestVisibilityAndDelete(t *testing.T) {
	c := Client(t)
	ctx := context.Background()
	url, _ := NewQueue(t, "visibility", 5, 30*time.Second)
	send(t, c, url, "m")
	out, err := c.ReceiveMessage(ctx, &sqs.ReceiveMessageInput{QueueUrl: aws.String(url), VisibilityTimeout: 1, WaitTimeSeconds: 1})
	if err != nil || len(out.Messages) != 1 {
		t.Fatalf("ReceiveMessage = %v, %v", out, err)
	}
	if m := receiveOne(t, c, url, 0); m != nil {
		t.Fatal("message visible during its visibility timeout")
	}
	m := receiveOne(t, c, url, 3)
	if m == nil {
		t.Fatal("message did not come back after its visibility timeout")
	}
	if _, err := c.DeleteMessage(ctx, &sqs.DeleteMessageInput{QueueUrl: aws.String(url), ReceiptHandle: m.ReceiptHandle}); err != nil {
		t.Fatalf("DeleteMessage: %v", err)
	}
	if m := receiveOne(t, c, url, 2); m != nil {
		t.Fatal("deleted message came back")
	}
}

func TestSendMessageBatchRules(t *testing.T) {
	c := Client(t)
	ctx := context.Background()
	url, _ := NewQueue(t, "batch", 5, 30*time.Second)
	entries := func(n int, id func(int) string) []sqstypes.SendMessageBatchRequestEntry {
		var es []sqstypes.SendMessageBatchRequestEntry
		for i := 0; i < n; i++ {
			es = append(es, sqstypes.SendMessageBatchRequestEntry{Id: aws.String(id(i)), MessageBody: aws.String("b" + strconv.Itoa(i))})
		}
		return es
	}
	out, err := c.SendMessageBatch(ctx, &sqs.SendMessageBatchInput{QueueUrl: aws.String(url), Entries: entries(10, strconv.Itoa)})
	if err != nil || len(out.Successful) != 10 || len(out.Failed) != 0 {
		t.Fatalf("SendMessageBatch of 10 = %+v, %v", out, err)
	}
	// A bad entry fails alone, as the sender's fault.
	mixed := entries(2, strconv.Itoa)
	mixed[1].MessageBody = aws.String("bad \uFFFF")
	out, err = c.SendMessageBatch(ctx, &sqs.SendMessageBatchInput{QueueUrl: aws.String(url), Entries: mixed})
	if err != nil || len(out.Successful) != 1 || len(out.Failed) != 1 || aws.ToString(out.Failed[0].Id) != "1" || !out.Failed[0].SenderFault {
		t.Fatalf("SendMessageBatch with a bad entry = %+v, %v; want entry 1 failed as the sender's fault", out, err)
	}
	_, err = c.SendMessageBatch(ctx, &sqs.SendMessageBatchInput{QueueUrl: aws.String(url), Entries: entries(11, strconv.Itoa)})
	if tooMany := (*sqstypes.TooManyEntriesInBatchRequest)(nil); !errors.As(err, &tooMany) {
		t.Errorf("11 entries: err = %v; want TooManyEntriesInBatchRequest", err)
	}
	_, err = c.SendMessageBatch(ctx, &sqs.SendMessageBatchInput{QueueUrl: aws.String(url), Entries: entries(2, func(int) string { return "x" })})
	if same := (*sqstypes.BatchEntryIdsNotDistinct)(nil); !errors.As(err, &same) {
		t.Errorf("same IDs: err = %v; want BatchEntryIdsNotDistinct", err)
	}
}

func TestMessageAttributes(t *testing.T) {
	c := Client(t)
	ctx := context.Background()
	url, _ := NewQueue(t, "attrs", 5, 30*time.Second)
	if _, err := c.SendMessage(ctx, &sqs.SendMessageInput{
		QueueUrl: aws.String(url), MessageBody: aws.String("m"),
		MessageAttributes: map[string]sqstypes.MessageAttributeValue{
			"reason": {DataType: aws.String("String"), StringValue: aws.String("because")},
		},
	}); err != nil {
		t.Fatalf("SendMessage: %v", err)
	}
	out, err := c.ReceiveMessage(ctx, &sqs.ReceiveMessageInput{
		QueueUrl: aws.String(url), WaitTimeSeconds: 1, MessageAttributeNames: []string{"All"},
	})
	if err != nil || len(out.Messages) != 1 {
		t.Fatalf("ReceiveMessage = %v, %v", out, err)
	}
	if got := aws.ToString(out.Messages[0].MessageAttributes["reason"].StringValue); got != "because" {
		t.Fatalf("reason attribute = %q", got)
	}
}

func send(t *testing.T, c *sqs.Client, url, body string) {
	t.Helper()
	if _, err := c.SendMessage(context.Background(), &sqs.SendMessageInput{QueueUrl: aws.String(url), MessageBody: aws.String(body)}); err != nil {
		t.Fatalf("SendMessage: %v", err)
	}
}

// receiveOne receives at most one message, long-polling for wait seconds.
func receiveOne(t *testing.T, c *sqs.Client, url string, wait int32) *sqstypes.Message {
	t.Helper()
	out, err := c.ReceiveMessage(context.Background(), &sqs.ReceiveMessageInput{
		QueueUrl: aws.String(url), MaxNumberOfMessages: 1, WaitTimeSeconds: wait,
	})
	if err != nil {
		t.Fatalf("ReceiveMessage: %v", err)
	}
	if len(out.Messages) == 0 {
		return nil
	}
	return &out.Messages[0]
}

func TestDir(t *testing.T) {
	t.Setenv(EnvDir, "")
	dir, err := Dir()
	if err != nil {
		t.Fatal(err)
	}
	if filepath.Base(dir) != "fauxqs" {
		t.Fatalf("Dir() = %s; want <repo root>/.cache/fauxqs", dir)
	}
	if _, err := os.Stat(filepath.Join(dir, "..", "..", "go.mod")); err != nil {
		t.Fatalf("Dir() = %s, not under the repository root: %v", dir, err)
	}
	t.Setenv(EnvDir, "/elsewhere")
	if dir, err := Dir(); err != nil || dir != "/elsewhere" {
		t.Fatalf("Dir() with %s set = %s, %v; want /elsewhere", EnvDir, dir, err)
	}
}
