// Package huawei sends offline pushes through Huawei Push Kit's v1 HTTP API
// (POST /v1/{appId}/messages:send) with an OAuth client-credentials access
// token, and maps every documented answer onto push outcomes.
//
// Huawei answers a whole request with one code: a partial success
// (80100000) lists the illegal tokens in msg, and "all tokens invalid"
// (80300007) is trusted only once the certificate has shown that it can
// deliver (see Client.Send).
package huawei

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
	"sync/atomic"
	"time"

	"github.com/offpush/offpush/shared/cert"
	"github.com/offpush/offpush/shared/push"
	"github.com/offpush/offpush/shared/vendors/accesstoken"
	"github.com/offpush/offpush/shared/vendors/internal/vendorutil"
)

// Production hosts and the paths appended to them (and to their
// OFFPUSH_HUAWEI_URL / OFFPUSH_HUAWEI_AUTH_URL overrides).
const (
	DefaultBaseURL = "https://push-api.cloud.huawei.com"
	DefaultAuthURL = "https://oauth-login.cloud.huawei.com"
	AuthPath       = "/oauth2/v3/token"
)

// SendPath is the send path for an app.
func SendPath(appID string) string { return "/v1/" + url.PathEscape(appID) + "/messages:send" }

// Huawei result codes (vendor-apis.md §4, all confirmed in Huawei's doc).
const (
	CodeSuccess          = "80000000"
	CodePartial          = "80100000"
	CodeParam            = "80100001"
	CodeStructure        = "80100003"
	CodeTTL              = "80100004"
	CodeCollapseKey      = "80100013"
	CodeSensitive        = "80100016"
	CodeTopicConcurrency = "80100017"
	CodeReviewSignature  = "80100018"
	CodeAuth             = "80200001"
	CodeTokenExpired     = "80200003"
	CodeJWTExpired       = "80200005"
	CodeNoPermission     = "80300002"
	CodeAllInvalid       = "80300007"
	CodeTooLarge         = "80300008"
	CodeTooManyTokens    = "80300010"
	CodeNoHighPriority   = "80300011"
	CodeReceipt          = "80300013"
	CodeOAuthService     = "80600003"
	CodeInternal         = "81000001"
)

// ReasonUnconfirmed is the Rejected reason of an 80300007 that the client
// could not trust (see Client.Send).
const ReasonUnconfirmed = CodeAllInvalid + " (unconfirmed)"

// confirmWindow is how long a successful delivery vouches for the
// certificate's appId when an 80300007 arrives.
const confirmWindow = 24 * time.Hour

// concurrency bounds the batches one Send has in flight.
const concurrency = 4

// maxResponseBytes bounds how much of an answer is read.
const maxResponseBytes = 64 << 10

// Client sends for one Huawei certificate. It is safe for concurrent use.
type Client struct {
	cert    cert.Certificate
	appID   string
	sendURL string
	authURL string
	http    *http.Client
	tokens  *accesstoken.Source
	log     *slog.Logger
	now     func() time.Time

	// confirmedAt is when (unix nanoseconds) a send last proved that this
	// appId delivers to its tokens; 0 if never.
	confirmedAt atomic.Int64
}

// Interface guard.
var _ push.Client = (*Client)(nil)

// New returns a client for c's Huawei credential. The send and auth hosts
// come from env (OFFPUSH_HUAWEI_URL, OFFPUSH_HUAWEI_AUTH_URL), else
// Huawei's production hosts; the access token is cached in env.Tokens under
// "huawei#<appId>".
func New(c cert.Certificate, env *push.Env) (*Client, error) {
	if c.Huawei == nil || c.Huawei.AppID == "" || c.Huawei.AppSecret == "" {
		return nil, fmt.Errorf("huawei client for certificate %d: %w", c.ID, push.ErrNoCredential)
	}
	if env == nil {
		return nil, errors.New("huawei client: no push.Env")
	}
	cl := &Client{
		cert:    c,
		appID:   c.Huawei.AppID,
		sendURL: env.BaseURL(push.URLHuawei, DefaultBaseURL) + SendPath(c.Huawei.AppID),
		authURL: env.BaseURL(push.URLHuaweiAuth, DefaultAuthURL) + AuthPath,
		http:    env.HTTP(),
		log:     env.Logger(),
		now:     env.Clock(),
	}
	// Huawei tokens last an hour; refresh a minute early (vendor-apis §10).
	cl.tokens = accesstoken.New("huawei#"+cl.appID, cl.fetchToken,
		accesstoken.Options{Store: env.Tokens, Now: cl.now, Margin: time.Minute})
	return cl, nil
}

