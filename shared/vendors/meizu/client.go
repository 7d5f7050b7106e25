package meizu

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/offpush/offpush/shared/cert"
	"github.com/offpush/offpush/shared/push"
	"github.com/offpush/offpush/shared/vendors/internal/vendorutil"
)

// contentType is the body type Meizu documents for every call.
const contentType = "application/x-www-form-urlencoded;charset=UTF-8"

// maxConcurrent bounds the batches one Send has in flight: a 500-user push
// is a handful of 100-pushId batches, sent together but not all at once.
const maxConcurrent = 4

// maxResponse bounds how much of an answer is read: a value map of 100
// pushIds is a few kilobytes.
const maxResponse = 1 << 20

// CodeOK is the top-level code of an accepted request. Meizu's codes are
// strings.
const CodeOK = "200"

// valueOutcomes maps the codes of an accepted request's value map, each
// listing the pushIds it applies to, per Meizu's table.
var valueOutcomes = map[string]push.Outcome{
	"110002": push.InvalidToken, // pushId expired (not subscribed)
	"110003": push.InvalidToken, // pushId illegal
	"201":    push.Auth,         // no permission, refused by the server
	"501":    push.Retryable,    // push failed (db_error)
	"513":    push.Retryable,    // push failed
	"519":    push.Retryable,    // push failed, service overloaded
	"520":    push.Retryable,    // folded: >5 messages to one device within a minute
	// 110010 here is the device's notification switch being off: the pushId
	// is fine and will work again when the user turns notifications on, so
	// it is kept, and retrying now would not help.
	"110010": push.Rejected,
	"110011": push.Quota, // daily public-message limit for the device
}

// topOutcomes maps the top-level codes of a refused request, per Meizu's
// table; any code not here is Rejected.
var topOutcomes = map[string]push.Outcome{
	"500":    push.Retryable, // other error
	"1001":   push.Retryable, // system error
	"1003":   push.Retryable, // server busy
	"110010": push.Retryable, // app push rate too fast
	"110051": push.Retryable, // over the app's count limit: back off
	"1006":   push.Auth,      // signature failed
	"110000": push.Auth,      // invalid appId
	"110001": push.Auth,      // invalid appKey
	"110033": push.Auth,      // invalid appSecret
	"110009": push.Auth,      // app blacklisted: the certificate needs attention
	"110002": push.InvalidToken,
	"110003": push.InvalidToken,
	"110019": push.Quota, // over the app's daily push count
	// 1005 parameter error, 110004 empty parameter, 110031 bad packageName,
	// 110032 bad taskId, 110053 pass-through limit: Rejected.
}

// meanings are Meizu's descriptions of its codes, for reasons and logs.
var meanings = map[string]string{
	"201": "no permission", "500": "other error", "501": "push failed (db_error)", "513": "push failed",
	"519": "service overloaded", "520": "folded: too many messages to the device", "1001": "system error",
	"1003": "server busy", "1005": "parameter error", "1006": "signature failed", "110000": "invalid appId",
	"110001": "invalid appKey", "110002": "pushId not registered", "110003": "pushId illegal",
	"110004": "empty parameter", "110009": "app blacklisted", "110010": "rate too fast or notifications off",
	"110011": "daily public-message limit", "110019": "daily push limit", "110031": "invalid packageName",
	"110033": "invalid appSecret", "110051": "count limit", "110053": "pass-through limit",
}

// Client sends to Meizu Flyme Push for one certificate. It is safe for
// concurrent use; build one per certificate and container.
type Client struct {
	cert   cert.Certificate
	appID  string
	secret string
	url    string
	http   *http.Client
	log    *slog.Logger
	now    func() time.Time
}

// Interface guard.
var _ push.Client = (*Client)(nil)

// New returns a client for c, whose Meizu credential must hold the appId and
// appSecret. The host is Host unless OFFPUSH_MEIZU_URL overrides it;
// SendPath follows either.
func New(c cert.Certificate, env *push.Env) (*Client, error) {
	if c.Meizu == nil || c.Meizu.AppID == "" || c.Meizu.AppSecret == "" {
		return nil, fmt.Errorf("meizu client for certificate %d: %w", c.ID, push.ErrNoCredential)
	}
	if env == nil {
		return nil, fmt.Errorf("meizu client for certificate %d: no push.Env", c.ID)
	}
	cl := &Client{
		cert:   c,
		appID:  c.Meizu.AppID,
		secret: c.Meizu.AppSecret,
		url:    strings.TrimRight(env.BaseURL(push.URLMeizu, Host), "/") + SendPath,
		http:   env.HTTP(),
		log:    env.Logger(),
		now:    env.Clock(),
	}
	return cl, nil
}

