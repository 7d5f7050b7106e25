package vivo

import (
	"bytes"
	"context"
	"crypto/md5"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"

	"golang.org/x/time/rate"

	"github.com/offpush/offpush/shared/cert"
	"github.com/offpush/offpush/shared/device"
	"github.com/offpush/offpush/shared/push"
	"github.com/offpush/offpush/shared/vendors/accesstoken"
	"github.com/offpush/offpush/shared/vendors/internal/vendorutil"
)

// Host and paths of vivo's server API.
const (
	DefaultBaseURL      = "https://api-push.vivo.com.cn"
	AuthPath            = "/message/auth"
	SendPath            = "/message/send"
	SaveListPayloadPath = "/message/saveListPayload"
	PushToListPath      = "/message/pushToList"
)

// TaskIDPlaceholder stands for the taskId in the pushToList bodies
// Requests returns: the real one is what saveListPayload answers, which
// only Send learns.
const TaskIDPlaceholder = "{taskId}"

// Token lifetimes. vivo's authToken is valid a day, but vivo asks callers
// to cache it centrally and renew it every one to two hours; offpush
// treats it as valid for TokenRenewal.
const (
	TokenLifetime = 24 * time.Hour
	TokenRenewal  = 2 * time.Hour
)

// AuthRate and AuthBurst are vivo's auth limit: 10 calls a second per app,
// shared by every client of the app in the process (push.Env.Shared).
const (
	AuthRate  = rate.Limit(10)
	AuthBurst = 1
)

// vivo result codes. Only 0, 10070, 10094, 10096, 10097, 10252 and 10254
// are confirmed by vivo's doc; the auth failure and rate codes come from
// third-party mappings [?].
const (
	CodeOK = 0
	// CodeAuthFailed is the authToken refusal (missing, expired, invalid)
	// [?]: third-party clients read 10000 as auth failure. Send
	// re-authenticates and resends once on it.
	CodeAuthFailed = 10000
	// CodeTooFast is "sending too fast" [?] (one third-party mapping).
	CodeTooFast = 10072
	// CodeDailyTotal is the daily send total: vivo asks for no send,
	// saveListPayload or pushToList call for the rest of the day, or it
	// lowers the app's quota tier.
	CodeDailyTotal = 10070
	// CodeDailyListBodies is the daily saveListPayload total.
	CodeDailyListBodies = 10252
	// CodeDailyAll is the daily /message/all total.
	CodeDailyAll         = 10254
	CodeAppIDMismatch    = 10094
	CodeInvalidCategory  = 10096
	CodeCategoryMismatch = 10097
)

// invalidUser statuses: 1 (no such regId) and 2 (uninstalled, notifications
// off, data cleared) kill the token; 4 (not a test device) does not.
const (
	StatusUnknownUser = 1
	StatusUninstalled = 2
	StatusNotTestUser = 4
)

const (
	jsonContentType = "application/json"
	maxInFlight     = 8
	maxAnswer       = 4 << 20
)

// china is vivo's time zone: its daily quotas end at midnight there.
var china = time.FixedZone("CST", 8*3600)

// Client sends vivo pushes for one certificate. It is safe for concurrent
// use; build one per certificate and keep it for the container's life.
type Client struct {
	cert     cert.Certificate
	appID    int64
	appKey   string
	secret   string
	base     string
	http     *http.Client
	now      func() time.Time
	log      *slog.Logger
	tokens   *accesstoken.Source
	limiter  *rate.Limiter
	quotaMu  sync.Mutex
	stopAll  time.Time // after 10070: no send, saveListPayload or pushToList until then
	stopList time.Time // after 10252: no saveListPayload until then
}

// Interface guard.
var _ push.Client = (*Client)(nil)

