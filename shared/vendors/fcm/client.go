// Package fcm sends offpush notifications through Firebase Cloud Messaging's
// HTTP v1 API with the Firebase Admin SDK (firebase.google.com/go/v4
// messaging): one request per device, many in flight at once, each answer
// mapped onto a portable push.Outcome.
//
// The SDK gets offpush's own HTTP client (option.WithHTTPClient, which the
// SDK uses as it is): env's vendor transport with its CA bundle and tracing
// (see sendTransport), under authTransport, which adds an OAuth access token
// from the service account's token_uri, cached and shared through
// push.Env.Tokens, and stops the SDK's own retries, because the caller owns
// retries and its deadline (see attempt).
package fcm

import (
	"context"
	"crypto/rsa"
	"crypto/x509"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"maps"
	"net"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	firebase "firebase.google.com/go/v4"
	"firebase.google.com/go/v4/messaging"
	"golang.org/x/oauth2"
	"golang.org/x/oauth2/jwt"
	"google.golang.org/api/option"

	"github.com/offpush/offpush/shared/cert"
	"github.com/offpush/offpush/shared/push"
	"github.com/offpush/offpush/shared/vendors/accesstoken"
	"github.com/offpush/offpush/shared/vendors/internal/vendorutil"
)

// Endpoints and OAuth.
const (
	// DefaultBaseURL is FCM's production host. OFFPUSH_FCM_URL replaces it;
	// the API path follows either way.
	DefaultBaseURL = "https://fcm.googleapis.com"
	// apiPath is the API version prefix; the SDK appends
	// /projects/{project}/messages:send to base+apiPath.
	apiPath = "/v1"
	// Scope is the OAuth scope the access token is requested for: Firebase
	// Cloud Messaging's own scope, the narrowest that allows sending.
	Scope = "https://www.googleapis.com/auth/firebase.messaging"
)

// DefaultConcurrency is how many FCM requests one Client has in flight at
// most. FCM v1 takes one device per request, so throughput is concurrency
// divided by round-trip time: 512 in flight at a 30 ms round trip is about
// 17,000 pushes a second, past the 10,000 a second offpush aims at, while a
// 500-user batch with a few devices each is sent in a handful of round trips.
// HTTP/2 multiplexes the requests onto a few connections. FCM's default
// quota is 600,000 messages a minute (10,000 a second) per project, across
// all senders: sustained for a whole minute, one client at full speed can go
// past it, and FCM then answers QUOTA_EXCEEDED (Retryable after a minute).
const DefaultConcurrency = 512

// Options tune a Client; the zero value gives the defaults.
type Options struct {
	// Concurrency bounds the requests in flight across all Send calls of
	// the client (default DefaultConcurrency).
	Concurrency int
}

// Client sends pushes for one FCM certificate (one service account).
// Build it once per container and share it: it keeps the access token and
// the HTTP/2 connections.
type Client struct {
	cert    cert.Certificate
	project string
	sendURL string
	header  map[string]string
	fcm     *messaging.Client
	tokens  *accesstoken.Source
	now     func() time.Time
	env     *push.Env
	sem     chan struct{}
	workers int
	// timeout bounds one request (env's HTTP client timeout).
	timeout time.Duration
}

// Interface guard.
var _ push.Client = (*Client)(nil)

// serviceAccount is the part of a service account key file that sending
// needs.
type serviceAccount struct {
	ProjectID    string `json:"project_id"`
	ClientEmail  string `json:"client_email"`
	PrivateKey   string `json:"private_key"`
	PrivateKeyID string `json:"private_key_id"`
	TokenURI     string `json:"token_uri"`
}

// New returns a client for certificate c with the default options.
func New(c cert.Certificate, env *push.Env) (*Client, error) {
	return NewWithOptions(c, env, Options{})
}