// Requests builds the send requests for m, one per batch of at most
// MaxTokens targets. A message that breaks a Huawei limit gives every
// target an InvalidArgument result and no request.
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
		vendorutil.FillAll(results, vendorutil.Invalid("huawei", err))
		return nil, results
	}
	var reqs []push.Request
	for _, b := range vendorutil.Batches(targets, MaxTokens, nil) {
		req.Message.Token = b.Tokens
		body, err := req.Encode()
		if err != nil {
			vendorutil.FillAt(results, b.Idx, vendorutil.Invalid("huawei", err))
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

const contentType = "application/json;charset=UTF-8"

// Send delivers m to targets in batches of MaxTokens, a few batches at a
// time, and returns one result per target in input order. A dry run sends
// with validate_only, so Huawei checks the message and delivers nothing.
//
// Guarding 80300007. Huawei answers "all tokens invalid" both when every
// token is dead and when the request cannot match them to the app: a wrong
// appId, a token of another app, a package or signing mismatch. Deleting
// on the second would wipe a whole app's devices over one configuration
// mistake. A one-token batch is no safer: under a wrong appId a live token
// fails exactly like a dead one. What tells the cases apart is evidence
// that this appId does deliver to tokens of this app: an 80000000, or an
// 80100000 with successes, for this certificate within the last 24 hours
// (remembered by the client, one per certificate), or in another batch of
// the same Send. With it the tokens are InvalidToken; without it they are
// Rejected with reason "80300007 (unconfirmed)" and kept, and a later push
// decides again. Dry runs prove nothing (validate_only may not match
// tokens to the app), so they never confirm.
func (c *Client) Send(ctx context.Context, m *push.Message, targets []push.Target) []push.Result {
	reqs, results := c.Requests(m, targets)
	guarded := make([]bool, len(reqs))
	vendorutil.Parallel(len(reqs), concurrency, func(i int) { guarded[i] = c.send(ctx, reqs[i], m.DryRun, targets, results) })
	if c.confirmed() {
		for i, r := range reqs {
			if !guarded[i] {
				continue
			}
			for _, t := range r.Targets {
				results[t] = push.Result{Outcome: push.InvalidToken, Reason: CodeAllInvalid}
			}
		}
	}
	return results
}

// send makes one request, re-authenticating once if Huawei calls the
// access token expired, and writes the results of its targets. It reports
// whether the answer was an 80300007 left Rejected for want of
// confirmation.
func (c *Client) send(ctx context.Context, r push.Request, dry bool, targets []push.Target, results []push.Result) (guarded bool) {
	var a answer
	for attempt := 0; ; attempt++ {
		tok, err := c.tokens.Token(ctx)
		if err != nil {
			vendorutil.FillAt(results, r.Targets, vendorutil.TokenFailure("huawei", err))
			return false
		}
		a = c.post(ctx, r, tok)
		if (a.code == CodeTokenExpired || a.code == CodeJWTExpired) && attempt == 0 {
			c.tokens.Invalidate(tok)
			continue
		}
		break
	}
	return c.apply(a, r, dry, targets, results)
}

// answer is what one HTTP exchange produced.
type answer struct {
	status     int
	code       string
	msg        string
	requestID  string
	retryAfter time.Duration
	err        error // transport failure or unreadable answer
}

func (c *Client) post(ctx context.Context, r push.Request, tok string) answer {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, r.URL, bytes.NewReader(r.Payload))
	if err != nil {
		return answer{err: fmt.Errorf("build request: %w", err)}
	}
	req.Header.Set("Content-Type", contentType)
	req.Header.Set("Authorization", "Bearer "+tok)
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
		Code      json.RawMessage `json:"code"`
		Msg       string          `json:"msg"`
		RequestID string          `json:"requestId"`
	}
	if json.Unmarshal(body, &parsed) == nil {
		a.code, a.msg, a.requestID = codeString(parsed.Code), parsed.Msg, parsed.RequestID
	}
	return a
}

