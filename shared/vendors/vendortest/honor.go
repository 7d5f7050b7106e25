package vendortest

import (
	"bytes"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"mime"
	"net/http"
	"net/url"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

// HonorMock is a strict mock of Honor Push: the OAuth token endpoint (POST
// …/auth/token) and the send API (POST …/api/v1/{appId}/sendMessage), on one
// HTTPS server; paths may carry any prefix.
//
// It checks what vendor-apis.md §9 says: client credentials (Client ID and
// Secret) on the token endpoint; a bearer token it issued, not expired; the
// app ID in the path; the timestamp header (milliseconds, within five
// minutes of the mock's clock [?]); JSON content type; Honor's camelCase
// field names and types (unknown or Huawei-style keys such as add_num or
// click_action are refused); 1 to 1000 tokens [?]; at most 4096 bytes
// without the tokens [?]; a clickAction on every notification; importance,
// ttl and badge ranges.
//
// Answers: an expired token gets HTTP 401; Script's invalid- tokens are
// listed in data.expireTokens, busy<N>- tokens in data.failTokens (Honor's
// per-token failure, which clients retry [?]); any quota- token makes the
// whole request an HTTP 429 with Retry-After: 60 (Honor documents no quota
// code; 429 is the generic rate answer). Success is {"code":200,…}, or
// {"code":"80000000",…} with SetStringCode.
type HonorMock struct {
	// Log records accepted requests and broken rules.
	Log Log
	// Script decides each token's answer.
	Script Script
	// CAFile trusts the mock's certificate (OFFPUSH_VENDOR_CA_FILE).
	CAFile string

	appID, clientID, secret string
	opts                    Options
	url                     string

	mu         sync.Mutex
	tokenLife  time.Duration
	tokens     map[string]time.Time
	authCalls  int
	stringCode bool
	seq        int
}

// NewHonor starts a Honor mock for one app, closed when the test ends.
func NewHonor(tb testing.TB, opts Options, appID, clientID, clientSecret string) *HonorMock {
	tb.Helper()
	m := &HonorMock{appID: appID, clientID: clientID, secret: clientSecret, opts: opts,
		tokenLife: time.Hour, tokens: map[string]time.Time{}}
	srv := NewTLSServer(tb, m)
	m.url = srv.URL
	m.CAFile = CAFile(tb, srv)
	return m
}

// URL is the mock's base URL, for OFFPUSH_HONOR_URL and
// OFFPUSH_HONOR_AUTH_URL.
func (m *HonorMock) URL() string { return m.url }

// AuthCalls is how many tokens the OAuth endpoint has issued.
func (m *HonorMock) AuthCalls() int {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.authCalls
}

// ExpireTokens expires every access token issued so far; the next send
// with one gets HTTP 401.
func (m *HonorMock) ExpireTokens() {
	m.mu.Lock()
	defer m.mu.Unlock()
	for k := range m.tokens {
		m.tokens[k] = time.Now().Add(-time.Second)
	}
}

// SetTokenLifetime sets expires_in for tokens issued from now on.
func (m *HonorMock) SetTokenLifetime(d time.Duration) {
	m.mu.Lock()
	m.tokenLife = d
	m.mu.Unlock()
}

// SetStringCode makes success answers carry code "80000000" (a string)
// instead of 200.
func (m *HonorMock) SetStringCode(on bool) {
	m.mu.Lock()
	m.stringCode = on
	m.mu.Unlock()
}

var honorSendPath = regexp.MustCompile(`/api/v1/([^/]+)/sendMessage$`)

// ServeHTTP routes to the token and send endpoints.
func (m *HonorMock) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	m.opts.Delay(r)
	switch {
	case strings.HasSuffix(r.URL.Path, "/auth/token"):
		m.serveToken(w, r)
	case honorSendPath.MatchString(r.URL.Path):
		m.serveSend(w, r)
	default:
		m.Log.Fail("honor: unknown path %s %s", r.Method, r.URL.Path)
		http.NotFound(w, r)
	}
}

