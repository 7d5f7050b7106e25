// Package apns delivers offpush notifications to iOS devices through Apple's
// APNs provider API (HTTP/2) with github.com/sideshow/apns2: one long-lived
// HTTP/2 client per certificate, token auth with a .p8 key (one JWT reused
// for 50 minutes) or certificate auth with a .p12, and every APNs answer
// mapped onto a portable push.Outcome.
package apns

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"sync"
	"time"

	"github.com/sideshow/apns2"
	"github.com/sideshow/apns2/token"
	"golang.org/x/net/http2"

	"github.com/offpush/offpush/shared/cert"
	"github.com/offpush/offpush/shared/push"
	"github.com/offpush/offpush/shared/vendors/internal/vendorutil"
)

// Production and sandbox hosts [C APNS2 client.go]. OFFPUSH_APNS_URL
// replaces either; the request path /3/device/{token} follows it.
const (
	HostProduction = apns2.HostProduction
	HostSandbox    = apns2.HostDevelopment
)

// DefaultMaxInFlight is how many pushes a client keeps in flight at once,
// across all its Send calls. Throughput is pushes in flight divided by the
// round trip (Little's law): 1000 at a 30 ms round trip allow about 33,000
// pushes a second, above the 20,000 a second one core sustains, so the core
// and not the bound is the limit; 500 would cap a 30 ms route at 16,700. It
// also matches what APNs lets one connection carry: it advertises 500 to
// 1500 concurrent streams [T: pushy and apnotic issues report 1500 and
// 1000], and the transport waits for a free stream rather than exceed it.
// Each push in flight holds a worker goroutine and an HTTP/2 stream, some
// tens of kilobytes at most, and workers exit after a minute without work.
const DefaultMaxInFlight = 1000

// DefaultTimeout bounds one Send call, connection set-up included. At
// 20,000 pushes a second that is far more than any one call of up to
// message-push's 500 users needs.
const DefaultTimeout = 30 * time.Second

// Connection health: with no frame from APNs for readIdleTimeout the
// transport sends a PING, and closes the connection if no answer comes in
// pingTimeout, so a connection that died silently (a NAT dropping it, a
// Lambda container thawed after minutes frozen) fails its requests as
// retryable within seconds instead of hanging until the Send times out. A
// write stuck on a dead peer is caught the same way (the connection is
// closed under it), so no per-write deadline is set: that would re-arm a
// timer twice on every flush.
const (
	readIdleTimeout = 15 * time.Second
	pingTimeout     = 5 * time.Second
	dialTimeout     = 10 * time.Second
	tcpKeepAlive    = 15 * time.Second
)

// minRenewInterval is how often offpush may force a new provider token after
// APNs called one expired: Apple refuses refreshes more often than every 20
// minutes with 429 TooManyProviderTokenUpdates [C vendor-apis.md §2]. The
// same pause follows a TooManyProviderTokenUpdates answer.
const minRenewInterval = 20 * time.Minute

// Options tune a client; the zero value gives the defaults.
type Options struct {
	// MaxInFlight bounds concurrent requests (default DefaultMaxInFlight).
	MaxInFlight int
	// Timeout bounds one Send call (default DefaultTimeout): pushes still
	// waiting for a worker or an answer then end as Retryable.
	Timeout time.Duration
}

// Client sends to APNs for one certificate. It keeps its HTTP/2 connection
// open between pushes: APNs treats rapid connection and disconnection as a
// denial-of-service attack, so build one Client per certificate per
// container and keep it.
type Client struct {
	certID int64
	apns   cert.APNs // without secrets
	base   string
	push   *apns2.Client
	// signer makes provider tokens; nil with certificate auth.
	signer *signer

	// Pushes run on long-lived workers, at most MaxInFlight of them: jobs
	// hands a push to an idle worker, and a token in slots stands for each
	// live worker. A goroutine per push would grow a fresh stack through
	// the HTTP/2 client's deep call chain on every push, which costs more
	// CPU than the push's own encoding.
	jobs    chan *job
	slots   chan struct{}
	idle    time.Duration // how long a worker waits for work before it exits
	timeout time.Duration
	// bodies recycles payload buffers: apns2 copies the body while
	// marshalling the notification, so a buffer is free again once the
	// push returns.
	bodies sync.Pool

	now func() time.Time
	log *slog.Logger
}