// codeString reads code, a string in Huawei's answers, tolerating a number.
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

// apply maps an answer onto the request's targets (vendor-apis.md §4).
func (c *Client) apply(a answer, r push.Request, dry bool, targets []push.Target, results []push.Result) (guarded bool) {
	switch {
	case a.err != nil:
		vendorutil.FillAt(results, r.Targets, push.Result{Outcome: push.Retryable, Reason: "huawei: " + a.err.Error()})
		return false
	case a.status >= 500:
		// 500 internal, 502 connection problem, 503 flow control: retry later,
		// after Retry-After when given.
		vendorutil.FillAt(results, r.Targets, push.Result{Outcome: push.Retryable, Reason: reason(a), RetryAfter: a.retryAfter})
		return false
	}
	switch a.code {
	case CodeSuccess:
		if dry {
			vendorutil.FillAt(results, r.Targets, push.Result{Outcome: push.Sent, Reason: "dry_run", MessageID: a.requestID})
			return false
		}
		c.confirm()
		vendorutil.FillAt(results, r.Targets, push.Result{Outcome: push.Sent, MessageID: a.requestID})
		return false
	case CodePartial:
		c.partial(a, r, dry, targets, results)
		return false
	case CodeAllInvalid:
		if !dry && c.confirmed() {
			vendorutil.FillAt(results, r.Targets, push.Result{Outcome: push.InvalidToken, Reason: CodeAllInvalid})
			return false
		}
		c.log.Warn("huawei: every token refused and the appId is not confirmed; tokens kept",
			"appId", c.appID, "tokens", len(r.Targets), "vendorRequestId", a.requestID)
		vendorutil.FillAt(results, r.Targets, push.Result{Outcome: push.Rejected, Reason: ReasonUnconfirmed, MessageID: a.requestID})
		return !dry
	case CodeAuth, CodeNoPermission, CodeOAuthService, CodeNoHighPriority, CodeReceipt,
		CodeTokenExpired, CodeJWTExpired: // expired twice in a row: the credential is at fault
		c.log.Warn("huawei: credentials or permissions refused", "appId", c.appID, "code", a.code, "msg", a.msg)
		vendorutil.FillAt(results, r.Targets, push.Result{Outcome: push.Auth, Reason: reason(a)})
		return false
	case CodeTopicConcurrency, CodeInternal:
		vendorutil.FillAt(results, r.Targets, push.Result{Outcome: push.Retryable, Reason: reason(a), RetryAfter: a.retryAfter})
		return false
	case CodeParam, CodeStructure, CodeTTL, CodeCollapseKey, CodeSensitive, CodeReviewSignature,
		CodeTooLarge, CodeTooManyTokens:
		vendorutil.FillAt(results, r.Targets, push.Result{Outcome: push.Rejected, Reason: reason(a)})
		return false
	}
	// No (known) code: fall back on the HTTP status.
	out := push.Rejected
	switch a.status {
	case http.StatusUnauthorized, http.StatusForbidden:
		out = push.Auth
	case http.StatusTooManyRequests:
		out = push.Retryable
	}
	vendorutil.FillAt(results, r.Targets, push.Result{Outcome: out, Reason: reason(a), RetryAfter: a.retryAfter})
	return false
}

