package xiaomi

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

// contentType is the body type Xiaomi documents for every server call.
const contentType = "application/x-www-form-urlencoded;charset=UTF-8"

// maxConcurrent bounds the batches one Send has in flight: a 500-user push
// rarely needs more than one batch, and a broadcast page should not open
// dozens of connections to one vendor at once.
const maxConcurrent = 4

// maxResponse bounds how much of an answer is read; Xiaomi's are a few
// hundred bytes.
const maxResponse = 1 << 20

// Response codes offpush acts on. Xiaomi publishes no full table that could
// be read; each code says where it comes from.
const (
	// CodeOK is success.
	CodeOK = 0
	// CodeAuth is "authentication failed": a wrong AppSecret.
	CodeAuth = 21301
	// CodeMissingParam (21305, 10016) is a missing required parameter.
	CodeMissingParam = 21305
	// CodeInvalidRegIDs is what third-party MiPush senders treat as "every
	// regId of the request is invalid" and prune on [T: a PHP and a Node
	// sender found in public code]; regIds merely among valid ones come back
	// in data.bad_regids of a success instead.
	CodeInvalidRegIDs = 20301
	// CodeDailyQuota is the daily push limit [T: the same PHP sender, which
	// stops for the day on it].
	CodeDailyQuota = 200001
)

// retryableCodes are service errors the same PHP sender retries (10002
// service paused, 10003 remote service error, 10027, 10037) [T].
var retryableCodes = map[int64]bool{10002: true, 10003: true, 10027: true, 10037: true}

// Client sends to Xiaomi MiPush for one certificate. It is safe for
// concurrent use; build one per certificate and container.
type Client struct {
	cert   cert.Certificate
	secret string
	url    string
	http   *http.Client
	log    *slog.Logger
	now    func() time.Time
}

// Interface guard.
var _ push.Client = (*Client)(nil)

// New returns a client for c, whose Xiaomi credential must hold the
// AppSecret and package name. The host is the certificate region's unless
// OFFPUSH_XIAOMI_URL overrides it; SendPath follows either.
func New(c cert.Certificate, env *push.Env) (*Client, error) {
	if c.Xiaomi == nil || c.Xiaomi.AppSecret == "" || c.Xiaomi.PackageName == "" {
		return nil, fmt.Errorf("xiaomi client for certificate %d: %w", c.ID, push.ErrNoCredential)
	}
	if env == nil {
		return nil, fmt.Errorf("xiaomi client for certificate %d: no push.Env", c.ID)
	}
	host := HostChina
	if c.Xiaomi.Region == cert.RegionGlobal {
		host = HostGlobal
	}
	cl := &Client{
		cert:   c,
		secret: c.Xiaomi.AppSecret,
		url:    strings.TrimRight(env.BaseURL(push.URLXiaomi, host), "/") + SendPath,
		http:   env.HTTP(),
		log:    env.Logger(),
		now:    env.Clock(),
	}
	return cl, nil
}

// URL is the send URL the client posts to.
func (c *Client) URL() string { return c.url }

// batch is one request: its body and the targets (indexes and regIds) it
// carries.
type batch struct {
	targets []int
	tokens  []string
	body    []byte
}

// plan builds every request Send would make. Targets refused before sending
// get their result here; the others are batched MaxRegIDs at a time.
func (c *Client) plan(m *push.Message, targets []push.Target) ([]batch, []push.Result) {
	results := make([]push.Result, len(targets))
	msg, err := Build(m, c.cert)
	if err != nil {
		vendorutil.FillAll(results, vendorutil.Invalid("xiaomi", err))
		return nil, results
	}
	var batches []batch
	for _, b := range vendorutil.Batches(targets, MaxRegIDs, vendorutil.Checked(results, "xiaomi", checkToken)) {
		cur := batch{targets: b.Idx, tokens: b.Tokens}
		msg.RegistrationID = strings.Join(cur.tokens, ",")
		cur.body = msg.Body()
		batches = append(batches, cur)
	}
	return batches, results
}

// Requests returns the requests Send would make, in order: URL, the
// meaningful headers (never the Authorization key) and the exact body.
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

// Send delivers m to targets, at most MaxRegIDs per request and
// maxConcurrent requests at a time, and returns one result per target in
// input order. It never retries: Retryable results are the caller's to
// retry. A dry run builds and checks every request and sends nothing, as
// Xiaomi has no validate-only mode.
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

// do sends one batch and maps the answer onto one result per regId.
func (c *Client) do(ctx context.Context, b batch) []push.Result {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, c.url, bytes.NewReader(b.body))
	if err != nil {
		return vendorutil.Fill(len(b.tokens), push.Result{Outcome: push.Rejected, Reason: "xiaomi: build request: " + err.Error()})
	}
	req.Header.Set("Content-Type", contentType)
	req.Header.Set("Authorization", "key="+c.secret)
	resp, err := c.http.Do(req)
	if err != nil {
		// Transport errors and timeouts are passing by nature.
		return vendorutil.Fill(len(b.tokens), push.Result{Outcome: push.Retryable, Reason: "xiaomi: " + err.Error()})
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, maxResponse))
	if err != nil {
		return vendorutil.Fill(len(b.tokens), push.Result{Outcome: push.Retryable, Reason: "xiaomi: read answer: " + err.Error()})
	}
	results := Classify(resp.StatusCode, resp.Header, body, b.tokens, c.now())
	if r := results[0]; r.Outcome != push.Sent && r.Outcome != push.InvalidToken {
		c.log.WarnContext(ctx, "xiaomi push failed", "certificate", c.cert.ID, "targets", len(b.tokens),
			"outcome", string(r.Outcome), "reason", r.Reason, "status", resp.StatusCode)
	}
	return results
}