// NewWithOptions returns a client for certificate c. It fails with an error
// wrapping push.ErrNoCredential when c has no FCM service account.
func NewWithOptions(c cert.Certificate, env *push.Env, opts Options) (*Client, error) {
	if c.FCM == nil || c.FCM.ServiceAccountJSON == "" {
		return nil, fmt.Errorf("fcm client for certificate %d: %w", c.ID, push.ErrNoCredential)
	}
	var sa serviceAccount
	if err := json.Unmarshal([]byte(c.FCM.ServiceAccountJSON), &sa); err != nil {
		return nil, fmt.Errorf("fcm client for certificate %d: read service account: %w", c.ID, err)
	}
	switch {
	case sa.ProjectID == "":
		return nil, fmt.Errorf("fcm client for certificate %d: service account has no project_id", c.ID)
	case sa.ClientEmail == "" || sa.PrivateKey == "":
		return nil, fmt.Errorf("fcm client for certificate %d: service account has no client_email or private_key", c.ID)
	case sa.TokenURI == "":
		return nil, fmt.Errorf("fcm client for certificate %d: service account has no token_uri", c.ID)
	}
	// A key that cannot sign fails here, once, rather than as a token error
	// at every push.
	if err := checkPrivateKey(sa.PrivateKey); err != nil {
		return nil, fmt.Errorf("fcm client for certificate %d: service account private_key: %w", c.ID, err)
	}
	if opts.Concurrency <= 0 {
		opts.Concurrency = DefaultConcurrency
	}
	now := env.Clock()

	hc := env.HTTPClient
	if hc == nil {
		hc = http.DefaultClient
	}
	base := sendTransport(env, hc)

	// The JWT-bearer grant at the service account's token_uri, as Google's
	// libraries do it (x/oauth2/jwt signs the RS256 assertion). The token
	// request goes through env's client, so the CA bundle applies.
	jc := &jwt.Config{
		Email:        sa.ClientEmail,
		PrivateKey:   []byte(sa.PrivateKey),
		PrivateKeyID: sa.PrivateKeyID,
		Scopes:       []string{Scope},
		TokenURL:     sa.TokenURI,
	}
	fetch := func(ctx context.Context) (string, time.Duration, error) {
		tok, err := jc.TokenSource(context.WithValue(ctx, oauth2.HTTPClient, hc)).Token()
		if err != nil {
			return "", 0, err
		}
		if tok.Expiry.IsZero() {
			return "", 0, errors.New("token endpoint gave no expires_in")
		}
		return tok.AccessToken, time.Until(tok.Expiry), nil
	}
	tokens := accesstoken.New("fcm#"+sa.ClientEmail, fetch, accesstoken.Options{Store: env.Tokens, Now: now})

	// The SDK uses an option.WithHTTPClient client as it is, adding no
	// credentials of its own: authTransport adds the bearer token. env's
	// client timeout becomes each attempt's context deadline instead of
	// http.Client.Timeout, which for a RoundTripper net/http does not know
	// costs a goroutine, a timer and channels per request.
	sender := &http.Client{Transport: &authTransport{base: base, tokens: tokens}}
	endpoint := env.BaseURL(push.URLFCM, DefaultBaseURL) + apiPath
	ctx := context.Background()
	app, err := firebase.NewApp(ctx, &firebase.Config{ProjectID: sa.ProjectID},
		option.WithEndpoint(endpoint), option.WithHTTPClient(sender))
	if err != nil {
		return nil, fmt.Errorf("fcm client for certificate %d: %w", c.ID, err)
	}
	mc, err := app.Messaging(ctx)
	if err != nil {
		return nil, fmt.Errorf("fcm client for certificate %d: %w", c.ID, err)
	}
	return &Client{
		cert:    c,
		project: sa.ProjectID,
		sendURL: endpoint + "/projects/" + sa.ProjectID + "/messages:send",
		header: map[string]string{
			"Content-Type":              "application/json",
			"X-GOOG-API-FORMAT-VERSION": "2",
			"X-Firebase-Client":         "fire-admin-go/" + firebase.Version,
		},
		fcm:     mc,
		tokens:  tokens,
		now:     now,
		env:     env,
		sem:     make(chan struct{}, opts.Concurrency),
		workers: opts.Concurrency,
		timeout: hc.Timeout,
	}, nil
}

// maxDialsPerHost bounds the connections to FCM being dialled at once.
const maxDialsPerHost = 4

