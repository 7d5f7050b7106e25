package oppo

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
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
	"github.com/offpush/offpush/shared/device"
	"github.com/offpush/offpush/shared/push"
	"github.com/offpush/offpush/shared/vendors/accesstoken"
	"github.com/offpush/offpush/shared/vendors/internal/vendorutil"
)

// Hosts and paths of OPPO's server API.
const (
	// DefaultBaseURL serves devices in mainland China.
	DefaultBaseURL = "https://api.push.oppomobile.com"
	// IntlBaseURL serves devices elsewhere, told apart by the registration
	// ID (see Overseas). An OFFPUSH_OPPO_URL override replaces both.
	IntlBaseURL = "https://api-intl.push.oppomobile.com"
	AuthPath    = "/server/v1/auth"
	UnicastPath = "/server/v1/message/notification/unicast"
	BatchPath   = "/server/v1/message/notification/unicast_batch"
)

// TokenLifetime is how long an OPPO auth_token is valid.
const TokenLifetime = 24 * time.Hour

// OPPO answer codes (the "code" field, and "errorCode" of batch items).
const (
	CodeOK               = 0
	CodeUnavailable      = -1
	CodeFlowControl      = -2
	CodeInvalidAuthToken = 11
	CodeCallLimit        = 13
	CodeInvalidAppKey    = 14
	CodeMissingAppKey    = 15
	CodeInvalidSign      = 16
	CodeMissingSign      = 17
	CodeMissingTimestamp = 18
	CodeInvalidTimestamp = 19
	CodeIPBlacklisted    = 26
	CodeAccessDenied     = 27
	CodeAppDisabled      = 28
	CodeMissingAuthToken = 29
	CodeNoPushPermission = 30
	CodeDailyLimit       = 33
	CodePictureLimit     = 34
	CodeMissingArgument  = 40
	CodeInvalidArgument  = 41
	CodeFrequencyLimit   = 55
	CodeNoActionPerm     = 59
	CodeInvalidCategory  = 67
	CodeInvalidRegID     = 10000
)

const (
	formContentType = "application/x-www-form-urlencoded"
	// maxInFlight bounds the requests one Send has open at once.
	maxInFlight = 8
	// maxAnswer bounds the answer read: a 1000-item batch answer is about
	// 150 KB.
	maxAnswer = 4 << 20
)

// Client sends OPPO pushes for one certificate. It is safe for concurrent
// use; build one per certificate and keep it for the container's life, so
// the auth token and connections are reused.
type Client struct {
	cert   cert.Certificate
	appKey string
	secret string
	http   *http.Client
	now    func() time.Time
	log    *slog.Logger
	china  *host
	intl   *host
}

// host is one OPPO API host with the auth token issued by it.
type host struct {
	base   string
	tokens *accesstoken.Source
}

// Interface guard.
var _ push.Client = (*Client)(nil)

// New returns the OPPO client of certificate c. It fails, wrapping
// push.ErrNoCredential, when c has no OPPO app key and master secret.
func New(c cert.Certificate, env *push.Env) (*Client, error) {
	if c.OPPO == nil || c.OPPO.AppKey == "" || c.OPPO.MasterSecret == "" {
		return nil, fmt.Errorf("oppo client for certificate %d: %w", c.ID, push.ErrNoCredential)
	}
	if env == nil {
		return nil, fmt.Errorf("oppo client for certificate %d: no push environment", c.ID)
	}
	cl := &Client{cert: c, appKey: c.OPPO.AppKey, secret: c.OPPO.MasterSecret, http: env.HTTP(), now: env.Clock(), log: env.Logger()}
	opts := accesstoken.Options{Store: env.Tokens, Now: cl.now}
	china := env.BaseURL(push.URLOPPO, DefaultBaseURL)
	cl.china = &host{base: china}
	cl.china.tokens = accesstoken.New("oppo#"+cl.appKey, cl.fetch(china), opts)
	if env.Overridden(push.URLOPPO) {
		cl.intl = cl.china
	} else {
		// Whether a token from one host is accepted by the other is not
		// documented [?]; each host issues its own, stored apart.
		cl.intl = &host{base: IntlBaseURL}
		cl.intl.tokens = accesstoken.New("oppo#"+cl.appKey+"#intl", cl.fetch(IntlBaseURL), opts)
	}
	return cl, nil
}

// call is one request of a push: what Requests reports, plus what Send
// needs to send it and read its answer.
type call struct {
	push.Request
	host *host
	// regIDs are the distinct registration IDs in the body, in order;
	// slots[i] the input indexes that carry regIDs[i] (duplicates share
	// one message and one result).
	regIDs []string
	slots  [][]int
	batch  bool
}

