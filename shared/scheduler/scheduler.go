// Package scheduler fires scheduled broadcasts on AWS: each broadcast with a
// sendAt time or a cron expression gets an EventBridge Scheduler schedule,
// in the stack's schedule group, that invokes the broadcast function with
// {"scheduledBroadcast": "<id>"}. It is broadcast.Scheduler for the Lambda
// functions; the local server uses broadcast.LocalScheduler instead.
package scheduler

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"

	"github.com/aws/aws-sdk-go-v2/aws"
	awsscheduler "github.com/aws/aws-sdk-go-v2/service/scheduler"
	"github.com/aws/aws-sdk-go-v2/service/scheduler/types"
	"github.com/aws/smithy-go"

	"github.com/offpush/offpush/shared/broadcast"
)

// API is the part of *scheduler.Client (aws-sdk-go-v2) that EventBridge uses.
type API interface {
	CreateSchedule(ctx context.Context, in *awsscheduler.CreateScheduleInput, optFns ...func(*awsscheduler.Options)) (*awsscheduler.CreateScheduleOutput, error)
	UpdateSchedule(ctx context.Context, in *awsscheduler.UpdateScheduleInput, optFns ...func(*awsscheduler.Options)) (*awsscheduler.UpdateScheduleOutput, error)
	DeleteSchedule(ctx context.Context, in *awsscheduler.DeleteScheduleInput, optFns ...func(*awsscheduler.Options)) (*awsscheduler.DeleteScheduleOutput, error)
}

var (
	_ API                 = (*awsscheduler.Client)(nil)
	_ broadcast.Scheduler = (*EventBridge)(nil)
)

// NamePrefix starts the name of every schedule: offpush-<broadcast ID>.
const NamePrefix = "offpush-"

// maxNameLen is the longest schedule name EventBridge Scheduler accepts.
const maxNameLen = 64

// Retries of a firing whose invocation failed (the function throttled or
// unavailable), and how late a firing may still start its broadcast. A
// firing the function itself failed on is not retried by the scheduler
// (asynchronous invocation has its own retries), and a repeated firing
// starts nothing twice (broadcast.Service.Fire).
const (
	maxRetryAttempts = 3
	maxEventAge      = 60 * 60 // seconds
)

// Invocation is what a schedule hands the broadcast function: the broadcast
// to fire, and the firing's scheduled time (EventBridge Scheduler fills in
// the <aws.scheduler.scheduled-time> placeholder), which names a campaign's
// run so that a retried invocation starts nothing twice.
type Invocation struct {
	ScheduledBroadcast string `json:"scheduledBroadcast"`
	ScheduledTime      string `json:"scheduledTime"`
}

// scheduledTimePlaceholder is EventBridge Scheduler's context attribute for
// the firing's scheduled time.
const scheduledTimePlaceholder = "<aws.scheduler.scheduled-time>"

// EventBridge keeps one EventBridge Scheduler schedule per scheduled
// broadcast.
type EventBridge struct {
	api       API
	group     string
	targetARN string
	roleARN   string
}

// New returns the scheduler of the schedule group groupName, whose schedules
// invoke targetARN (the broadcast function) with the role roleARN, which
// EventBridge Scheduler assumes and which may invoke the function.
func New(client API, groupName, targetARN, roleARN string) *EventBridge {
	return &EventBridge{api: client, group: groupName, targetARN: targetARN, roleARN: roleARN}
}

// ScheduleName is the name of a broadcast's schedule.
func ScheduleName(broadcastID string) string { return NamePrefix + broadcastID }

// schedule is what CreateSchedule and UpdateSchedule both carry: an update
// replaces every field.
type schedule struct {
	name, expression string
	timezone         *string
	target           *types.Target
	after            types.ActionAfterCompletion
}

