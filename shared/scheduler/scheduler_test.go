package scheduler

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"reflect"
	"strings"
	"sync"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	awsscheduler "github.com/aws/aws-sdk-go-v2/service/scheduler"
	"github.com/aws/aws-sdk-go-v2/service/scheduler/types"
	"github.com/aws/smithy-go"
)

const (
	group  = "offpush-dev-broadcasts"
	target = "arn:aws:lambda:eu-west-1:123456789012:function:offpush-dev-broadcast"
	role   = "arn:aws:iam::123456789012:role/offpush-dev-SchedulerRole-ABC"
)

// fakeAPI records every call and answers with the errors it is given.
type fakeAPI struct {
	mu                           sync.Mutex
	creates                      []*awsscheduler.CreateScheduleInput
	updates                      []*awsscheduler.UpdateScheduleInput
	deletes                      []*awsscheduler.DeleteScheduleInput
	createErr, updateErr, delErr error
}

func (f *fakeAPI) CreateSchedule(_ context.Context, in *awsscheduler.CreateScheduleInput, _ ...func(*awsscheduler.Options)) (*awsscheduler.CreateScheduleOutput, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.creates = append(f.creates, in)
	if f.createErr != nil {
		return nil, f.createErr
	}
	return &awsscheduler.CreateScheduleOutput{ScheduleArn: aws.String("arn:aws:scheduler:eu-west-1:123456789012:schedule/" + *in.GroupName + "/" + *in.Name)}, nil
}

func (f *fakeAPI) UpdateSchedule(_ context.Context, in *awsscheduler.UpdateScheduleInput, _ ...func(*awsscheduler.Options)) (*awsscheduler.UpdateScheduleOutput, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.updates = append(f.updates, in)
	if f.updateErr != nil {
		return nil, f.updateErr
	}
	return &awsscheduler.UpdateScheduleOutput{ScheduleArn: aws.String("arn")}, nil
}

func (f *fakeAPI) DeleteSchedule(_ context.Context, in *awsscheduler.DeleteScheduleInput, _ ...func(*awsscheduler.Options)) (*awsscheduler.DeleteScheduleOutput, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.deletes = append(f.deletes, in)
	return &awsscheduler.DeleteScheduleOutput{}, f.delErr
}

// wantTarget is the target every schedule of broadcast id has.
func wantTarget(id string) *types.Target {
	return &types.Target{
		Arn:     aws.String(target),
		RoleArn: aws.String(role),
		Input:   aws.String(`{"scheduledBroadcast":"` + id + `","scheduledTime":"<aws.scheduler.scheduled-time>"}`),
		RetryPolicy: &types.RetryPolicy{
			MaximumRetryAttempts:     aws.Int32(3),
			MaximumEventAgeInSeconds: aws.Int32(3600),
		},
	}
}

func TestScheduleCreates(t *testing.T) {
	tests := []struct {
		name, expr, tz string
		wantTZ         *string
		after          types.ActionAfterCompletion
	}{
		{"one-time", "at(2026-12-01T08:00:00)", "UTC", aws.String("UTC"), types.ActionAfterCompletionDelete},
		{"cron campaign", "cron(0 8 * * ? *)", "Asia/Shanghai", aws.String("Asia/Shanghai"), types.ActionAfterCompletionNone},
		{"rate campaign", "rate(1 day)", "Europe/Paris", aws.String("Europe/Paris"), types.ActionAfterCompletionNone},
		{"no time zone (UTC)", "cron(30 9 ? * MON *)", "", nil, types.ActionAfterCompletionNone},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			api := &fakeAPI{}
			if err := New(api, group, target, role).Schedule(context.Background(), "b0123456789abcdef0123", tc.expr, tc.tz); err != nil {
				t.Fatal(err)
			}
			if len(api.creates) != 1 || len(api.updates) != 0 || len(api.deletes) != 0 {
				t.Fatalf("calls: %d create, %d update, %d delete; want one create", len(api.creates), len(api.updates), len(api.deletes))
			}
			want := &awsscheduler.CreateScheduleInput{
				Name:                       aws.String("offpush-b0123456789abcdef0123"),
				GroupName:                  aws.String(group),
				ScheduleExpression:         aws.String(tc.expr),
				ScheduleExpressionTimezone: tc.wantTZ,
				FlexibleTimeWindow:         &types.FlexibleTimeWindow{Mode: types.FlexibleTimeWindowModeOff},
				Target:                     wantTarget("b0123456789abcdef0123"),
				ActionAfterCompletion:      tc.after,
				State:                      types.ScheduleStateEnabled,
			}
			if got := api.creates[0]; !reflect.DeepEqual(got, want) {
				t.Errorf("CreateSchedule input:\n got %s\nwant %s", dump(got), dump(want))
			}
		})
	}
}