// serveToken is the OAuth client-credentials grant. Refused credentials get
// HTTP 401 {"error":"invalid_client",…} (the status is not documented [?]);
// they are a test scenario, not a client bug.
func (m *HonorMock) serveToken(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodPost {
		m.Log.Fail("honor oauth: method %s, want POST", r.Method)
		w.WriteHeader(http.StatusMethodNotAllowed)
		return
	}
	if mt, _, _ := mime.ParseMediaType(r.Header.Get("Content-Type")); mt != "application/x-www-form-urlencoded" {
		m.Log.Fail("honor oauth: content type %q, want application/x-www-form-urlencoded", r.Header.Get("Content-Type"))
		honorWriteJSON(w, http.StatusBadRequest, map[string]string{"error": "invalid_request"})
		return
	}
	body, _ := io.ReadAll(io.LimitReader(r.Body, 1<<20))
	form, err := url.ParseQuery(string(body))
	if err != nil {
		m.Log.Fail("honor oauth: body is not a form: %v", err)
		honorWriteJSON(w, http.StatusBadRequest, map[string]string{"error": "invalid_request"})
		return
	}
	for _, k := range []string{"grant_type", "client_id", "client_secret"} {
		if len(form[k]) != 1 || form.Get(k) == "" {
			m.Log.Fail("honor oauth: form field %s missing or repeated", k)
			honorWriteJSON(w, http.StatusBadRequest, map[string]string{"error": "invalid_request"})
			return
		}
	}
	if g := form.Get("grant_type"); g != "client_credentials" {
		m.Log.Fail("honor oauth: grant_type %q, want client_credentials", g)
		honorWriteJSON(w, http.StatusBadRequest, map[string]string{"error": "unsupported_grant_type"})
		return
	}
	if form.Get("client_id") != m.clientID || form.Get("client_secret") != m.secret {
		honorWriteJSON(w, http.StatusUnauthorized, map[string]string{
			"error": "invalid_client", "error_description": "Invalid client or Invalid client credentials"})
		return
	}
	b := make([]byte, 24)
	_, _ = rand.Read(b)
	tok := "hnat-" + hex.EncodeToString(b)
	m.mu.Lock()
	m.tokens[tok] = time.Now().Add(m.tokenLife)
	m.authCalls++
	life := m.tokenLife
	m.mu.Unlock()
	honorWriteJSON(w, http.StatusOK, map[string]any{
		"access_token": tok, "expires_in": int(life / time.Second), "token_type": "Bearer"})
}

// answer writes a send answer {"code","message","data"}.
func (m *HonorMock) answer(w http.ResponseWriter, status int, code any, message string, data map[string]any) {
	m.mu.Lock()
	m.seq++
	id := fmt.Sprintf("hnreq%08d", m.seq)
	m.mu.Unlock()
	if data == nil {
		data = map[string]any{}
	}
	data["requestId"] = id
	honorWriteJSON(w, status, map[string]any{"code": code, "message": message, "data": data})
}

// refuse records a broken rule and answers it. Honor's error codes are not
// documented [?]; Huawei's equivalents are used.
func (m *HonorMock) refuse(w http.ResponseWriter, status int, code, format string, args ...any) {
	msg := fmt.Sprintf(format, args...)
	m.Log.Fail("honor send: %s", msg)
	m.answer(w, status, code, msg, nil)
}

// honorClockSkew is how far the timestamp header may be from the mock's
// clock [?].
const honorClockSkew = 5 * time.Minute

