package queue

import (
	"context"
	"encoding/json"
	"fmt"

	"github.com/aws/aws-sdk-go-v2/service/sqs"

	"github.com/offpush/offpush/shared/broadcast"
)

// SQSTasks carries broadcast planning tasks on an SQS queue.
type SQSTasks struct {
	client API
	url    string
}

// NewSQSTasks returns the planning-task queue at url.
func NewSQSTasks(client API, url string) *SQSTasks { return &SQSTasks{client: client, url: url} }

// EnqueueTask implements broadcast.TaskQueue.
func (q *SQSTasks) EnqueueTask(ctx context.Context, t broadcast.Task) error {
	body, err := json.Marshal(t)
	if err != nil {
		return err
	}
	s := string(body)
	if _, err := q.client.SendMessage(ctx, &sqs.SendMessageInput{QueueUrl: &q.url, MessageBody: &s}); err != nil {
		return fmt.Errorf("enqueue planning task of %s segment %d: %w", t.JobID, t.Segment, err)
	}
	return nil
}

// EnqueueTask implements broadcast.TaskQueue on the in-process queue.
func (l *Local) EnqueueTask(_ context.Context, t broadcast.Task) error {
	body, err := json.Marshal(t)
	if err != nil {
		return err
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.closed {
		return fmt.Errorf("enqueue planning task of %s: %w", t.JobID, ErrClosed)
	}
	l.add(body, 0)
	return nil
}

// TaskHandler decodes planning tasks off a queue and runs them.
func TaskHandler(run func(ctx context.Context, t broadcast.Task) error) func(ctx context.Context, body []byte) error {
	return func(ctx context.Context, body []byte) error {
		var t broadcast.Task
		if err := json.Unmarshal(body, &t); err != nil || t.JobID == "" || t.Segments < 1 || t.Segment < 0 || t.Segment >= t.Segments {
			return fmt.Errorf("malformed planning task %.200q", body)
		}
		return run(ctx, t)
	}
}

var (
	_ broadcast.TaskQueue = (*SQSTasks)(nil)
	_ broadcast.TaskQueue = (*Local)(nil)
)
