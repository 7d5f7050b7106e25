package vendortest

import (
	"bytes"
	"crypto/md5"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
	"unicode/utf8"
)

// vivo result codes the mock answers with. 0, 10070, 10094, 10096 and
// 10097 are vivo's documented codes; 10000 (authToken refused) and 10072
// (too fast) follow third-party mappings [?]; the auth-body codes past
// 10201 and the generic invalid-parameter and taskId codes are this mock's
// own choices, as vivo's full table is not at hand.
const (
	vivoOK               = 0
	vivoAuthFailed       = 10000
	vivoInvalidParam     = 10050
	vivoUnknownTask      = 10060
	vivoDailyTotal       = 10070
	vivoTooFast          = 10072
	vivoAppIDMismatch    = 10094
	vivoInvalidCategory  = 10096
	vivoCategoryMismatch = 10097
	vivoNoAppID          = 10200
	vivoNoAppKey         = 10201
	vivoNoTimestamp      = 10202
	vivoNoSign           = 10203
	vivoBadAppID         = 10204
	vivoBadAppKey        = 10205
	vivoBadTimestamp     = 10206
	vivoBadSign          = 10207
)

// VivoAuthLimit is vivo's auth limit per app: 10 calls a second. The mock
// allows VivoAuthJitter of arrival jitter: it fails a test when more than
// 10 auth calls of one app arrive within one second less the jitter.
const (
	VivoAuthLimit  = 10
	VivoAuthJitter = 50 * time.Millisecond
)

// VivoApp is an app the vivo mock knows.
type VivoApp struct {
	AppID, AppKey, AppSecret string
}

// VivoMock is a strict mock of vivo Push's server API: /message/auth (md5
// sign recomputed, ±10-minute timestamp window, at most 10 calls a second
// per app, 24-hour tokens bound to the appId), /message/send,
// /message/saveListPayload and /message/pushToList (authToken header,
// body appId equal to the token's (10094), fields, types and lengths as
// vivo documents, 2 to 1000 regIds, taskIds issued by saveListPayload).
// Sends answer by Script: invalid- is listed in invalidUser(s) with status
// 1, busy<N>- gets 10072 for the whole request N times, quota- 10070.
type VivoMock struct {
	Log    *Log
	Script *Script
	// CAFile is a PEM bundle trusting the mock, for OFFPUSH_VENDOR_CA_FILE.
	CAFile string

	srv  *httptest.Server
	opts Options
	apps map[string]VivoApp

	mu        sync.Mutex
	tokens    map[string]vivoToken
	tasks     map[string]string // taskId → appId
	authAt    map[string][]time.Time
	authCalls map[string]int
	forced    []vivoForced
}

type vivoToken struct {
	appID string
	exp   time.Time
}

type vivoForced struct {
	code int
	desc string
}

// NewVivo starts a vivo mock over TLS for the given apps, closed when the
// test ends. Like NewOPPO it accepts a path prefix before vivo's paths.
func NewVivo(tb testing.TB, opts Options, apps ...VivoApp) *VivoMock {
	tb.Helper()
	m := &VivoMock{
		Log: &Log{}, Script: &Script{}, opts: opts, apps: map[string]VivoApp{},
		tokens: map[string]vivoToken{}, tasks: map[string]string{},
		authAt: map[string][]time.Time{}, authCalls: map[string]int{},
	}
	for _, a := range apps {
		m.apps[a.AppID] = a
	}
	m.srv = NewTLSServer(tb, m)
	m.CAFile = CAFile(tb, m.srv)
	return m
}

// URL is the mock's base URL, for OFFPUSH_VIVO_URL.
func (m *VivoMock) URL() string { return m.srv.URL }

// Server is the underlying test server.
func (m *VivoMock) Server() *httptest.Server { return m.srv }

// AuthCalls is how many auth calls of appID the mock answered.
func (m *VivoMock) AuthCalls(appID string) int {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.authCalls[appID]
}

// ExpireTokens expires every authToken issued so far: calls with them get
// the auth failure result (10000).
func (m *VivoMock) ExpireTokens() {
	m.mu.Lock()
	defer m.mu.Unlock()
	for k, t := range m.tokens {
		t.exp = time.Time{}
		m.tokens[k] = t
	}
}

// FailNext answers the next n send, saveListPayload or pushToList calls
// that pass the checks with code instead of the script.
func (m *VivoMock) FailNext(n, code int, desc string) {
	m.mu.Lock()
	defer m.mu.Unlock()
	for range n {
		m.forced = append(m.forced, vivoForced{code, desc})
	}
}

