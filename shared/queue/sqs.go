package queue

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/sqs"
	sqstypes "github.com/aws/aws-sdk-go-v2/service/sqs/types"

	"github.com/offpush/offpush/shared/delivery"
)

// API is the part of *sqs.Client that SQS uses.
type API interface {
	SendMessage(ctx context.Context, in *sqs.SendMessageInput, optFns ...func(*sqs.Options)) (*sqs.SendMessageOutput, error)
	SendMessageBatch(ctx context.Context, in *sqs.SendMessageBatchInput, optFns ...func(*sqs.Options)) (*sqs.SendMessageBatchOutput, error)
}

// ReasonAttribute is the message attribute that carries why a batch was
// dead-lettered, for the operator reading the dead-letter queue.
const ReasonAttribute = "reason"

// maxReasonBytes bounds the reason attribute; longer reasons are cut.
const maxReasonBytes = 1024

// SQS sends batches to an SQS queue and its dead-letter queue.
type SQS struct {
	api      API
	url, dlq string
	// tries is how many SendMessageBatch rounds an entry gets when SQS
	// reports it failed through no fault of ours; backoff is the first wait
	// between rounds, doubled each round, with jitter.
	tries   int
	backoff time.Duration
}

// NewSQS returns a queue sending to queueURL, and dead letters to dlqURL.
// The client is built once per container and shared.
func NewSQS(client API, queueURL, dlqURL string) *SQS {
	return &SQS{api: client, url: queueURL, dlq: dlqURL, tries: 5, backoff: 100 * time.Millisecond}
}

// Enqueue sends b to come back after delay (rounded up to whole seconds and
// capped at SQS's 15 minutes).
func (q *SQS) Enqueue(ctx context.Context, b delivery.Batch, delay time.Duration) error {
	body, err := encode(b)
	if err != nil {
		return err
	}
	if _, err := q.api.SendMessage(ctx, &sqs.SendMessageInput{
		QueueUrl:     aws.String(q.url),
		MessageBody:  aws.String(string(body)),
		DelaySeconds: delaySeconds(delay),
	}); err != nil {
		return fmt.Errorf("enqueue batch %d of job %s: %w", b.Batch, b.JobID, err)
	}
	return nil
}

// DeadLetter sends b to the dead-letter queue with reason as its "reason"
// message attribute.
func (q *SQS) DeadLetter(ctx context.Context, b delivery.Batch, reason string) error {
	body, err := encode(b)
	if err != nil {
		return err
	}
	if err := q.deadLetter(ctx, body, reason); err != nil {
		return fmt.Errorf("dead-letter batch %d of job %s: %w", b.Batch, b.JobID, err)
	}
	return nil
}

// Reject sends a message body that is no batch to the dead-letter queue as
// it came, with reason as its "reason" attribute.
func (q *SQS) Reject(ctx context.Context, body []byte, reason string) error {
	if err := q.deadLetter(ctx, body, reason); err != nil {
		return fmt.Errorf("dead-letter malformed message: %w", err)
	}
	return nil
}

func (q *SQS) deadLetter(ctx context.Context, body []byte, reason string) error {
	if q.dlq == "" {
		return errors.New("no dead-letter queue configured")
	}
	reason = cutReason(reason)
	// SQS counts attributes in the message size.
	if size := len(body) + len(ReasonAttribute) + len("String") + len(reason); size > MaxMessageBytes {
		return fmt.Errorf("%w: the dead letter is %d bytes; the limit is %d", ErrTooLarge, size, MaxMessageBytes)
	}
	_, err := q.api.SendMessage(ctx, &sqs.SendMessageInput{
		QueueUrl:    aws.String(q.dlq),
		MessageBody: aws.String(string(body)),
		MessageAttributes: map[string]sqstypes.MessageAttributeValue{
			ReasonAttribute: {DataType: aws.String("String"), StringValue: aws.String(reason)},
		},
	})
	return err
}

// cutReason makes reason a valid attribute value: not empty (SQS refuses
// empty values), at most maxReasonBytes, valid UTF-8 of characters SQS takes.
func cutReason(reason string) string {
	reason = strings.Map(func(r rune) rune {
		if r == '\t' || r == '\n' || r == '\r' || (r >= 0x20 && r != 0xFFFE && r != 0xFFFF) {
			return r
		}
		return ' '
	}, strings.ToValidUTF8(reason, "\uFFFD"))
	if reason == "" {
		return "unspecified"
	}
	if len(reason) > maxReasonBytes {
		cut := maxReasonBytes
		for cut > 0 && !utf8.RuneStart(reason[cut]) {
			cut--
		}
		reason = reason[:cut]
	}
	return reason
}

// SendBatches sends a broadcast's batches, up to ten per SendMessageBatch
// call (fewer when their bodies together pass 256 KiB). Entries SQS reports
// failed through no fault of the sender are sent again, up to five tries in
// all, with jittered backoff. If a batch is too large nothing is sent and the
// error wraps ErrTooLarge; otherwise the error is a *SendError listing the
// batches not sent, and all the others were.
func (q *SQS) SendBatches(ctx context.Context, batches []delivery.Batch) error {
	bodies, err := encodeAll(batches)
	if err != nil {
		return err
	}
	var unsent []Unsent
	cs := chunks(bodies)
	for n, chunk := range cs {
		u, err := q.sendChunk(ctx, batches, bodies, chunk)
		unsent = append(unsent, u...)
		if err != nil {
			// The call itself failed after the SDK's own retries, or ctx
			// ended: the rest is not tried.
			for _, rest := range cs[n+1:] {
				for _, i := range rest {
					unsent = append(unsent, Unsent{Batch: batches[i], Reason: "not tried after an earlier call failed"})
				}
			}
			break
		}
	}
	if len(unsent) > 0 {
		return &SendError{Unsent: unsent, Total: len(batches)}
	}
	return nil
}