// partial maps an 80100000: msg is a JSON string listing the illegal
// tokens, in the v1 shape {"success":3,"failure":1,"illegal_tokens":[…]}
// or the v3 shape {"success":1,"failure":1,"illegalTokens":{"<reason>":[…]}}.
// The listed tokens are InvalidToken (v3's "noRight", a permission and not
// a dead token, is Rejected, as is every listed token in a dry run); the
// others were accepted. An unreadable msg marks no token invalid.
func (c *Client) partial(a answer, r push.Request, dry bool, targets []push.Target, results []push.Result) {
	ok := push.Result{Outcome: push.Sent, MessageID: a.requestID}
	if dry {
		ok.Reason = "dry_run"
	}
	illegal, successes, parsed := parsePartial(a.msg)
	if !parsed {
		ok.Reason = strings.TrimSpace(ok.Reason + " " + CodePartial + " (msg unreadable)")
		vendorutil.FillAt(results, r.Targets, ok)
		return
	}
	if successes > 0 && !dry {
		c.confirm()
	}
	for _, t := range r.Targets {
		results[t] = ok
		if why, bad := illegal[targets[t].Token]; bad {
			switch {
			case dry:
				// A dry run reports what Huawei found but never condemns a token.
				results[t] = push.Result{Outcome: push.Rejected, Reason: strings.TrimSpace("dry_run " + CodePartial + " illegal token " + why), MessageID: a.requestID}
			case why == "noRight":
				results[t] = push.Result{Outcome: push.Rejected, Reason: CodePartial + " noRight", MessageID: a.requestID}
			default:
				results[t] = push.Result{Outcome: push.InvalidToken, Reason: strings.TrimSpace(CodePartial + " " + why), MessageID: a.requestID}
			}
		}
	}
}

// parsePartial reads an 80100000 msg into illegal token → reason ("" for
// the v1 shape) and the success count (-1 when absent).
func parsePartial(msg string) (illegal map[string]string, successes int, ok bool) {
	var p struct {
		Success *int            `json:"success"`
		V1      []string        `json:"illegal_tokens"`
		V3      json.RawMessage `json:"illegalTokens"`
	}
	if json.Unmarshal([]byte(msg), &p) != nil {
		return nil, 0, false
	}
	illegal = map[string]string{}
	for _, t := range p.V1 {
		illegal[t] = ""
	}
	if len(p.V3) > 0 {
		var byReason map[string][]string
		var list []string
		switch {
		case json.Unmarshal(p.V3, &byReason) == nil:
			for why, ts := range byReason {
				for _, t := range ts {
					illegal[t] = why
				}
			}
		case json.Unmarshal(p.V3, &list) == nil:
			for _, t := range list {
				illegal[t] = ""
			}
		default:
			return nil, 0, false
		}
	}
	successes = -1
	if p.Success != nil {
		successes = *p.Success
	}
	return illegal, successes, true
}

func (c *Client) confirm() { c.confirmedAt.Store(c.now().UnixNano()) }

func (c *Client) confirmed() bool {
	at := c.confirmedAt.Load()
	return at != 0 && c.now().Sub(time.Unix(0, at)) < confirmWindow
}

func reason(a answer) string {
	var b strings.Builder
	b.WriteString("huawei")
	if a.code != "" {
		b.WriteString(" " + a.code)
	}
	if a.msg != "" {
		b.WriteString(" " + a.msg)
	}
	if a.code == "" {
		b.WriteString(" http " + strconv.Itoa(a.status))
	}
	return b.String()
}

// fetchToken asks Huawei's OAuth endpoint for an access token with the
// client credentials grant (client_id is the app ID, client_secret the app
// secret); tokens last an hour.
func (c *Client) fetchToken(ctx context.Context) (string, time.Duration, error) {
	return vendorutil.ClientCredentials(ctx, c.http, c.authURL, c.appID, c.cert.Huawei.AppSecret, time.Hour)
}