// Interface guard.
var _ push.Client = (*Client)(nil)

// New builds the client for certificate c with the default Options.
func New(c cert.Certificate, env *push.Env) (*Client, error) {
	return NewWithOptions(c, env, Options{})
}

// NewWithOptions builds the client for certificate c: the host from the
// certificate's environment unless OFFPUSH_APNS_URL overrides it, token or
// certificate auth from its credential, and one HTTP/2 transport trusting
// env's roots.
func NewWithOptions(c cert.Certificate, env *push.Env, o Options) (*Client, error) {
	if c.APNs == nil || !c.APNs.TokenAuth() && c.APNs.P12 == "" {
		return nil, fmt.Errorf("apns client for certificate %d: %w", c.ID, push.ErrNoCredential)
	}
	if o.MaxInFlight <= 0 {
		o.MaxInFlight = DefaultMaxInFlight
	}
	if o.Timeout <= 0 {
		o.Timeout = DefaultTimeout
	}
	a := *c.APNs
	if a.BundleID == "" {
		return nil, fmt.Errorf("apns client for certificate %d: no bundle ID", c.ID)
	}
	var host string
	switch a.Environment {
	case cert.Production:
		host = HostProduction
	case cert.Sandbox:
		host = HostSandbox
	default:
		return nil, fmt.Errorf("apns client for certificate %d: environment %q is neither %s nor %s", c.ID, a.Environment, cert.Production, cert.Sandbox)
	}

	tlsConfig := &tls.Config{MinVersion: tls.VersionTLS12}
	if env.TLS != nil {
		tlsConfig = env.TLS.Clone()
	}
	cl := &Client{certID: c.ID, jobs: make(chan *job), slots: make(chan struct{}, o.MaxInFlight), idle: workerIdle, timeout: o.Timeout, now: env.Clock(), log: env.Logger()}
	cl.bodies.New = func() any { b := make([]byte, 0, 1024); return &b }
	if a.TokenAuth() {
		s, err := sharedSigner(env, &a)
		if err != nil {
			return nil, fmt.Errorf("apns client for certificate %d: %w", c.ID, err)
		}
		cl.signer = s
	} else {
		tc, err := a.TLSCertificate()
		if err != nil {
			return nil, fmt.Errorf("apns client for certificate %d: %w", c.ID, err)
		}
		tlsConfig.Certificates = []tls.Certificate{tc}
	}
	a.PrivateKey, a.P12, a.Password = "", "", ""
	cl.apns = a
	cl.base = env.BaseURL(push.URLAPNs, host)

	transport := &http2.Transport{
		TLSClientConfig: tlsConfig,
		DialTLSContext:  dialTLS,
		// One connection, never more: the transport waits for a free
		// stream instead of dialling another connection whenever the
		// server's stream limit is reached. APNs lowers that limit (to 1
		// before the first valid provider token, and after rejected pushes
		// [T: openradar 27870881]); opening a connection per waiting request
		// then would be exactly the connection storm APNs penalises.
		StrictMaxConcurrentStreams: true,
		ReadIdleTimeout:            readIdleTimeout,
		PingTimeout:                pingTimeout,
		// APNs answers are a few bytes of JSON; asking for gzip only adds a
		// header to every request.
		DisableCompression: true,
	}
	// No http.Client.Timeout: for a transport it does not recognise (the
	// observer in front of x/net's) net/http enforces it with a goroutine,
	// a timer and channels per request. Send sets a context deadline instead.
	hc := env.WrapClient(&http.Client{Transport: observer{transport}})
	cl.push = &apns2.Client{Host: cl.base, HTTPClient: hc}
	if cl.signer != nil {
		cl.push.Token = cl.signer.tok
	}
	return cl, nil
}

