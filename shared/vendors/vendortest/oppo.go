package vendortest

import (
	"bytes"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
	"unicode/utf8"
)

// OPPO codes the mock answers with (vendor-apis.md §6).
const (
	oppoOK               = 0
	oppoFlowControl      = -2
	oppoInvalidAuthToken = 11
	oppoMethod           = 12
	oppoInvalidAppKey    = 14
	oppoMissingAppKey    = 15
	oppoInvalidSign      = 16
	oppoMissingSign      = 17
	oppoMissingTimestamp = 18
	oppoInvalidTimestamp = 19
	oppoEncoding         = 23
	oppoMissingAuthToken = 29
	oppoDailyLimit       = 33
	oppoMissingArgument  = 40
	oppoInvalidArgument  = 41
	oppoInvalidCategory  = 67
	oppoInvalidRegID     = 10000
)

// OPPOMock is a strict mock of OPPO Push's server API: /server/v1/auth
// (sha256 sign recomputed, 10-minute timestamp window, 24-hour tokens) and
// the unicast and unicast_batch sends (auth_token form field, message JSON
// in snake_case checked field by field with OPPO's limits, channel_id
// required, at most 1000 messages). Sends answer by Script: invalid- gets
// 10000, busy<N>- code -2 for the whole request N times, quota- 33.
type OPPOMock struct {
	Log    *Log
	Script *Script
	// CAFile is a PEM bundle trusting the mock, for OFFPUSH_VENDOR_CA_FILE.
	CAFile string

	srv    *httptest.Server
	opts   Options
	appKey string
	secret string

	mu        sync.Mutex
	tokens    map[string]time.Time // issued auth_token → expiry
	authCalls int
	forced    []oppoForced
}

type oppoForced struct {
	code    int
	message string
}

// NewOPPO starts an OPPO mock over TLS for one app, closed when the test
// ends. It accepts any path prefix before OPPO's paths, so base URL
// overrides with a path can be tested; Log records the full path.
func NewOPPO(tb testing.TB, opts Options, appKey, masterSecret string) *OPPOMock {
	tb.Helper()
	m := &OPPOMock{Log: &Log{}, Script: &Script{}, opts: opts, appKey: appKey, secret: masterSecret, tokens: map[string]time.Time{}}
	m.srv = NewTLSServer(tb, m)
	m.CAFile = CAFile(tb, m.srv)
	return m
}

// URL is the mock's base URL, for OFFPUSH_OPPO_URL.
func (m *OPPOMock) URL() string { return m.srv.URL }

// Server is the underlying test server.
func (m *OPPOMock) Server() *httptest.Server { return m.srv }

// AuthCalls is how many auth tokens the mock issued.
func (m *OPPOMock) AuthCalls() int {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.authCalls
}

// ExpireTokens expires every token issued so far: sends with them get code
// 11 (invalid AuthToken).
func (m *OPPOMock) ExpireTokens() {
	m.mu.Lock()
	defer m.mu.Unlock()
	for t := range m.tokens {
		m.tokens[t] = time.Time{}
	}
}

// FailNext answers the next n sends that pass the checks with code and
// message instead of the script, for codes the script cannot produce.
func (m *OPPOMock) FailNext(n, code int, message string) {
	m.mu.Lock()
	defer m.mu.Unlock()
	for range n {
		m.forced = append(m.forced, oppoForced{code, message})
	}
}

// ServeHTTP routes by OPPO path.
func (m *OPPOMock) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	m.opts.Delay(r)
	body, err := io.ReadAll(io.LimitReader(r.Body, 16<<20))
	if err != nil {
		http.Error(w, "read body", http.StatusBadRequest)
		return
	}
	p := r.URL.Path
	if r.Method != http.MethodPost {
		m.Log.Fail("oppo %s: method %s, want POST", p, r.Method)
		oppoAnswer(w, oppoMethod, "HTTP method not allowed", nil)
		return
	}
	if ct := r.Header.Get("Content-Type"); !strings.HasPrefix(ct, "application/x-www-form-urlencoded") {
		m.Log.Fail("oppo %s: Content-Type %q, want application/x-www-form-urlencoded", p, ct)
		oppoAnswer(w, oppoEncoding, "invalid content type", nil)
		return
	}
	form, err := url.ParseQuery(string(body))
	if err != nil {
		m.Log.Fail("oppo %s: body is not a form: %v", p, err)
		oppoAnswer(w, oppoEncoding, "invalid form", nil)
		return
	}
	switch {
	case strings.HasSuffix(p, "/server/v1/auth"):
		m.auth(w, form)
	case strings.HasSuffix(p, "/server/v1/message/notification/unicast_batch"):
		m.send(w, r, body, form, true)
	case strings.HasSuffix(p, "/server/v1/message/notification/unicast"):
		m.send(w, r, body, form, false)
	default:
		m.Log.Fail("oppo: unknown path %s", p)
		http.NotFound(w, r)
	}
}

