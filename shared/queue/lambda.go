package queue

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"

	"github.com/aws/aws-lambda-go/events"

	"github.com/offpush/offpush/shared/delivery"
)

// LambdaSQS handles the records of an SQS event, at most concurrency at a
// time (default 4), and reports the ones whose handle returned an error as
// batch item failures, so SQS deletes the others and brings only those back.
// The event source mapping must have FunctionResponseTypes
// [ReportBatchItemFailures]; without it SQS retries the whole event. Records
// not started before ctx ends, and records whose handler panics, count as
// failed. Each failure is logged, one line per record, through
// slog.Default().
func LambdaSQS(ctx context.Context, ev events.SQSEvent, handle func(ctx context.Context, body []byte) error, concurrency int) events.SQSEventResponse {
	if concurrency <= 0 {
		concurrency = 4
	}
	errs := make([]error, len(ev.Records))
	sem := make(chan struct{}, concurrency)
	var wg sync.WaitGroup
	for i := range ev.Records {
		if err := ctx.Err(); err != nil {
			errs[i] = fmt.Errorf("not run: %w", err)
			continue
		}
		select {
		case sem <- struct{}{}:
		case <-ctx.Done():
			errs[i] = fmt.Errorf("not run: %w", ctx.Err())
			continue
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			defer func() { <-sem }()
			errs[i] = runRecord(ctx, handle, []byte(ev.Records[i].Body))
		}()
	}
	wg.Wait()

	resp := events.SQSEventResponse{BatchItemFailures: []events.SQSBatchItemFailure{}}
	log := slog.Default()
	for i, err := range errs {
		if err == nil {
			continue
		}
		r := ev.Records[i]
		resp.BatchItemFailures = append(resp.BatchItemFailures, events.SQSBatchItemFailure{ItemIdentifier: r.MessageId})
		level := slog.LevelError
		if errors.Is(err, delivery.ErrBusy) {
			level = slog.LevelInfo // a duplicate delivery another worker is handling: it comes back later
		}
		log.Log(ctx, level, "queue message not handled",
			"messageId", r.MessageId, "receiveCount", r.Attributes["ApproximateReceiveCount"], "error", err.Error())
	}
	return resp
}

// runRecord runs handle on one body; a panic fails this record only.
func runRecord(ctx context.Context, handle func(context.Context, []byte) error, body []byte) (err error) {
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("handler panicked: %v", r)
		}
	}()
	return handle(ctx, body)
}