func TestScheduleInputIsTheInvocation(t *testing.T) {
	api := &fakeAPI{}
	if err := New(api, group, target, role).Schedule(context.Background(), "b1", "rate(5 minutes)", "UTC"); err != nil {
		t.Fatal(err)
	}
	dec := json.NewDecoder(strings.NewReader(*api.creates[0].Target.Input))
	dec.DisallowUnknownFields()
	var inv Invocation
	if err := dec.Decode(&inv); err != nil || inv.ScheduledBroadcast != "b1" || inv.ScheduledTime != "<aws.scheduler.scheduled-time>" {
		t.Errorf("Target.Input %s: %+v, %v; want {scheduledBroadcast: b1}", *api.creates[0].Target.Input, inv, err)
	}
}

func TestScheduleUpdatesAnExistingSchedule(t *testing.T) {
	api := &fakeAPI{createErr: &types.ConflictException{Message: aws.String("Schedule offpush-b2 already exists.")}}
	if err := New(api, group, target, role).Schedule(context.Background(), "b2", "cron(0 9 * * ? *)", "Asia/Tokyo"); err != nil {
		t.Fatal(err)
	}
	if len(api.creates) != 1 || len(api.updates) != 1 {
		t.Fatalf("calls: %d create, %d update; want one of each", len(api.creates), len(api.updates))
	}
	want := &awsscheduler.UpdateScheduleInput{
		Name:                       aws.String("offpush-b2"),
		GroupName:                  aws.String(group),
		ScheduleExpression:         aws.String("cron(0 9 * * ? *)"),
		ScheduleExpressionTimezone: aws.String("Asia/Tokyo"),
		FlexibleTimeWindow:         &types.FlexibleTimeWindow{Mode: types.FlexibleTimeWindowModeOff},
		Target:                     wantTarget("b2"),
		// Explicit, so a one-time schedule turned recurring stops deleting
		// itself after its first firing.
		ActionAfterCompletion: types.ActionAfterCompletionNone,
		State:                 types.ScheduleStateEnabled,
	}
	if got := api.updates[0]; !reflect.DeepEqual(got, want) {
		t.Errorf("UpdateSchedule input:\n got %s\nwant %s", dump(got), dump(want))
	}
	// The update carries exactly what the create did.
	c := api.creates[0]
	sameAsCreate := &awsscheduler.UpdateScheduleInput{Name: c.Name, GroupName: c.GroupName, ScheduleExpression: c.ScheduleExpression,
		ScheduleExpressionTimezone: c.ScheduleExpressionTimezone, FlexibleTimeWindow: c.FlexibleTimeWindow, Target: c.Target,
		ActionAfterCompletion: c.ActionAfterCompletion, State: c.State}
	if !reflect.DeepEqual(api.updates[0], sameAsCreate) {
		t.Errorf("update differs from the create:\n create %s\n update %s", dump(c), dump(api.updates[0]))
	}
}

func TestScheduleErrors(t *testing.T) {
	boom := errors.New("throttled")
	tests := []struct {
		name        string
		api         *fakeAPI
		id, expr    string
		want        string // part of the error
		wantIs      error
		creates, up int
	}{
		{"create fails", &fakeAPI{createErr: boom}, "b3", "cron(0 8 * * ? *)",
			"create schedule offpush-b3 in group " + group + " (cron(0 8 * * ? *))", boom, 1, 0},
		{"update fails", &fakeAPI{createErr: &types.ConflictException{}, updateErr: boom}, "b4", "rate(1 hour)",
			"update schedule offpush-b4 in group " + group + " (rate(1 hour))", boom, 1, 1},
		{"other API error is not a conflict", &fakeAPI{createErr: &types.ValidationException{Message: aws.String("bad cron")}}, "b5", "cron(x)",
			"create schedule offpush-b5", nil, 1, 0},
		{"ID too long for a schedule name", &fakeAPI{}, strings.Repeat("b", 57), "rate(1 day)",
			"longer than 64 characters", nil, 0, 0},
		{"ID with a character names cannot hold", &fakeAPI{}, "b/6", "rate(1 day)",
			"only letters, digits", nil, 0, 0},
		{"no expression", &fakeAPI{}, "b7", "",
			"no schedule expression", nil, 0, 0},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			err := New(tc.api, group, target, role).Schedule(context.Background(), tc.id, tc.expr, "UTC")
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("error %v, want one saying %q", err, tc.want)
			}
			if tc.wantIs != nil && !errors.Is(err, tc.wantIs) {
				t.Errorf("error %v does not wrap %v", err, tc.wantIs)
			}
			if len(tc.api.creates) != tc.creates || len(tc.api.updates) != tc.up {
				t.Errorf("calls: %d create, %d update; want %d, %d", len(tc.api.creates), len(tc.api.updates), tc.creates, tc.up)
			}
		})
	}
	// A 64-character name is still fine.
	api := &fakeAPI{}
	if err := New(api, group, target, role).Schedule(context.Background(), strings.Repeat("b", 56), "rate(1 day)", "UTC"); err != nil {
		t.Errorf("56-character ID: %v", err)
	}
}