// ServeHTTP routes by vivo path.
func (m *VivoMock) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	m.opts.Delay(r)
	body, err := io.ReadAll(io.LimitReader(r.Body, 16<<20))
	if err != nil {
		http.Error(w, "read body", http.StatusBadRequest)
		return
	}
	p := r.URL.Path
	if r.Method != http.MethodPost {
		m.Log.Fail("vivo %s: method %s, want POST", p, r.Method)
		http.Error(w, "method not allowed", http.StatusMethodNotAllowed)
		return
	}
	if ct := r.Header.Get("Content-Type"); !strings.HasPrefix(ct, "application/json") {
		m.Log.Fail("vivo %s: Content-Type %q, want application/json", p, ct)
		vivoAnswer(w, map[string]any{"result": vivoInvalidParam, "desc": "Content-Type must be application/json"})
		return
	}
	var fields map[string]json.RawMessage
	if err := json.Unmarshal(body, &fields); err != nil || fields == nil {
		m.Log.Fail("vivo %s: body is not a JSON object", p)
		vivoAnswer(w, map[string]any{"result": vivoInvalidParam, "desc": "body must be a JSON object"})
		return
	}
	switch {
	case strings.HasSuffix(p, "/message/auth"):
		m.auth(w, fields)
		return
	case strings.HasSuffix(p, "/message/send"), strings.HasSuffix(p, "/message/saveListPayload"), strings.HasSuffix(p, "/message/pushToList"):
	default:
		m.Log.Fail("vivo: unknown path %s", p)
		http.NotFound(w, r)
		return
	}
	tok := r.Header.Get("authToken")
	if tok == "" {
		m.Log.Fail("vivo %s: authToken header missing", p)
		vivoAnswer(w, map[string]any{"result": vivoAuthFailed, "desc": "authToken不能为空"})
		return
	}
	m.mu.Lock()
	issued, known := m.tokens[tok]
	m.mu.Unlock()
	if !known || time.Now().After(issued.exp) {
		// Expected after ExpireTokens: the client re-authenticates.
		vivoAnswer(w, map[string]any{"result": vivoAuthFailed, "desc": "authToken不合法或已过期"})
		return
	}
	appID, ok := vivoAppID(fields["appId"])
	if !ok {
		m.Log.Fail("vivo %s: appId missing or not a number", p)
		vivoAnswer(w, map[string]any{"result": vivoInvalidParam, "desc": "appId不合法"})
		return
	}
	if appID != issued.appID {
		m.Log.Fail("vivo %s: body appId %s, authToken's %s", p, appID, issued.appID)
		vivoAnswer(w, map[string]any{"result": vivoAppIDMismatch, "desc": "appId与鉴权不一致"})
		return
	}
	switch {
	case strings.HasSuffix(p, "/message/pushToList"):
		m.pushToList(w, r, body, fields, appID)
	default:
		m.message(w, r, body, fields, appID, strings.HasSuffix(p, "/message/send"))
	}
}

