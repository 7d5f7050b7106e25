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

// HuaweiMock is a strict mock of Huawei Push Kit: the OAuth token endpoint
// (POST …/oauth2/v3/token) and the v1 send API (POST
// …/v1/{appId}/messages:send), on one HTTPS server. Paths may carry any
// prefix, so URL overrides with a path can be tested.
//
// It checks what vendor-apis.md §4 says: client credentials on the token
// endpoint; a bearer token it issued, not expired, for the app in the path;
// JSON content type; the v1 field names and types (unknown or misspelt keys
// such as badge_class are refused); exactly one of token/topic/condition;
// 1 to 1000 tokens; at most 4096 bytes without the tokens; a click_action
// on every notification; importance, category, urgency, ttl and badge
// ranges.
//
// Scripted answers (Script): any busy<N>- token makes the whole request an
// HTTP 503 with Retry-After: 1; any quota- token an HTTP 503 without it (the
// documented flow-control answer: Huawei documents no daily-quota code); if
// every token is invalid-, code 80300007 (all tokens invalid); if some are,
// 80100000 with their list in msg (the v1 shape, or the v3 shape with
// PartialV3). Otherwise 80000000.
type HuaweiMock struct {
	// Log records accepted requests and broken rules.
	Log Log
	// Script decides each token's answer.
	Script Script
	// CAFile trusts the mock's certificate (OFFPUSH_VENDOR_CA_FILE).
	CAFile string

	appID, secret string
	opts          Options
	url           string

	mu        sync.Mutex
	tokenLife time.Duration // expires_in of issued tokens (default 3600 s)
	tokens    map[string]huaweiIssued
	authCalls int
	partialV3 bool
	authDown  int
	seq       int
}

type huaweiIssued struct {
	clientID string
	expires  time.Time
}

// NewHuawei starts a Huawei mock for one app, closed when the test ends.
func NewHuawei(tb testing.TB, opts Options, appID, appSecret string) *HuaweiMock {
	tb.Helper()
	m := &HuaweiMock{appID: appID, secret: appSecret, opts: opts, tokenLife: time.Hour, tokens: map[string]huaweiIssued{}}
	srv := NewTLSServer(tb, m)
	m.url = srv.URL
	m.CAFile = CAFile(tb, srv)
	return m
}

// URL is the mock's base URL, for both OFFPUSH_HUAWEI_URL and
// OFFPUSH_HUAWEI_AUTH_URL.
func (m *HuaweiMock) URL() string { return m.url }

// AuthCalls is how many tokens the OAuth endpoint has issued.
func (m *HuaweiMock) AuthCalls() int {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.authCalls
}

// ExpireTokens expires every access token issued so far, so the next send
// with one gets 80200003.
func (m *HuaweiMock) ExpireTokens() {
	m.mu.Lock()
	defer m.mu.Unlock()
	for k, v := range m.tokens {
		v.expires = time.Now().Add(-time.Second)
		m.tokens[k] = v
	}
}

// SetTokenLifetime sets expires_in for tokens issued from now on.
func (m *HuaweiMock) SetTokenLifetime(d time.Duration) {
	m.mu.Lock()
	m.tokenLife = d
	m.mu.Unlock()
}

// SetPartialV3 makes 80100000 answers use the v3 msg shape
// {"illegalTokens":{"tokenFormatError":[…]}}.
func (m *HuaweiMock) SetPartialV3(on bool) {
	m.mu.Lock()
	m.partialV3 = on
	m.mu.Unlock()
}

// SetAuthDown makes the OAuth endpoint answer with HTTP status (such as
// 503) until set back to 0.
func (m *HuaweiMock) SetAuthDown(status int) {
	m.mu.Lock()
	m.authDown = status
	m.mu.Unlock()
}

var huaweiSendPath = regexp.MustCompile(`/v1/([^/]+)/messages:send$`)

// ServeHTTP routes to the token and send endpoints.
func (m *HuaweiMock) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	m.opts.Delay(r)
	switch {
	case strings.HasSuffix(r.URL.Path, "/oauth2/v3/token"):
		m.serveToken(w, r)
	case huaweiSendPath.MatchString(r.URL.Path):
		m.serveSend(w, r)
	default:
		m.Log.Fail("huawei: unknown path %s %s", r.Method, r.URL.Path)
		http.NotFound(w, r)
	}
}

