package push

import (
	"context"
	"strconv"
	"time"

	"github.com/offpush/offpush/shared/device"
)

// Captured is a vendor request that capture mode recorded instead of
// sending (OFFPUSH_VENDOR_MODE=capture).
type Captured struct {
	Vendor        device.Vendor     `json:"vendor"`
	CertificateID int64             `json:"certificateId"`
	Target        string            `json:"target"`
	URL           string            `json:"url"`
	Header        map[string]string `json:"header,omitempty"`
	// Payload is the exact request body.
	Payload    []byte    `json:"payload"`
	CapturedAt time.Time `json:"capturedAt"`
}

// CaptureStore keeps captured requests.
type CaptureStore interface {
	SaveCaptured(ctx context.Context, reqs []Captured) error
}

// Capture wraps a vendor client so that Send records the requests it would
// make and reports them sent, sending nothing.
func Capture(c Client, vendor device.Vendor, certificateID int64, sink CaptureStore, now func() time.Time) Client {
	return &capturing{Client: c, vendor: vendor, cert: certificateID, sink: sink, now: now}
}

type capturing struct {
	Client
	vendor device.Vendor
	cert   int64
	sink   CaptureStore
	now    func() time.Time
}

func (c *capturing) Send(ctx context.Context, m *Message, targets []Target) []Result {
	reqs, results := c.Requests(m, targets)
	if m.DryRun {
		for _, r := range reqs {
			for _, t := range r.Targets {
				results[t] = Result{Outcome: Sent, Reason: "dry_run"}
			}
		}
		return results
	}
	at := c.now().UTC()
	recs := make([]Captured, 0, len(reqs))
	for _, r := range reqs {
		recs = append(recs, Captured{Vendor: c.vendor, CertificateID: c.cert, Target: r.Target, URL: r.URL, Header: r.Header, Payload: r.Payload, CapturedAt: at})
	}
	outcome, reason := Sent, "captured"
	if err := c.sink.SaveCaptured(ctx, recs); err != nil {
		outcome, reason = Retryable, "capture: "+err.Error()
	}
	for i, r := range reqs {
		for _, t := range r.Targets {
			results[t] = Result{Outcome: outcome, Reason: reason, MessageID: "captured-" + strconv.FormatInt(at.UnixNano(), 36) + "-" + strconv.Itoa(i)}
		}
	}
	return results
}
