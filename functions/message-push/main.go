// Command message-push is the Lambda function that pushes: POST /v1/push
// (up to 500 users, synchronous results), POST /v1/users/{userId}/test-push,
// and the SQS bulk-job batches of broadcasts, all through one delivery path.
package main

import (
	"context"

	"github.com/aws/aws-lambda-go/events"
	"github.com/aws/aws-sdk-go-v2/service/sqs"

	"github.com/offpush/offpush/shared/config"
	"github.com/offpush/offpush/shared/httpapi"
	"github.com/offpush/offpush/shared/lambdahttp"
	"github.com/offpush/offpush/shared/pushservice"
	"github.com/offpush/offpush/shared/queue"
)

func main() { lambdahttp.StartAny("message-push", run) }

func run(ctx context.Context, getenv func(string) string) (any, error) {
	env, err := config.NewEnv(ctx, getenv, config.Lambda)
	if err != nil {
		return nil, err
	}
	st, deps, _, err := env.API(ctx, config.Admins)
	if err != nil {
		return nil, err
	}
	svc, err := pushservice.New(env, st)
	if err != nil {
		return nil, err
	}
	awsCfg, err := env.AWSConfig()
	if err != nil {
		return nil, err
	}
	q := queue.NewSQS(sqs.NewFromConfig(awsCfg), env.QueueURL, env.DLQURL)
	worker := svc.Worker(env, st, q)
	return lambdahttp.Events{
		HTTP: httpapi.NewHandler(deps, httpapi.PushRoutes(svc.Deliverer)),
		SQS: func(ctx context.Context, ev events.SQSEvent) events.SQSEventResponse {
			return queue.LambdaSQS(ctx, ev, worker.Handle, 4)
		},
	}.Handler(), nil
}
