// Package vendors hands out one vendor client per certificate, choosing the
// vendor package in one switch (gorush style). Only message-push links it:
// it is what pulls in apns2, firebase and the other vendor clients.
package vendors

import (
	"fmt"
	"sync"

	"github.com/offpush/offpush/shared/cert"
	"github.com/offpush/offpush/shared/device"
	"github.com/offpush/offpush/shared/push"
	"github.com/offpush/offpush/shared/vendors/apns"
	"github.com/offpush/offpush/shared/vendors/fcm"
	"github.com/offpush/offpush/shared/vendors/honor"
	"github.com/offpush/offpush/shared/vendors/huawei"
	"github.com/offpush/offpush/shared/vendors/meizu"
	"github.com/offpush/offpush/shared/vendors/oppo"
	"github.com/offpush/offpush/shared/vendors/vivo"
	"github.com/offpush/offpush/shared/vendors/xiaomi"
)

// New builds the vendor client of a certificate.
func New(c cert.Certificate, env *push.Env) (push.Client, error) {
	switch c.Vendor {
	case device.APNs:
		return apns.New(c, env)
	case device.FCM:
		return fcm.New(c, env)
	case device.Huawei:
		return huawei.New(c, env)
	case device.Honor:
		return honor.New(c, env)
	case device.Xiaomi:
		return xiaomi.New(c, env)
	case device.OPPO:
		return oppo.New(c, env)
	case device.Vivo:
		return vivo.New(c, env)
	case device.Meizu:
		return meizu.New(c, env)
	}
	return nil, fmt.Errorf("certificate %d: unknown vendor %q", c.ID, c.Vendor)
}

// Clients keeps one client per certificate for the life of the container:
// vendor connections (APNs HTTP/2 above all) and access tokens are reused
// across invocations. A certificate replaced since (a newer UpdatedAt) gets
// a new client.
type Clients struct {
	env     *push.Env
	capture push.CaptureStore

	mu      sync.Mutex
	clients map[int64]entry
}

type entry struct {
	version int64
	client  push.Client
}

// NewClients returns the client cache. With capture set, clients record
// their requests there instead of sending (OFFPUSH_VENDOR_MODE=capture).
func NewClients(env *push.Env, capture push.CaptureStore) *Clients {
	return &Clients{env: env, capture: capture, clients: map[int64]entry{}}
}

// For returns the client of c.
func (cs *Clients) For(c cert.Certificate) (push.Client, error) {
	version := c.UpdatedAt.UnixNano()
	cs.mu.Lock()
	defer cs.mu.Unlock()
	if e, ok := cs.clients[c.ID]; ok && e.version == version {
		return e.client, nil
	}
	client, err := New(c, cs.env)
	if err != nil {
		return nil, fmt.Errorf("certificate %d: %w", c.ID, err)
	}
	if cs.capture != nil {
		client = push.Capture(client, c.Vendor, c.ID, cs.capture, cs.env.Now)
	}
	cs.clients[c.ID] = entry{version: version, client: client}
	return client, nil
}