// URL is the send URL the client posts to.
func (c *Client) URL() string { return c.url }

// batch is one request: its body and the targets (indexes and pushIds) it
// carries.
type batch struct {
	targets []int
	tokens  []string
	body    []byte
}

// plan builds every request Send would make. Targets refused before sending
// get their result here; the others are batched MaxPushIDs at a time, each
// batch signed over the very messageJson bytes it carries.
func (c *Client) plan(m *push.Message, targets []push.Target) ([]batch, []push.Result) {
	results := make([]push.Result, len(targets))
	refuse := func(err error) ([]batch, []push.Result) {
		vendorutil.FillAll(results, vendorutil.Invalid("meizu", err))
		return nil, results
	}
	msg, err := Build(m, c.cert)
	if err != nil {
		return refuse(err)
	}
	js, err := msg.Encode()
	if err != nil {
		return refuse(err)
	}
	var batches []batch
	for _, b := range vendorutil.Batches(targets, MaxPushIDs, vendorutil.Checked(results, "meizu", checkToken)) {
		cur := batch{targets: b.Idx, tokens: b.Tokens}
		cur.body = Body(c.appID, c.secret, cur.tokens, js)
		batches = append(batches, cur)
	}
	return batches, results
}

// Requests returns the requests Send would make, in order. The body carries
// the sign, which is derived from the secret but does not reveal it.
func (c *Client) Requests(m *push.Message, targets []push.Target) ([]push.Request, []push.Result) {
	batches, results := c.plan(m, targets)
	reqs := make([]push.Request, len(batches))
	for i, b := range batches {
		reqs[i] = push.Request{
			Targets: b.targets,
			Target:  strings.Join(b.tokens, ","),
			URL:     c.url,
			Header:  map[string]string{"Content-Type": contentType},
			Payload: b.body,
		}
	}
	return reqs, results
}

// Send delivers m to targets, at most MaxPushIDs per request and
// maxConcurrent requests at a time, and returns one result per target in
// input order. It never retries: Retryable results are the caller's to
// retry. A dry run builds and signs every request and sends nothing, as
// Meizu has no validate-only mode.
func (c *Client) Send(ctx context.Context, m *push.Message, targets []push.Target) []push.Result {
	batches, results := c.plan(m, targets)
	if m.DryRun {
		for _, b := range batches {
			vendorutil.FillAt(results, b.targets, vendorutil.DryRunResult)
		}
		return results
	}
	vendorutil.Parallel(len(batches), maxConcurrent, func(i int) {
		for j, r := range c.do(ctx, batches[i]) {
			results[batches[i].targets[j]] = r
		}
	})
	return results
}

// do sends one batch and maps the answer onto one result per pushId.
func (c *Client) do(ctx context.Context, b batch) []push.Result {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, c.url, bytes.NewReader(b.body))
	if err != nil {
		return vendorutil.Fill(len(b.tokens), push.Result{Outcome: push.Rejected, Reason: "meizu: build request: " + err.Error()})
	}
	req.Header.Set("Content-Type", contentType)
	resp, err := c.http.Do(req)
	if err != nil {
		// Transport errors and timeouts are passing by nature.
		return vendorutil.Fill(len(b.tokens), push.Result{Outcome: push.Retryable, Reason: "meizu: " + err.Error()})
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, maxResponse))
	if err != nil {
		return vendorutil.Fill(len(b.tokens), push.Result{Outcome: push.Retryable, Reason: "meizu: read answer: " + err.Error()})
	}
	results := Classify(resp.StatusCode, resp.Header, body, b.tokens, c.now())
	failed := 0
	for _, r := range results {
		if r.Outcome != push.Sent && r.Outcome != push.InvalidToken {
			failed++
		}
	}
	if failed > 0 {
		c.log.WarnContext(ctx, "meizu push failed", "certificate", c.cert.ID, "targets", len(b.tokens),
			"failed", failed, "reason", firstFailure(results), "status", resp.StatusCode)
	}
	return results
}