// New returns the vivo client of certificate c. It fails, wrapping
// push.ErrNoCredential, when c has no vivo appId, appKey and appSecret.
func New(c cert.Certificate, env *push.Env) (*Client, error) {
	if c.Vivo == nil || c.Vivo.AppID == "" || c.Vivo.AppKey == "" || c.Vivo.AppSecret == "" {
		return nil, fmt.Errorf("vivo client for certificate %d: %w", c.ID, push.ErrNoCredential)
	}
	if env == nil {
		return nil, fmt.Errorf("vivo client for certificate %d: no push environment", c.ID)
	}
	appID, err := strconv.ParseInt(c.Vivo.AppID, 10, 64)
	if err != nil || appID <= 0 {
		return nil, fmt.Errorf("vivo client for certificate %d: appId %q is not the numeric App ID", c.ID, c.Vivo.AppID)
	}
	cl := &Client{
		cert: c, appID: appID, appKey: c.Vivo.AppKey, secret: c.Vivo.AppSecret,
		base: env.BaseURL(push.URLVivo, DefaultBaseURL),
		http: env.HTTP(), now: env.Clock(), log: env.Logger(),
	}
	// vivo counts auth calls per app, not per client: every client of the
	// app built from this Env waits on the same limiter.
	key := "vivo#" + c.Vivo.AppID
	lim, ok := env.Shared.Get(key+"#auth-limit", func() any { return rate.NewLimiter(AuthRate, AuthBurst) }).(*rate.Limiter)
	if !ok {
		lim = rate.NewLimiter(AuthRate, AuthBurst)
	}
	cl.limiter = lim
	cl.tokens = accesstoken.New(key, cl.fetch, accesstoken.Options{Store: env.Tokens, Now: cl.now, Limit: lim})
	return cl, nil
}

// kind is the vivo endpoint of a call.
type kind int

const (
	single kind = iota
	saveList
	pushList
)

// call is one request of a push: what Requests reports, plus what Send
// needs to send it and read its answer.
type call struct {
	push.Request
	kind kind
	// regIDs are the distinct regIds of the call, in order; slots[i] the
	// input indexes that carry regIDs[i] (duplicates share one result).
	regIDs    []string
	slots     [][]int
	requestID string
}

// Requests returns the requests Send would make: /message/send for a
// single regId; for more, one saveListPayload (which carries no target)
// and a pushToList per 1000 regIds, whose taskId is TaskIDPlaceholder.
func (c *Client) Requests(m *push.Message, targets []push.Target) ([]push.Request, []push.Result) {
	calls, results := c.plan(m, targets)
	reqs := make([]push.Request, len(calls))
	for i, cl := range calls {
		reqs[i] = cl.Request
	}
	return reqs, results
}

func (c *Client) plan(m *push.Message, targets []push.Target) ([]call, []push.Result) {
	results := make([]push.Result, len(targets))
	refuse := func(idx []int, err error) {
		vendorutil.FillAt(results, idx, vendorutil.Invalid("vivo", err))
	}
	v, err := Build(m, c.cert, c.appID)
	if err != nil {
		vendorutil.FillAll(results, vendorutil.Invalid("vivo", err))
		return nil, results
	}
	var d vendorutil.Distinct
	for i, t := range targets {
		if t.Token == "" {
			results[i] = push.Result{Outcome: push.InvalidArgument, Reason: "vivo: empty regId"}
			continue
		}
		d.Add(i, t.Token)
	}
	regIDs, slots := d.Tokens, d.Slots
	header := map[string]string{"Content-Type": jsonContentType}
	switch len(regIDs) {
	case 0:
		return nil, results
	case 1:
		cl := call{kind: single, regIDs: regIDs, slots: slots, requestID: RequestID(m, SendPath, regIDs[0])}
		body, err := SendJSON(v, regIDs[0], cl.requestID)
		if err != nil {
			refuse(slots[0], err)
			return nil, results
		}
		cl.Request = push.Request{Targets: slots[0], Target: regIDs[0], URL: c.base + SendPath, Header: header, Payload: body}
		return []call{cl}, results
	}
	all := vendorutil.Flatten(slots)
	save := call{kind: saveList, requestID: RequestID(m, SaveListPayloadPath, strings.Join(regIDs, ","))}
	body, err := SaveListPayloadJSON(v, save.requestID)
	if err != nil {
		refuse(all, err)
		return nil, results
	}
	save.Request = push.Request{URL: c.base + SaveListPayloadPath, Header: header, Payload: body}
	calls := []call{save}
	for _, ch := range chunks(len(regIDs), MaxBatch) {
		cl := call{kind: pushList, regIDs: regIDs[ch[0]:ch[1]], slots: slots[ch[0]:ch[1]]}
		cl.requestID = RequestID(m, PushToListPath, strings.Join(cl.regIDs, ","))
		body, err := PushToListJSON(c.appID, cl.regIDs, TaskIDPlaceholder, cl.requestID)
		if err != nil {
			refuse(vendorutil.Flatten(cl.slots), err)
			continue
		}
		cl.Request = push.Request{Targets: vendorutil.Flatten(cl.slots), Target: strings.Join(cl.regIDs, ","), URL: c.base + PushToListPath, Header: header, Payload: body}
		calls = append(calls, cl)
	}
	return calls, results
}