// Requests returns the requests Send would make. Their payload is the form
// body without the auth token, which Send puts first
// ("auth_token=<token>&" + payload): the token is a credential.
func (c *Client) Requests(m *push.Message, targets []push.Target) ([]push.Request, []push.Result) {
	calls, results := c.plan(m, targets)
	reqs := make([]push.Request, len(calls))
	for i, cl := range calls {
		reqs[i] = cl.Request
	}
	return reqs, results
}

// plan builds the notification once and splits the targets by host into
// unicast (one registration ID) and unicast_batch (up to MaxBatch) calls.
func (c *Client) plan(m *push.Message, targets []push.Target) ([]call, []push.Result) {
	results := make([]push.Result, len(targets))
	n, err := Build(m, c.cert)
	if err != nil {
		vendorutil.FillAll(results, vendorutil.Invalid("oppo", err))
		return nil, results
	}
	type group struct {
		host *host
		vendorutil.Distinct
	}
	groups := []*group{{host: c.china}, {host: c.intl}}
	for i, t := range targets {
		if t.Token == "" {
			results[i] = push.Result{Outcome: push.InvalidArgument, Reason: "oppo: empty registration ID"}
			continue
		}
		g := groups[0]
		if Overseas(t.Token) && c.intl != c.china {
			g = groups[1]
		}
		g.Add(i, t.Token)
	}
	var calls []call
	for _, g := range groups {
		for _, ch := range chunks(len(g.Tokens), MaxBatch) {
			cl := call{host: g.host, regIDs: g.Tokens[ch[0]:ch[1]], slots: g.Slots[ch[0]:ch[1]]}
			cl.batch = len(cl.regIDs) > 1
			var body []byte
			var err error
			if cl.batch {
				cl.URL = g.host.base + BatchPath
				body, err = BatchForm(n, cl.regIDs)
			} else {
				cl.URL = g.host.base + UnicastPath
				body, err = UnicastForm(n, cl.regIDs[0])
			}
			if err != nil {
				vendorutil.FillAt(results, vendorutil.Flatten(cl.slots), vendorutil.Invalid("oppo", err))
				continue
			}
			cl.Payload = body
			cl.Target = strings.Join(cl.regIDs, ",")
			cl.Header = map[string]string{"Content-Type": formContentType}
			cl.Targets = vendorutil.Flatten(cl.slots)
			calls = append(calls, cl)
		}
	}
	return calls, results
}

// chunks splits n items into the fewest runs of at most size items, of
// nearly equal length: [start, end) pairs.
func chunks(n, size int) [][2]int { return vendorutil.Chunks(n, size) }

// Send delivers m to targets and returns one result per target, in input
// order. It re-authenticates and resends once when OPPO calls the auth
// token invalid (code 11) and otherwise never retries. A dry run builds and
// checks every request and sends nothing: OPPO has no validate-only mode.
func (c *Client) Send(ctx context.Context, m *push.Message, targets []push.Target) []push.Result {
	calls, results := c.plan(m, targets)
	if m.DryRun {
		for _, cl := range calls {
			vendorutil.FillAt(results, cl.Targets, vendorutil.DryRunResult)
		}
		return results
	}
	vendorutil.Parallel(len(calls), maxInFlight, func(k int) {
		per := c.exchange(ctx, calls[k])
		for j, slots := range calls[k].slots {
			vendorutil.FillAt(results, slots, per[j])
		}
	})
	return results
}

// exchange sends one call and returns a result per distinct registration
// ID of it.
func (c *Client) exchange(ctx context.Context, cl call) []push.Result {
	all := func(r push.Result) []push.Result {
		out := make([]push.Result, len(cl.regIDs))
		for i := range out {
			out[i] = r
		}
		return out
	}
	for attempt := 0; ; attempt++ {
		tok, err := cl.host.tokens.Token(ctx)
		if err != nil {
			r := authFailure(err)
			c.log.WarnContext(ctx, "oppo auth failed", "appKey", c.appKey, "outcome", r.Outcome, "reason", r.Reason)
			return all(r)
		}
		status, header, body, err := c.post(ctx, cl.URL, tok, cl.Payload)
		if err != nil {
			return all(push.Result{Outcome: push.Retryable, Reason: "oppo: " + err.Error()})
		}
		ans, failed := decode(status, header, body)
		if failed != nil {
			return all(*failed)
		}
		if ans.Code == CodeInvalidAuthToken && attempt == 0 {
			// Expired or revoked: drop it, get a new one, resend once.
			cl.host.tokens.Invalidate(tok)
			continue
		}
		if ans.Code != CodeOK {
			r := Result(int(ans.Code), ans.Message)
			c.log.WarnContext(ctx, "oppo push refused", "code", int(ans.Code), "outcome", r.Outcome,
				"targets", len(cl.regIDs), "first", device.Mask(cl.regIDs[0]))
			return all(r)
		}
		if !cl.batch {
			var d struct {
				MessageID string `json:"messageId"`
			}
			_ = json.Unmarshal(ans.Data, &d) // a missing message ID does not undo the send
			return all(push.Result{Outcome: push.Sent, MessageID: d.MessageID})
		}
		var items []Item
		if err := json.Unmarshal(ans.Data, &items); err != nil {
			// Accepted, but the per-item results are unreadable: resending
			// is safe, app_message_id keeps a device from showing it twice.
			return all(push.Result{Outcome: push.Retryable, Reason: "oppo: unreadable unicast_batch results: " + err.Error()})
		}
		return MatchItems(cl.regIDs, items)
	}
}