func (e *EventBridge) schedule(broadcastID, expression, timezone string) (schedule, error) {
	name := ScheduleName(broadcastID)
	if err := checkName(name); err != nil {
		return schedule{}, err
	}
	if expression == "" {
		return schedule{}, fmt.Errorf("schedule %s: no schedule expression", name)
	}
	// Without HTML escaping: EventBridge Scheduler substitutes the
	// placeholder only as the literal <aws.scheduler.scheduled-time>.
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	err := enc.Encode(Invocation{ScheduledBroadcast: broadcastID, ScheduledTime: scheduledTimePlaceholder})
	input := bytes.TrimSuffix(buf.Bytes(), []byte("\n"))
	if err != nil {
		return schedule{}, err
	}
	s := schedule{
		name:       name,
		expression: expression,
		target: &types.Target{
			Arn:     aws.String(e.targetARN),
			RoleArn: aws.String(e.roleARN),
			Input:   aws.String(string(input)),
			RetryPolicy: &types.RetryPolicy{
				MaximumRetryAttempts:     aws.Int32(maxRetryAttempts),
				MaximumEventAgeInSeconds: aws.Int32(maxEventAge),
			},
		},
		// A recurring schedule stays until the campaign is cancelled; a
		// one-time one is gone once it has fired. Set either way, so an
		// update from one kind to the other does not keep the old action.
		after: types.ActionAfterCompletionNone,
	}
	if strings.HasPrefix(strings.TrimSpace(expression), "at(") {
		s.after = types.ActionAfterCompletionDelete
	}
	if timezone != "" {
		s.timezone = aws.String(timezone)
	}
	return s, nil
}

// checkName holds a name to EventBridge Scheduler's rule (1 to 64 of
// [0-9a-zA-Z-_.]), so a bad ID fails here with a clear error.
func checkName(name string) error {
	if len(name) > maxNameLen {
		return fmt.Errorf("schedule name %q: longer than %d characters", name, maxNameLen)
	}
	for _, r := range name {
		if !(r >= '0' && r <= '9' || r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r == '-' || r == '_' || r == '.') {
			return fmt.Errorf("schedule name %q: only letters, digits, '-', '_' and '.' are allowed", name)
		}
	}
	return nil
}

// Schedule implements broadcast.Scheduler: it creates the broadcast's
// schedule, or replaces it if one exists.
func (e *EventBridge) Schedule(ctx context.Context, broadcastID, expression, timezone string) error {
	s, err := e.schedule(broadcastID, expression, timezone)
	if err != nil {
		return err
	}
	_, err = e.api.CreateSchedule(ctx, &awsscheduler.CreateScheduleInput{
		Name:                       aws.String(s.name),
		GroupName:                  aws.String(e.group),
		ScheduleExpression:         aws.String(s.expression),
		ScheduleExpressionTimezone: s.timezone,
		FlexibleTimeWindow:         &types.FlexibleTimeWindow{Mode: types.FlexibleTimeWindowModeOff},
		Target:                     s.target,
		ActionAfterCompletion:      s.after,
		State:                      types.ScheduleStateEnabled,
	})
	if err == nil {
		return nil
	}
	if !isCode(err, "ConflictException") {
		return fmt.Errorf("create schedule %s in group %s (%s): %w", s.name, e.group, s.expression, err)
	}
	// It exists: replace it with the same fields.
	_, err = e.api.UpdateSchedule(ctx, &awsscheduler.UpdateScheduleInput{
		Name:                       aws.String(s.name),
		GroupName:                  aws.String(e.group),
		ScheduleExpression:         aws.String(s.expression),
		ScheduleExpressionTimezone: s.timezone,
		FlexibleTimeWindow:         &types.FlexibleTimeWindow{Mode: types.FlexibleTimeWindowModeOff},
		Target:                     s.target,
		ActionAfterCompletion:      s.after,
		State:                      types.ScheduleStateEnabled,
	})
	if err != nil {
		return fmt.Errorf("update schedule %s in group %s (%s): %w", s.name, e.group, s.expression, err)
	}
	return nil
}

// Unschedule implements broadcast.Scheduler: it deletes the broadcast's
// schedule; one already gone (a one-time schedule deletes itself once it
// has fired) is no error.
func (e *EventBridge) Unschedule(ctx context.Context, broadcastID string) error {
	name := ScheduleName(broadcastID)
	if err := checkName(name); err != nil {
		return err
	}
	_, err := e.api.DeleteSchedule(ctx, &awsscheduler.DeleteScheduleInput{Name: aws.String(name), GroupName: aws.String(e.group)})
	if err != nil && !isCode(err, "ResourceNotFoundException") {
		return fmt.Errorf("delete schedule %s in group %s: %w", name, e.group, err)
	}
	return nil
}

// isCode reports whether err is the API error code: the SDK's typed
// exceptions (types.ConflictException, …) carry it, as do errors it could
// not type.
func isCode(err error, code string) bool {
	var ae smithy.APIError
	return errors.As(err, &ae) && ae.ErrorCode() == code
}
