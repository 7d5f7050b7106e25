package embedded

import (
	"context"
	"encoding/json"
	"fmt"
	"time"

	"github.com/offpush/offpush/shared/device"
	"github.com/offpush/offpush/shared/store"
)

// GetUsers implements store.Store.
func (s *Store) GetUsers(ctx context.Context, userIDs []string) ([]device.User, error) {
	out := make([]device.User, 0, len(userIDs))
	for _, id := range userIDs {
		u, err := s.GetUser(ctx, id)
		if err == store.ErrNotFound {
			continue
		}
		if err != nil {
			return nil, err
		}
		out = append(out, u)
	}
	return out, nil
}

// RecordResults implements store.Store.
func (s *Store) RecordResults(_ context.Context, updates []store.ResultUpdate) error {
	err := s.kv.update(func(t tx) error {
		for _, up := range updates {
			u, err := readUser(t, up.UserID)
			if err != nil {
				return err
			}
			if u == nil {
				continue
			}
			for _, r := range up.Devices {
				d, ok := u.Devices[r.DeviceID]
				if !ok {
					continue
				}
				res := r.Result
				res.At = res.At.UTC().Truncate(time.Millisecond)
				d.LastResult = &res
				if r.CountUnread {
					d.UnreadCount++
				}
				u.Devices[r.DeviceID] = d
			}
			if err := writeJSON(t, bucketUsers, up.UserID, u); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("record push results: %w", err)
	}
	return nil
}

// InvalidateToken implements store.Store.
func (s *Store) InvalidateToken(_ context.Context, userID, deviceID, token string) error {
	err := s.kv.update(func(t tx) error {
		u, err := readUser(t, userID)
		if err != nil || u == nil {
			return err
		}
		d, ok := u.Devices[deviceID]
		if !ok || d.Token != token || token == "" {
			return nil
		}
		key := store.TokenKey(token)
		if o, err := readOwner(t, key); err == nil && o != nil && o.UserID == userID && o.DeviceID == deviceID {
			if err := t.del(bucketIndex, tokenIndexKey(key)); err != nil {
				return err
			}
		}
		d.Token, d.Status, d.UpdatedAt = "", device.InvalidToken, s.now()
		u.Devices[deviceID] = d
		return writeJSON(t, bucketUsers, userID, u)
	})
	if err != nil {
		return fmt.Errorf("invalidate token of device %s: %w", deviceID, err)
	}
	return nil
}

type claimRecord struct {
	Done      bool      `json:"done"`
	Value     []byte    `json:"value,omitempty"`
	ExpiresAt time.Time `json:"expiresAt"`
}

// Claim implements store.Store.
func (s *Store) Claim(_ context.Context, key string, expiresAt time.Time) (store.Claim, error) {
	var c store.Claim
	err := s.kv.update(func(t tx) error {
		if raw := t.get(bucketMeta, "claim#"+key); raw != nil {
			var rec claimRecord
			if err := json.Unmarshal(raw, &rec); err != nil {
				return err
			}
			if s.opts.Now().Before(rec.ExpiresAt) {
				c = store.Claim{Done: rec.Done, Value: rec.Value}
				return nil
			}
		}
		c.Claimed = true
		return writeJSON(t, bucketMeta, "claim#"+key, claimRecord{ExpiresAt: expiresAt})
	})
	if err != nil {
		return store.Claim{}, fmt.Errorf("claim %s: %w", key, err)
	}
	return c, nil
}

// Complete implements store.Store.
func (s *Store) Complete(_ context.Context, key string, value []byte, expiresAt time.Time) error {
	if len(value) > store.MaxClaimValue {
		return fmt.Errorf("complete %s: value of %d bytes is over %d", key, len(value), store.MaxClaimValue)
	}
	err := s.kv.update(func(t tx) error {
		return writeJSON(t, bucketMeta, "claim#"+key, claimRecord{Done: true, Value: value, ExpiresAt: expiresAt})
	})
	if err != nil {
		return fmt.Errorf("complete %s: %w", key, err)
	}
	return nil
}
