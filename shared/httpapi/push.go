package httpapi

import (
	"context"
	"errors"
	"net/http"
	"time"

	"github.com/offpush/offpush/shared/delivery"
	"github.com/offpush/offpush/shared/device"
)

// Pusher is what the push routes need: the delivery engine.
type Pusher interface {
	Push(ctx ctx, r delivery.Request) (*delivery.Response, error)
	TestPush(ctx ctx, userID, title, desc string) (*delivery.UserResult, error)
}

// PushRoutes are message-push's HTTP routes.
func PushRoutes(p Pusher) Routes {
	return func(mux Mux, d Deps) {
		mux.Handle("POST /v1/push", d.Admin(pushMessage(p)))
		mux.Handle("POST /v1/users/{userId}/test-push", d.Admin(testPush(p)))
	}
}

// PushBudget bounds a synchronous push, retries included: API Gateway's HTTP
// API answers 503 after 30 seconds, so the push finishes and reports first.
const PushBudget = 25 * time.Second

// PushBodyLimit is the body limit of POST /v1/push: 500 user IDs and a
// full OfflinePushInfo fit well within it.
const PushBodyLimit = AdminBodyLimit

func pushMessage(p Pusher) HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) error {
		var req delivery.Request
		if err := Decode(w, r, &req, DecodeOptions{Limit: PushBodyLimit, Strict: true}); err != nil {
			return err
		}
		ctx, cancel := context.WithTimeout(r.Context(), PushBudget)
		defer cancel()
		resp, err := p.Push(ctx, req)
		if errors.Is(err, delivery.ErrInProgress) {
			return Conflict("msgRandom", "%s", err.Error())
		}
		if err != nil {
			return err
		}
		WriteJSON(w, http.StatusOK, resp)
		return nil
	}
}

// TestPushRequest is the body of POST /v1/users/{userId}/test-push.
type TestPushRequest struct {
	Title string `json:"title"`
	Desc  string `json:"desc"`
}

func testPush(p Pusher) HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) error {
		id, err := userID(r)
		if err != nil {
			return err
		}
		req := TestPushRequest{Title: "offpush test", Desc: "If you can read this, offline push works on this device."}
		if err := Decode(w, r, &req, DecodeOptions{Limit: AppBodyLimit, Strict: true, Optional: true}); err != nil {
			return err
		}
		if req.Desc == "" {
			return device.Invalid("desc", "is required")
		}
		ctx, cancel := context.WithTimeout(r.Context(), PushBudget)
		defer cancel()
		res, err := p.TestPush(ctx, id, req.Title, req.Desc)
		if err != nil {
			return err
		}
		if len(res.Devices) == 0 {
			return NotFound("user %q has no devices", id)
		}
		WriteJSON(w, http.StatusOK, res)
		return nil
	}
}
