package vivo

import (
	"bytes"
	"encoding/json"
	"io"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/offpush/offpush/shared/vendors/vendortest"
)

// These tests hold the mock to vivo's rules: a client bug must not pass.

// mockPost posts a JSON body and returns vivo's answer fields.
func mockPost(t *testing.T, m *vendortest.VivoMock, path, token string, body any) map[string]any {
	t.Helper()
	b, _ := json.Marshal(body)
	req, _ := http.NewRequest(http.MethodPost, m.URL()+path, bytes.NewReader(b))
	req.Header.Set("Content-Type", "application/json")
	if token != "" {
		req.Header.Set("authToken", token)
	}
	resp, err := m.Server().Client().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	var a map[string]any
	if err := json.Unmarshal(raw, &a); err != nil {
		t.Fatalf("%s: %s", path, raw)
	}
	return a
}

func result(a map[string]any) int {
	f, _ := a["result"].(float64)
	return int(f)
}

func authBody(appID, appKey, secret string, ts int64) map[string]any {
	id, _ := strconv.ParseInt(appID, 10, 64)
	return map[string]any{"appId": id, "appKey": appKey, "timestamp": ts, "sign": Sign(appID, appKey, strconv.FormatInt(ts, 10), secret)}
}

func mockToken(t *testing.T, m *vendortest.VivoMock, app vendortest.VivoApp) string {
	t.Helper()
	a := mockPost(t, m, AuthPath, "", authBody(app.AppID, app.AppKey, app.AppSecret, time.Now().UnixMilli()))
	tok, _ := a["authToken"].(string)
	if result(a) != 0 || tok == "" {
		t.Fatalf("auth: %v", a)
	}
	return tok
}

func TestMockAuthChecks(t *testing.T) {
	app := testApp()
	now := time.Now()
	for _, tt := range []struct {
		name string
		body map[string]any
	}{
		{"wrong sign", authBody(app.AppID, app.AppKey, "other", now.UnixMilli())},
		{"timestamp 11 minutes ahead", authBody(app.AppID, app.AppKey, app.AppSecret, now.Add(11*time.Minute).UnixMilli())},
		{"timestamp in seconds", authBody(app.AppID, app.AppKey, app.AppSecret, now.Unix())},
		{"wrong appKey", authBody(app.AppID, "other", app.AppSecret, now.UnixMilli())},
		{"unknown appId", authBody("999", app.AppKey, app.AppSecret, now.UnixMilli())},
	} {
		t.Run(tt.name, func(t *testing.T) {
			m := newMock(t)
			if a := mockPost(t, m, AuthPath, "", tt.body); result(a) == 0 {
				t.Errorf("accepted: %v", a)
			}
			if len(m.Log.Failures()) != 1 {
				t.Errorf("failures %q", m.Log.Failures())
			}
		})
	}
}

func TestMockAuthRate(t *testing.T) {
	m := newMock(t)
	app := testApp()
	for range 11 {
		mockPost(t, m, AuthPath, "", authBody(app.AppID, app.AppKey, app.AppSecret, time.Now().UnixMilli()))
	}
	if f := m.Log.Failures(); len(f) != 1 || !strings.Contains(f[0], "within one second") {
		t.Errorf("11 auth calls at once: failures %q", f)
	}
}