// serveToken is the OAuth client-credentials grant. Refused credentials get
// {"error":1101,"sub_error":20001,"error_description":"invalid client"}
// with HTTP 400 (the shape Huawei's OAuth service uses [?]); they are the
// test's scenario, not a client bug, so they are not logged as failures.
func (m *HuaweiMock) serveToken(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodPost {
		m.Log.Fail("huawei oauth: method %s, want POST", r.Method)
		w.WriteHeader(http.StatusMethodNotAllowed)
		return
	}
	if mt, _, _ := mime.ParseMediaType(r.Header.Get("Content-Type")); mt != "application/x-www-form-urlencoded" {
		m.Log.Fail("huawei oauth: content type %q, want application/x-www-form-urlencoded", r.Header.Get("Content-Type"))
		m.oauthError(w, http.StatusBadRequest, 1102, "invalid request")
		return
	}
	body, _ := io.ReadAll(io.LimitReader(r.Body, 1<<20))
	form, err := url.ParseQuery(string(body))
	if err != nil {
		m.Log.Fail("huawei oauth: body is not a form: %v", err)
		m.oauthError(w, http.StatusBadRequest, 1102, "invalid request")
		return
	}
	for _, k := range []string{"grant_type", "client_id", "client_secret"} {
		if len(form[k]) != 1 || form.Get(k) == "" {
			m.Log.Fail("huawei oauth: form field %s missing or repeated", k)
			m.oauthError(w, http.StatusBadRequest, 1102, "missing "+k)
			return
		}
	}
	if g := form.Get("grant_type"); g != "client_credentials" {
		m.Log.Fail("huawei oauth: grant_type %q, want client_credentials", g)
		m.oauthError(w, http.StatusBadRequest, 1102, "unsupported grant_type")
		return
	}
	m.mu.Lock()
	down := m.authDown
	m.mu.Unlock()
	if down != 0 {
		w.WriteHeader(down)
		return
	}
	if form.Get("client_id") != m.appID || form.Get("client_secret") != m.secret {
		m.oauthError(w, http.StatusBadRequest, 1101, "invalid client")
		return
	}
	tok := "hwat-" + huaweiRandomHex(24) + "+/="
	m.mu.Lock()
	m.tokens[tok] = huaweiIssued{clientID: form.Get("client_id"), expires: time.Now().Add(m.tokenLife)}
	m.authCalls++
	life := m.tokenLife
	m.mu.Unlock()
	huaweiWriteJSON(w, http.StatusOK, map[string]any{
		"access_token": tok, "expires_in": int(life / time.Second), "token_type": "Bearer",
	})
}

func (m *HuaweiMock) oauthError(w http.ResponseWriter, status, code int, desc string) {
	huaweiWriteJSON(w, status, map[string]any{"error": code, "sub_error": 20001, "error_description": desc})
}

// answer writes a send answer: {"code","msg","requestId"}.
func (m *HuaweiMock) answer(w http.ResponseWriter, status int, code, msg string) {
	m.mu.Lock()
	m.seq++
	id := fmt.Sprintf("hwreq%08d", m.seq)
	m.mu.Unlock()
	huaweiWriteJSON(w, status, map[string]string{"code": code, "msg": msg, "requestId": id})
}

// refuse records a broken rule and answers it with Huawei's code.
func (m *HuaweiMock) refuse(w http.ResponseWriter, status int, code, format string, args ...any) {
	msg := fmt.Sprintf(format, args...)
	m.Log.Fail("huawei send: %s", msg)
	m.answer(w, status, code, msg)
}