// chunks splits n items into the fewest runs of at most size items, of
// nearly equal length, so that no run falls under pushToList's minimum of
// two: [start, end) pairs.
func chunks(n, size int) [][2]int { return vendorutil.Chunks(n, size) }

// Send delivers m to targets and returns one result per target, in input
// order. It re-authenticates and resends once when vivo refuses the
// authToken and otherwise never retries. After a daily-total answer
// (10070) it calls no send endpoint again until midnight China time, as
// vivo asks. A dry run builds and checks every request and sends nothing:
// vivo has no validate-only mode.
func (c *Client) Send(ctx context.Context, m *push.Message, targets []push.Target) []push.Result {
	calls, results := c.plan(m, targets)
	set := func(cl call, per []push.Result) {
		for j, slots := range cl.slots {
			for _, i := range slots {
				results[i] = per[j]
			}
		}
	}
	if m.DryRun {
		for _, cl := range calls {
			vendorutil.FillAt(results, cl.Targets, vendorutil.DryRunResult)
		}
		return results
	}
	if len(calls) == 0 {
		return results
	}
	if calls[0].kind == single {
		set(calls[0], c.exchange(ctx, calls[0], ""))
		return results
	}
	// One saveListPayload for the whole push; its taskId serves every
	// pushToList.
	lists := calls[1:]
	taskID, failed := c.saveListPayload(ctx, calls[0])
	if failed != nil {
		for _, cl := range lists {
			set(cl, vendorutil.Fill(len(cl.regIDs), *failed))
		}
		return results
	}
	vendorutil.Parallel(len(lists), maxInFlight, func(i int) { set(lists[i], c.exchange(ctx, lists[i], taskID)) })
	return results
}

// saveListPayload stores the batch message and returns its taskId, or the
// result every batch target gets.
func (c *Client) saveListPayload(ctx context.Context, cl call) (string, *push.Result) {
	if r := c.stopped(true); r != nil {
		return "", r
	}
	ans, failed := c.do(ctx, cl.URL, cl.Payload)
	if failed != nil {
		return "", failed
	}
	if ans.Result != CodeOK {
		r := c.result(int(ans.Result), ans.Desc)
		c.log.WarnContext(ctx, "vivo saveListPayload refused", "appId", c.appID, "code", int(ans.Result), "outcome", r.Outcome)
		return "", &r
	}
	if ans.TaskID == "" {
		return "", &push.Result{Outcome: push.Retryable, Reason: "vivo: saveListPayload answered no taskId"}
	}
	return ans.TaskID, nil
}

