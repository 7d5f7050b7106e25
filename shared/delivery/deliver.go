package delivery

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"sync"
	"time"

	"github.com/offpush/offpush/shared/cert"
	"github.com/offpush/offpush/shared/device"
	"github.com/offpush/offpush/shared/push"
	"github.com/offpush/offpush/shared/store"
)

// Store is what delivery needs of the store.
type Store interface {
	GetUsers(ctx context.Context, userIDs []string) ([]device.User, error)
	GetCertificate(ctx context.Context, id int64) (cert.Certificate, error)
	RecordResults(ctx context.Context, updates []store.ResultUpdate) error
	InvalidateToken(ctx context.Context, userID, deviceID, token string) error
	GetVendorToken(ctx context.Context, key string) (string, time.Time, error)
	PutVendorToken(ctx context.Context, key, token string, expiresAt time.Time) error
	Claims
}

// Clients hands out the vendor client of a certificate.
type Clients interface {
	For(c cert.Certificate) (push.Client, error)
}

// Retry is how retryable failures are retried inside one invocation.
type Retry struct {
	// Attempts is the most sends per device, the first included (default 3).
	Attempts int
	// Base is the first backoff (default 200 ms); it doubles per attempt,
	// with full jitter, up to Max (default 5 s).
	Base, Max time.Duration
	// Reserve is the part of the deadline kept back for recording results
	// (default 2 s): no retry starts that would end inside it.
	Reserve time.Duration
}

func (r Retry) withDefaults() Retry {
	if r.Attempts <= 0 {
		r.Attempts = 3
	}
	if r.Base <= 0 {
		r.Base = 200 * time.Millisecond
	}
	if r.Max <= 0 {
		r.Max = 5 * time.Second
	}
	if r.Reserve <= 0 {
		r.Reserve = 2 * time.Second
	}
	return r
}

// Deliverer runs pushes. Build one per container.
type Deliverer struct {
	store   Store
	clients Clients
	log     *slog.Logger
	now     func() time.Time
	retry   Retry
	certs   *certCache
	sleep   func(ctx context.Context, d time.Duration) error
}

// Config configures a Deliverer.
type Config struct {
	Store   Store
	Clients Clients
	Log     *slog.Logger
	Now     func() time.Time
	Retry   Retry
	// CertTTL is how long a certificate is cached in the container
	// (default one minute): certificate changes reach pushes within it.
	CertTTL time.Duration
}

// New returns a Deliverer.
func New(cfg Config) *Deliverer {
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.Log == nil {
		cfg.Log = slog.Default()
	}
	if cfg.CertTTL <= 0 {
		cfg.CertTTL = time.Minute
	}
	return &Deliverer{store: cfg.Store, clients: cfg.Clients, log: cfg.Log, now: cfg.Now, retry: cfg.Retry.withDefaults(),
		certs: newCertCache(cfg.Store, cfg.CertTTL, cfg.Now), sleep: sleepCtx}
}

// Options change how one delivery runs.
type Options struct {
	// TestPush ignores the foreground state (the push check's test push).
	TestPush bool
	// Only, when set, limits the push to these devices ("userID/deviceID"):
	// a retry of a job batch attempts only the devices whose earlier attempt
	// failed in passing, and reports only them, so each device is pushed and
	// counted once.
	Only map[string]bool
	// CheckFirst builds every vendor payload before sending any, and fails
	// the whole push with a *device.FieldError if one breaks a vendor limit
	// (POST /v1/push answers 400 rather than sending part of it).
	CheckFirst bool
}

// DeviceResult is one device's result in a push response.
type DeviceResult struct {
	DeviceID string        `json:"deviceId"`
	Vendor   device.Vendor `json:"vendor"`
	Outcome  Status        `json:"outcome"`
	Reason   string        `json:"reason"`
	// Detail is the vendor's own reason or code, when it gave one.
	Detail          string `json:"detail,omitempty"`
	VendorMessageID string `json:"vendorMessageId,omitempty"`
	// retryable marks a failure that a later attempt may cure.
	retryable bool
}

// UserResult is one user's devices in a push response.
type UserResult struct {
	UserID  string         `json:"userId"`
	Devices []DeviceResult `json:"devices"`
}

// Summary counts a push's devices.
type Summary struct {
	Users   int `json:"users"`
	Devices int `json:"devices"`
	Sent    int `json:"sent"`
	Skipped int `json:"skipped"`
	Failed  int `json:"failed"`
}