func (m *VivoMock) auth(w http.ResponseWriter, f map[string]json.RawMessage) {
	now := time.Now()
	for k := range f {
		if k != "appId" && k != "appKey" && k != "timestamp" && k != "sign" {
			m.Log.Fail("vivo auth: unexpected field %q", k)
		}
	}
	appID, _ := vivoAppID(f["appId"])
	if appID != "" {
		m.mu.Lock()
		recent := m.authAt[appID][:0]
		for _, t := range m.authAt[appID] {
			if now.Sub(t) < time.Second-VivoAuthJitter {
				recent = append(recent, t)
			}
		}
		recent = append(recent, now)
		m.authAt[appID] = recent
		n := len(recent)
		m.mu.Unlock()
		if n > VivoAuthLimit {
			m.Log.Fail("vivo auth: %d auth calls for appId %s within one second; vivo allows %d", n, appID, VivoAuthLimit)
			vivoAnswer(w, map[string]any{"result": vivoTooFast, "desc": "鉴权频率超限"})
			return
		}
	}
	var appKey, sign string
	_ = json.Unmarshal(f["appKey"], &appKey)
	_ = json.Unmarshal(f["sign"], &sign)
	ts, tsOK := vivoNumber(f["timestamp"])
	fail := func(code int, desc, format string, args ...any) {
		m.Log.Fail("vivo auth: "+format, args...)
		vivoAnswer(w, map[string]any{"result": code, "desc": desc})
	}
	switch {
	case appID == "":
		fail(vivoNoAppID, "appId 不能为空", "appId missing or not a number")
		return
	case appKey == "":
		fail(vivoNoAppKey, "appKey 不能为空", "appKey missing")
		return
	case len(f["timestamp"]) == 0:
		fail(vivoNoTimestamp, "timestamp 不能为空", "timestamp missing")
		return
	case sign == "":
		fail(vivoNoSign, "sign 不能为空", "sign missing")
		return
	}
	app, known := m.apps[appID]
	switch {
	case !known:
		fail(vivoBadAppID, "appId 不合法", "unknown appId %s", appID)
		return
	case appKey != app.AppKey:
		fail(vivoBadAppKey, "appKey 不合法", "appKey is not appId %s's", appID)
		return
	case !tsOK || len(strconv.FormatInt(ts, 10)) != 13:
		fail(vivoBadTimestamp, "timestamp 不合法", "timestamp %s is not a 13-digit millisecond number", f["timestamp"])
		return
	}
	if d := now.Sub(time.UnixMilli(ts)); d > 10*time.Minute || d < -10*time.Minute {
		fail(vivoBadTimestamp, "timestamp 不合法", "timestamp is %s off, outside ±10 minutes", d)
		return
	}
	sum := md5.Sum([]byte(appID + appKey + strconv.FormatInt(ts, 10) + app.AppSecret))
	if sign != hex.EncodeToString(sum[:]) {
		fail(vivoBadSign, "sign 不合法", "sign is not lowercase md5(appId+appKey+timestamp+appSecret)")
		return
	}
	tok := "vivo-" + vivoRandomHex(16)
	m.mu.Lock()
	m.tokens[tok] = vivoToken{appID: appID, exp: now.Add(24 * time.Hour)}
	m.authCalls[appID]++
	m.mu.Unlock()
	vivoAnswer(w, map[string]any{"result": vivoOK, "desc": "请求成功", "authToken": tok})
}

// vivoMessageKeys are the fields of send and saveListPayload bodies.
var vivoMessageKeys = map[string]bool{
	"appId": true, "regId": true, "alias": true, "notifyType": true, "title": true, "content": true,
	"timeToLive": true, "skipType": true, "skipContent": true, "networkType": true, "classification": true,
	"category": true, "requestId": true, "clientCustomMap": true, "extra": true, "pushMode": true,
	"notifyId": true, "profileId": true, "sendOnline": true, "foregroundShow": true, "timedDisplay": true,
	"auditReview": true,
}

// vivoCategories maps each second-level category to its classification.
var vivoCategories = map[string]int{
	"IM": 1, "ACCOUNT": 1, "TODO": 1, "DEVICE_REMINDER": 1, "ORDER": 1, "SUBSCRIPTION": 1,
	"NEWS": 0, "CONTENT": 0, "MARKETING": 0, "SOCIAL": 0,
}

func (m *VivoMock) message(w http.ResponseWriter, r *http.Request, body []byte, f map[string]json.RawMessage, appID string, send bool) {
	p := r.URL.Path
	regID, code, problem := checkVivoMessage(f, send)
	if problem != "" {
		m.Log.Fail("vivo %s: %s", p, problem)
		vivoAnswer(w, map[string]any{"result": code, "desc": problem})
		return
	}
	var targets []string
	if send {
		targets = []string{regID}
	}
	m.Log.Add(Received{Path: p, Header: r.Header.Clone(), Body: body, Targets: targets})
	if forced, ok := m.nextForced(); ok {
		vivoAnswer(w, map[string]any{"result": forced.code, "desc": forced.desc})
		return
	}
	taskID := vivoRandomHex(10)
	if !send {
		m.mu.Lock()
		m.tasks[taskID] = appID
		m.mu.Unlock()
		vivoAnswer(w, map[string]any{"result": vivoOK, "desc": "请求成功", "taskId": taskID})
		return
	}
	switch m.Script.For(regID) {
	case Busy:
		vivoAnswer(w, map[string]any{"result": vivoTooFast, "desc": "发送频率过快"})
	case Quota:
		vivoAnswer(w, map[string]any{"result": vivoDailyTotal, "desc": "发送总量超出限制"})
	case Invalid:
		vivoAnswer(w, map[string]any{"result": vivoOK, "desc": "请求成功", "taskId": taskID,
			"invalidUser": map[string]any{"status": 1, "userid": regID}})
	default:
		vivoAnswer(w, map[string]any{"result": vivoOK, "desc": "请求成功", "taskId": taskID})
	}
}