// signer holds the provider token of one signing key. apns2 reuses the JWT
// until it is 50 minutes old (token.TokenTimeout), inside Apple's 20 to 60
// minute window, regenerating it under the token's mutex, which also guards
// noRenewBefore.
type signer struct {
	tok           *token.Token
	noRenewBefore time.Time
}

// sharedSigner returns the signer of a's key, shared through env.Shared by
// every client of the process using the same team and key: APNs counts
// token renewals per team, so two certificates of one app (production and
// sandbox) must not each renew their own. A different key under the same
// IDs (a registration error) gets a signer of its own.
func sharedSigner(env *push.Env, a *cert.APNs) (*signer, error) {
	key, err := a.SigningKey()
	if err != nil {
		return nil, err
	}
	create := func() any {
		return &signer{tok: &token.Token{AuthKey: key, KeyID: a.KeyID, TeamID: a.TeamID}}
	}
	s, _ := env.Shared.Get("apns-signer#"+a.TeamID+"#"+a.KeyID, create).(*signer)
	if s == nil || !s.tok.AuthKey.Equal(key) {
		s = create().(*signer)
	}
	// Sign the first JWT now: a key that cannot sign fails here, not on
	// every push.
	s.tok.Lock()
	defer s.tok.Unlock()
	if s.tok.Bearer == "" {
		if _, err := s.tok.Generate(); err != nil {
			return nil, fmt.Errorf("sign provider token: %w", err)
		}
	}
	return s, nil
}

// dialTLS dials APNs with a bounded connect time and TCP keep-alives, and
// insists on HTTP/2 (the transport's own dialer checks ALPN, a custom one
// must).
func dialTLS(ctx context.Context, network, addr string, cfg *tls.Config) (net.Conn, error) {
	d := &tls.Dialer{NetDialer: &net.Dialer{Timeout: dialTimeout, KeepAlive: tcpKeepAlive}, Config: cfg}
	conn, err := d.DialContext(ctx, network, addr)
	if err != nil {
		return nil, err
	}
	if p := conn.(*tls.Conn).ConnectionState().NegotiatedProtocol; p != http2.NextProtoTLS {
		conn.Close()
		return nil, fmt.Errorf("apns: server at %s negotiated %q, not HTTP/2", addr, p)
	}
	// Frames leave in gathered writes, one TLS record each.
	return vendorutil.CoalesceWrites(conn, vendorutil.CoalesceDelay), nil
}

// exchange is one request's context. It carries, past apns2 (which hides
// response headers and the bearer it used), what the observer saw: the
// authorization header the request went out with, to renew exactly that
// token on ExpiredProviderToken, and the Retry-After of a refusal. It is its
// own context.Context so one allocation serves both.
type exchange struct {
	context.Context
	authorization string
	retryAfter    string
}

type exchangeKey struct{}

// Value returns the exchange itself for exchangeKey and defers every other
// key (cancellation included) to the parent context.
func (e *exchange) Value(k any) any {
	if k == (exchangeKey{}) {
		return e
	}
	return e.Context.Value(k)
}

// observer is the innermost round tripper: it copies into the request's
// exchange what apns2 does not return.
type observer struct{ next http.RoundTripper }

func (o observer) RoundTrip(r *http.Request) (*http.Response, error) {
	ex, _ := r.Context().Value(exchangeKey{}).(*exchange)
	if ex != nil {
		ex.authorization = r.Header.Get("Authorization")
	}
	resp, err := o.next.RoundTrip(r)
	if ex != nil && err == nil && resp.StatusCode != http.StatusOK {
		ex.retryAfter = resp.Header.Get("Retry-After")
	}
	return resp, err
}