// sendChunk sends the batches at indexes chunk in one SendMessageBatch call,
// then again for the entries that failed retryably. It returns the batches
// not sent, and an error when a call failed as a whole.
func (q *SQS) sendChunk(ctx context.Context, batches []delivery.Batch, bodies [][]byte, chunk []int) ([]Unsent, error) {
	pending := chunk
	var unsent []Unsent
	wait := q.backoff
	for try := 1; ; try++ {
		entries := make([]sqstypes.SendMessageBatchRequestEntry, len(pending))
		for k, i := range pending {
			// The index in batches: unique within the call, and it finds
			// the batch again in the response.
			entries[k] = sqstypes.SendMessageBatchRequestEntry{Id: aws.String(strconv.Itoa(i)), MessageBody: aws.String(string(bodies[i]))}
		}
		out, err := q.api.SendMessageBatch(ctx, &sqs.SendMessageBatchInput{QueueUrl: aws.String(q.url), Entries: entries})
		if err != nil {
			for _, i := range pending {
				unsent = append(unsent, Unsent{Batch: batches[i], Reason: err.Error()})
			}
			return unsent, err
		}
		ok := make(map[string]bool, len(out.Successful))
		for _, s := range out.Successful {
			ok[aws.ToString(s.Id)] = true
		}
		failed := make(map[string]sqstypes.BatchResultErrorEntry, len(out.Failed))
		for _, f := range out.Failed {
			failed[aws.ToString(f.Id)] = f
		}
		var again []int
		for _, i := range pending {
			id := strconv.Itoa(i)
			f, isFailed := failed[id]
			switch {
			case ok[id]:
			case !isFailed:
				again = append(again, i) // in neither list; send it again
			case f.SenderFault:
				unsent = append(unsent, Unsent{Batch: batches[i], Reason: failure(f)})
			case try >= q.tries:
				unsent = append(unsent, Unsent{Batch: batches[i], Reason: fmt.Sprintf("%s (after %d tries)", failure(f), try)})
			default:
				again = append(again, i)
			}
		}
		if len(again) == 0 {
			return unsent, nil
		}
		if try >= q.tries {
			for _, i := range again {
				unsent = append(unsent, Unsent{Batch: batches[i], Reason: fmt.Sprintf("no result from SQS (after %d tries)", try)})
			}
			return unsent, nil
		}
		// Full jitter over the upper half: spreads the retries of
		// concurrent senders without ever retrying at once.
		d := wait/2 + rand.N(wait/2+1)
		select {
		case <-ctx.Done():
			for _, i := range again {
				unsent = append(unsent, Unsent{Batch: batches[i], Reason: ctx.Err().Error()})
			}
			return unsent, nil
		case <-time.After(d):
		}
		wait *= 2
		pending = again
	}
}

func failure(f sqstypes.BatchResultErrorEntry) string {
	return aws.ToString(f.Code) + ": " + aws.ToString(f.Message)
}

// encodeAll encodes every batch, or fails naming the first too large.
func encodeAll(batches []delivery.Batch) ([][]byte, error) {
	bodies := make([][]byte, len(batches))
	for i, b := range batches {
		body, err := encode(b)
		if err != nil {
			return nil, fmt.Errorf("send %d batches: nothing sent: %w", len(batches), err)
		}
		bodies[i] = body
	}
	return bodies, nil
}

// chunks groups the indexes of bodies, in order, into SendMessageBatch calls:
// at most maxBatchEntries entries and maxBatchRequestBytes of bodies each.
func chunks(bodies [][]byte) [][]int {
	var out [][]int
	var cur []int
	size := 0
	for i, b := range bodies {
		if len(cur) == maxBatchEntries || (len(cur) > 0 && size+len(b) > maxBatchRequestBytes) {
			out = append(out, cur)
			cur, size = nil, 0
		}
		cur = append(cur, i)
		size += len(b)
	}
	if len(cur) > 0 {
		out = append(out, cur)
	}
	return out
}

// SendError reports the batches SendBatches did not send.
type SendError struct {
	Unsent []Unsent
	Total  int // batches SendBatches was given
}

// Unsent is a batch that was not sent, and why.
type Unsent struct {
	Batch  delivery.Batch
	Reason string
}

// Error names the unsent batches, the first few with their reasons.
func (e *SendError) Error() string {
	const shown = 5
	var sb strings.Builder
	fmt.Fprintf(&sb, "send batches: %d of %d not sent", len(e.Unsent), e.Total)
	for k, u := range e.Unsent {
		if k == shown {
			fmt.Fprintf(&sb, "; and %d more", len(e.Unsent)-shown)
			break
		}
		fmt.Fprintf(&sb, "; job %s batch %d: %s", u.Batch.JobID, u.Batch.Batch, u.Reason)
	}
	return sb.String()
}

// Interface guards
var _ delivery.Queue = (*SQS)(nil)
