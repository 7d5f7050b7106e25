package httpapi

import (
	"errors"
	"net/http"
	"regexp"

	"github.com/offpush/offpush/shared/broadcast"
	"github.com/offpush/offpush/shared/store"
)

// Broadcaster is what the broadcast routes need.
type Broadcaster interface {
	Create(ctx ctx, r broadcast.Request) (broadcast.View, error)
	Get(ctx ctx, id string) (broadcast.View, error)
	List(ctx ctx, status store.JobStatus) ([]broadcast.View, error)
	Cancel(ctx ctx, id string) (broadcast.View, error)
}

// BroadcastRoutes are broadcast's HTTP routes.
func BroadcastRoutes(b Broadcaster) Routes {
	return func(mux Mux, d Deps) {
		mux.Handle("POST /v1/broadcasts", d.Admin(createBroadcast(b)))
		mux.Handle("GET /v1/broadcasts", d.Admin(listBroadcasts(b)))
		mux.Handle("GET /v1/broadcasts/{id}", d.Admin(getBroadcast(b)))
		mux.Handle("DELETE /v1/broadcasts/{id}", d.Admin(cancelBroadcast(b)))
	}
}

// BroadcastBodyLimit allows an explicit audience of about 200,000 user IDs
// within Lambda's 6 MB request payload.
const BroadcastBodyLimit = 6 << 20

var broadcastIDPattern = regexp.MustCompile(`^b[0-9a-f]{20}(-[0-9]{8}T[0-9]{4})?$`)

func broadcastID(r *http.Request) (string, error) {
	id := r.PathValue("id")
	if !broadcastIDPattern.MatchString(id) {
		return "", BadRequest("id", "is not a broadcast ID")
	}
	return id, nil
}

func createBroadcast(b Broadcaster) HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) error {
		var req broadcast.Request
		if err := Decode(w, r, &req, DecodeOptions{Limit: BroadcastBodyLimit, Strict: true}); err != nil {
			return err
		}
		v, err := b.Create(r.Context(), req)
		if errors.Is(err, broadcast.ErrInProgress) {
			return Conflict("msgRandom", "%s", err.Error())
		}
		if err != nil {
			return err
		}
		WriteJSON(w, http.StatusAccepted, v)
		return nil
	}
}

func listBroadcasts(b Broadcaster) HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) error {
		status := store.JobStatus(r.URL.Query().Get("status"))
		switch status {
		case "", store.JobScheduled, store.JobPlanning, store.JobSending, store.JobCompleted, store.JobCancelled, store.JobFailed:
		default:
			return BadRequest("status", "must be scheduled, planning, sending, completed, cancelled or failed")
		}
		list, err := b.List(r.Context(), status)
		if err != nil {
			return err
		}
		WriteJSON(w, http.StatusOK, map[string]any{"broadcasts": list})
		return nil
	}
}

func getBroadcast(b Broadcaster) HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) error {
		id, err := broadcastID(r)
		if err != nil {
			return err
		}
		v, err := b.Get(r.Context(), id)
		if isNotFound(err) {
			return NotFound("no broadcast %s", id)
		}
		if err != nil {
			return err
		}
		WriteJSON(w, http.StatusOK, v)
		return nil
	}
}

func cancelBroadcast(b Broadcaster) HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) error {
		id, err := broadcastID(r)
		if err != nil {
			return err
		}
		v, err := b.Cancel(r.Context(), id)
		switch {
		case isNotFound(err):
			return NotFound("no broadcast %s", id)
		case errors.Is(err, broadcast.ErrFinished):
			return Conflict("", "broadcast %s already finished", id)
		case err != nil:
			return err
		}
		WriteJSON(w, http.StatusOK, v)
		return nil
	}
}