// prepared is what every device of one push shares.
type prepared struct {
	m        *push.Message
	tpl      template
	topic    string
	pushType apns2.EPushType
	exp      time.Time
}

func (c *Client) prepare(m *push.Message, now time.Time) *prepared {
	h := NewHeader(m, &c.apns, "", now)
	return &prepared{m: m, tpl: newTemplate(m, &c.apns), topic: h.Topic, pushType: apns2.EPushType(h.PushType), exp: h.Expiration}
}

// refuse returns the result of a target that must not be sent, or false.
func (p *prepared) refuse(t *push.Target) (push.Result, bool) {
	if why := checkToken(t.Token); why != "" {
		return push.Result{Outcome: push.InvalidToken, Reason: why}, true
	}
	if why := p.tpl.check(t.Badge); why != "" {
		return push.Result{Outcome: push.InvalidArgument, Reason: why}, true
	}
	return push.Result{}, false
}

// fill sets n for one device; n may be reused: apns2 keeps nothing of it
// once a push returns.
func (p *prepared) fill(n *apns2.Notification, t *push.Target, body []byte) {
	*n = apns2.Notification{DeviceToken: t.Token, Topic: p.topic, PushType: p.pushType, Priority: PriorityHigh, Expiration: p.exp, Payload: body}
	if p.m.ID != "" {
		n.ApnsID = NotificationID(p.m.ID, t.Token)
	}
}

// Requests returns one request per sendable target, exactly as Send would
// make it (APNs takes one device per request).
func (c *Client) Requests(m *push.Message, targets []push.Target) ([]push.Request, []push.Result) {
	results := make([]push.Result, len(targets))
	p := c.prepare(m, c.now())
	reqs := make([]push.Request, 0, len(targets))
	for i := range targets {
		t := &targets[i]
		if r, refused := p.refuse(t); refused {
			results[i] = r
			continue
		}
		n := &apns2.Notification{}
		p.fill(n, t, p.tpl.appendPayload(nil, t.Badge))
		h := map[string]string{
			"apns-topic":      n.Topic,
			"apns-push-type":  string(n.PushType),
			"apns-priority":   strconv.Itoa(n.Priority),
			"apns-expiration": strconv.FormatInt(n.Expiration.Unix(), 10),
		}
		if n.ApnsID != "" {
			h["apns-id"] = n.ApnsID
		}
		reqs = append(reqs, push.Request{Targets: []int{i}, Target: t.Token, URL: c.base + "/3/device/" + t.Token, Header: h, Payload: n.Payload.([]byte)})
	}
	return reqs, results
}

// workerIdle is how long a worker waits for another push before it exits,
// so a burst's workers do not outlive it for long.
const workerIdle = time.Minute

// job is one device's push, handed to a worker.
type job struct {
	ctx context.Context
	p   *prepared
	t   *push.Target
	out *push.Result
	wg  *sync.WaitGroup
}

// Send pushes m to every target, up to the client's in-flight bound at once
// (shared by concurrent Send calls), and returns one result per target in
// input order. A dry run checks every payload and sends nothing.
func (c *Client) Send(ctx context.Context, m *push.Message, targets []push.Target) []push.Result {
	results := make([]push.Result, len(targets))
	p := c.prepare(m, c.now())
	jobs := make([]job, len(targets))
	// One deadline for the whole call: a timer per request would cost more
	// CPU than anything offpush itself does per push.
	if d, ok := ctx.Deadline(); !ok || time.Until(d) > c.timeout {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, c.timeout)
		defer cancel()
	}
	var wg sync.WaitGroup
	for i := range targets {
		t := &targets[i]
		if r, refused := p.refuse(t); refused {
			results[i] = r
			continue
		}
		if m.DryRun {
			results[i] = push.Result{Outcome: push.Sent, Reason: "dry_run"}
			continue
		}
		if err := ctx.Err(); err != nil {
			results[i] = transportFailure(err)
			continue
		}
		j := &jobs[i]
		*j = job{ctx: ctx, p: p, t: t, out: &results[i], wg: &wg}
		wg.Add(1)
		if !c.dispatch(j) {
			wg.Done()
			results[i] = transportFailure(ctx.Err())
		}
	}
	wg.Wait()
	c.logAuth(results)
	return results
}

