package oppo

import (
	"encoding/json"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/offpush/offpush/shared/vendors/vendortest"
)

// These tests hold the mock to OPPO's rules: a client bug must not pass.

// mockPost posts a form and returns OPPO's code and any auth_token.
func mockPost(t *testing.T, m *vendortest.OPPOMock, path string, form url.Values) (int, string) {
	t.Helper()
	resp, err := m.Server().Client().Post(m.URL()+path, "application/x-www-form-urlencoded", strings.NewReader(form.Encode()))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	var a struct {
		Code int `json:"code"`
		Data struct {
			AuthToken string `json:"auth_token"`
		} `json:"data"`
	}
	if err := json.Unmarshal(b, &a); err != nil {
		t.Fatalf("%s: %s", path, b)
	}
	return a.Code, a.Data.AuthToken
}

func mockToken(t *testing.T, m *vendortest.OPPOMock) string {
	ts := strconv.FormatInt(time.Now().UnixMilli(), 10)
	code, tok := mockPost(t, m, AuthPath, url.Values{"app_key": {"appkey1"}, "timestamp": {ts}, "sign": {Sign("appkey1", ts, "mastersecret1")}})
	if code != 0 || tok == "" {
		t.Fatalf("auth code %d", code)
	}
	return tok
}

func TestMockAuthChecks(t *testing.T) {
	now := time.Now()
	for _, tt := range []struct {
		name string
		form url.Values
		code int
	}{
		{"stale timestamp", url.Values{"app_key": {"appkey1"}, "timestamp": {ms(now.Add(-11 * time.Minute))}, "sign": {Sign("appkey1", ms(now.Add(-11*time.Minute)), "mastersecret1")}}, 19},
		{"seconds timestamp", url.Values{"app_key": {"appkey1"}, "timestamp": {strconv.FormatInt(now.Unix(), 10)}, "sign": {Sign("appkey1", strconv.FormatInt(now.Unix(), 10), "mastersecret1")}}, 19},
		{"wrong sign", url.Values{"app_key": {"appkey1"}, "timestamp": {ms(now)}, "sign": {Sign("appkey1", ms(now), "other")}}, 16},
		{"uppercase sign", url.Values{"app_key": {"appkey1"}, "timestamp": {ms(now)}, "sign": {strings.ToUpper(Sign("appkey1", ms(now), "mastersecret1"))}}, 16},
		{"no sign", url.Values{"app_key": {"appkey1"}, "timestamp": {ms(now)}}, 17},
		{"wrong app key", url.Values{"app_key": {"other"}, "timestamp": {ms(now)}, "sign": {Sign("other", ms(now), "mastersecret1")}}, 14},
	} {
		t.Run(tt.name, func(t *testing.T) {
			m := newMock(t)
			if code, _ := mockPost(t, m, AuthPath, tt.form); code != tt.code {
				t.Errorf("code %d, want %d", code, tt.code)
			}
			if len(m.Log.Failures()) != 1 || m.AuthCalls() != 0 {
				t.Errorf("failures %q, auth calls %d", m.Log.Failures(), m.AuthCalls())
			}
		})
	}
}

func ms(t time.Time) string { return strconv.FormatInt(t.UnixMilli(), 10) }

func TestMockSendChecks(t *testing.T) {
	good := func() map[string]any {
		return map[string]any{"target_type": 2, "target_value": "CN_abc", "notification": map[string]any{
			"title": "t", "content": "c", "channel_id": "chat", "click_action_type": 0, "off_line": true, "off_line_ttl": 3600,
			"category": "IM", "notify_level": 2,
		}}
	}
	edit := func(f func(n map[string]any)) map[string]any {
		msg := good()
		f(msg["notification"].(map[string]any))
		return msg
	}
	for _, tt := range []struct {
		name string
		msg  map[string]any
		code int
	}{
		{"good", good(), 0},
		{"camelCase key", edit(func(n map[string]any) { n["channelId"] = "chat" }), 41},
		{"no channel", edit(func(n map[string]any) { delete(n, "channel_id") }), 40},
		{"title over 50", edit(func(n map[string]any) { n["title"] = strings.Repeat("字", 51) }), 41},
		{"content over 50 in style 1", edit(func(n map[string]any) { n["content"] = strings.Repeat("c", 51) }), 41},
		{"content of 128 in style 2", edit(func(n map[string]any) { n["content"], n["style"] = strings.Repeat("c", 128), 2 }), 0},
		{"ttl over 10 days", edit(func(n map[string]any) { n["off_line_ttl"] = 864001 }), 41},
		{"action parameters not JSON", edit(func(n map[string]any) { n["action_parameters"] = "a=b" }), 41},
		{"url action without url", edit(func(n map[string]any) { n["click_action_type"] = 2 }), 41},
		{"notify level without category", edit(func(n map[string]any) { delete(n, "category") }), 67},
		{"string type", edit(func(n map[string]any) { n["notify_level"] = "2" }), 41},
	} {
		t.Run(tt.name, func(t *testing.T) {
			m := newMock(t)
			tok := mockToken(t, m)
			b, _ := json.Marshal(tt.msg)
			if code, _ := mockPost(t, m, UnicastPath, url.Values{"auth_token": {tok}, "message": {string(b)}}); code != tt.code {
				t.Errorf("code %d, want %d (failures %q)", code, tt.code, m.Log.Failures())
			}
			if fails := len(m.Log.Failures()); (tt.code != 0) != (fails == 1) {
				t.Errorf("failures %q", m.Log.Failures())
			}
		})
	}

	m := newMock(t)
	tok := mockToken(t, m)
	msgs := make([]map[string]any, 1001)
	for i := range msgs {
		msgs[i] = good()
	}
	b, _ := json.Marshal(msgs)
	if code, _ := mockPost(t, m, BatchPath, url.Values{"auth_token": {tok}, "messages": {string(b)}}); code != 41 || len(m.Log.Failures()) != 1 {
		t.Errorf("1001 messages: code %d, failures %q", code, m.Log.Failures())
	}
	if code, _ := mockPost(t, m, UnicastPath, url.Values{"message": {"{}"}}); code != 29 {
		t.Errorf("no auth_token: code %d", code)
	}
	if code, _ := mockPost(t, m, UnicastPath, url.Values{"auth_token": {"made-up"}, "message": {"{}"}}); code != 11 {
		t.Errorf("unknown auth_token: code %d", code)
	}
	resp, err := m.Server().Client().Post(m.URL()+UnicastPath, "application/json", strings.NewReader("{}"))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK || len(m.Log.Failures()) != 3 {
		t.Errorf("JSON body: %d, failures %q", resp.StatusCode, m.Log.Failures())
	}
}
