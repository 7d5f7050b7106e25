// Package embedded is the store of the local server: the whole store.Store
// contract in one process, in memory or in one bbolt file on disk. Every
// operation is one serialisable transaction, so the token-ownership and
// device-cap rules hold trivially.
package embedded

import (
	"context"
	"encoding/json"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/offpush/offpush/shared/cert"
	"github.com/offpush/offpush/shared/device"
	"github.com/offpush/offpush/shared/store"
)

// Store is the embedded store.
type Store struct {
	kv   kv
	opts store.Options
	seq  uint64 // orders captured requests saved at the same instant; guarded by kv's write lock
}

// Interface guard.
var _ store.Store = (*Store)(nil)

// OpenMemory returns a store that lives in memory and is lost on exit.
func OpenMemory(opts store.Options) *Store {
	return &Store{kv: newMemKV(), opts: opts.WithDefaults()}
}

// OpenFile opens (or creates) a store in the bbolt file at path. One process
// at a time may hold it open.
func OpenFile(path string, opts store.Options) (*Store, error) {
	b, err := openBolt(path)
	if err != nil {
		return nil, err
	}
	return &Store{kv: b, opts: opts.WithDefaults()}, nil
}

// Close closes the store.
func (s *Store) Close() error { return s.kv.close() }

// userRecord is one user as stored.
type userRecord struct {
	Devices map[string]device.Device `json:"devices"`
	Tags    []string                 `json:"tags,omitempty"`
	Attrs   map[string]string        `json:"attrs,omitempty"`
}

func (s *Store) now() time.Time { return s.opts.Now().UTC().Truncate(time.Millisecond) }

func readUser(t tx, userID string) (*userRecord, error) {
	raw := t.get(bucketUsers, userID)
	if raw == nil {
		return nil, nil
	}
	var u userRecord
	if err := json.Unmarshal(raw, &u); err != nil {
		return nil, fmt.Errorf("decode user %s: %w", userID, err)
	}
	if u.Devices == nil {
		u.Devices = map[string]device.Device{}
	}
	return &u, nil
}

func writeJSON(t tx, bucket, key string, v any) error {
	raw, err := json.Marshal(v)
	if err != nil {
		return err
	}
	return t.put(bucket, key, raw)
}

func tokenIndexKey(k string) string { return "tok#" + k }

func readOwner(t tx, key string) (*store.TokenOwner, error) {
	raw := t.get(bucketIndex, tokenIndexKey(key))
	if raw == nil {
		return nil, nil
	}
	var o store.TokenOwner
	if err := json.Unmarshal(raw, &o); err != nil {
		return nil, fmt.Errorf("decode token owner: %w", err)
	}
	return &o, nil
}

func deviceList(u *userRecord) []device.Device {
	if u == nil {
		return nil
	}
	out := make([]device.Device, 0, len(u.Devices))
	for _, d := range u.Devices {
		out = append(out, d)
	}
	return out
}

// UpsertDevice implements store.Store.
func (s *Store) UpsertDevice(_ context.Context, up device.Upload) (device.Device, error) {
	var out device.Device
	err := s.kv.update(func(t tx) error {
		c, err := getCert(t, up.CertificateID)
		if err != nil {
			if err == store.ErrNotFound {
				return store.ErrUnknownCertificate
			}
			return err
		}
		u, err := readUser(t, up.UserID)
		if err != nil {
			return err
		}
		if u == nil {
			u = &userRecord{Devices: map[string]device.Device{}}
		}
		owner, err := readOwner(t, store.TokenKey(up.Token))
		if err != nil {
			return err
		}
		plan, err := store.PlanUpsert(deviceList(u), owner, up, c, s.opts.MaxDevices, s.now())
		if err != nil {
			return err
		}
		for _, id := range plan.Remove {
			delete(u.Devices, id)
		}
		for _, d := range plan.Put {
			u.Devices[d.DeviceID] = d
		}
		for _, e := range plan.Unindex {
			if o, err := readOwner(t, e.Key); err == nil && o != nil && *o == e.Owner {
				if err := t.del(bucketIndex, tokenIndexKey(e.Key)); err != nil {
					return err
				}
			}
		}
		if plan.Strip != nil {
			if err := s.strip(t, *plan.Strip, up.Token); err != nil {
				return err
			}
		}
		if err := writeJSON(t, bucketIndex, tokenIndexKey(plan.Index), store.TokenOwner{UserID: up.UserID, DeviceID: up.DeviceID}); err != nil {
			return err
		}
		out = plan.Device
		return writeJSON(t, bucketUsers, up.UserID, u)
	})
	if err != nil {
		return device.Device{}, fmt.Errorf("upsert device %s: %w", up.DeviceID, err)
	}
	return out, nil
}

