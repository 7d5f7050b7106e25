// Command broadcast is the Lambda function behind broadcasts and campaigns:
// the /v1/broadcasts routes, the planning tasks of its planning queue (each
// plans a segment of an audience into bulk-job batches for message-push), and
// EventBridge Scheduler's firings of scheduled broadcasts.
package main

import (
	"context"

	"github.com/aws/aws-lambda-go/events"
	"github.com/aws/aws-sdk-go-v2/service/scheduler"
	"github.com/aws/aws-sdk-go-v2/service/sqs"

	"github.com/offpush/offpush/shared/broadcast"
	"github.com/offpush/offpush/shared/config"
	"github.com/offpush/offpush/shared/httpapi"
	"github.com/offpush/offpush/shared/lambdahttp"
	"github.com/offpush/offpush/shared/queue"
	eventbridge "github.com/offpush/offpush/shared/scheduler"
)

func main() { lambdahttp.StartAny("broadcast", run) }

func run(ctx context.Context, getenv func(string) string) (any, error) {
	env, err := config.NewEnv(ctx, getenv, config.Lambda)
	if err != nil {
		return nil, err
	}
	st, deps, _, err := env.API(ctx, config.Admins)
	if err != nil {
		return nil, err
	}
	awsCfg, err := env.AWSConfig()
	if err != nil {
		return nil, err
	}
	sqsClient := sqs.NewFromConfig(awsCfg)
	planner := broadcast.NewPlanner(broadcast.PlannerConfig{Store: st, Batches: queue.NewSQS(sqsClient, env.QueueURL, ""),
		Tasks: queue.NewSQSTasks(sqsClient, env.PlanQueueURL), Log: env.Log, Segments: env.PlanSegments})
	sched := eventbridge.New(scheduler.NewFromConfig(awsCfg), env.ScheduleGroup, env.SchedulerTargetARN, env.SchedulerRoleARN)
	svc := broadcast.NewService(st, planner, sched, nil)
	return lambdahttp.Events{
		HTTP: httpapi.NewHandler(deps, httpapi.BroadcastRoutes(svc)),
		SQS: func(ctx context.Context, ev events.SQSEvent) events.SQSEventResponse {
			return queue.LambdaSQS(ctx, ev, queue.TaskHandler(planner.Run), 1)
		},
		Scheduled: svc.Fire,
	}.Handler(), nil
}