func TestMockSendChecks(t *testing.T) {
	good := func() map[string]any {
		return map[string]any{"appId": testAppID, "regId": "r1", "notifyType": 4, "title": "t", "content": "c",
			"timeToLive": 3600, "skipType": 1, "classification": 1, "category": "IM", "requestId": "req-1", "pushMode": 0}
	}
	edit := func(f func(b map[string]any)) map[string]any {
		b := good()
		f(b)
		return b
	}
	for _, tt := range []struct {
		name string
		body map[string]any
		code int
	}{
		{"good", good(), 0},
		{"appId of another app", edit(func(b map[string]any) { b["appId"] = 10005 }), 10094},
		{"title over 40", edit(func(b map[string]any) { b["title"] = strings.Repeat("标", 41) }), 10050},
		{"content over 100", edit(func(b map[string]any) { b["content"] = strings.Repeat("c", 101) }), 10050},
		{"timeToLive over a day", edit(func(b map[string]any) { b["timeToLive"] = 86401 }), 10050},
		{"timeToLive under a minute", edit(func(b map[string]any) { b["timeToLive"] = 59 }), 10050},
		{"url skip without content", edit(func(b map[string]any) { b["skipType"] = 2 }), 10050},
		{"unknown category", edit(func(b map[string]any) { b["category"] = "CHAT" }), 10096},
		{"category of the other classification", edit(func(b map[string]any) { b["classification"] = 0 }), 10097},
		{"requestId over 64", edit(func(b map[string]any) { b["requestId"] = strings.Repeat("r", 65) }), 10050},
		{"unknown field", edit(func(b map[string]any) { b["reg_id"] = "x" }), 10050},
		{"number as string", edit(func(b map[string]any) { b["notifyType"] = "4" }), 10050},
		{"clientCustomMap over 1024", edit(func(b map[string]any) { b["clientCustomMap"] = map[string]string{"ext": strings.Repeat("e", 1022)} }), 10050},
	} {
		t.Run(tt.name, func(t *testing.T) {
			m := vendortest.NewVivo(t, vendortest.Options{}, testApp(), vendortest.VivoApp{AppID: "10005", AppKey: "k5", AppSecret: "s5"})
			tok := mockToken(t, m, testApp())
			if a := mockPost(t, m, SendPath, tok, tt.body); result(a) != tt.code {
				t.Errorf("result %v, want %d", a, tt.code)
			}
			if fails := len(m.Log.Failures()); (tt.code != 0) != (fails == 1) {
				t.Errorf("failures %q", m.Log.Failures())
			}
		})
	}
}

func TestMockListChecks(t *testing.T) {
	m := newMock(t)
	tok := mockToken(t, m, testApp())
	payload := map[string]any{"appId": testAppID, "notifyType": 4, "title": "t", "content": "c", "skipType": 1,
		"classification": 1, "category": "IM", "requestId": "req-1", "pushMode": 0}
	a := mockPost(t, m, SaveListPayloadPath, tok, payload)
	task, _ := a["taskId"].(string)
	if result(a) != 0 || task == "" {
		t.Fatalf("saveListPayload: %v", a)
	}
	regIDs := func(n int) []string {
		out := make([]string, n)
		for i := range out {
			out[i] = "r" + strconv.Itoa(i)
		}
		return out
	}
	list := func(ids []string, task string) map[string]any {
		return map[string]any{"appId": testAppID, "regIds": ids, "taskId": task, "requestId": "req-2", "pushMode": 0}
	}
	if a := mockPost(t, m, PushToListPath, tok, list(regIDs(2), task)); result(a) != 0 {
		t.Errorf("2 regIds: %v", a)
	}
	m.Log.CheckClean(t)
	for _, tt := range []struct {
		name string
		body map[string]any
		path string
	}{
		{"one regId", list(regIDs(1), task), PushToListPath},
		{"1001 regIds", list(regIDs(1001), task), PushToListPath},
		{"unknown taskId", list(regIDs(2), "made-up"), PushToListPath},
		{"saveListPayload with regId", func() map[string]any {
			p := map[string]any{}
			for k, v := range payload {
				p[k] = v
			}
			p["regId"] = "r1"
			return p
		}(), SaveListPayloadPath},
	} {
		before := len(m.Log.Failures())
		if a := mockPost(t, m, tt.path, tok, tt.body); result(a) == 0 {
			t.Errorf("%s accepted: %v", tt.name, a)
		}
		if len(m.Log.Failures()) != before+1 {
			t.Errorf("%s: not recorded as a failure", tt.name)
		}
	}
	if a := mockPost(t, m, SendPath, "", payload); result(a) != CodeAuthFailed {
		t.Errorf("no authToken: %v", a)
	}
	if a := mockPost(t, m, SendPath, "made-up", payload); result(a) != CodeAuthFailed {
		t.Errorf("unknown authToken: %v", a)
	}
}