// response is Xiaomi's answer, success and error alike.
type response struct {
	Result      string          `json:"result"`
	Code        *flexInt        `json:"code"`
	Description string          `json:"description"`
	Reason      string          `json:"reason"`
	TraceID     string          `json:"trace_id"`
	Data        json.RawMessage `json:"data"`
}

// responseData is a success's data object.
type responseData struct {
	ID string `json:"id"`
	// BadRegIDs lists the request's regIds Xiaomi found invalid, comma
	// separated [T: read as data.bad_regids by several public senders, a
	// Java and a PHP one among them; Xiaomi's own page could not be read].
	BadRegIDs regIDList `json:"bad_regids"`
}

// Classify maps one Xiaomi answer onto a result per regId of the request,
// in the request's order:
//
//	HTTP 429, 5xx                       Retryable (RetryAfter from Retry-After)
//	code 0                              Sent; regIds in data.bad_regids InvalidToken
//	21301                               Auth
//	20301                               InvalidToken, every regId [T]
//	200001                              Quota [T]
//	10002, 10003, 10027, 10037          Retryable [T]
//	21305, 10016, any other code        Rejected
//	HTTP 401/403 without a code         Auth
//	unreadable 2xx answer               Retryable
//	other HTTP status without a code    Rejected
func Classify(status int, h http.Header, body []byte, tokens []string, now time.Time) []push.Result {
	n := len(tokens)
	if status == http.StatusTooManyRequests || status >= 500 {
		return vendorutil.Fill(n, push.Result{Outcome: push.Retryable, Reason: "xiaomi: HTTP " + strconv.Itoa(status), RetryAfter: vendorutil.RetryAfterHeader(h, now)})
	}
	var r response
	if err := json.Unmarshal(body, &r); err != nil || r.Code == nil {
		switch {
		case status == http.StatusUnauthorized || status == http.StatusForbidden:
			return vendorutil.Fill(n, push.Result{Outcome: push.Auth, Reason: "xiaomi: HTTP " + strconv.Itoa(status)})
		case status >= 200 && status < 300:
			return vendorutil.Fill(n, push.Result{Outcome: push.Retryable, Reason: "xiaomi: unreadable answer"})
		}
		return vendorutil.Fill(n, push.Result{Outcome: push.Rejected, Reason: "xiaomi: HTTP " + strconv.Itoa(status)})
	}
	code := int64(*r.Code)
	reason := fmt.Sprintf("xiaomi %d: %s", code, first(r.Reason, r.Description, r.Result))
	switch {
	case code == CodeOK && r.Result != "error":
		var d responseData
		_ = json.Unmarshal(r.Data, &d) // a success without data is still a success
		out := vendorutil.Fill(n, push.Result{Outcome: push.Sent, MessageID: d.ID})
		if len(d.BadRegIDs) > 0 {
			bad := make(map[string]bool, len(d.BadRegIDs))
			for _, id := range d.BadRegIDs {
				bad[id] = true
			}
			for i, t := range tokens {
				if bad[t] {
					out[i] = push.Result{Outcome: push.InvalidToken, Reason: "xiaomi: in bad_regids", MessageID: d.ID}
				}
			}
		}
		return out
	case code == CodeAuth:
		return vendorutil.Fill(n, push.Result{Outcome: push.Auth, Reason: reason})
	case code == CodeInvalidRegIDs:
		return vendorutil.Fill(n, push.Result{Outcome: push.InvalidToken, Reason: reason})
	case code == CodeDailyQuota:
		return vendorutil.Fill(n, push.Result{Outcome: push.Quota, Reason: reason})
	case retryableCodes[code]:
		return vendorutil.Fill(n, push.Result{Outcome: push.Retryable, Reason: reason, RetryAfter: vendorutil.RetryAfterHeader(h, now)})
	}
	return vendorutil.Fill(n, push.Result{Outcome: push.Rejected, Reason: reason})
}

// first returns the first non-empty string.
func first(s ...string) string {
	for _, v := range s {
		if v != "" {
			return v
		}
	}
	return ""
}

// flexInt decodes a JSON number or a numeric string.
type flexInt int64

func (f *flexInt) UnmarshalJSON(b []byte) error {
	s := strings.Trim(string(b), `"`)
	n, err := strconv.ParseInt(s, 10, 64)
	if err != nil {
		return fmt.Errorf("code %s: %w", b, err)
	}
	*f = flexInt(n)
	return nil
}

// regIDList decodes a comma-separated string of regIds, or a JSON array of
// them.
type regIDList []string

func (l *regIDList) UnmarshalJSON(b []byte) error {
	var arr []string
	if err := json.Unmarshal(b, &arr); err == nil {
		*l = arr
		return nil
	}
	var s string
	if err := json.Unmarshal(b, &s); err != nil {
		return nil // an unexpected shape lists nothing
	}
	for _, id := range strings.Split(s, ",") {
		if id = strings.TrimSpace(id); id != "" {
			*l = append(*l, id)
		}
	}
	return nil
}