// sendTransport is the transport of the FCM requests: env's vendor
// transport (push.NewTransport with env's TLS roots, so the CA bundle
// applies, wrapped by env.Wrap for tracing) with dials to FCM limited to a
// few at a time, shared by the FCM clients of env.
//
// net/http dials a new connection for every request that finds no HTTP/2
// connection with a free stream, and closes the extra ones once one is up.
// A burst of DefaultConcurrency requests at a cold start would dial hundreds
// of TLS connections to FCM (and pay a handshake for each) to keep a few;
// MaxConnsPerHost makes the burst wait for a few dials instead. It does not
// cap the connections in use: a full HTTP/2 connection leaves the count, so
// the pool grows to what the concurrency needs (about Concurrency/100).
func sendTransport(env *push.Env, hc *http.Client) http.RoundTripper {
	fallback := hc.Transport
	if fallback == nil {
		fallback = http.DefaultTransport
	}
	if env.TLS == nil {
		return fallback
	}
	return env.Shared.Get("fcm.transport", func() any {
		t := push.NewTransport(env.TLS)
		t.MaxConnsPerHost = maxDialsPerHost
		// TLS records leave in gathered writes (net/http needs the
		// *tls.Conn itself, so the gathering is beneath it).
		dial := t.DialContext
		t.DialContext = func(ctx context.Context, network, addr string) (net.Conn, error) {
			conn, err := dial(ctx, network, addr)
			if err != nil {
				return nil, err
			}
			return vendorutil.CoalesceWrites(conn, vendorutil.CoalesceDelay), nil
		}
		wrapped := env.WrapClient(&http.Client{Transport: t})
		if wrapped.Transport == nil {
			return http.RoundTripper(t)
		}
		return wrapped.Transport
	}).(http.RoundTripper)
}

// sendRequest is the body the SDK sends (its unexported fcmRequest, same
// fields and JSON names), so Requests returns the same bytes.
type sendRequest struct {
	ValidateOnly bool               `json:"validate_only,omitempty"`
	Message      *messaging.Message `json:"message,omitempty"`
}

// Requests returns the request Send would make for each target: one per
// device, in target order. Targets whose message breaks a limit get an
// InvalidArgument result and no request.
func (c *Client) Requests(m *push.Message, targets []push.Target) ([]push.Request, []push.Result) {
	results := make([]push.Result, len(targets))
	tpl, err := newTemplate(m, c.cert)
	if err != nil {
		fillInvalid(results, err)
		return nil, results
	}
	reqs := make([]push.Request, 0, len(targets))
	for i, t := range targets {
		msg, _, err := tpl.forTarget(t)
		if err != nil {
			results[i] = invalid(err)
			continue
		}
		body, err := json.Marshal(&sendRequest{ValidateOnly: m.DryRun, Message: msg})
		if err != nil {
			results[i] = invalid(err)
			continue
		}
		reqs = append(reqs, push.Request{
			Targets: []int{i},
			Target:  t.Token,
			URL:     c.sendURL,
			Header:  maps.Clone(c.header),
			Payload: body,
		})
	}
	return reqs, results
}

// Send delivers m to every target, one FCM request each, with at most the
// client's concurrency in flight, and returns the results in target order.
// m.DryRun sends with validate_only: FCM checks everything and delivers
// nothing, and accepted targets are Sent with reason dry_run.
//
// It uses the SDK's Send (SendDryRun for dry runs) from its own workers
// rather than SendEach: SendEach caps one call at 500 messages and 50
// workers, far below the concurrency needed at FCM's round-trip times, and
// shares one context across its messages, where each push here needs its
// own (see attempt).
func (c *Client) Send(ctx context.Context, m *push.Message, targets []push.Target) []push.Result {
	results := make([]push.Result, len(targets))
	if len(targets) == 0 {
		return results
	}
	tpl, err := newTemplate(m, c.cert)
	if err != nil {
		fillInvalid(results, err)
		return results
	}
	var next atomic.Int64
	var wg sync.WaitGroup
	for range min(c.workers, len(targets)) {
		wg.Go(func() {
			for {
				i := int(next.Add(1) - 1)
				if i >= len(targets) {
					return
				}
				results[i] = c.sendTarget(ctx, tpl, targets[i], m.DryRun)
			}
		})
	}
	wg.Wait()
	guardSenderMismatch(results)
	c.logSummary(ctx, results)
	return results
}