func (m *HonorMock) serveSend(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodPost {
		m.refuse(w, http.StatusMethodNotAllowed, "80100001", "method %s, want POST", r.Method)
		return
	}
	appID, _ := url.PathUnescape(honorSendPath.FindStringSubmatch(r.URL.Path)[1])
	auth := r.Header.Get("Authorization")
	tok, ok := strings.CutPrefix(auth, "Bearer ")
	if !ok || tok == "" {
		m.refuse(w, http.StatusUnauthorized, "80200001", "Authorization %q is not a bearer token", auth)
		return
	}
	m.mu.Lock()
	exp, known := m.tokens[tok]
	m.mu.Unlock()
	switch {
	case !known:
		m.refuse(w, http.StatusUnauthorized, "80200001", "bearer token was never issued")
		return
	case time.Now().After(exp):
		m.answer(w, http.StatusUnauthorized, 401, "access token expired", nil)
		return
	case appID != m.appID:
		// A certificate with another app's ID: a scenario, not a client bug [?].
		m.answer(w, http.StatusForbidden, "80300002", "app has no permission", nil)
		return
	}
	ts := r.Header.Get("timestamp")
	ms, err := strconv.ParseInt(ts, 10, 64)
	if err != nil {
		m.refuse(w, http.StatusBadRequest, "80100001", "timestamp header %q is not milliseconds", ts)
		return
	}
	if d := time.Since(time.UnixMilli(ms)); d > honorClockSkew || d < -honorClockSkew {
		m.refuse(w, http.StatusBadRequest, "80100001", "timestamp header is %v off", d)
		return
	}
	if mt, params, _ := mime.ParseMediaType(r.Header.Get("Content-Type")); mt != "application/json" ||
		(params["charset"] != "" && !strings.EqualFold(params["charset"], "utf-8")) {
		m.refuse(w, http.StatusBadRequest, "80100001", "content type %q, want application/json; charset=UTF-8", r.Header.Get("Content-Type"))
		return
	}
	body, _ := io.ReadAll(io.LimitReader(r.Body, 4<<20))
	var req honorSendRequest
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&req); err != nil {
		m.refuse(w, http.StatusBadRequest, "80100003", "body: %v", err)
		return
	}
	if code, err := m.check(body, &req); err != nil {
		m.refuse(w, http.StatusBadRequest, code, "%v", err)
		return
	}
	m.Log.Add(Received{Path: r.URL.Path, Header: r.Header.Clone(), Body: body, Targets: req.Token})

	expired, failed := []string{}, []string{}
	quota := false
	for _, t := range req.Token {
		switch m.Script.For(t) {
		case Invalid:
			expired = append(expired, t)
		case Busy:
			failed = append(failed, t)
		case Quota:
			quota = true
		}
	}
	if quota {
		w.Header().Set("Retry-After", "60")
		m.answer(w, http.StatusTooManyRequests, 429, "too many requests", nil)
		return
	}
	m.mu.Lock()
	var code any = 200
	if m.stringCode {
		code = "80000000"
	}
	m.mu.Unlock()
	m.answer(w, http.StatusOK, code, "success", map[string]any{
		"sendResult":   len(expired)+len(failed) < len(req.Token),
		"failTokens":   failed,
		"expireTokens": expired,
	})
}

var honorTTL = regexp.MustCompile(`^\d+(\.\d{1,9})?s$`)