// response is Meizu's answer. value is a map from code to pushIds on an
// accepted request and an empty string on a refused one.
type response struct {
	Code    *flexString     `json:"code"`
	Message string          `json:"message"`
	Value   json.RawMessage `json:"value"`
	MsgID   string          `json:"msgId"`
}

// Classify maps one Meizu answer onto a result per pushId of the request, in
// the request's order:
//
//	HTTP 429, 5xx                       Retryable (RetryAfter from Retry-After)
//	code "200"                          Sent, except pushIds listed in value:
//	  110002, 110003                    InvalidToken
//	  201                               Auth
//	  501, 513, 519, 520                Retryable
//	  110010 (notifications off)        Rejected, token kept
//	  110011                            Quota
//	  any other                         Rejected
//	code 500, 1001, 1003, 110010, 110051  Retryable
//	code 1006, 110000, 110001, 110033, 110009  Auth
//	code 110002, 110003                 InvalidToken, every pushId
//	code 110019                         Quota
//	code 1005, 110004, 110031, other    Rejected
//	unreadable 2xx answer               Retryable
//	other HTTP status without a code    Rejected (401/403: Auth)
func Classify(status int, h http.Header, body []byte, tokens []string, now time.Time) []push.Result {
	n := len(tokens)
	if status == http.StatusTooManyRequests || status >= 500 {
		return vendorutil.Fill(n, push.Result{Outcome: push.Retryable, Reason: "meizu: HTTP " + strconv.Itoa(status), RetryAfter: vendorutil.RetryAfterHeader(h, now)})
	}
	var r response
	if err := json.Unmarshal(body, &r); err != nil || r.Code == nil {
		switch {
		case status == http.StatusUnauthorized || status == http.StatusForbidden:
			return vendorutil.Fill(n, push.Result{Outcome: push.Auth, Reason: "meizu: HTTP " + strconv.Itoa(status)})
		case status >= 200 && status < 300:
			return vendorutil.Fill(n, push.Result{Outcome: push.Retryable, Reason: "meizu: unreadable answer"})
		}
		return vendorutil.Fill(n, push.Result{Outcome: push.Rejected, Reason: "meizu: HTTP " + strconv.Itoa(status)})
	}
	code := string(*r.Code)
	if code != CodeOK {
		o, ok := topOutcomes[code]
		if !ok {
			o = push.Rejected
		}
		res := push.Result{Outcome: o, Reason: reason(code, r.Message)}
		if o == push.Retryable {
			res.RetryAfter = vendorutil.RetryAfterHeader(h, now)
		}
		return vendorutil.Fill(n, res)
	}
	out := vendorutil.Fill(n, push.Result{Outcome: push.Sent, MessageID: r.MsgID})
	var failed map[string][]string
	if json.Unmarshal(r.Value, &failed) != nil || len(failed) == 0 {
		return out // {} or "": every pushId accepted
	}
	idx := make(map[string][]int, n)
	for i, t := range tokens {
		idx[t] = append(idx[t], i)
	}
	for code, ids := range failed {
		o, ok := valueOutcomes[code]
		if !ok {
			o = push.Rejected
		}
		for _, id := range ids {
			for _, i := range idx[id] {
				out[i] = push.Result{Outcome: o, Reason: reason(code, ""), MessageID: r.MsgID}
			}
		}
	}
	return out
}

// reason renders a Meizu code with its meaning.
func reason(code, message string) string {
	if message == "" {
		message = meanings[code]
	}
	if message == "" {
		return "meizu " + code
	}
	return "meizu " + code + ": " + message
}

// firstFailure is the reason of the first result that is neither sent nor
// an invalid token, for the log line.
func firstFailure(rs []push.Result) string {
	for _, r := range rs {
		if r.Outcome != push.Sent && r.Outcome != push.InvalidToken {
			return r.Reason
		}
	}
	return ""
}

// flexString decodes a JSON string or number as its text: Meizu documents
// code as a string, and a number is read the same way rather than refused.
type flexString string

func (f *flexString) UnmarshalJSON(b []byte) error {
	var s string
	if err := json.Unmarshal(b, &s); err == nil {
		*f = flexString(s)
		return nil
	}
	var n json.Number
	if err := json.Unmarshal(b, &n); err != nil {
		return fmt.Errorf("code %s: %w", b, err)
	}
	*f = flexString(n.String())
	return nil
}