func (m *OPPOMock) auth(w http.ResponseWriter, form url.Values) {
	for k := range form {
		if k != "app_key" && k != "timestamp" && k != "sign" {
			m.Log.Fail("oppo auth: unexpected form field %q", k)
		}
	}
	key, ts, sign := form.Get("app_key"), form.Get("timestamp"), form.Get("sign")
	switch {
	case key == "":
		m.Log.Fail("oppo auth: app_key missing")
		oppoAnswer(w, oppoMissingAppKey, "app_key is required", nil)
		return
	case key != m.appKey:
		m.Log.Fail("oppo auth: app_key %q is not the app's", key)
		oppoAnswer(w, oppoInvalidAppKey, "invalid app_key", nil)
		return
	case ts == "":
		m.Log.Fail("oppo auth: timestamp missing")
		oppoAnswer(w, oppoMissingTimestamp, "timestamp is required", nil)
		return
	case sign == "":
		m.Log.Fail("oppo auth: sign missing")
		oppoAnswer(w, oppoMissingSign, "sign is required", nil)
		return
	}
	ms, err := strconv.ParseInt(ts, 10, 64)
	if err != nil || len(ts) != 13 {
		m.Log.Fail("oppo auth: timestamp %q is not 13-digit milliseconds", ts)
		oppoAnswer(w, oppoInvalidTimestamp, "invalid timestamp", nil)
		return
	}
	if d := time.Since(time.UnixMilli(ms)); d > 10*time.Minute || d < -10*time.Minute {
		m.Log.Fail("oppo auth: timestamp %s is %s off, outside the 10-minute window", ts, d)
		oppoAnswer(w, oppoInvalidTimestamp, "timestamp expired", nil)
		return
	}
	sum := sha256.Sum256([]byte(key + ts + m.secret))
	if sign != hex.EncodeToString(sum[:]) {
		m.Log.Fail("oppo auth: sign is not lowercase hex sha256(app_key+timestamp+master_secret)")
		oppoAnswer(w, oppoInvalidSign, "invalid sign", nil)
		return
	}
	tok := "oppo-" + oppoRandomHex(16)
	m.mu.Lock()
	m.tokens[tok] = time.Now().Add(24 * time.Hour)
	m.authCalls++
	m.mu.Unlock()
	oppoAnswer(w, oppoOK, "Success", map[string]any{"auth_token": tok, "create_time": time.Now().UnixMilli()})
}

