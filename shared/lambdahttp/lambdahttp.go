// Package lambdahttp serves an http.Handler as an API Gateway HTTP API
// (payload v2) Lambda handler, so the functions and the local server share
// one router.
package lambdahttp

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"net/http"
	"os"
	"time"

	"github.com/aws/aws-lambda-go/events"
	"github.com/aws/aws-lambda-go/lambda"
	"github.com/awslabs/aws-lambda-go-api-proxy/httpadapter"

	"github.com/offpush/offpush/shared/logging"
)

// Handler adapts h to the Lambda handler signature of HTTP API events.
func Handler(h http.Handler) func(context.Context, events.APIGatewayV2HTTPRequest) (events.APIGatewayV2HTTPResponse, error) {
	return httpadapter.NewV2(h).ProxyWithContext
}

// Start builds the function's HTTP handler once per container and serves it.
func Start(name string, build func(ctx context.Context, getenv func(string) string) (http.Handler, error)) {
	StartAny(name, func(ctx context.Context, getenv func(string) string) (any, error) {
		h, err := build(ctx, getenv)
		if err != nil {
			return nil, err
		}
		return Handler(h), nil
	})
}

// StartAny builds the function's Lambda handler once per container and
// serves it. A build error is logged and ends the process, so Lambda
// reports an init failure instead of serving half-configured.
func StartAny(name string, build func(ctx context.Context, getenv func(string) string) (any, error)) {
	log := logging.New(os.Getenv)
	slog.SetDefault(log) // so every package's slog lines are JSON with the request ID
	TuneGC(os.Getenv)
	h, err := build(context.Background(), os.Getenv)
	if err != nil {
		log.Error(name+" failed to start", "error", err.Error())
		os.Exit(1)
	}
	lambda.Start(h)
}

// SQSHandler handles an SQS event, reporting the records to retry.
type SQSHandler func(ctx context.Context, ev events.SQSEvent) events.SQSEventResponse

// Events routes one function's events: SQS events (an event source
// mapping), scheduled-broadcast invocations (EventBridge Scheduler), and
// anything else as an HTTP API request.
type Events struct {
	HTTP http.Handler
	SQS  SQSHandler
	// Scheduled gets the broadcast a schedule fired and the firing's
	// scheduled time (zero if the event had none).
	Scheduled func(ctx context.Context, broadcastID string, at time.Time) error
}

// Handler returns the Lambda handler.
func (e Events) Handler() func(ctx context.Context, raw json.RawMessage) (any, error) {
	httpH := Handler(e.HTTP)
	return func(ctx context.Context, raw json.RawMessage) (any, error) {
		var probe struct {
			Records []struct {
				EventSource string `json:"eventSource"`
			} `json:"Records"`
			ScheduledBroadcast string    `json:"scheduledBroadcast"`
			ScheduledTime      time.Time `json:"scheduledTime"`
		}
		if err := json.Unmarshal(raw, &probe); err != nil && probe.ScheduledBroadcast != "" {
			return nil, fmt.Errorf("decode scheduler event: %w", err)
		}
		switch {
		case e.SQS != nil && len(probe.Records) > 0 && probe.Records[0].EventSource == "aws:sqs":
			var ev events.SQSEvent
			if err := json.Unmarshal(raw, &ev); err != nil {
				return nil, fmt.Errorf("decode SQS event: %w", err)
			}
			return e.SQS(ctx, ev), nil
		case e.Scheduled != nil && probe.ScheduledBroadcast != "":
			return map[string]string{"broadcastId": probe.ScheduledBroadcast}, e.Scheduled(ctx, probe.ScheduledBroadcast, probe.ScheduledTime)
		}
		var req events.APIGatewayV2HTTPRequest
		if err := json.Unmarshal(raw, &req); err != nil {
			return nil, fmt.Errorf("decode HTTP API event: %w", err)
		}
		return httpH(ctx, req)
	}
}
