package vendortest

import (
	"encoding/json"
	"fmt"
	"io"
	"mime"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"testing"
	"unicode/utf8"
)

// Xiaomi answer codes the mock uses. 21301 and 21305 are documented; the
// others are what public senders act on [?], see the xiaomi package.
const (
	XiaomiCodeAuth         = 21301
	XiaomiCodeMissingParam = 21305
	XiaomiCodeInvalidParam = 10017 // "invalid parameter value" [?]
	XiaomiCodeInvalidRegID = 20301
	XiaomiCodeDailyQuota   = 200001
)

// XiaomiSendPath is the send-by-regId path the mock serves, under any
// prefix (so a base-URL override with a path can be tested).
const XiaomiSendPath = "/v3/message/regid"

// XiaomiMock is a strict mock of Xiaomi MiPush's send-by-regId API over TLS.
// It checks the Authorization key, the form content type, the required
// fields, the regId count (at most 1000), title and description lengths,
// numeric millisecond time_to_live and the extra.* rules, and answers by the
// script:
//
//	invalid-…  listed in data.bad_regids of a success; when every regId of
//	           the request is invalid, error 20301 instead
//	busy<N>-…  HTTP 503 for the whole request, N times
//	quota-…    error 200001 (daily limit) for the whole request
type XiaomiMock struct {
	Log    *Log
	Script *Script
	srv    *httptest.Server
	opts   Options
	secret string
	pkg    string

	mu  sync.Mutex
	ids int
}

// NewXiaomi starts a Xiaomi mock accepting appSecret for packageName.
func NewXiaomi(tb testing.TB, opts Options, appSecret, packageName string) *XiaomiMock {
	tb.Helper()
	m := &XiaomiMock{Log: &Log{}, Script: &Script{}, opts: opts, secret: appSecret, pkg: packageName}
	m.srv = NewTLSServer(tb, m)
	return m
}

// URL is the mock's base URL, for OFFPUSH_XIAOMI_URL.
func (m *XiaomiMock) URL() string { return m.srv.URL }

// CAFile writes the mock's certificate for OFFPUSH_VENDOR_CA_FILE.
func (m *XiaomiMock) CAFile(tb testing.TB) string { return CAFile(tb, m.srv) }

// Server is the underlying test server.
func (m *XiaomiMock) Server() *httptest.Server { return m.srv }

// xiaomiFields are the top-level parameters of /v3/message/regid; extra.*
// keys are checked apart.
var xiaomiFields = map[string]bool{
	"registration_id": true, "restricted_package_name": true, "pass_through": true,
	"title": true, "description": true, "payload": true, "notify_type": true,
	"notify_id": true, "time_to_live": true, "time_to_send": true,
}

// xiaomiExtras are Xiaomi's predefined extra.* keys; any other extra key is
// a custom pair (at most 10, each key and value at most 1024 characters).
var xiaomiExtras = map[string]bool{
	"sound_uri": true, "ticker": true, "notify_foreground": true, "notify_effect": true,
	"intent_uri": true, "web_uri": true, "flow_control": true, "jobkey": true,
	"callback": true, "callback.param": true, "callback.type": true,
	"locale": true, "locale_not_in": true, "model": true, "model_not_in": true,
	"app_version": true, "app_version_not_in": true, "connpt": true, "only_send_once": true,
	"channel_id": true, "channel_name": true, "channel_description": true,
}

const xiaomiMaxTTL = 14 * 24 * 3600 * 1000 // two weeks in milliseconds