func (m *OPPOMock) send(w http.ResponseWriter, r *http.Request, body []byte, form url.Values, batch bool) {
	p := r.URL.Path
	field := "message"
	if batch {
		field = "messages"
	}
	for k := range form {
		if k != "auth_token" && k != field {
			m.Log.Fail("oppo %s: unexpected form field %q", p, k)
			oppoAnswer(w, oppoInvalidArgument, "unexpected parameter "+k, nil)
			return
		}
	}
	tok := form.Get("auth_token")
	if tok == "" {
		m.Log.Fail("oppo %s: auth_token form field missing", p)
		oppoAnswer(w, oppoMissingAuthToken, "auth_token is required", nil)
		return
	}
	m.mu.Lock()
	exp, known := m.tokens[tok]
	m.mu.Unlock()
	if !known || time.Now().After(exp) {
		// Expected after ExpireTokens: the client re-authenticates.
		oppoAnswer(w, oppoInvalidAuthToken, "Invalid AuthToken", nil)
		return
	}
	raw := form.Get(field)
	if raw == "" {
		m.Log.Fail("oppo %s: %s form field missing", p, field)
		oppoAnswer(w, oppoMissingArgument, field+" is required", nil)
		return
	}
	var msgs []json.RawMessage
	if batch {
		if err := json.Unmarshal([]byte(raw), &msgs); err != nil {
			m.Log.Fail("oppo %s: messages is not a JSON array: %v", p, err)
			oppoAnswer(w, oppoInvalidArgument, "invalid messages", nil)
			return
		}
		if len(msgs) == 0 || len(msgs) > 1000 {
			m.Log.Fail("oppo %s: %d messages, want 1 to 1000", p, len(msgs))
			oppoAnswer(w, oppoInvalidArgument, "messages must hold 1 to 1000 messages", nil)
			return
		}
	} else {
		msgs = []json.RawMessage{json.RawMessage(raw)}
	}
	regIDs := make([]string, len(msgs))
	for i, msg := range msgs {
		id, code, problem := checkOPPOMessage(msg)
		if problem != "" {
			m.Log.Fail("oppo %s: message %d: %s", p, i, problem)
			oppoAnswer(w, code, problem, nil)
			return
		}
		regIDs[i] = id
	}
	m.Log.Add(Received{Path: p, Header: r.Header.Clone(), Body: body, Targets: regIDs})

	m.mu.Lock()
	var forced *oppoForced
	if len(m.forced) > 0 {
		f := m.forced[0]
		m.forced = m.forced[1:]
		forced = &f
	}
	m.mu.Unlock()
	if forced != nil {
		oppoAnswer(w, forced.code, forced.message, nil)
		return
	}
	behaviours := make([]Behaviour, len(regIDs))
	busy := false
	for i, id := range regIDs {
		behaviours[i] = m.Script.For(id)
		busy = busy || behaviours[i] == Busy
	}
	if busy {
		oppoAnswer(w, oppoFlowControl, "service in flow control", nil)
		return
	}
	if !batch {
		switch behaviours[0] {
		case Invalid:
			oppoAnswer(w, oppoInvalidRegID, "registration_id格式不正确", nil)
		case Quota:
			oppoAnswer(w, oppoDailyLimit, "messages exceed the daily limit", nil)
		default:
			oppoAnswer(w, oppoOK, "Success", map[string]any{"messageId": m.appKey + "-1-1-" + oppoRandomHex(16)})
		}
		return
	}
	items := make([]map[string]any, len(regIDs))
	for i, id := range regIDs {
		switch behaviours[i] {
		case Invalid:
			items[i] = map[string]any{"registrationId": id, "errorCode": oppoInvalidRegID, "errorMessage": "Invalid Registration_id"}
		case Quota:
			items[i] = map[string]any{"registrationId": id, "errorCode": oppoDailyLimit, "errorMessage": "messages exceed the daily limit"}
		default:
			items[i] = map[string]any{"registrationId": id, "messageId": m.appKey + "-1-1-" + oppoRandomHex(16)}
		}
	}
	oppoAnswer(w, oppoOK, "Success", items)
}

// oppoNotificationKeys are the notification fields OPPO's field table
// lists, in snake_case.
var oppoNotificationKeys = map[string]bool{
	"app_message_id": true, "style": true, "big_picture_id": true, "small_picture_id": true,
	"title": true, "sub_title": true, "content": true, "click_action_type": true,
	"click_action_activity": true, "click_action_url": true, "action_parameters": true,
	"show_time_type": true, "show_start_time": true, "show_end_time": true, "off_line": true,
	"off_line_ttl": true, "push_time_type": true, "push_start_time": true, "time_zone": true,
	"fix_speed": true, "fix_speed_rate": true, "network_type": true, "call_back_url": true,
	"call_back_parameter": true, "channel_id": true, "show_ttl": true, "notify_id": true,
	"auditResponse": true, "category": true, "notify_level": true, "private_msg_template_id": true,
	"private_title_parameters": true, "private_content_parameters": true,
}

var oppoCategories = map[string]bool{
	"IM": true, "ACCOUNT": true, "TODO": true, "DEVICE_REMINDER": true, "ORDER": true,
	"SUBSCRIPTION": true, "NEWS": true, "CONTENT": true, "MARKETING": true, "SOCIAL": true,
}