// Response is the result of a push.
type Response struct {
	RequestID string       `json:"requestId"`
	Duplicate bool         `json:"duplicate"`
	Summary   Summary      `json:"summary"`
	Results   []UserResult `json:"results"`
}

// Retryable lists the users with a device whose failure a later attempt may
// cure (after the in-invocation retries ran out), and those devices.
func (r *Response) Retryable() (users []string, devices []string) {
	for _, u := range r.Results {
		found := false
		for _, d := range u.Devices {
			if d.retryable {
				devices = append(devices, u.UserID+"/"+d.DeviceID)
				found = true
			}
		}
		if found {
			users = append(users, u.UserID)
		}
	}
	return users, devices
}

// Counts tallies a response for job counters: retryable failures are
// counted as failed only when final (no attempt follows).
func (r *Response) Counts(final bool) (devices, sent, skipped, failed, invalidTokens int) {
	for _, u := range r.Results {
		for _, d := range u.Devices {
			devices++
			switch {
			case d.Outcome == Sent:
				sent++
			case d.Outcome == Skipped:
				skipped++
			case d.retryable && !final:
			default:
				failed++
				if d.Reason == ReasonInvalidToken {
					invalidTokens++
				}
			}
		}
	}
	return
}

// pending is one device to push.
type pending struct {
	user, device int // indexes into the response
	d            device.Device
	target       push.Target
	count        bool // counts towards the unread badge
}

// Deliver pushes m to the devices of users and records every outcome.
func (dl *Deliverer) Deliver(ctx context.Context, m *push.Message, users []string, opts Options) (*Response, error) {
	start := dl.now()
	found, err := dl.store.GetUsers(ctx, users)
	if err != nil {
		return nil, fmt.Errorf("read users: %w", err)
	}
	byID := make(map[string]device.User, len(found))
	for _, u := range found {
		byID[u.UserID] = u
	}
	resp := &Response{RequestID: m.ID, Results: make([]UserResult, len(users))}
	byCert := map[int64][]*pending{}
	for ui, id := range users {
		devs := byID[id].Devices
		if opts.Only != nil {
			kept := devs[:0:0]
			for _, d := range devs {
				if opts.Only[id+"/"+d.DeviceID] {
					kept = append(kept, d)
				}
			}
			devs = kept
		}
		resp.Results[ui] = UserResult{UserID: id, Devices: make([]DeviceResult, len(devs))}
		for di, d := range devs {
			res := &resp.Results[ui].Devices[di]
			*res = DeviceResult{DeviceID: d.DeviceID, Vendor: d.Vendor}
			if reason := SkipReason(m, d, opts.TestPush); reason != "" {
				res.Outcome, res.Reason = Skipped, reason
				continue
			}
			p := &pending{user: ui, device: di, d: d, target: push.Target{Token: d.Token}}
			if m.CountsBadge() {
				n := d.UnreadCount + 1
				p.target.Badge, p.count = &n, true
			}
			byCert[d.CertificateID] = append(byCert[d.CertificateID], p)
		}
	}

	if opts.CheckFirst {
		if err := dl.check(ctx, m, byCert); err != nil {
			return nil, err
		}
	}
	var wg sync.WaitGroup
	for certID, list := range byCert {
		wg.Add(1)
		go func() {
			defer wg.Done()
			dl.sendCert(ctx, m, certID, list, resp)
		}()
	}
	wg.Wait()

	dl.cleanup(ctx, resp, byCert)
	if !m.DryRun {
		if err := dl.record(ctx, resp, byCert); err != nil {
			return resp, err
		}
	}
	resp.Summary = summarize(resp)
	dl.log.InfoContext(ctx, "push delivered", "pushId", m.ID, "users", resp.Summary.Users, "devices", resp.Summary.Devices,
		"sent", resp.Summary.Sent, "skipped", resp.Summary.Skipped, "failed", resp.Summary.Failed,
		"durationMs", dl.now().Sub(start).Milliseconds())
	return resp, nil
}