func (m *HuaweiMock) serveSend(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodPost {
		m.refuse(w, http.StatusMethodNotAllowed, "80100001", "method %s, want POST", r.Method)
		return
	}
	appID, _ := url.PathUnescape(huaweiSendPath.FindStringSubmatch(r.URL.Path)[1])
	auth := r.Header.Get("Authorization")
	tok, ok := strings.CutPrefix(auth, "Bearer ")
	if !ok || tok == "" {
		m.refuse(w, http.StatusUnauthorized, "80200001", "Authorization %q is not a bearer token", auth)
		return
	}
	m.mu.Lock()
	issued, known := m.tokens[tok]
	m.mu.Unlock()
	switch {
	case !known:
		m.refuse(w, http.StatusUnauthorized, "80200001", "bearer token was never issued")
		return
	case time.Now().After(issued.expires):
		m.answer(w, http.StatusUnauthorized, "80200003", "Oauth Token expired")
		return
	case issued.clientID != appID:
		// A token of app A used for app B (a test scenario, not a client bug).
		m.answer(w, http.StatusUnauthorized, "80200001", "Oauth authentication error")
		return
	}
	if mt, params, _ := mime.ParseMediaType(r.Header.Get("Content-Type")); mt != "application/json" ||
		(params["charset"] != "" && !strings.EqualFold(params["charset"], "utf-8")) {
		m.refuse(w, http.StatusBadRequest, "80100001", "content type %q, want application/json;charset=UTF-8", r.Header.Get("Content-Type"))
		return
	}
	body, _ := io.ReadAll(io.LimitReader(r.Body, 4<<20))
	var req huaweiSendRequest
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&req); err != nil {
		m.refuse(w, http.StatusBadRequest, "80100003", "body: %v", err)
		return
	}
	if req.Message == nil {
		m.refuse(w, http.StatusBadRequest, "80100003", "message is missing")
		return
	}
	if code, err := m.check(body, req.Message); err != nil {
		m.refuse(w, http.StatusBadRequest, code, "%v", err)
		return
	}
	tokens := req.Message.Token
	m.Log.Add(Received{Path: r.URL.Path, Header: r.Header.Clone(), Body: body, Targets: tokens})

	var busy, quota bool
	var invalid []string
	for _, t := range tokens {
		switch m.Script.For(t) {
		case Busy:
			busy = true
		case Quota:
			quota = true
		case Invalid:
			invalid = append(invalid, t)
		}
	}
	switch {
	case busy:
		w.Header().Set("Retry-After", "1")
		huaweiWriteJSON(w, http.StatusServiceUnavailable, map[string]string{"msg": "flow control"})
	case quota:
		huaweiWriteJSON(w, http.StatusServiceUnavailable, map[string]string{"msg": "flow control"})
	case len(invalid) == len(tokens):
		// The HTTP status of an 80300007 is not documented [?]; 400 is
		// Huawei's status for request errors.
		m.answer(w, http.StatusBadRequest, "80300007", "All the tokens are invalid")
	case len(invalid) > 0:
		m.mu.Lock()
		v3 := m.partialV3
		m.mu.Unlock()
		var msg []byte
		if v3 {
			msg, _ = json.Marshal(map[string]any{"success": len(tokens) - len(invalid), "failure": len(invalid),
				"illegalTokens": map[string][]string{"tokenFormatError": invalid}})
		} else {
			msg, _ = json.Marshal(map[string]any{"success": len(tokens) - len(invalid), "failure": len(invalid),
				"illegal_tokens": invalid})
		}
		m.answer(w, http.StatusOK, "80100000", string(msg))
	default:
		m.answer(w, http.StatusOK, "80000000", "Success")
	}
}

var (
	huaweiTTL        = regexp.MustCompile(`^\d+(\.\d{1,9})?s$`)
	huaweiCategories = map[string]bool{
		"IM": true, "VOIP": true, "SUBSCRIPTION": true, "TRAVEL": true, "HEALTH": true, "WORK": true,
		"ACCOUNT": true, "EXPRESS": true, "FINANCE": true, "DEVICE_REMINDER": true, "MAIL": true,
		"PLAY_VOICE": true, "MARKETING": true,
	}
)