// ServeHTTP checks one send request and answers it.
func (m *XiaomiMock) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	m.opts.Delay(r)
	if r.Method != http.MethodPost {
		m.Log.Fail("xiaomi: method %s, want POST", r.Method)
		http.Error(w, "method not allowed", http.StatusMethodNotAllowed)
		return
	}
	if !strings.HasSuffix(r.URL.Path, XiaomiSendPath) {
		m.Log.Fail("xiaomi: path %s, want …%s", r.URL.Path, XiaomiSendPath)
		http.NotFound(w, r)
		return
	}
	if got := r.Header.Get("Authorization"); got != "key="+m.secret {
		m.Log.Fail("xiaomi: Authorization header is not key=<AppSecret>")
		m.fail(w, XiaomiCodeAuth, "认证失败", "Authentication failed")
		return
	}
	mt, params, err := mime.ParseMediaType(r.Header.Get("Content-Type"))
	if err != nil || mt != "application/x-www-form-urlencoded" || (params["charset"] != "" && !strings.EqualFold(params["charset"], "UTF-8")) {
		m.Log.Fail("xiaomi: Content-Type %q, want application/x-www-form-urlencoded;charset=UTF-8", r.Header.Get("Content-Type"))
		m.fail(w, XiaomiCodeMissingParam, "缺少必要的参数", "Must input one of: regid/topic/alias/userAccount")
		return
	}
	body, err := io.ReadAll(io.LimitReader(r.Body, 1<<20))
	if err != nil {
		m.Log.Fail("xiaomi: read body: %v", err)
		http.Error(w, "bad body", http.StatusBadRequest)
		return
	}
	form, err := url.ParseQuery(string(body))
	if err != nil {
		m.Log.Fail("xiaomi: body is not a URL-encoded form: %v", err)
		m.fail(w, XiaomiCodeMissingParam, "缺少必要的参数", "unreadable form")
		return
	}
	regIDs, code, msg := m.check(form)
	if code != 0 {
		m.Log.Fail("xiaomi: %s", msg)
		desc := "参数值非法"
		if code == XiaomiCodeMissingParam {
			desc = "缺少必要的参数"
		}
		m.fail(w, code, desc, msg)
		return
	}
	m.Log.Add(Received{Path: r.URL.Path, Header: r.Header.Clone(), Body: body, Targets: regIDs})

	var bad []string
	busy, quota := false, false
	for _, id := range regIDs {
		switch m.Script.For(id) {
		case Invalid:
			bad = append(bad, id)
		case Busy:
			busy = true
		case Quota:
			quota = true
		}
	}
	switch {
	case busy:
		w.Header().Set("Content-Type", "text/html")
		w.WriteHeader(http.StatusServiceUnavailable)
		io.WriteString(w, "<html><body><h1>503 Service Temporarily Unavailable</h1></body></html>")
		return
	case quota:
		m.fail(w, XiaomiCodeDailyQuota, "超过每日推送限制", "daily push quota exceeded")
		return
	case len(bad) == len(regIDs):
		m.fail(w, XiaomiCodeInvalidRegID, "无效的regid", "all regids are invalid")
		return
	}
	m.mu.Lock()
	m.ids++
	id := fmt.Sprintf("slm%08dmock", m.ids)
	m.mu.Unlock()
	data := map[string]string{"id": id, "day_acked": strconv.Itoa(len(regIDs)), "day_quota": "0"}
	if len(bad) > 0 {
		data["bad_regids"] = strings.Join(bad, ",")
	}
	xiaomiJSON(w, http.StatusOK, map[string]any{
		"result": "ok", "trace_id": "Xlm" + id, "code": 0, "description": "成功",
		"info": fmt.Sprintf("Received push messages for %d REGID", len(regIDs)), "data": data,
	})
}