// sendCert sends to every pending device of one certificate, retrying
// passing failures with backoff while the deadline allows.
func (dl *Deliverer) sendCert(ctx context.Context, m *push.Message, certID int64, list []*pending, resp *Response) {
	set := func(p *pending, s Status, reason, detail string) {
		r := &resp.Results[p.user].Devices[p.device]
		r.Outcome, r.Reason, r.Detail = s, reason, detail
	}
	c, quota, err := dl.certs.get(ctx, certID)
	if err != nil {
		for _, p := range list {
			set(p, Failed, ReasonAuth, err.Error())
		}
		return
	}
	if quota {
		for _, p := range list {
			set(p, Skipped, ReasonQuota, "the vendor's daily quota is spent")
		}
		return
	}
	client, err := dl.clients.For(c)
	if err != nil {
		for _, p := range list {
			set(p, Failed, ReasonAuth, err.Error())
		}
		return
	}
	todo := list
	for attempt := 1; len(todo) > 0; attempt++ {
		targets := make([]push.Target, len(todo))
		for i, p := range todo {
			targets[i] = p.target
		}
		results := client.Send(ctx, m, targets)
		var again []*pending
		var wait time.Duration
		for i, p := range todo {
			r := results[i]
			res := &resp.Results[p.user].Devices[p.device]
			res.Detail, res.retryable = r.Reason, false
			switch r.Outcome {
			case push.Sent:
				res.Outcome, res.Reason, res.VendorMessageID = Sent, "", r.MessageID
				if m.DryRun {
					res.Reason = "dry_run"
				}
			case push.Retryable:
				res.Outcome, res.Reason, res.retryable = Failed, ReasonUnavailable, true
				again = append(again, p)
				wait = max(wait, r.RetryAfter)
			case push.Quota:
				res.Outcome, res.Reason = Failed, ReasonQuota
				dl.certs.exhaust(ctx, c)
			default:
				res.Outcome, res.Reason = Failed, failure(r.Outcome)
			}
		}
		if len(again) == 0 || attempt >= dl.retry.Attempts {
			return
		}
		wait = max(wait, dl.backoff(attempt))
		if deadline, ok := ctx.Deadline(); ok && dl.now().Add(wait+dl.retry.Reserve).After(deadline) {
			return // no time left: the caller re-enqueues or reports unavailable
		}
		if err := dl.sleep(ctx, wait); err != nil {
			return
		}
		todo = again
	}
}

// check builds every payload and reports the first that breaks a vendor
// limit. Certificates that cannot be used are left to sendCert to report.
func (dl *Deliverer) check(ctx context.Context, m *push.Message, byCert map[int64][]*pending) error {
	for certID, list := range byCert {
		c, _, err := dl.certs.get(ctx, certID)
		if err != nil {
			continue
		}
		client, err := dl.clients.For(c)
		if err != nil {
			continue
		}
		targets := make([]push.Target, len(list))
		for i, p := range list {
			targets[i] = p.target
		}
		_, results := client.Requests(m, targets)
		for _, r := range results {
			if r.Outcome == push.InvalidArgument {
				return device.Invalid("offlinePushInfo", "does not fit %s (certificate %d): %s", c.Vendor, c.ID, r.Reason)
			}
		}
	}
	return nil
}

// backoff is the full-jitter exponential delay before attempt+1.
func (dl *Deliverer) backoff(attempt int) time.Duration {
	d := dl.retry.Base << (attempt - 1)
	if d > dl.retry.Max || d <= 0 {
		d = dl.retry.Max
	}
	return d/2 + rand.N(d/2+1)
}