func (m *VivoMock) pushToList(w http.ResponseWriter, r *http.Request, body []byte, f map[string]json.RawMessage, appID string) {
	p := r.URL.Path
	fail := func(code int, format string, args ...any) {
		desc := fmt.Sprintf(format, args...)
		m.Log.Fail("vivo %s: %s", p, desc)
		vivoAnswer(w, map[string]any{"result": code, "desc": desc})
	}
	for k := range f {
		switch k {
		case "appId", "regIds", "taskId", "requestId", "pushMode", "extra":
		default:
			fail(vivoInvalidParam, "unknown field %q", k)
			return
		}
	}
	var regIDs []string
	if err := json.Unmarshal(f["regIds"], &regIDs); err != nil {
		fail(vivoInvalidParam, "regIds must be an array of strings")
		return
	}
	if len(regIDs) < 2 || len(regIDs) > 1000 {
		fail(vivoInvalidParam, "%d regIds, want 2 to 1000", len(regIDs))
		return
	}
	for _, id := range regIDs {
		if id == "" {
			fail(vivoInvalidParam, "empty regId")
			return
		}
	}
	var taskID, requestID string
	if json.Unmarshal(f["taskId"], &taskID) != nil || taskID == "" {
		fail(vivoUnknownTask, "taskId must be saveListPayload's taskId string")
		return
	}
	m.mu.Lock()
	owner, known := m.tasks[taskID]
	m.mu.Unlock()
	if !known || owner != appID {
		fail(vivoUnknownTask, "taskId %q was not issued by saveListPayload for appId %s", taskID, appID)
		return
	}
	if json.Unmarshal(f["requestId"], &requestID) != nil || requestID == "" || utf8.RuneCountInString(requestID) > 64 {
		fail(vivoInvalidParam, "requestId must be 1 to 64 characters")
		return
	}
	if mode, ok := vivoNumber(f["pushMode"]); len(f["pushMode"]) > 0 && (!ok || mode != 0 && mode != 1) {
		fail(vivoInvalidParam, "pushMode must be 0 or 1")
		return
	}
	m.Log.Add(Received{Path: p, Header: r.Header.Clone(), Body: body, Targets: regIDs})
	if forced, ok := m.nextForced(); ok {
		vivoAnswer(w, map[string]any{"result": forced.code, "desc": forced.desc})
		return
	}
	invalid := []map[string]any{}
	busy, quota := false, false
	for _, id := range regIDs {
		switch m.Script.For(id) {
		case Busy:
			busy = true
		case Quota:
			quota = true
		case Invalid:
			invalid = append(invalid, map[string]any{"status": 1, "userid": id})
		}
	}
	switch {
	case busy:
		vivoAnswer(w, map[string]any{"result": vivoTooFast, "desc": "发送频率过快"})
	case quota:
		vivoAnswer(w, map[string]any{"result": vivoDailyTotal, "desc": "发送总量超出限制"})
	default:
		vivoAnswer(w, map[string]any{"result": vivoOK, "desc": "请求成功", "requestId": requestID, "taskId": taskID, "invalidUsers": invalid})
	}
}

