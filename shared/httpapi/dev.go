package httpapi

import (
	"encoding/json"
	"net/http"
	"strconv"
	"time"

	"github.com/offpush/offpush/shared/device"
	"github.com/offpush/offpush/shared/push"
)

// CaptureLister is what the development routes need of the store.
type CaptureLister interface {
	ListCaptured(ctx ctx, vendor device.Vendor, limit int) ([]push.Captured, error)
}

// DevRoutes are the development routes, mounted only where capture mode is
// on: what the vendor clients would have sent.
func DevRoutes(s CaptureLister) Routes {
	return func(mux Mux, d Deps) {
		mux.Handle("GET /v1/dev/captured", d.Admin(listCaptured(s)))
	}
}

// CapturedRequest is a captured vendor request as the API shows it: the
// payload as JSON when it is JSON, else as the form text it is.
type CapturedRequest struct {
	Vendor        device.Vendor     `json:"vendor"`
	CertificateID int64             `json:"certificateId"`
	Target        string            `json:"target"`
	URL           string            `json:"url"`
	Header        map[string]string `json:"header,omitempty"`
	Payload       json.RawMessage   `json:"payload"`
	CapturedAt    time.Time         `json:"capturedAt"`
}

// Limits of GET /v1/dev/captured.
const (
	DefaultCapturedLimit = 100
	MaxCapturedLimit     = 1000
)

func listCaptured(s CaptureLister) HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) error {
		q := r.URL.Query()
		vendor := device.Vendor(q.Get("vendor"))
		if vendor != "" && !vendor.Valid() {
			return BadRequest("vendor", "must be one of apns, fcm, huawei, honor, xiaomi, oppo, vivo, meizu")
		}
		limit := DefaultCapturedLimit
		if v := q.Get("limit"); v != "" {
			n, err := strconv.Atoi(v)
			if err != nil || n < 1 || n > MaxCapturedLimit {
				return BadRequest("limit", "must be an integer from 1 to %d", MaxCapturedLimit)
			}
			limit = n
		}
		list, err := s.ListCaptured(r.Context(), vendor, limit)
		if err != nil {
			return err
		}
		out := make([]CapturedRequest, 0, len(list))
		for _, c := range list {
			payload := json.RawMessage(c.Payload)
			if !json.Valid(payload) {
				payload, _ = json.Marshal(string(c.Payload))
			}
			out = append(out, CapturedRequest{Vendor: c.Vendor, CertificateID: c.CertificateID, Target: c.Target, URL: c.URL,
				Header: c.Header, Payload: payload, CapturedAt: c.CapturedAt.UTC()})
		}
		WriteJSON(w, http.StatusOK, map[string]any{"requests": out})
		return nil
	}
}