// strip takes token away from another user's device.
func (s *Store) strip(t tx, o store.TokenOwner, token string) error {
	u, err := readUser(t, o.UserID)
	if err != nil || u == nil {
		return err
	}
	d, ok := u.Devices[o.DeviceID]
	if !ok || d.Token != token {
		return nil
	}
	u.Devices[o.DeviceID] = store.LoseToken(d, s.now())
	return writeJSON(t, bucketUsers, o.UserID, u)
}

// ClearDevice implements store.Store.
func (s *Store) ClearDevice(_ context.Context, userID, deviceID string) error {
	err := s.kv.update(func(t tx) error {
		u, err := readUser(t, userID)
		if err != nil || u == nil {
			return err
		}
		d, ok := u.Devices[deviceID]
		if !ok || (d.Token == "" && d.Status == device.LoggedOut) {
			return nil
		}
		if d.Token != "" {
			key := store.TokenKey(d.Token)
			if o, err := readOwner(t, key); err == nil && o != nil && o.UserID == userID && o.DeviceID == deviceID {
				if err := t.del(bucketIndex, tokenIndexKey(key)); err != nil {
					return err
				}
			}
		}
		u.Devices[deviceID] = store.LoseToken(d, s.now())
		return writeJSON(t, bucketUsers, userID, u)
	})
	if err != nil {
		return fmt.Errorf("clear device %s: %w", deviceID, err)
	}
	return nil
}

// liveDevice returns the user's device if it exists and has not expired.
func (s *Store) liveDevice(t tx, userID, deviceID string) (*userRecord, device.Device, error) {
	u, err := readUser(t, userID)
	if err != nil {
		return nil, device.Device{}, err
	}
	if u == nil {
		return nil, device.Device{}, store.ErrNotFound
	}
	d, ok := u.Devices[deviceID]
	if !ok || d.Expired(s.now()) {
		return nil, device.Device{}, store.ErrNotFound
	}
	return u, d, nil
}

// SetDeviceState implements store.Store.
func (s *Store) SetDeviceState(_ context.Context, userID, deviceID string, sc device.StateChange) (device.Device, error) {
	var out device.Device
	err := s.kv.update(func(t tx) error {
		u, d, err := s.liveDevice(t, userID, deviceID)
		if err != nil {
			return err
		}
		d.State = sc.State
		if sc.UnreadCount != nil {
			d.UnreadCount = *sc.UnreadCount
		}
		d.UpdatedAt = s.now()
		u.Devices[deviceID] = d
		out = d
		return writeJSON(t, bucketUsers, userID, u)
	})
	if err != nil {
		return device.Device{}, fmt.Errorf("set state of device %s: %w", deviceID, err)
	}
	return out, nil
}

// IncrementUnread implements store.Store.
func (s *Store) IncrementUnread(_ context.Context, userID, deviceID string) (int, error) {
	var n int
	err := s.kv.update(func(t tx) error {
		u, d, err := s.liveDevice(t, userID, deviceID)
		if err != nil {
			return err
		}
		d.UnreadCount++
		n = d.UnreadCount
		u.Devices[deviceID] = d
		return writeJSON(t, bucketUsers, userID, u)
	})
	if err != nil {
		return 0, fmt.Errorf("increment unread of device %s: %w", deviceID, err)
	}
	return n, nil
}

// ListDevices implements store.Store.
func (s *Store) ListDevices(ctx context.Context, userID string) ([]device.Device, error) {
	u, err := s.GetUser(ctx, userID)
	if err == store.ErrNotFound {
		return []device.Device{}, nil
	}
	return u.Devices, err
}

// GetUser implements store.Store.
func (s *Store) GetUser(_ context.Context, userID string) (device.User, error) {
	var out device.User
	err := s.kv.view(func(t tx) error {
		u, err := readUser(t, userID)
		if err != nil {
			return err
		}
		if u == nil {
			return store.ErrNotFound
		}
		out = device.User{UserID: userID, Tags: u.Tags, Attributes: u.Attrs, Devices: store.LiveDevices(deviceList(u), s.now())}
		return nil
	})
	if err == store.ErrNotFound {
		return device.User{}, err
	}
	if err != nil {
		return device.User{}, fmt.Errorf("get user %s: %w", userID, err)
	}
	if out.Tags == nil {
		out.Tags = []string{}
	}
	if out.Attributes == nil {
		out.Attributes = map[string]string{}
	}
	return out, nil
}