// checkVivoMessage checks a send (with regId) or saveListPayload (without)
// body and returns its regId, or the code and reason to refuse it with.
func checkVivoMessage(f map[string]json.RawMessage, send bool) (string, int, string) {
	for k := range f {
		if !vivoMessageKeys[k] {
			return "", vivoInvalidParam, fmt.Sprintf("unknown field %q", k)
		}
	}
	str := func(k string) (string, bool) {
		v, ok := f[k]
		if !ok {
			return "", true
		}
		var s string
		return s, json.Unmarshal(v, &s) == nil
	}
	for _, k := range []string{"regId", "alias", "title", "content", "skipContent", "category", "requestId", "profileId"} {
		if _, ok := str(k); !ok {
			return "", vivoInvalidParam, k + " must be a string"
		}
	}
	num := func(k string) (int64, bool, string) {
		v, ok := f[k]
		if !ok {
			return 0, false, ""
		}
		n, good := vivoNumber(v)
		if !good || v[0] == '"' {
			return 0, true, k + " must be a number"
		}
		return n, true, ""
	}
	regID, _ := str("regId")
	alias, _ := str("alias")
	switch {
	case send && regID == "" && alias == "":
		return "", vivoInvalidParam, "regId is required"
	case !send && (regID != "" || alias != ""):
		return "", vivoInvalidParam, "saveListPayload takes no regId or alias"
	}
	notifyType, set, bad := num("notifyType")
	if bad != "" {
		return "", vivoInvalidParam, bad
	}
	if !set || notifyType < 1 || notifyType > 4 {
		return "", vivoInvalidParam, "notifyType must be 1 to 4"
	}
	title, _ := str("title")
	if l := utf8.RuneCountInString(title); l == 0 || l > 40 {
		return "", vivoInvalidParam, fmt.Sprintf("title is %d characters, want 1 to 40", l)
	}
	content, _ := str("content")
	if l := utf8.RuneCountInString(content); l == 0 || l > 100 {
		return "", vivoInvalidParam, fmt.Sprintf("content is %d characters, want 1 to 100", l)
	}
	if ttl, set, bad := num("timeToLive"); bad != "" || set && (ttl < 60 || ttl > 86400) {
		return "", vivoInvalidParam, fmt.Sprintf("timeToLive %s, want 60 to 86400 seconds", f["timeToLive"])
	}
	skipType, set, bad := num("skipType")
	if bad != "" || !set || skipType < 1 || skipType > 4 {
		return "", vivoInvalidParam, "skipType must be 1 to 4"
	}
	skipContent, _ := str("skipContent")
	if skipType > 1 && skipContent == "" {
		return "", vivoInvalidParam, fmt.Sprintf("skipContent is required for skipType %d", skipType)
	}
	if utf8.RuneCountInString(skipContent) > 1024 {
		return "", vivoInvalidParam, "skipContent is over 1024 characters"
	}
	classification, set, bad := num("classification")
	if bad != "" || set && classification != 0 && classification != 1 {
		return "", vivoInvalidParam, "classification must be 0 or 1"
	}
	if category, _ := str("category"); category != "" {
		class, known := vivoCategories[category]
		if !known {
			return "", vivoInvalidCategory, fmt.Sprintf("unknown category %q", category)
		}
		if set && int64(class) != classification {
			return "", vivoCategoryMismatch, fmt.Sprintf("category %s does not match classification %d", category, classification)
		}
	}
	requestID, _ := str("requestId")
	if l := utf8.RuneCountInString(requestID); l == 0 || l > 64 {
		return "", vivoInvalidParam, fmt.Sprintf("requestId is %d characters, want 1 to 64", l)
	}
	if raw, ok := f["clientCustomMap"]; ok {
		var cm map[string]string
		if err := json.Unmarshal(raw, &cm); err != nil {
			return "", vivoInvalidParam, "clientCustomMap must map strings to strings"
		}
		total := 0
		for k, v := range cm {
			total += utf8.RuneCountInString(k) + utf8.RuneCountInString(v)
		}
		if total > 1024 {
			return "", vivoInvalidParam, fmt.Sprintf("clientCustomMap is %d characters, want at most 1024", total)
		}
	}
	if mode, set, bad := num("pushMode"); bad != "" || set && mode != 0 && mode != 1 {
		return "", vivoInvalidParam, "pushMode must be 0 or 1"
	}
	if id, set, bad := num("notifyId"); bad != "" || set && (id < 1 || id > 2147483647) {
		return "", vivoInvalidParam, "notifyId must be 1 to 2147483647"
	}
	if raw, ok := f["sendOnline"]; ok {
		var b bool
		if json.Unmarshal(raw, &b) != nil {
			return "", vivoInvalidParam, "sendOnline must be a boolean"
		}
	}
	return regID, vivoOK, ""
}

func (m *VivoMock) nextForced() (vivoForced, bool) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if len(m.forced) == 0 {
		return vivoForced{}, false
	}
	f := m.forced[0]
	m.forced = m.forced[1:]
	return f, true
}

// vivoAppID reads appId: a JSON number as vivo's doc types it, or a numeric
// string, which the mock also accepts as whether vivo does is unconfirmed
// [?].
func vivoAppID(raw json.RawMessage) (string, bool) {
	n, ok := vivoNumber(raw)
	if !ok || n <= 0 {
		return "", false
	}
	return strconv.FormatInt(n, 10), true
}

// vivoNumber reads a JSON integer, or an integer in a string.
func vivoNumber(raw json.RawMessage) (int64, bool) {
	raw = bytes.TrimSpace(raw)
	if len(raw) == 0 {
		return 0, false
	}
	s := string(raw)
	if raw[0] == '"' {
		if err := json.Unmarshal(raw, &s); err != nil {
			return 0, false
		}
	}
	n, err := strconv.ParseInt(s, 10, 64)
	return n, err == nil
}

func vivoAnswer(w http.ResponseWriter, v any) {
	var buf bytes.Buffer
	_ = json.NewEncoder(&buf).Encode(v)
	w.Header().Set("Content-Type", "application/json;charset=UTF-8")
	_, _ = w.Write(buf.Bytes())
}

func vivoRandomHex(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}