func TestUnschedule(t *testing.T) {
	api := &fakeAPI{}
	if err := New(api, group, target, role).Unschedule(context.Background(), "b8"); err != nil {
		t.Fatal(err)
	}
	want := []*awsscheduler.DeleteScheduleInput{{Name: aws.String("offpush-b8"), GroupName: aws.String(group)}}
	if !reflect.DeepEqual(api.deletes, want) {
		t.Errorf("DeleteSchedule inputs %s, want %s", dump(api.deletes), dump(want))
	}

	// Gone already (a one-time schedule deletes itself once it fired).
	api = &fakeAPI{delErr: &types.ResourceNotFoundException{Message: aws.String("Schedule offpush-b9 does not exist.")}}
	if err := New(api, group, target, role).Unschedule(context.Background(), "b9"); err != nil {
		t.Errorf("missing schedule: %v, want nil", err)
	}
	// The same code from an error the SDK could not type.
	api = &fakeAPI{delErr: &smithy.GenericAPIError{Code: "ResourceNotFoundException"}}
	if err := New(api, group, target, role).Unschedule(context.Background(), "b9"); err != nil {
		t.Errorf("missing schedule (generic API error): %v, want nil", err)
	}

	boom := &types.InternalServerException{Message: aws.String("oops")}
	api = &fakeAPI{delErr: boom}
	err := New(api, group, target, role).Unschedule(context.Background(), "b10")
	if err == nil || !strings.Contains(err.Error(), "delete schedule offpush-b10 in group "+group) || !errors.Is(err, boom) {
		t.Errorf("error %v, want the wrapped internal error", err)
	}
}

// TestWithSDKClient runs the real aws-sdk-go-v2 client against a local HTTP
// server standing in for EventBridge Scheduler: the requests on the wire,
// and the errors the SDK decodes from its responses (409 conflict, 404 not
// found).
func TestWithSDKClient(t *testing.T) {
	type call struct {
		Method, Path, Query string
		Body                map[string]any
	}
	var (
		mu    sync.Mutex
		calls []call
	)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		raw, _ := io.ReadAll(r.Body)
		var body map[string]any
		if len(raw) > 0 {
			if err := json.Unmarshal(raw, &body); err != nil {
				t.Errorf("%s %s: body %s: %v", r.Method, r.URL.Path, raw, err)
			}
		}
		q := r.URL.Query()
		q.Del("clientToken") // the SDK fills in an idempotency token
		mu.Lock()
		calls = append(calls, call{r.Method, r.URL.Path, q.Encode(), body})
		n := len(calls)
		mu.Unlock()
		w.Header().Set("Content-Type", "application/json")
		switch {
		case n == 1: // the create of an existing schedule
			w.Header().Set("X-Amzn-ErrorType", "ConflictException")
			w.WriteHeader(http.StatusConflict)
			io.WriteString(w, `{"Message":"Schedule offpush-b11 already exists."}`)
		case r.Method == http.MethodDelete:
			w.Header().Set("X-Amzn-ErrorType", "ResourceNotFoundException")
			w.WriteHeader(http.StatusNotFound)
			io.WriteString(w, `{"Message":"Schedule offpush-b11 does not exist."}`)
		default:
			io.WriteString(w, `{"ScheduleArn":"arn:aws:scheduler:eu-west-1:123456789012:schedule/`+group+`/offpush-b11"}`)
		}
	}))
	defer srv.Close()
	client := awsscheduler.New(awsscheduler.Options{
		Region:       "eu-west-1",
		BaseEndpoint: aws.String(srv.URL),
		Credentials:  aws.AnonymousCredentials{},
		HTTPClient:   srv.Client(),
	})
	e := New(client, group, target, role)
	ctx := context.Background()
	if err := e.Schedule(ctx, "b11", "at(2026-12-01T08:00:00)", "UTC"); err != nil {
		t.Fatalf("Schedule: %v", err)
	}
	if err := e.Unschedule(ctx, "b11"); err != nil {
		t.Fatalf("Unschedule of a missing schedule: %v", err)
	}
	body := map[string]any{
		"GroupName":                  group,
		"ScheduleExpression":         "at(2026-12-01T08:00:00)",
		"ScheduleExpressionTimezone": "UTC",
		"FlexibleTimeWindow":         map[string]any{"Mode": "OFF"},
		"ActionAfterCompletion":      "DELETE",
		"State":                      "ENABLED",
		"Target": map[string]any{
			"Arn":         target,
			"RoleArn":     role,
			"Input":       `{"scheduledBroadcast":"b11","scheduledTime":"<aws.scheduler.scheduled-time>"}`,
			"RetryPolicy": map[string]any{"MaximumRetryAttempts": float64(3), "MaximumEventAgeInSeconds": float64(3600)},
		},
	}
	want := []call{
		{"POST", "/schedules/offpush-b11", "", body},
		{"PUT", "/schedules/offpush-b11", "", body},
		{"DELETE", "/schedules/offpush-b11", "groupName=" + group, nil},
	}
	for _, c := range calls {
		delete(c.Body, "ClientToken") // the SDK fills in an idempotency token
	}
	if !reflect.DeepEqual(calls, want) {
		t.Errorf("requests:\n got %s\nwant %s", dump(calls), dump(want))
	}
}

func dump(v any) string {
	b, err := json.Marshal(v)
	if err != nil {
		return err.Error()
	}
	return string(b)
}