// checkOPPOMessage checks one message as OPPO's field table says and
// returns its registration ID, or the code and reason to refuse it with.
func checkOPPOMessage(raw json.RawMessage) (string, int, string) {
	var msg map[string]json.RawMessage
	if err := json.Unmarshal(raw, &msg); err != nil || msg == nil {
		return "", oppoInvalidArgument, "message is not a JSON object"
	}
	for k := range msg {
		switch k {
		case "target_type", "target_value", "notification", "verify_registration_id":
		default:
			return "", oppoInvalidArgument, fmt.Sprintf("unknown message field %q", k)
		}
	}
	var targetType int
	if err := json.Unmarshal(msg["target_type"], &targetType); err != nil || targetType != 2 {
		return "", oppoInvalidArgument, fmt.Sprintf("target_type %s, want the number 2 (registration_id)", msg["target_type"])
	}
	var regID string
	if err := json.Unmarshal(msg["target_value"], &regID); err != nil || regID == "" {
		return "", oppoInvalidArgument, "target_value must be a registration ID string"
	}
	var n map[string]json.RawMessage
	if err := json.Unmarshal(msg["notification"], &n); err != nil || n == nil {
		return "", oppoMissingArgument, "notification must be a JSON object"
	}
	for k := range n {
		if !oppoNotificationKeys[k] {
			return "", oppoInvalidArgument, fmt.Sprintf("unknown notification field %q (OPPO's fields are snake_case)", k)
		}
	}
	str := func(k string) (string, bool) {
		v, ok := n[k]
		if !ok {
			return "", true
		}
		var s string
		return s, json.Unmarshal(v, &s) == nil
	}
	num := func(k string) (int64, bool) {
		v, ok := n[k]
		if !ok {
			return 0, true
		}
		var x int64
		return x, json.Unmarshal(v, &x) == nil
	}
	for _, k := range []string{"app_message_id", "title", "sub_title", "content", "click_action_activity",
		"click_action_url", "action_parameters", "channel_id", "category", "time_zone", "call_back_url", "call_back_parameter"} {
		if _, ok := str(k); !ok {
			return "", oppoInvalidArgument, k + " must be a string"
		}
	}
	for _, k := range []string{"style", "click_action_type", "off_line_ttl", "notify_level", "network_type", "notify_id", "show_ttl", "show_time_type"} {
		if _, ok := num(k); !ok {
			return "", oppoInvalidArgument, k + " must be an integer"
		}
	}
	if v, ok := n["off_line"]; ok {
		var b bool
		if json.Unmarshal(v, &b) != nil {
			return "", oppoInvalidArgument, "off_line must be a boolean"
		}
	}
	title, _ := str("title")
	if l := utf8.RuneCountInString(title); l == 0 || l > 50 {
		return "", oppoInvalidArgument, fmt.Sprintf("title is %d characters, want 1 to 50", l)
	}
	style, _ := num("style")
	content, _ := str("content")
	maxContent := 50
	if style == 2 {
		maxContent = 128
	}
	if style < 0 || style > 3 {
		return "", oppoInvalidArgument, fmt.Sprintf("style %d, want 1, 2 or 3", style)
	}
	if l := utf8.RuneCountInString(content); l == 0 || l > maxContent {
		return "", oppoInvalidArgument, fmt.Sprintf("content is %d characters, want 1 to %d for style %d", l, maxContent, style)
	}
	if ch, _ := str("channel_id"); ch == "" {
		return "", oppoMissingArgument, "channel_id is missing: Android 8 and later show nothing without a channel"
	}
	click, _ := num("click_action_type")
	activity, _ := str("click_action_activity")
	clickURL, _ := str("click_action_url")
	switch click {
	case 0:
	case 1, 4:
		if activity == "" || utf8.RuneCountInString(activity) > 500 {
			return "", oppoInvalidArgument, "click_action_activity must be 1 to 500 characters for click_action_type 1 and 4"
		}
	case 2, 5:
		if clickURL == "" || utf8.RuneCountInString(clickURL) > 2000 {
			return "", oppoInvalidArgument, "click_action_url must be 1 to 2000 characters for click_action_type 2 and 5"
		}
	default:
		return "", oppoInvalidArgument, fmt.Sprintf("click_action_type %d, want 0, 1, 2, 4 or 5", click)
	}
	if params, _ := str("action_parameters"); params != "" {
		var obj map[string]json.RawMessage
		if json.Unmarshal([]byte(params), &obj) != nil || obj == nil {
			return "", oppoInvalidArgument, "action_parameters must be a JSON object string"
		}
		if utf8.RuneCountInString(params) > 4000 {
			return "", oppoInvalidArgument, "action_parameters is over 4000 characters"
		}
	}
	if ttl, _ := num("off_line_ttl"); ttl < 0 || ttl > 10*24*3600 {
		return "", oppoInvalidArgument, fmt.Sprintf("off_line_ttl %d, want at most 864000 seconds (10 days)", ttl)
	}
	category, _ := str("category")
	if level, _ := num("notify_level"); level != 0 {
		if level != 1 && level != 2 && level != 16 {
			return "", oppoInvalidCategory, fmt.Sprintf("notify_level %d, want 1, 2 or 16", level)
		}
		if category == "" {
			return "", oppoInvalidCategory, "notify_level needs category"
		}
	}
	if category != "" && !oppoCategories[category] {
		return "", oppoInvalidCategory, fmt.Sprintf("unknown category %q", category)
	}
	return regID, oppoOK, ""
}

func oppoAnswer(w http.ResponseWriter, code int, message string, data any) {
	body := map[string]any{"code": code, "message": message}
	if data != nil {
		body["data"] = data
	}
	var buf bytes.Buffer
	_ = json.NewEncoder(&buf).Encode(body)
	w.Header().Set("Content-Type", "application/json;charset=UTF-8")
	_, _ = w.Write(buf.Bytes())
}

func oppoRandomHex(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}