// exchange sends a /message/send call, or a pushToList call with taskID,
// and returns a result per distinct regId of it.
func (c *Client) exchange(ctx context.Context, cl call, taskID string) []push.Result {
	if r := c.stopped(false); r != nil {
		return vendorutil.Fill(len(cl.regIDs), *r)
	}
	body := cl.Payload
	if cl.kind == pushList {
		var err error
		if body, err = PushToListJSON(c.appID, cl.regIDs, taskID, cl.requestID); err != nil {
			return vendorutil.Fill(len(cl.regIDs), push.Result{Outcome: push.InvalidArgument, Reason: "vivo: " + err.Error()})
		}
	}
	ans, failed := c.do(ctx, cl.URL, body)
	if failed != nil {
		return vendorutil.Fill(len(cl.regIDs), *failed)
	}
	base := c.result(int(ans.Result), ans.Desc)
	if base.Outcome == push.Sent {
		base.MessageID = ans.TaskID
		if base.MessageID == "" {
			base.MessageID = taskID
		}
	} else {
		c.log.WarnContext(ctx, "vivo push refused", "appId", c.appID, "code", int(ans.Result), "outcome", base.Outcome,
			"targets", len(cl.regIDs), "first", device.Mask(cl.regIDs[0]))
	}
	return Results(cl.regIDs, base, ans.invalidUsers())
}

// Results gives each regId the call's result, except the regIds vivo
// lists as invalid users with status 1 or 2, whose tokens are dead.
// Status 4 (not a test device) changes nothing.
func Results(regIDs []string, base push.Result, invalid []InvalidUser) []push.Result {
	out := vendorutil.Fill(len(regIDs), base)
	dead := map[string]int{}
	for _, u := range invalid {
		if u.Status == StatusUnknownUser || u.Status == StatusUninstalled {
			dead[string(u.UserID)] = int(u.Status)
		}
	}
	for i, id := range regIDs {
		status, ok := dead[id]
		if !ok && len(regIDs) == 1 && len(dead) == 1 {
			// /message/send names one user; an unreadable userid is still it.
			for _, s := range dead {
				status, ok = s, true
			}
		}
		if ok {
			out[i] = push.Result{Outcome: push.InvalidToken, Reason: fmt.Sprintf("vivo invalidUser status %d", status)}
		}
	}
	return out
}

// do sends a JSON body with the authToken, re-authenticating and resending
// once when vivo refuses the token. It returns vivo's answer, or the result
// of a failure before vivo could answer the push (auth, HTTP, transport).
func (c *Client) do(ctx context.Context, u string, body []byte) (answer, *push.Result) {
	for attempt := 0; ; attempt++ {
		tok, err := c.tokens.Token(ctx)
		if err != nil {
			r := authFailure(err)
			c.log.WarnContext(ctx, "vivo auth failed", "appId", c.appID, "outcome", r.Outcome, "reason", r.Reason)
			return answer{}, &r
		}
		status, header, b, err := c.post(ctx, u, tok, body)
		if err != nil {
			return answer{}, &push.Result{Outcome: push.Retryable, Reason: "vivo: " + err.Error()}
		}
		ans, failed := decode(status, header, b)
		if failed != nil {
			return ans, failed
		}
		if ans.Result == CodeAuthFailed && attempt == 0 {
			c.tokens.Invalidate(tok)
			continue
		}
		return ans, nil
	}
}

// result maps a code, and remembers a daily-total answer so no further
// call is made today.
func (c *Client) result(code int, desc string) push.Result {
	switch code {
	case CodeDailyTotal:
		c.stopUntilMidnight(&c.stopAll)
	case CodeDailyListBodies:
		c.stopUntilMidnight(&c.stopList)
	}
	return Result(code, desc)
}

func (c *Client) stopUntilMidnight(until *time.Time) {
	now := c.now().In(china)
	midnight := time.Date(now.Year(), now.Month(), now.Day()+1, 0, 0, 0, 0, china)
	c.quotaMu.Lock()
	*until = midnight
	c.quotaMu.Unlock()
}

// stopped returns the Quota result when vivo's daily total (or, for a
// saveListPayload, its batch total) was reached earlier today.
func (c *Client) stopped(list bool) *push.Result {
	now := c.now()
	c.quotaMu.Lock()
	defer c.quotaMu.Unlock()
	if now.Before(c.stopAll) {
		return &push.Result{Outcome: push.Quota, Reason: fmt.Sprintf("vivo %d earlier today: no vivo push until 00:00 China time, as vivo asks", CodeDailyTotal)}
	}
	if list && now.Before(c.stopList) {
		return &push.Result{Outcome: push.Quota, Reason: fmt.Sprintf("vivo %d earlier today: no batch push until 00:00 China time, as vivo asks", CodeDailyListBodies)}
	}
	return nil
}