// Item is one entry of a unicast_batch answer's data array.
type Item struct {
	MessageID      string  `json:"messageId"`
	RegistrationID string  `json:"registrationId"`
	ErrorCode      flexInt `json:"errorCode"`
	ErrorMessage   string  `json:"errorMessage"`
}

// MatchItems maps a unicast_batch answer onto the registration IDs sent,
// in their order: by registrationId (a repeated ID takes the items for it
// in turn), else by position for items without one. A registration ID the
// answer leaves out is Retryable: app_message_id makes a resend safe.
func MatchItems(regIDs []string, items []Item) []push.Result {
	out := make([]push.Result, len(regIDs))
	done := make([]bool, len(regIDs))
	pending := make(map[string][]int, len(regIDs))
	for i, id := range regIDs {
		pending[id] = append(pending[id], i)
	}
	for k, it := range items {
		i := -1
		if q := pending[it.RegistrationID]; it.RegistrationID != "" && len(q) > 0 {
			i, pending[it.RegistrationID] = q[0], q[1:]
		} else if it.RegistrationID == "" && k < len(regIDs) && !done[k] {
			i = k
		}
		if i < 0 || done[i] {
			continue
		}
		done[i] = true
		if it.ErrorCode != CodeOK {
			out[i] = Result(int(it.ErrorCode), it.ErrorMessage)
			continue
		}
		out[i] = push.Result{Outcome: push.Sent, MessageID: it.MessageID}
	}
	for i := range out {
		if !done[i] {
			out[i] = push.Result{Outcome: push.Retryable, Reason: "oppo: the unicast_batch answer has no result for this registration ID"}
		}
	}
	return out
}

// Result maps an OPPO code onto a push outcome (vendor-apis.md §6):
// 10000 kills the token; flow control, unavailability and rate limits are
// retryable; 33 is the daily limit; credential codes are Auth and never
// touch tokens; configuration codes and the rest are Rejected with OPPO's
// reason and what to fix.
func Result(code int, message string) push.Result {
	reason := fmt.Sprintf("oppo %d", code)
	if message != "" {
		reason += ": " + message
	}
	hint := func(o push.Outcome, h string) push.Result {
		return push.Result{Outcome: o, Reason: reason + " (" + h + ")"}
	}
	switch code {
	case CodeOK:
		return push.Result{Outcome: push.Sent}
	case CodeInvalidRegID:
		return push.Result{Outcome: push.InvalidToken, Reason: reason}
	case CodeUnavailable, CodeFlowControl, CodeCallLimit, CodeFrequencyLimit:
		return hint(push.Retryable, "OPPO asks to back off")
	case CodeDailyLimit, CodePictureLimit:
		return hint(push.Quota, "daily limit reached: stop sending for this app until tomorrow")
	case CodeInvalidAuthToken:
		return hint(push.Auth, "auth token refused again after a fresh one")
	case CodeInvalidAppKey, CodeMissingAppKey, CodeInvalidSign, CodeMissingSign:
		return hint(push.Auth, "check the certificate's app key and master secret")
	case CodeMissingTimestamp, CodeInvalidTimestamp:
		return hint(push.Auth, "auth timestamp refused: check the server clock, OPPO allows 10 minutes")
	case CodeIPBlacklisted:
		return hint(push.Rejected, "this server's IP address is blacklisted in the OPPO console")
	case CodeAccessDenied:
		return hint(push.Rejected, "access denied: check the app's push service in the OPPO console")
	case CodeAppDisabled:
		return hint(push.Rejected, "the app is disabled in the OPPO console")
	case CodeNoPushPermission:
		return hint(push.Rejected, "the app has no server push permission: enable it in the OPPO console")
	case CodeNoActionPerm:
		return hint(push.Rejected, "the app has no permission for this click action")
	case CodeInvalidCategory:
		return hint(push.Rejected, "category or notify_level not allowed: check androidInfo.oppoCategory and oppoNotifyLevel")
	}
	return push.Result{Outcome: push.Rejected, Reason: reason}
}

// answer is OPPO's answer envelope.
type answer struct {
	Code    flexInt         `json:"code"`
	Message string          `json:"message"`
	Data    json.RawMessage `json:"data"`
}