// check applies the send API's rules and returns Huawei's code for the
// first one broken.
func (m *HuaweiMock) check(body []byte, msg *huaweiMessage) (string, error) {
	targets := 0
	for _, set := range []bool{msg.Token != nil, msg.Topic != "", msg.Condition != ""} {
		if set {
			targets++
		}
	}
	if targets != 1 {
		return "80100001", fmt.Errorf("message needs exactly one of token, topic, condition")
	}
	if len(msg.Token) < 1 || len(msg.Token) > 1000 {
		return "80300010", fmt.Errorf("%d tokens, want 1 to 1000", len(msg.Token))
	}
	for _, t := range msg.Token {
		if t == "" {
			return "80100001", fmt.Errorf("empty token")
		}
	}
	if n, err := huaweiSizeWithoutTokens(body); err != nil {
		return "80100003", err
	} else if n > 4096 {
		return "80300008", fmt.Errorf("body is %d bytes without tokens, limit 4096", n)
	}
	a := msg.Android
	notification := msg.Notification != nil || (a != nil && a.Notification != nil)
	if msg.Data != "" && notification && !json.Valid([]byte(msg.Data)) {
		return "80100001", fmt.Errorf("message.data must be a JSON string on a notification message")
	}
	if a == nil {
		if !notification && msg.Data == "" {
			return "80100001", fmt.Errorf("message has neither notification nor data")
		}
		return "", nil
	}
	if a.Urgency != "" && a.Urgency != "HIGH" && a.Urgency != "NORMAL" {
		return "80100001", fmt.Errorf("android.urgency %q, want HIGH or NORMAL", a.Urgency)
	}
	if a.Category != "" && !huaweiCategories[a.Category] {
		return "80100001", fmt.Errorf("android.category %q is not a documented category", a.Category)
	}
	if a.TTL != "" {
		if !huaweiTTL.MatchString(a.TTL) {
			return "80100001", fmt.Errorf("android.ttl %q is not <seconds>s", a.TTL)
		}
		if secs, _ := strconv.ParseFloat(strings.TrimSuffix(a.TTL, "s"), 64); secs > 1296000 {
			return "80100001", fmt.Errorf("android.ttl %s is over 1296000s", a.TTL)
		}
	}
	if a.CollapseKey != nil && (*a.CollapseKey < -1 || *a.CollapseKey > 100) {
		return "80100013", fmt.Errorf("android.collapse_key %d out of -1..100", *a.CollapseKey)
	}
	n := a.Notification
	if n == nil {
		return "", nil
	}
	title, bodyText := n.Title, n.Body
	if msg.Notification != nil {
		title, bodyText = title+msg.Notification.Title, bodyText+msg.Notification.Body
	}
	if title == "" || bodyText == "" {
		return "80100001", fmt.Errorf("notification title and body are required")
	}
	if n.ClickAction == nil {
		return "80100001", fmt.Errorf("android.notification.click_action is required")
	}
	switch ca := n.ClickAction; ca.Type {
	case 1:
		if ca.Intent == "" && ca.Action == "" {
			return "80100001", fmt.Errorf("click_action type 1 needs intent or action")
		}
	case 2:
		if !strings.HasPrefix(ca.URL, "https://") {
			return "80100001", fmt.Errorf("click_action type 2 needs an https url")
		}
	case 3:
	case 4:
		if ca.RichResource == "" {
			return "80100001", fmt.Errorf("click_action type 4 needs rich_resource")
		}
	default:
		return "80100001", fmt.Errorf("click_action.type %d, want 1 to 4", ca.Type)
	}
	if n.Importance != "" && n.Importance != "LOW" && n.Importance != "NORMAL" {
		return "80100001", fmt.Errorf("importance %q, want LOW or NORMAL", n.Importance)
	}
	if n.DefaultSound != nil && !*n.DefaultSound && n.Sound == "" {
		return "80100001", fmt.Errorf("sound must be set when default_sound is false")
	}
	if n.Image != "" && !strings.HasPrefix(n.Image, "https://") {
		return "80100001", fmt.Errorf("image must be an https URL")
	}
	if b := n.Badge; b != nil {
		if b.Class == "" {
			return "80100001", fmt.Errorf("badge.class is required")
		}
		if b.AddNum != nil && (*b.AddNum < 1 || *b.AddNum > 99) {
			return "80100001", fmt.Errorf("badge.add_num %d out of 1..99", *b.AddNum)
		}
		if b.SetNum != nil && (*b.SetNum < 0 || *b.SetNum > 99) {
			return "80100001", fmt.Errorf("badge.set_num %d out of 0..99", *b.SetNum)
		}
	}
	return "", nil
}

// huaweiSizeWithoutTokens measures the body as Huawei's limit does: the
// bytes of the body minus the contents of message.token.
func huaweiSizeWithoutTokens(body []byte) (int, error) {
	var top struct {
		Message map[string]json.RawMessage `json:"message"`
	}
	if err := json.Unmarshal(body, &top); err != nil {
		return 0, err
	}
	tok := bytes.TrimSpace(top.Message["token"])
	return len(body) - len(tok) + len("[]"), nil
}

