package delivery

import (
	"bytes"
	"compress/gzip"
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strconv"
	"time"

	"github.com/offpush/offpush/shared/device"
	"github.com/offpush/offpush/shared/push"
	"github.com/offpush/offpush/shared/store"
)

// Idempotency windows.
const (
	// DedupWindow is how long the same (from, msgRandom) sends nothing new.
	DedupWindow = 7 * 24 * time.Hour
	// claimLease is how long an unfinished push holds its msgRandom: if the
	// process dies mid-push, the same request may run again after it.
	claimLease = 15 * time.Minute
	// pollEvery is how often a duplicate waits for the first push to finish.
	pollEvery = 250 * time.Millisecond
)

// Claims is the once-only record store behind msgRandom.
type Claims interface {
	Claim(ctx context.Context, key string, expiresAt time.Time) (store.Claim, error)
	Complete(ctx context.Context, key string, value []byte, expiresAt time.Time) error
}

// ErrInProgress: an identical push is still running and did not finish
// within the caller's deadline.
var ErrInProgress = errors.New("an identical push (same from and msgRandom) is in progress")

// Push validates r and delivers it once: the same (from, msgRandom) within
// DedupWindow returns the first push's response with Duplicate set, and two
// concurrent identical requests send once.
func (dl *Deliverer) Push(ctx context.Context, r Request) (*Response, error) {
	m, users, err := r.Validate()
	if err != nil {
		return nil, err
	}
	opts := Options{CheckFirst: true}
	if r.MsgRandom == nil || r.DryRun {
		m.ID = randomID()
		return dl.Deliver(ctx, m, users, opts)
	}
	key := "push#" + r.From + "#" + strconv.FormatUint(uint64(*r.MsgRandom), 10)
	m.ID = stableID(key)
	for {
		c, err := dl.store.Claim(ctx, key, dl.now().Add(claimLease))
		if err != nil {
			return nil, fmt.Errorf("claim msgRandom: %w", err)
		}
		switch {
		case c.Claimed:
			resp, err := dl.Deliver(ctx, m, users, opts)
			var fe *device.FieldError
			if errors.As(err, &fe) {
				// Rejected before sending anything: free the msgRandom so the
				// corrected request can use it.
				_ = dl.store.Complete(ctx, key, nil, dl.now())
			}
			if err != nil {
				return nil, err
			}
			if err := dl.store.Complete(ctx, key, encodeResponse(resp), dl.now().Add(DedupWindow)); err != nil {
				// The push went out; failing to remember it only weakens
				// deduplication, so the caller still gets the result.
				dl.log.WarnContext(ctx, "push result not kept for deduplication", "pushId", m.ID, "error", err.Error())
			}
			return resp, nil
		case c.Done:
			resp, err := decodeResponse(c.Value)
			if err != nil {
				return nil, fmt.Errorf("read the first push's result: %w", err)
			}
			resp.Duplicate = true
			return resp, nil
		}
		if deadline, ok := ctx.Deadline(); ok && dl.now().Add(pollEvery+dl.retry.Reserve).After(deadline) {
			return nil, ErrInProgress
		}
		if err := dl.sleep(ctx, pollEvery); err != nil {
			return nil, ErrInProgress
		}
	}
}

// encodeResponse keeps a response for duplicates: gzipped JSON, and only the
// summary if even that is too large to store.
func encodeResponse(resp *Response) []byte {
	raw, _ := json.Marshal(resp)
	var buf bytes.Buffer
	zw := gzip.NewWriter(&buf)
	zw.Write(raw)
	zw.Close()
	if buf.Len() > store.MaxClaimValue {
		short := *resp
		short.Results = nil
		return encodeResponse(&short)
	}
	return buf.Bytes()
}

func decodeResponse(b []byte) (*Response, error) {
	zr, err := gzip.NewReader(bytes.NewReader(b))
	if err != nil {
		return nil, err
	}
	raw, err := io.ReadAll(zr)
	if err != nil {
		return nil, err
	}
	var resp Response
	if err := json.Unmarshal(raw, &resp); err != nil {
		return nil, err
	}
	if resp.Results == nil {
		resp.Results = []UserResult{}
	}
	return &resp, nil
}

// stableID is a request ID derived from the idempotency key, so a retried
// push carries the same vendor request IDs.
func stableID(key string) string {
	sum := sha256.Sum256([]byte(key))
	return hex.EncodeToString(sum[:12])
}

func randomID() string {
	var b [12]byte
	rand.Read(b[:])
	return hex.EncodeToString(b[:])
}

// TestPush sends a test notification to every device of a user, foreground
// ones included, without counting it towards the badge: the push check's
// "does this device receive pushes?" button.
func (dl *Deliverer) TestPush(ctx context.Context, userID, title, desc string) (*UserResult, error) {
	m := &push.Message{ID: randomID(), Type: push.Text, From: "offpush", FromNickname: "offpush",
		Info: push.OfflinePushInfo{Title: title, Desc: desc, APNsInfo: push.APNsInfo{BadgeMode: 1}}, TTL: time.Hour}
	if err := ValidateInfo(m.Info); err != nil {
		return nil, err
	}
	resp, err := dl.Deliver(ctx, m, []string{userID}, Options{TestPush: true})
	if err != nil {
		return nil, err
	}
	return &resp.Results[0], nil
}