// dispatch hands j to an idle worker, or starts a worker while fewer than
// MaxInFlight run, waiting for either; false if ctx ends first.
func (c *Client) dispatch(j *job) bool {
	select {
	case c.jobs <- j:
		return true
	default:
	}
	select {
	case c.jobs <- j:
	case c.slots <- struct{}{}:
		go c.worker(j)
	case <-j.ctx.Done():
		return false
	}
	return true
}

// worker runs pushes until none comes for c.idle. A dispatcher waiting
// for a worker is served before any worker can time out, and a worker that
// exits frees its slot for a new one, so no push waits on a worker that is
// gone.
func (c *Client) worker(j *job) {
	var n apns2.Notification
	idle := time.NewTimer(c.idle)
	defer idle.Stop()
	for {
		*j.out = c.send(j.ctx, j.p, j.t, &n)
		j.wg.Done()
		idle.Reset(c.idle)
		select {
		case j = <-c.jobs:
		case <-idle.C:
			<-c.slots
			return
		}
	}
}

// send makes one device's request, and once more with a new provider token
// if APNs called the one it carried expired.
func (c *Client) send(ctx context.Context, p *prepared, t *push.Target, n *apns2.Notification) push.Result {
	bp := c.bodies.Get().(*[]byte)
	body := p.tpl.appendPayload((*bp)[:0], t.Badge)
	p.fill(n, t, body)
	r, renew := c.do(ctx, n)
	if renew {
		r, _ = c.do(ctx, n)
	}
	n.Payload = nil
	*bp = body
	c.bodies.Put(bp)
	return r
}

// do makes one request and maps the answer. renew reports an
// ExpiredProviderToken after which a new token was made: the caller retries
// once.
func (c *Client) do(ctx context.Context, n *apns2.Notification) (r push.Result, renew bool) {
	ex := &exchange{Context: ctx}
	res, err := c.push.PushWithContext(ex, n)
	if err != nil || res == nil || res.StatusCode == 0 {
		if err == nil {
			err = errors.New("no response")
		}
		return transportFailure(err), false
	}
	r = classify(res, c.retryAfter(ex.retryAfter))
	switch res.Reason {
	case apns2.ReasonExpiredProviderToken:
		return r, c.renewToken(ex.authorization)
	case apns2.ReasonTooManyProviderTokenUpdates:
		c.pauseRenewal()
	}
	return r, false
}