// The v1 request as Huawei documents it; decoding with unknown fields
// disallowed refuses any other key.
type huaweiSendRequest struct {
	ValidateOnly bool              `json:"validate_only"`
	Message      *huaweiMessage    `json:"message"`
	Review       []json.RawMessage `json:"review"`
}

type huaweiMessage struct {
	Data         string              `json:"data"`
	Notification *huaweiNotification `json:"notification"`
	Android      *huaweiAndroid      `json:"android"`
	APNs         json.RawMessage     `json:"apns"`
	WebPush      json.RawMessage     `json:"webpush"`
	Token        []string            `json:"token"`
	Topic        string              `json:"topic"`
	Condition    string              `json:"condition"`
}

type huaweiNotification struct {
	Title string `json:"title"`
	Body  string `json:"body"`
	Image string `json:"image"`
}

type huaweiAndroid struct {
	CollapseKey    *int                       `json:"collapse_key"`
	Urgency        string                     `json:"urgency"`
	Category       string                     `json:"category"`
	TTL            string                     `json:"ttl"`
	BiTag          string                     `json:"bi_tag"`
	ReceiptID      string                     `json:"receipt_id"`
	TargetUserType int                        `json:"target_user_type"`
	FastAppTarget  int                        `json:"fast_app_target"`
	Data           string                     `json:"data"`
	Notification   *huaweiAndroidNotification `json:"notification"`
}

type huaweiAndroidNotification struct {
	Title             string                `json:"title"`
	Body              string                `json:"body"`
	ChannelID         string                `json:"channel_id"`
	Icon              string                `json:"icon"`
	Color             string                `json:"color"`
	Sound             string                `json:"sound"`
	DefaultSound      *bool                 `json:"default_sound"`
	Tag               string                `json:"tag"`
	ClickAction       *huaweiClickAction    `json:"click_action"`
	Badge             *huaweiBadge          `json:"badge"`
	Importance        string                `json:"importance"`
	NotifyID          int                   `json:"notify_id"`
	Group             string                `json:"group"`
	Style             int                   `json:"style"`
	BigTitle          string                `json:"big_title"`
	BigBody           string                `json:"big_body"`
	InboxContent      []string              `json:"inbox_content"`
	Buttons           []huaweiAndroidButton `json:"buttons"`
	When              string                `json:"when"`
	AutoClear         int                   `json:"auto_clear"`
	Visibility        string                `json:"visibility"`
	ForegroundShow    *bool                 `json:"foreground_show"`
	ProfileID         string                `json:"profile_id"`
	Ticker            string                `json:"ticker"`
	UseDefaultVibrate *bool                 `json:"use_default_vibrate"`
	UseDefaultLight   *bool                 `json:"use_default_light"`
	BodyLocKey        string                `json:"body_loc_key"`
	BodyLocArgs       []string              `json:"body_loc_args"`
	TitleLocKey       string                `json:"title_loc_key"`
	TitleLocArgs      []string              `json:"title_loc_args"`
	MultiLangKey      map[string]any        `json:"multi_lang_key"`
	Image             string                `json:"image"`
	NotifySummary     string                `json:"notify_summary"`
	AutoCancel        *bool                 `json:"auto_cancel"`
	VibrateConfig     []string              `json:"vibrate_config"`
	LightSettings     json.RawMessage       `json:"light_settings"`
}

type huaweiClickAction struct {
	Type         int    `json:"type"`
	Intent       string `json:"intent"`
	Action       string `json:"action"`
	URL          string `json:"url"`
	RichResource string `json:"rich_resource"`
}

type huaweiBadge struct {
	AddNum *int   `json:"add_num"`
	Class  string `json:"class"`
	SetNum *int   `json:"set_num"`
}

type huaweiAndroidButton struct {
	Name       string `json:"name"`
	ActionType int    `json:"action_type"`
	IntentType int    `json:"intent_type"`
	Intent     string `json:"intent"`
	Data       string `json:"data"`
}

// huaweiWriteJSON writes v as a JSON answer.
func huaweiWriteJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json;charset=UTF-8")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}

func huaweiRandomHex(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}