func sleepCtx(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// cleanup removes the tokens vendors declared dead. Each removal holds only
// if the device still has the token that failed, so a fresh upload racing
// the cleanup survives.
func (dl *Deliverer) cleanup(ctx context.Context, resp *Response, byCert map[int64][]*pending) {
	sem := make(chan struct{}, 16)
	var wg sync.WaitGroup
	for _, list := range byCert {
		for _, p := range list {
			r := resp.Results[p.user].Devices[p.device]
			if r.Outcome != Failed || r.Reason != ReasonInvalidToken {
				continue
			}
			wg.Add(1)
			sem <- struct{}{}
			go func() {
				defer func() { <-sem; wg.Done() }()
				if err := dl.store.InvalidateToken(ctx, p.d.UserID, p.d.DeviceID, p.d.Token); err != nil {
					dl.log.WarnContext(ctx, "dead token not removed", "user", p.d.UserID, "device", p.d.DeviceID,
						"token", device.Mask(p.d.Token), "error", err.Error())
				}
			}()
		}
	}
	wg.Wait()
}

// record stores every device's last result, and counts sent messages
// towards the unread badge.
func (dl *Deliverer) record(ctx context.Context, resp *Response, byCert map[int64][]*pending) error {
	counted := map[[2]int]bool{}
	for _, list := range byCert {
		for _, p := range list {
			if p.count && resp.Results[p.user].Devices[p.device].Outcome == Sent {
				counted[[2]int{p.user, p.device}] = true
			}
		}
	}
	at := dl.now().UTC()
	updates := make([]store.ResultUpdate, 0, len(resp.Results))
	for ui, u := range resp.Results {
		if len(u.Devices) == 0 {
			continue
		}
		up := store.ResultUpdate{UserID: u.UserID, Devices: make([]store.DeviceResult, 0, len(u.Devices))}
		for di, d := range u.Devices {
			up.Devices = append(up.Devices, store.DeviceResult{DeviceID: d.DeviceID, CountUnread: counted[[2]int{ui, di}],
				Result: device.LastResult{Outcome: string(d.Outcome), Reason: d.Reason, Detail: d.Detail, MessageID: d.VendorMessageID, At: at}})
		}
		updates = append(updates, up)
	}
	if err := dl.store.RecordResults(ctx, updates); err != nil {
		return fmt.Errorf("record push results: %w", err)
	}
	return nil
}

func summarize(resp *Response) Summary {
	s := Summary{Users: len(resp.Results)}
	for _, u := range resp.Results {
		for _, d := range u.Devices {
			s.Devices++
			switch d.Outcome {
			case Sent:
				s.Sent++
			case Skipped:
				s.Skipped++
			default:
				s.Failed++
			}
		}
	}
	return s
}

// certCache keeps certificates, and whether their vendor quota is spent,
// for a short while per container.
type certCache struct {
	store Store
	ttl   time.Duration
	now   func() time.Time

	mu      sync.Mutex
	entries map[int64]certEntry
}

type certEntry struct {
	c         cert.Certificate
	err       error
	quotaTill time.Time
	loaded    time.Time
}

func newCertCache(s Store, ttl time.Duration, now func() time.Time) *certCache {
	return &certCache{store: s, ttl: ttl, now: now, entries: map[int64]certEntry{}}
}

// ErrNoCertificate: a device names a certificate that is not registered.
var ErrNoCertificate = errors.New("certificate is not registered")

func quotaKey(id int64) string { return fmt.Sprintf("quota#%d", id) }

// get returns the certificate and whether its quota is spent.
func (cc *certCache) get(ctx context.Context, id int64) (cert.Certificate, bool, error) {
	now := cc.now()
	cc.mu.Lock()
	e, ok := cc.entries[id]
	cc.mu.Unlock()
	if !ok || now.Sub(e.loaded) > cc.ttl {
		e = certEntry{loaded: now}
		e.c, e.err = cc.store.GetCertificate(ctx, id)
		if errors.Is(e.err, store.ErrNotFound) {
			e.err = fmt.Errorf("%w: %d", ErrNoCertificate, id)
		} else if e.err != nil {
			return cert.Certificate{}, false, e.err // a store failure is not cached
		}
		if tok, till, err := cc.store.GetVendorToken(ctx, quotaKey(id)); err == nil && tok != "" {
			e.quotaTill = till
		}
		cc.mu.Lock()
		cc.entries[id] = e
		cc.mu.Unlock()
	}
	return e.c, now.Before(e.quotaTill), e.err
}

// exhaust marks the certificate's daily quota spent until the vendor's day
// ends: midnight in China for the Chinese vendors, UTC midnight otherwise.
func (cc *certCache) exhaust(ctx context.Context, c cert.Certificate) {
	now := cc.now()
	loc := time.UTC
	if c.Vendor != device.APNs && c.Vendor != device.FCM {
		loc = chinaTime
	}
	local := now.In(loc)
	till := time.Date(local.Year(), local.Month(), local.Day()+1, 0, 0, 0, 0, loc)
	cc.mu.Lock()
	e := cc.entries[c.ID]
	e.quotaTill = till
	cc.entries[c.ID] = e
	cc.mu.Unlock()
	_ = cc.store.PutVendorToken(ctx, quotaKey(c.ID), "spent", till)
}

// chinaTime is UTC+8, the day boundary of the Chinese vendors' quotas.
var chinaTime = time.FixedZone("UTC+8", 8*60*60)