// check applies the send API's rules.
func (m *HonorMock) check(body []byte, req *honorSendRequest) (string, error) {
	if len(req.Token) < 1 || len(req.Token) > 1000 {
		return "80300010", fmt.Errorf("%d tokens, want 1 to 1000", len(req.Token))
	}
	for _, t := range req.Token {
		if t == "" {
			return "80100001", fmt.Errorf("empty token")
		}
	}
	var top map[string]json.RawMessage
	if err := json.Unmarshal(body, &top); err != nil {
		return "80100003", err
	}
	if n := len(body) - len(bytes.TrimSpace(top["token"])) + len("[]"); n > 4096 {
		return "80300008", fmt.Errorf("body is %d bytes without tokens, limit 4096", n)
	}
	a := req.Android
	notification := req.Notification != nil || (a != nil && a.Notification != nil)
	if !notification && req.Data == "" {
		return "80100001", fmt.Errorf("neither notification nor data")
	}
	if req.Data != "" && notification && !json.Valid([]byte(req.Data)) {
		return "80100001", fmt.Errorf("data must be a JSON string on a notification message")
	}
	if a == nil {
		return "", nil
	}
	if a.TTL != "" {
		if !honorTTL.MatchString(a.TTL) {
			return "80100001", fmt.Errorf("android.ttl %q is not <seconds>s", a.TTL)
		}
		if secs, _ := strconv.ParseFloat(strings.TrimSuffix(a.TTL, "s"), 64); secs > 1296000 {
			return "80100001", fmt.Errorf("android.ttl %s is over 1296000s", a.TTL)
		}
	}
	n := a.Notification
	if n == nil {
		return "", nil
	}
	title, text := n.Title, n.Body
	if req.Notification != nil {
		title, text = title+req.Notification.Title, text+req.Notification.Body
	}
	if title == "" || text == "" {
		return "80100001", fmt.Errorf("notification title and body are required")
	}
	if n.ClickAction == nil {
		return "80100001", fmt.Errorf("android.notification.clickAction is required")
	}
	switch ca := n.ClickAction; ca.Type {
	case 1:
		if ca.Intent == "" && ca.Action == "" {
			return "80100001", fmt.Errorf("clickAction type 1 needs intent or action")
		}
	case 2:
		if !strings.HasPrefix(ca.URL, "https://") {
			return "80100001", fmt.Errorf("clickAction type 2 needs an https url")
		}
	case 3:
	default:
		return "80100001", fmt.Errorf("clickAction.type %d, want 1 to 3", ca.Type)
	}
	if n.Importance != "" && n.Importance != "LOW" && n.Importance != "NORMAL" {
		return "80100001", fmt.Errorf("importance %q, want LOW or NORMAL", n.Importance)
	}
	if n.Image != "" && !strings.HasPrefix(n.Image, "https://") {
		return "80100001", fmt.Errorf("image must be an https URL")
	}
	if b := n.Badge; b != nil {
		if b.BadgeClass == "" {
			return "80100001", fmt.Errorf("badge.badgeClass is required")
		}
		if b.AddNum != nil && (*b.AddNum < 1 || *b.AddNum > 99) {
			return "80100001", fmt.Errorf("badge.addNum %d out of 1..99", *b.AddNum)
		}
		if b.SetNum != nil && (*b.SetNum < 0 || *b.SetNum > 99) {
			return "80100001", fmt.Errorf("badge.setNum %d out of 0..99", *b.SetNum)
		}
	}
	return "", nil
}

// The send request as Honor documents it (camelCase); decoding with unknown
// fields disallowed refuses any other key.
type honorSendRequest struct {
	Token        []string           `json:"token"`
	Data         string             `json:"data"`
	Notification *honorNotification `json:"notification"`
	Android      *honorAndroid      `json:"android"`
}

type honorNotification struct {
	Title string `json:"title"`
	Body  string `json:"body"`
	Image string `json:"image"`
}

type honorAndroid struct {
	TTL            string                    `json:"ttl"`
	BiTag          string                    `json:"biTag"`
	Data           string                    `json:"data"`
	TargetUserType int                       `json:"targetUserType"`
	Notification   *honorAndroidNotification `json:"notification"`
}

type honorAndroidNotification struct {
	Title       string            `json:"title"`
	Body        string            `json:"body"`
	Image       string            `json:"image"`
	ClickAction *honorClickAction `json:"clickAction"`
	Style       int               `json:"style"`
	BigTitle    string            `json:"bigTitle"`
	BigBody     string            `json:"bigBody"`
	Importance  string            `json:"importance"`
	When        string            `json:"when"`
	Buttons     []honorButton     `json:"buttons"`
	Badge       *honorBadge       `json:"badge"`
	NotifyID    int               `json:"notifyId"`
	Tag         string            `json:"tag"`
	Group       string            `json:"group"`
}

type honorClickAction struct {
	Type   int    `json:"type"`
	Intent string `json:"intent"`
	Action string `json:"action"`
	URL    string `json:"url"`
}

type honorButton struct {
	Name       string `json:"name"`
	ActionType int    `json:"actionType"`
	IntentType int    `json:"intentType"`
	Intent     string `json:"intent"`
	Data       string `json:"data"`
}

type honorBadge struct {
	AddNum     *int   `json:"addNum"`
	BadgeClass string `json:"badgeClass"`
	SetNum     *int   `json:"setNum"`
}

func honorWriteJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json;charset=UTF-8")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}