// check applies Xiaomi's field rules and returns the regIds, or the error
// code and message to answer with.
func (m *XiaomiMock) check(f url.Values) ([]string, int, string) {
	for k, v := range f {
		if len(v) != 1 {
			return nil, XiaomiCodeInvalidParam, fmt.Sprintf("parameter %s given %d times", k, len(v))
		}
		if !xiaomiFields[k] && !strings.HasPrefix(k, "extra.") {
			return nil, XiaomiCodeInvalidParam, fmt.Sprintf("unknown parameter %s", k)
		}
	}
	for _, k := range []string{"registration_id", "restricted_package_name", "pass_through"} {
		if f.Get(k) == "" {
			return nil, XiaomiCodeMissingParam, "missing " + k
		}
	}
	if !xiaomiHasItem(f.Get("restricted_package_name"), m.pkg) {
		return nil, XiaomiCodeInvalidParam, fmt.Sprintf("restricted_package_name %q is not the app's %q", f.Get("restricted_package_name"), m.pkg)
	}
	regIDs := strings.Split(f.Get("registration_id"), ",")
	if len(regIDs) > 1000 {
		return nil, XiaomiCodeInvalidParam, fmt.Sprintf("%d regIds in one request, at most 1000", len(regIDs))
	}
	for _, id := range regIDs {
		if id == "" || strings.TrimSpace(id) != id {
			return nil, XiaomiCodeInvalidParam, "empty or padded regId in registration_id"
		}
	}
	switch f.Get("pass_through") {
	case "0":
		for _, c := range []struct {
			k   string
			max int
		}{{"title", 50}, {"description", 128}} {
			v := f.Get(c.k)
			if strings.TrimSpace(v) == "" {
				return nil, XiaomiCodeMissingParam, "missing or blank " + c.k + " for a notification"
			}
			if n := utf8.RuneCountInString(v); n >= c.max {
				return nil, XiaomiCodeInvalidParam, fmt.Sprintf("%s has %d characters, must be fewer than %d", c.k, n, c.max)
			}
		}
	case "1":
	default:
		return nil, XiaomiCodeInvalidParam, "pass_through must be 0 or 1"
	}
	if v := f.Get("notify_type"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n != -1 && (n < 1 || n > 7) {
			return nil, XiaomiCodeInvalidParam, "notify_type must be -1 or an OR of 1, 2, 4"
		}
	}
	if v := f.Get("notify_id"); v != "" {
		n, err := strconv.ParseInt(v, 10, 64)
		if err != nil || n < 0 || n > 2147483647 {
			return nil, XiaomiCodeInvalidParam, "notify_id must be an integer in 0..2147483647"
		}
	}
	if v := f.Get("time_to_live"); v != "" {
		n, err := strconv.ParseInt(v, 10, 64)
		if err != nil || n <= 0 || n > xiaomiMaxTTL {
			return nil, XiaomiCodeInvalidParam, fmt.Sprintf("time_to_live %q must be milliseconds in 1..%d", v, xiaomiMaxTTL)
		}
	}
	custom := 0
	for k, v := range f {
		name, ok := strings.CutPrefix(k, "extra.")
		if !ok {
			continue
		}
		if xiaomiExtras[name] {
			continue
		}
		custom++
		if utf8.RuneCountInString(name) > 1024 || utf8.RuneCountInString(v[0]) > 1024 {
			return nil, XiaomiCodeInvalidParam, fmt.Sprintf("extra.%s: key and value must be at most 1024 characters", name)
		}
	}
	if custom > 10 {
		return nil, XiaomiCodeInvalidParam, fmt.Sprintf("%d custom extra pairs, at most 10", custom)
	}
	switch f.Get("extra.notify_effect") {
	case "", "1":
	case "2":
		if f.Get("extra.intent_uri") == "" {
			return nil, XiaomiCodeMissingParam, "extra.notify_effect 2 needs extra.intent_uri"
		}
	case "3":
		if f.Get("extra.web_uri") == "" {
			return nil, XiaomiCodeMissingParam, "extra.notify_effect 3 needs extra.web_uri"
		}
	default:
		return nil, XiaomiCodeInvalidParam, "extra.notify_effect must be 1, 2 or 3"
	}
	return regIDs, 0, ""
}

// fail writes Xiaomi's error shape.
func (m *XiaomiMock) fail(w http.ResponseWriter, code int, description, reason string) {
	xiaomiJSON(w, http.StatusOK, map[string]any{
		"result": "error", "reason": reason, "trace_id": "Xcm0000mock", "code": code, "description": description,
	})
}

// xiaomiHasItem reports whether the comma-separated list holds item.
func xiaomiHasItem(list, item string) bool {
	for _, s := range strings.Split(list, ",") {
		if s == item {
			return true
		}
	}
	return false
}

// xiaomiJSON writes v as a JSON answer.
func xiaomiJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json;charset=UTF-8")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}