// guardSenderMismatch keeps a certificate mistake from condemning tokens:
// SENDER_ID_MISMATCH means a token belongs to another Firebase project, and
// when every token of a multi-device send says so, the likelier cause is a
// service account of the wrong project. Those results become Auth.
func guardSenderMismatch(results []push.Result) {
	if len(results) < 2 {
		return
	}
	for _, r := range results {
		if r.Outcome != push.InvalidToken || !strings.HasPrefix(r.Reason, codeSenderIDMismatch) {
			return
		}
	}
	for i := range results {
		results[i].Outcome = push.Auth
		results[i].Reason = codeSenderIDMismatch + " for every token: check that the service account belongs to the app's Firebase project"
	}
}

func (c *Client) sendTarget(ctx context.Context, tpl *template, t push.Target, dryRun bool) push.Result {
	msg, _, err := tpl.forTarget(t)
	if err != nil {
		return invalid(err)
	}
	if err := ctx.Err(); err != nil {
		return push.Result{Outcome: push.Retryable, Reason: "not sent: " + err.Error()}
	}
	select {
	case c.sem <- struct{}{}:
	case <-ctx.Done():
		return push.Result{Outcome: push.Retryable, Reason: "not sent: " + ctx.Err().Error()}
	}
	defer func() { <-c.sem }()
	r := c.sendOne(ctx, msg, dryRun)
	if dryRun && r.Outcome == push.Sent {
		r.Reason = "dry_run"
	}
	return r
}

// sendOne makes one FCM request. When FCM refuses the access token itself
// (401 without an FCM error code) it drops the token and tries once more
// with a new one; it never retries anything else.
func (c *Client) sendOne(ctx context.Context, msg *messaging.Message, dryRun bool) push.Result {
	for try := 0; ; try++ {
		a := newAttempt(ctx, c.timeout)
		var id string
		var err error
		if dryRun {
			id, err = c.fcm.SendDryRun(a, msg)
		} else {
			id, err = c.fcm.Send(a, msg)
		}
		a.cancel()
		if err == nil {
			return push.Result{Outcome: push.Sent, MessageID: id}
		}
		r, reauth := c.classify(ctx, a, err)
		if reauth && try == 0 && a.token != "" {
			c.tokens.Invalidate(a.token)
			continue
		}
		return r
	}
}

func (c *Client) logSummary(ctx context.Context, results []push.Result) {
	if c.env.Log == nil {
		return
	}
	counts := map[push.Outcome]int{}
	var authReason string
	for _, r := range results {
		counts[r.Outcome]++
		if r.Outcome == push.Auth && authReason == "" {
			authReason = r.Reason
		}
	}
	if authReason != "" {
		c.env.Log.WarnContext(ctx, "fcm credentials refused", "certificate", c.cert.ID, "project", c.project, "reason", authReason, "targets", len(results))
		return
	}
	c.env.Log.DebugContext(ctx, "fcm send", "certificate", c.cert.ID, "targets", len(results),
		"sent", counts[push.Sent], "invalidToken", counts[push.InvalidToken], "retryable", counts[push.Retryable],
		"rejected", counts[push.Rejected], "invalidArgument", counts[push.InvalidArgument])
}

func invalid(err error) push.Result {
	return push.Result{Outcome: push.InvalidArgument, Reason: err.Error()}
}

func fillInvalid(results []push.Result, err error) {
	for i := range results {
		results[i] = invalid(err)
	}
}

// checkPrivateKey parses the service account's RSA key as x/oauth2 does:
// PEM, PKCS#8 or PKCS#1.
func checkPrivateKey(s string) error {
	block, _ := pem.Decode([]byte(s))
	if block == nil {
		return errors.New("not PEM")
	}
	key, err := x509.ParsePKCS8PrivateKey(block.Bytes)
	if err != nil {
		if _, err1 := x509.ParsePKCS1PrivateKey(block.Bytes); err1 != nil {
			return fmt.Errorf("not a PKCS#8 or PKCS#1 key: %w", err)
		}
		return nil
	}
	if _, ok := key.(*rsa.PrivateKey); !ok {
		return fmt.Errorf("not an RSA key but %T", key)
	}
	return nil
}

// truncate shortens vendor messages kept in reasons.
func truncate(s string, n int) string {
	s = strings.TrimSpace(s)
	if len(s) <= n {
		return s
	}
	return s[:n] + "…"
}
