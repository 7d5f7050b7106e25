// Package honor sends offline pushes through Honor Push's HTTP API (POST
// /api/v1/{appId}/sendMessage) with an OAuth client-credentials access
// token, and maps its answers onto push outcomes.
//
// Honor's error-code table was not found in any source (vendor-apis.md §9,
// §11): success (code 200, or "80000000"), data.expireTokens, and the
// OAuth errors are confirmed; the rest is mapped conservatively (no token is
// ever deleted on a guess) and marked [?] where it relies on an assumption.
package honor

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/offpush/offpush/shared/cert"
	"github.com/offpush/offpush/shared/push"
	"github.com/offpush/offpush/shared/vendors/accesstoken"
	"github.com/offpush/offpush/shared/vendors/internal/vendorutil"
)

// Production hosts and the paths appended to them (and to their
// OFFPUSH_HONOR_URL / OFFPUSH_HONOR_AUTH_URL overrides).
const (
	DefaultBaseURL = "https://push-api.cloud.honor.com"
	DefaultAuthURL = "https://iam.developer.honor.com"
	AuthPath       = "/auth/token"
)

// SendPath is the send path for an app.
func SendPath(appID string) string { return "/api/v1/" + url.PathEscape(appID) + "/sendMessage" }

// Codes Honor answers with. Success is confirmed as 200 or "80000000"; the
// Huawei-style error codes are assumed from Honor's Huawei heritage [?].
const (
	CodeOK           = "200"
	CodeSuccess      = "80000000"
	CodeAuth         = "80200001"
	CodeTokenExpired = "80200003"
	CodeNoPermission = "80300002"
	CodeOAuthService = "80600003"
	CodeInternal     = "81000001"
)

const (
	contentType      = "application/json; charset=UTF-8"
	concurrency      = 4
	maxResponseBytes = 64 << 10
)

// Client sends for one Honor certificate. It is safe for concurrent use.
type Client struct {
	cert    cert.Certificate
	appID   string
	sendURL string
	authURL string
	http    *http.Client
	tokens  *accesstoken.Source
	log     *slog.Logger
	now     func() time.Time
}

// Interface guard.
var _ push.Client = (*Client)(nil)

// New returns a client for c's Honor credential. Hosts come from env
// (OFFPUSH_HONOR_URL, OFFPUSH_HONOR_AUTH_URL), else Honor's production
// hosts; the access token is cached in env.Tokens under "honor#<appId>".
func New(c cert.Certificate, env *push.Env) (*Client, error) {
	h := c.Honor
	if h == nil || h.AppID == "" || h.ClientID == "" || h.ClientSecret == "" {
		return nil, fmt.Errorf("honor client for certificate %d: %w", c.ID, push.ErrNoCredential)
	}
	if env == nil {
		return nil, errors.New("honor client: no push.Env")
	}
	cl := &Client{
		cert:    c,
		appID:   h.AppID,
		sendURL: env.BaseURL(push.URLHonor, DefaultBaseURL) + SendPath(h.AppID),
		authURL: env.BaseURL(push.URLHonorAuth, DefaultAuthURL) + AuthPath,
		http:    env.HTTP(),
		log:     env.Logger(),
		now:     env.Clock(),
	}
	// Refresh a minute before expires_in runs out (vendor-apis §10).
	cl.tokens = accesstoken.New("honor#"+cl.appID, cl.fetchToken,
		accesstoken.Options{Store: env.Tokens, Now: cl.now, Margin: time.Minute})
	return cl, nil
}

// Requests builds the send requests for m, one per batch of MaxTokens. The
// timestamp header Honor requires is the time of sending, so it is added by
// Send and not listed here.
func (c *Client) Requests(m *push.Message, targets []push.Target) ([]push.Request, []push.Result) {
	results := make([]push.Result, len(targets))
	if len(targets) == 0 {
		return nil, results
	}
	req, err := BuildRequest(m, nil, c.cert)
	if err == nil {
		err = req.checkSize()
	}
	if err != nil {
		vendorutil.FillAll(results, vendorutil.Invalid("honor", err))
		return nil, results
	}
	var reqs []push.Request
	for _, b := range vendorutil.Batches(targets, MaxTokens, nil) {
		req.Token = b.Tokens
		body, err := req.Encode()
		if err != nil {
			vendorutil.FillAt(results, b.Idx, vendorutil.Invalid("honor", err))
			continue
		}
		reqs = append(reqs, push.Request{
			Targets: b.Idx,
			Target:  strings.Join(b.Tokens, ","),
			URL:     c.sendURL,
			Header:  map[string]string{"Content-Type": contentType},
			Payload: body,
		})
	}
	return reqs, results
}

// Send delivers m to targets in batches, a few at a time, and returns one
// result per target in input order. Honor has no validate-only mode, so a
// dry run builds and checks the requests, sends nothing and reports Sent
// with reason "dry_run".
func (c *Client) Send(ctx context.Context, m *push.Message, targets []push.Target) []push.Result {
	reqs, results := c.Requests(m, targets)
	if m.DryRun {
		for _, r := range reqs {
			vendorutil.FillAt(results, r.Targets, vendorutil.DryRunResult)
		}
		return results
	}
	vendorutil.Parallel(len(reqs), concurrency, func(i int) { c.send(ctx, reqs[i], targets, results) })
	return results
}