// decode reads an answer, or returns the result of an HTTP-level failure:
// 429 and 5xx are Retryable (with Retry-After), other statuses without a
// readable code Rejected.
func decode(status int, header http.Header, body []byte) (answer, *push.Result) {
	var a answer
	err := json.Unmarshal(body, &a)
	switch {
	case status == http.StatusTooManyRequests || status >= 500:
		return a, &push.Result{Outcome: push.Retryable, Reason: fmt.Sprintf("oppo: HTTP %d", status), RetryAfter: vendorutil.RetryAfterHeader(header, time.Now())}
	case err != nil && status/100 == 2:
		// A 200 that is not OPPO's JSON comes from something in between.
		return a, &push.Result{Outcome: push.Retryable, Reason: fmt.Sprintf("oppo: unreadable answer (HTTP %d)", status)}
	case err != nil || status/100 != 2 && a.Code == CodeOK:
		return a, &push.Result{Outcome: push.Rejected, Reason: fmt.Sprintf("oppo: HTTP %d", status)}
	}
	return a, nil
}

// authError is the auth endpoint's refusal, carrying its push result.
type authError struct{ r push.Result }

func (e *authError) Error() string { return e.r.Reason }

// authFailure is the result of targets whose auth token could not be had.
func authFailure(err error) push.Result {
	var ae *authError
	if errors.As(err, &ae) {
		return ae.r
	}
	return push.Result{Outcome: push.Retryable, Reason: "oppo auth: " + err.Error()}
}

// fetch gets an auth token from base: sign = sha256 hex of app key,
// millisecond timestamp and master secret.
func (c *Client) fetch(base string) accesstoken.Fetch {
	return func(ctx context.Context) (string, time.Duration, error) {
		ts := strconv.FormatInt(c.now().UnixMilli(), 10)
		form := url.Values{"app_key": {c.appKey}, "timestamp": {ts}, "sign": {Sign(c.appKey, ts, c.secret)}}
		status, header, body, err := c.post(ctx, base+AuthPath, "", []byte(form.Encode()))
		if err != nil {
			return "", 0, &authError{push.Result{Outcome: push.Retryable, Reason: "oppo auth: " + err.Error()}}
		}
		ans, failed := decode(status, header, body)
		if failed != nil {
			failed.Reason = strings.Replace(failed.Reason, "oppo:", "oppo auth:", 1)
			return "", 0, &authError{*failed}
		}
		if ans.Code != CodeOK {
			r := Result(int(ans.Code), ans.Message)
			if r.Outcome == push.Sent || r.Outcome == push.InvalidToken {
				r.Outcome = push.Auth
			}
			r.Reason = "auth: " + r.Reason
			return "", 0, &authError{r}
		}
		var d struct {
			AuthToken string `json:"auth_token"`
		}
		if err := json.Unmarshal(ans.Data, &d); err != nil || d.AuthToken == "" {
			return "", 0, &authError{push.Result{Outcome: push.Retryable, Reason: "oppo auth: answer without auth_token"}}
		}
		return d.AuthToken, TokenLifetime, nil
	}
}

// Sign is OPPO's auth signature: lowercase hex SHA-256 of app key,
// timestamp and master secret.
func Sign(appKey, timestamp, masterSecret string) string {
	sum := sha256.Sum256([]byte(appKey + timestamp + masterSecret))
	return hex.EncodeToString(sum[:])
}

// post sends a form body, with "auth_token=<token>&" first when token is
// set, and returns the answer.
func (c *Client) post(ctx context.Context, u, token string, payload []byte) (int, http.Header, []byte, error) {
	body := payload
	if token != "" {
		body = make([]byte, 0, len(payload)+len(token)+12)
		body = append(body, "auth_token="+url.QueryEscape(token)+"&"...)
		body = append(body, payload...)
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, u, bytes.NewReader(body))
	if err != nil {
		return 0, nil, nil, fmt.Errorf("build request: %w", err)
	}
	req.Header.Set("Content-Type", formContentType)
	resp, err := c.http.Do(req)
	if err != nil {
		return 0, nil, nil, err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(io.LimitReader(resp.Body, maxAnswer))
	if err != nil {
		return 0, nil, nil, fmt.Errorf("read answer: %w", err)
	}
	return resp.StatusCode, resp.Header, b, nil
}

// flexInt decodes a JSON number or a numeric string: OPPO's code is a
// number, but a string would otherwise lose the whole answer.
type flexInt int

func (f *flexInt) UnmarshalJSON(b []byte) error {
	s := strings.Trim(string(b), `"`)
	if s == "" || s == "null" {
		*f = 0
		return nil
	}
	n, err := strconv.Atoi(s)
	if err != nil {
		return fmt.Errorf("code %s: %w", b, err)
	}
	*f = flexInt(n)
	return nil
}