// Result maps a vivo result code onto a push outcome (vendor-apis.md §7).
// Dead tokens come only from invalidUser(s), never from a code.
func Result(code int, desc string) push.Result {
	reason := fmt.Sprintf("vivo %d", code)
	if desc != "" {
		reason += ": " + desc
	}
	hint := func(o push.Outcome, h string) push.Result {
		return push.Result{Outcome: o, Reason: reason + " (" + h + ")"}
	}
	switch code {
	case CodeOK:
		return push.Result{Outcome: push.Sent}
	case CodeDailyTotal:
		return hint(push.Quota, "daily send total reached: do not call send, saveListPayload or pushToList again today, or vivo lowers the app's quota tier")
	case CodeDailyListBodies:
		return hint(push.Quota, "daily batch message total reached: do not call saveListPayload again today")
	case CodeDailyAll:
		return hint(push.Quota, "daily full-audience total reached")
	case CodeAppIDMismatch:
		return hint(push.Auth, "the body's appId is not the authToken's: check the certificate's appId")
	case CodeAuthFailed:
		return hint(push.Auth, "authToken refused again after a fresh one")
	case CodeTooFast:
		return hint(push.Retryable, "sending too fast")
	case CodeInvalidCategory:
		return hint(push.Rejected, "invalid category: check androidInfo.vivoCategory")
	case CodeCategoryMismatch:
		return hint(push.Rejected, "category does not match classification: check androidInfo.vivoCategory and vivoClassification")
	}
	return push.Result{Outcome: push.Rejected, Reason: reason}
}

// InvalidUser is an entry of invalidUser / invalidUsers.
type InvalidUser struct {
	Status flexInt `json:"status"`
	// UserID is the regId; some clients type it as a number, so either is read.
	UserID flexString `json:"userid"`
}

// answer is vivo's answer to every call.
type answer struct {
	Result       flexInt         `json:"result"`
	Desc         string          `json:"desc"`
	AuthToken    string          `json:"authToken"`
	TaskID       string          `json:"taskId"`
	RequestID    string          `json:"requestId"`
	InvalidUser  json.RawMessage `json:"invalidUser"`
	InvalidUsers json.RawMessage `json:"invalidUsers"`
}

// invalidUsers reads invalidUser (send) and invalidUsers (pushToList),
// each an object or an array of them.
func (a answer) invalidUsers() []InvalidUser {
	var out []InvalidUser
	for _, raw := range []json.RawMessage{a.InvalidUser, a.InvalidUsers} {
		raw = bytes.TrimSpace(raw)
		if len(raw) == 0 || string(raw) == "null" {
			continue
		}
		var list []InvalidUser
		if err := json.Unmarshal(raw, &list); err == nil {
			out = append(out, list...)
			continue
		}
		var one InvalidUser
		if err := json.Unmarshal(raw, &one); err == nil {
			out = append(out, one)
		}
	}
	return out
}

// decode reads an answer, or returns the result of an HTTP-level failure:
// 429 and 5xx are Retryable (with Retry-After), other statuses without a
// readable result Rejected.
func decode(status int, header http.Header, body []byte) (answer, *push.Result) {
	var a answer
	err := json.Unmarshal(body, &a)
	switch {
	case status == http.StatusTooManyRequests || status >= 500:
		return a, &push.Result{Outcome: push.Retryable, Reason: fmt.Sprintf("vivo: HTTP %d", status), RetryAfter: vendorutil.RetryAfterHeader(header, time.Now())}
	case err != nil && status/100 == 2:
		return a, &push.Result{Outcome: push.Retryable, Reason: fmt.Sprintf("vivo: unreadable answer (HTTP %d)", status)}
	case err != nil || status/100 != 2 && a.Result == CodeOK:
		return a, &push.Result{Outcome: push.Rejected, Reason: fmt.Sprintf("vivo: HTTP %d", status)}
	}
	return a, nil
}