// send makes one request, re-authenticating and retrying once when Honor
// refuses the access token (HTTP 401 or 80200003), and writes its targets'
// results.
func (c *Client) send(ctx context.Context, r push.Request, targets []push.Target, results []push.Result) {
	var a answer
	for attempt := 0; ; attempt++ {
		tok, err := c.tokens.Token(ctx)
		if err != nil {
			vendorutil.FillAt(results, r.Targets, vendorutil.TokenFailure("honor", err))
			return
		}
		a = c.post(ctx, r, tok)
		if a.err == nil && (a.status == http.StatusUnauthorized || a.code == CodeTokenExpired) && attempt == 0 {
			c.tokens.Invalidate(tok)
			continue
		}
		break
	}
	c.apply(a, r, targets, results)
}

// answer is what one HTTP exchange produced.
type answer struct {
	status     int
	code       string
	message    string
	requestID  string
	expired    []string
	failed     []string
	retryAfter time.Duration
	err        error
}

func (c *Client) post(ctx context.Context, r push.Request, tok string) answer {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, r.URL, bytes.NewReader(r.Payload))
	if err != nil {
		return answer{err: fmt.Errorf("build request: %w", err)}
	}
	req.Header.Set("Content-Type", contentType)
	req.Header.Set("Authorization", "Bearer "+tok)
	req.Header.Set("timestamp", strconv.FormatInt(c.now().UnixMilli(), 10))
	resp, err := c.http.Do(req)
	if err != nil {
		return answer{err: err}
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, maxResponseBytes))
	a := answer{status: resp.StatusCode, retryAfter: vendorutil.RetryAfterHeader(resp.Header, c.now())}
	if err != nil {
		a.err = fmt.Errorf("read answer: %w", err)
		return a
	}
	var parsed struct {
		Code    json.RawMessage `json:"code"`
		Message string          `json:"message"`
		Data    struct {
			RequestID    string   `json:"requestId"`
			FailTokens   []string `json:"failTokens"`
			ExpireTokens []string `json:"expireTokens"`
		} `json:"data"`
	}
	if json.Unmarshal(body, &parsed) == nil {
		a.code, a.message = codeString(parsed.Code), parsed.Message
		a.requestID, a.failed, a.expired = parsed.Data.RequestID, parsed.Data.FailTokens, parsed.Data.ExpireTokens
	}
	return a
}

// codeString reads code, which Honor sends as a number (200) or a string
// ("80000000"); both are accepted (vendor-apis.md §10).
func codeString(raw json.RawMessage) string {
	var s string
	if json.Unmarshal(raw, &s) == nil {
		return s
	}
	var n json.Number
	if json.Unmarshal(raw, &n) == nil {
		return n.String()
	}
	return ""
}

// apply maps an answer onto the request's targets.
func (c *Client) apply(a answer, r push.Request, targets []push.Target, results []push.Result) {
	switch {
	case a.err != nil:
		vendorutil.FillAt(results, r.Targets, push.Result{Outcome: push.Retryable, Reason: "honor: " + a.err.Error()})
		return
	case a.status >= 500 || a.status == http.StatusTooManyRequests:
		vendorutil.FillAt(results, r.Targets, push.Result{Outcome: push.Retryable, Reason: reason(a), RetryAfter: a.retryAfter})
		return
	}
	switch a.code {
	case CodeOK, CodeSuccess:
		// expireTokens are dead [C]; failTokens failed for this send only
		// and are retried later [?].
		expired := set(a.expired)
		failed := set(a.failed)
		for _, t := range r.Targets {
			tok := targets[t].Token
			switch {
			case expired[tok]:
				results[t] = push.Result{Outcome: push.InvalidToken, Reason: "honor expireTokens", MessageID: a.requestID}
			case failed[tok]:
				results[t] = push.Result{Outcome: push.Retryable, Reason: "honor failTokens", MessageID: a.requestID}
			default:
				results[t] = push.Result{Outcome: push.Sent, MessageID: a.requestID}
			}
		}
		return
	case CodeAuth, CodeTokenExpired, CodeNoPermission, CodeOAuthService:
		c.log.Warn("honor: credentials or permissions refused", "appId", c.appID, "code", a.code, "message", a.message)
		vendorutil.FillAt(results, r.Targets, push.Result{Outcome: push.Auth, Reason: reason(a)})
		return
	case CodeInternal:
		vendorutil.FillAt(results, r.Targets, push.Result{Outcome: push.Retryable, Reason: reason(a), RetryAfter: a.retryAfter})
		return
	}
	// Any other code (Honor's table is not documented), or none: by HTTP
	// status. A refused request is Rejected, never a reason to delete tokens.
	out := push.Rejected
	if a.status == http.StatusUnauthorized || a.status == http.StatusForbidden {
		out = push.Auth
	}
	vendorutil.FillAt(results, r.Targets, push.Result{Outcome: out, Reason: reason(a)})
}

func set(ss []string) map[string]bool {
	m := make(map[string]bool, len(ss))
	for _, s := range ss {
		m[s] = true
	}
	return m
}

func reason(a answer) string {
	var b strings.Builder
	b.WriteString("honor")
	if a.code != "" {
		b.WriteString(" " + a.code)
	}
	if a.message != "" {
		b.WriteString(" " + a.message)
	}
	if a.code == "" || a.status != http.StatusOK {
		b.WriteString(" http " + strconv.Itoa(a.status))
	}
	return b.String()
}

// fetchToken asks Honor's OAuth endpoint for an access token with the
// client credentials grant (the Client ID and Client Secret, not the App
// ID).
func (c *Client) fetchToken(ctx context.Context) (string, time.Duration, error) {
	return vendorutil.ClientCredentials(ctx, c.http, c.authURL, c.cert.Honor.ClientID, c.cert.Honor.ClientSecret, time.Hour)
}