// KickDevices implements store.Store.
func (s *Store) KickDevices(_ context.Context, userID, keepDeviceID string) ([]device.Device, error) {
	var out []device.Device
	err := s.kv.update(func(t tx) error {
		u, err := readUser(t, userID)
		if err != nil {
			return err
		}
		if u == nil {
			return store.ErrNotFound
		}
		live := store.LiveDevices(deviceList(u), s.now())
		if keepDeviceID != "" {
			if _, ok := u.Devices[keepDeviceID]; !ok || u.Devices[keepDeviceID].Expired(s.now()) {
				return store.ErrNotFound
			}
		}
		out = store.Kick(live, keepDeviceID, s.now())
		for _, d := range out {
			u.Devices[d.DeviceID] = d
		}
		return writeJSON(t, bucketUsers, userID, u)
	})
	if err != nil {
		return nil, fmt.Errorf("kick devices of %s: %w", userID, err)
	}
	return out, nil
}

func certKey(id int64) string { return fmt.Sprintf("%020d", id) }

func getCert(t tx, id int64) (cert.Certificate, error) {
	raw := t.get(bucketCerts, certKey(id))
	if raw == nil {
		return cert.Certificate{}, store.ErrNotFound
	}
	var c cert.Certificate
	if err := json.Unmarshal(raw, &c); err != nil {
		return cert.Certificate{}, fmt.Errorf("decode certificate %d: %w", id, err)
	}
	return c, nil
}

// CreateCertificate implements store.Store.
func (s *Store) CreateCertificate(_ context.Context, c cert.Certificate) (cert.Certificate, error) {
	err := s.kv.update(func(t tx) error {
		if c.ID == 0 {
			next := int64(store.FirstCertificateID)
			if raw := t.get(bucketMeta, "certSeq"); raw != nil {
				n, err := strconv.ParseInt(string(raw), 10, 64)
				if err != nil {
					return fmt.Errorf("decode certificate sequence: %w", err)
				}
				next = n + 1
			}
			for t.get(bucketCerts, certKey(next)) != nil {
				next++
			}
			c.ID = next
			if err := t.put(bucketMeta, "certSeq", []byte(strconv.FormatInt(next, 10))); err != nil {
				return err
			}
		} else if t.get(bucketCerts, certKey(c.ID)) != nil {
			return store.ErrExists
		}
		c.CreatedAt = s.now()
		c.UpdatedAt = c.CreatedAt
		return writeJSON(t, bucketCerts, certKey(c.ID), c)
	})
	if err != nil {
		return cert.Certificate{}, fmt.Errorf("create certificate: %w", err)
	}
	return c, nil
}

// GetCertificate implements store.Store.
func (s *Store) GetCertificate(_ context.Context, id int64) (cert.Certificate, error) {
	var c cert.Certificate
	err := s.kv.view(func(t tx) error {
		var err error
		c, err = getCert(t, id)
		return err
	})
	if err != nil {
		return cert.Certificate{}, fmt.Errorf("get certificate %d: %w", id, err)
	}
	return c, nil
}

// ListCertificates implements store.Store.
func (s *Store) ListCertificates(_ context.Context) ([]cert.Certificate, error) {
	out := []cert.Certificate{}
	err := s.kv.view(func(t tx) error {
		return t.each(bucketCerts, "", func(_ string, raw []byte) error {
			var c cert.Certificate
			if err := json.Unmarshal(raw, &c); err != nil {
				return fmt.Errorf("decode certificate: %w", err)
			}
			out = append(out, c)
			return nil
		})
	})
	if err != nil {
		return nil, fmt.Errorf("list certificates: %w", err)
	}
	return out, nil
}

// ReplaceCertificate implements store.Store.
func (s *Store) ReplaceCertificate(_ context.Context, c cert.Certificate) (cert.Certificate, error) {
	err := s.kv.update(func(t tx) error {
		old, err := getCert(t, c.ID)
		if err != nil {
			return err
		}
		c.CreatedAt = old.CreatedAt
		c.UpdatedAt = s.now()
		return writeJSON(t, bucketCerts, certKey(c.ID), c)
	})
	if err != nil {
		return cert.Certificate{}, fmt.Errorf("replace certificate %d: %w", c.ID, err)
	}
	return c, nil
}

// DeleteCertificate implements store.Store.
func (s *Store) DeleteCertificate(_ context.Context, id int64) error {
	err := s.kv.update(func(t tx) error {
		if t.get(bucketCerts, certKey(id)) == nil {
			return store.ErrNotFound
		}
		return t.del(bucketCerts, certKey(id))
	})
	if err != nil {
		return fmt.Errorf("delete certificate %d: %w", id, err)
	}
	return nil
}

// Open opens the embedded store named by an OFFPUSH_STORE value: "memory",
// or "file:<path>".
func Open(spec string, opts store.Options) (store.Store, error) {
	switch {
	case spec == "memory":
		return OpenMemory(opts), nil
	case strings.HasPrefix(spec, "file:") && len(spec) > len("file:"):
		return OpenFile(strings.TrimPrefix(spec, "file:"), opts)
	}
	return nil, fmt.Errorf("embedded store %q: want memory or file:<path>", spec)
}