type authError struct{ r push.Result }

func (e *authError) Error() string { return e.r.Reason }

func authFailure(err error) push.Result {
	var ae *authError
	if errors.As(err, &ae) {
		return ae.r
	}
	return push.Result{Outcome: push.Retryable, Reason: "vivo auth: " + err.Error()}
}

// authRequest is the /message/auth body. appId and timestamp are numbers,
// as vivo's doc types them (int, long).
type authRequest struct {
	AppID     int64  `json:"appId"`
	AppKey    string `json:"appKey"`
	Timestamp int64  `json:"timestamp"`
	Sign      string `json:"sign"`
}

// fetch gets an authToken; the Source calls it through the app's limiter.
func (c *Client) fetch(ctx context.Context) (string, time.Duration, error) {
	ts := c.now().UnixMilli()
	body, err := json.Marshal(authRequest{AppID: c.appID, AppKey: c.appKey, Timestamp: ts,
		Sign: Sign(strconv.FormatInt(c.appID, 10), c.appKey, strconv.FormatInt(ts, 10), c.secret)})
	if err != nil {
		return "", 0, fmt.Errorf("encode vivo auth: %w", err)
	}
	status, header, b, err := c.post(ctx, c.base+AuthPath, "", body)
	if err != nil {
		return "", 0, &authError{push.Result{Outcome: push.Retryable, Reason: "vivo auth: " + err.Error()}}
	}
	ans, failed := decode(status, header, b)
	if failed != nil {
		failed.Reason = strings.Replace(failed.Reason, "vivo:", "vivo auth:", 1)
		return "", 0, &authError{*failed}
	}
	if ans.Result != CodeOK {
		r := Result(int(ans.Result), ans.Desc)
		if r.Outcome != push.Retryable {
			r.Outcome = push.Auth
		}
		r.Reason = "auth: " + r.Reason
		return "", 0, &authError{r}
	}
	if ans.AuthToken == "" {
		return "", 0, &authError{push.Result{Outcome: push.Retryable, Reason: "vivo auth: answer without authToken"}}
	}
	return ans.AuthToken, TokenRenewal, nil
}

// Sign is vivo's auth signature: lowercase hex MD5 of appId, appKey,
// timestamp and appSecret.
func Sign(appID, appKey, timestamp, appSecret string) string {
	sum := md5.Sum([]byte(appID + appKey + timestamp + appSecret))
	return hex.EncodeToString(sum[:])
}

// post sends a JSON body, with the authToken header when token is set.
func (c *Client) post(ctx context.Context, u, token string, body []byte) (int, http.Header, []byte, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, u, bytes.NewReader(body))
	if err != nil {
		return 0, nil, nil, fmt.Errorf("build request: %w", err)
	}
	req.Header.Set("Content-Type", jsonContentType)
	if token != "" {
		req.Header.Set("authToken", token)
	}
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

// flexInt decodes a JSON number or a numeric string.
type flexInt int

func (f *flexInt) UnmarshalJSON(b []byte) error {
	s := strings.Trim(string(b), `"`)
	if s == "" || s == "null" {
		*f = 0
		return nil
	}
	n, err := strconv.Atoi(s)
	if err != nil {
		return fmt.Errorf("number %s: %w", b, err)
	}
	*f = flexInt(n)
	return nil
}

// flexString decodes a JSON string or number as text.
type flexString string

func (f *flexString) UnmarshalJSON(b []byte) error {
	var s string
	if err := json.Unmarshal(b, &s); err == nil {
		*f = flexString(s)
		return nil
	}
	var n json.Number
	if err := json.Unmarshal(b, &n); err != nil {
		return fmt.Errorf("userid %s: %w", b, err)
	}
	*f = flexString(n.String())
	return nil
}
