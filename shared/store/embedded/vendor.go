package embedded

import (
	"context"
	"encoding/json"
	"fmt"
	"time"

	"github.com/offpush/offpush/shared/device"
	"github.com/offpush/offpush/shared/push"
	"github.com/offpush/offpush/shared/store"
)

type vendorToken struct {
	Token     string    `json:"token"`
	ExpiresAt time.Time `json:"expiresAt"`
}

// GetVendorToken implements store.Store.
func (s *Store) GetVendorToken(_ context.Context, key string) (string, time.Time, error) {
	var vt vendorToken
	err := s.kv.view(func(t tx) error {
		raw := t.get(bucketMeta, "vtoken#"+key)
		if raw == nil {
			return nil
		}
		return json.Unmarshal(raw, &vt)
	})
	if err != nil {
		return "", time.Time{}, fmt.Errorf("get vendor token %s: %w", key, err)
	}
	if vt.Token == "" || !s.opts.Now().Before(vt.ExpiresAt) {
		return "", time.Time{}, nil
	}
	return vt.Token, vt.ExpiresAt, nil
}

// PutVendorToken implements store.Store.
func (s *Store) PutVendorToken(_ context.Context, key, token string, expiresAt time.Time) error {
	err := s.kv.update(func(t tx) error {
		return writeJSON(t, bucketMeta, "vtoken#"+key, vendorToken{Token: token, ExpiresAt: expiresAt.UTC()})
	})
	if err != nil {
		return fmt.Errorf("put vendor token %s: %w", key, err)
	}
	return nil
}

// capturedKey orders captured requests by time; seq keeps a batch's order.
func capturedKey(at time.Time, seq uint64) string {
	return fmt.Sprintf("%020d#%08d", at.UnixNano(), seq%100000000)
}

// SaveCaptured implements store.Store.
func (s *Store) SaveCaptured(_ context.Context, reqs []push.Captured) error {
	err := s.kv.update(func(t tx) error {
		for _, r := range reqs {
			s.seq++
			if err := writeJSON(t, bucketCaptured, capturedKey(r.CapturedAt, s.seq), r); err != nil {
				return err
			}
		}
		return s.pruneCaptured(t)
	})
	if err != nil {
		return fmt.Errorf("save captured requests: %w", err)
	}
	return nil
}

// pruneCaptured drops captured requests past the retention or the cap.
func (s *Store) pruneCaptured(t tx) error {
	var keys []string
	if err := t.each(bucketCaptured, "", func(k string, _ []byte) error {
		keys = append(keys, k)
		return nil
	}); err != nil {
		return err
	}
	cutoff := capturedKey(s.opts.Now().Add(-store.CapturedRetention), 0)
	for i, k := range keys {
		if k >= cutoff && len(keys)-i <= store.MaxCaptured {
			break
		}
		if err := t.del(bucketCaptured, k); err != nil {
			return err
		}
	}
	return nil
}

// ListCaptured implements store.Store.
func (s *Store) ListCaptured(_ context.Context, vendor device.Vendor, limit int) ([]push.Captured, error) {
	out := []push.Captured{}
	err := s.kv.view(func(t tx) error {
		// Newest first, stopping at limit.
		return t.eachReverse(bucketCaptured, "", func(_ string, raw []byte) error {
			if len(out) >= limit {
				return errStop
			}
			var c push.Captured
			if err := json.Unmarshal(raw, &c); err != nil {
				return err
			}
			if vendor == "" || c.Vendor == vendor {
				out = append(out, c)
			}
			return nil
		})
	})
	if err != nil && err != errStop {
		return nil, fmt.Errorf("list captured requests: %w", err)
	}
	return out, nil
}