// classify maps an APNs answer onto a portable outcome (vendor-apis.md §2).
func classify(res *apns2.Response, retryAfter time.Duration) push.Result {
	code := res.StatusCode
	if code == http.StatusOK {
		return push.Result{Outcome: push.Sent, MessageID: res.ApnsID}
	}
	reason := strconv.Itoa(code)
	if res.Reason != "" {
		reason += " " + res.Reason
	}
	switch code {
	case http.StatusGone:
		// Unregistered or ExpiredToken: Apple calls it final; the token
		// must go [C APPLE-FORUM 806522].
		if !res.Timestamp.IsZero() {
			reason += " since " + res.Timestamp.UTC().Format(time.RFC3339)
		}
		return push.Result{Outcome: push.InvalidToken, Reason: reason}
	case http.StatusBadRequest:
		switch res.Reason {
		case apns2.ReasonBadDeviceToken, apns2.ReasonDeviceTokenNotForTopic:
			// Apple advises checking the host environment and the topic
			// before deleting such a token. Both are checked once, at
			// certificate registration (environment, bundle ID), and the
			// client builds host and topic from that certificate, so here
			// the token itself is wrong: a sandbox token on a production
			// certificate, or another app's token.
			return push.Result{Outcome: push.InvalidToken, Reason: reason}
		}
		return push.Result{Outcome: push.Rejected, Reason: reason}
	case http.StatusForbidden:
		// The certificate or provider token was refused: the device token
		// is fine and must stay.
		return push.Result{Outcome: push.Auth, Reason: reason}
	case http.StatusTooManyRequests:
		if res.Reason == apns2.ReasonTooManyProviderTokenUpdates {
			return push.Result{Outcome: push.Auth, Reason: reason}
		}
		// TooManyRequests: too many pushes to this one device.
		return push.Result{Outcome: push.Retryable, Reason: reason, RetryAfter: retryAfter}
	case http.StatusRequestEntityTooLarge:
		return push.Result{Outcome: push.Rejected, Reason: reason}
	}
	if code >= 500 {
		// 500 InternalServerError, 503 ServiceUnavailable or Shutdown (the
		// transport moves to a new connection after the server's GOAWAY).
		return push.Result{Outcome: push.Retryable, Reason: reason, RetryAfter: retryAfter}
	}
	// 404 BadPath, 405 MethodNotAllowed and anything unknown: the request
	// itself is wrong, and sending it again will not help.
	return push.Result{Outcome: push.Rejected, Reason: reason}
}

// transportFailure is the result of a request that got no APNs answer:
// dial, TLS, connection loss, timeout or cancellation. The request URL,
// which holds the device token, is left out of the reason.
func transportFailure(err error) push.Result {
	var ue *url.Error
	if errors.As(err, &ue) {
		err = ue.Err
	}
	return push.Result{Outcome: push.Retryable, Reason: "transport: " + err.Error()}
}

// retryAfter parses a Retry-After header: seconds or an HTTP date.
func (c *Client) retryAfter(v string) time.Duration {
	if v == "" {
		return 0
	}
	if s, err := strconv.Atoi(v); err == nil {
		if s > 0 {
			return time.Duration(s) * time.Second
		}
		return 0
	}
	if t, err := http.ParseTime(v); err == nil {
		if d := t.Sub(c.now()); d > 0 {
			return d.Round(time.Second)
		}
	}
	return 0
}

// renewToken makes a new provider token after APNs called the one sent in
// authorization expired, and reports whether the request should be retried.
// A token another request has already replaced is not replaced again, and
// no token is made within minRenewInterval of the last forced one or of a
// TooManyProviderTokenUpdates answer.
func (c *Client) renewToken(authorization string) bool {
	s := c.signer
	if s == nil || authorization == "" {
		return false
	}
	s.tok.Lock()
	defer s.tok.Unlock()
	if authorization != "bearer "+s.tok.Bearer {
		return true // already renewed: retry with the current token
	}
	now := c.now()
	if now.Before(s.noRenewBefore) {
		return false
	}
	if _, err := s.tok.Generate(); err != nil {
		c.log.Error("apns: sign provider token", "certificate", c.certID, "err", err)
		return false
	}
	s.noRenewBefore = now.Add(minRenewInterval)
	return true
}

// pauseRenewal stops forced token renewals after APNs said tokens change
// too often; apns2's own renewal at 50 minutes goes on.
func (c *Client) pauseRenewal() {
	s := c.signer
	if s == nil {
		return
	}
	s.tok.Lock()
	s.noRenewBefore = c.now().Add(minRenewInterval)
	s.tok.Unlock()
}

// logAuth logs one line per Send whose credentials APNs refused: that needs
// an operator, and no device token is at fault.
func (c *Client) logAuth(results []push.Result) {
	n, reason := 0, ""
	for i := range results {
		if results[i].Outcome == push.Auth {
			n++
			reason = results[i].Reason
		}
	}
	if n > 0 {
		c.log.Warn("apns: credentials refused", "certificate", c.certID, "bundleId", c.apns.BundleID, "devices", n, "reason", reason)
	}
}
