package httpapi_test

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/offpush/offpush/shared/auth"
	"github.com/offpush/offpush/shared/cert"
	"github.com/offpush/offpush/shared/device"
	"github.com/offpush/offpush/shared/httpapi"
	"github.com/offpush/offpush/shared/store"
	"github.com/offpush/offpush/shared/store/embedded"
)

const (
	testSecret   = "0123456789abcdef0123456789abcdef-test"
	testAdminKey = "admin-key-0123456789"
)

type api struct {
	t     *testing.T
	h     http.Handler
	store store.Store
	logs  *bytes.Buffer
}

func newAPI(t testing.TB) *api {
	t.Helper()
	st := embedded.OpenMemory(store.Options{MaxDevices: 3})
	ver, err := auth.NewVerifier(context.Background(), auth.JWTConfig{HS256Secret: []byte(testSecret)})
	if err != nil {
		t.Fatal(err)
	}
	admins, err := auth.NewAdminKeys([]string{testAdminKey, "second-admin-key-42"})
	if err != nil {
		t.Fatal(err)
	}
	logs := &bytes.Buffer{}
	log := slog.New(slog.NewJSONHandler(logs, nil))
	h := httpapi.NewHandler(httpapi.Deps{Users: ver, Admins: admins, Log: log},
		httpapi.DeviceRoutes(st), httpapi.StateRoutes(st), httpapi.AdminRoutes(st))
	return &api{t: t.(*testing.T), h: h, store: st, logs: logs}
}

func userToken(t testing.TB, user string) string {
	tok, err := auth.MintHS256([]byte(testSecret), user, time.Hour, time.Now(), "", "")
	if err != nil {
		t.Fatal(err)
	}
	return tok
}

type resp struct {
	Status int
	Header http.Header
	Body   []byte
}

func (r resp) json(t *testing.T) map[string]any {
	t.Helper()
	var m map[string]any
	if err := json.Unmarshal(r.Body, &m); err != nil {
		t.Fatalf("response is not a JSON object: %q", r.Body)
	}
	return m
}

// do sends a request. auth is "user:<id>", "admin", a raw "Bearer …" header
// or "" for none. body may be a string, []byte or a value to marshal.
func (a *api) do(method, path, authz string, body any, hdr ...string) resp {
	a.t.Helper()
	var rd io.Reader
	switch b := body.(type) {
	case nil:
	case string:
		rd = strings.NewReader(b)
	case []byte:
		rd = bytes.NewReader(b)
	default:
		raw, err := json.Marshal(b)
		if err != nil {
			a.t.Fatal(err)
		}
		rd = bytes.NewReader(raw)
	}
	req := httptest.NewRequest(method, path, rd)
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	switch {
	case authz == "admin":
		req.Header.Set("Authorization", "Bearer "+testAdminKey)
	case strings.HasPrefix(authz, "user:"):
		req.Header.Set("Authorization", "Bearer "+userToken(a.t, strings.TrimPrefix(authz, "user:")))
	case authz != "":
		req.Header.Set("Authorization", authz)
	}
	for i := 0; i+1 < len(hdr); i += 2 {
		req.Header.Set(hdr[i], hdr[i+1])
	}
	rec := httptest.NewRecorder()
	a.h.ServeHTTP(rec, req)
	return resp{Status: rec.Code, Header: rec.Header(), Body: rec.Body.Bytes()}
}

// wantError checks an error response: status, code and field.
func wantError(t *testing.T, r resp, status int, code, field string) {
	t.Helper()
	if r.Status != status {
		t.Fatalf("status %d, want %d; body %s", r.Status, status, r.Body)
	}
	if ct := r.Header.Get("Content-Type"); ct != "application/json" {
		t.Fatalf("error Content-Type %q", ct)
	}
	var body struct {
		Error struct {
			Code, Message, Field string
		}
	}
	if err := json.Unmarshal(r.Body, &body); err != nil {
		t.Fatalf("error body not JSON: %q", r.Body)
	}
	if body.Error.Code != code || body.Error.Field != field || body.Error.Message == "" {
		t.Fatalf("error %+v, want code %q field %q and a message", body.Error, code, field)
	}
}

func p8Key(t testing.TB) string {
	k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	der, err := x509.MarshalPKCS8PrivateKey(k)
	if err != nil {
		t.Fatal(err)
	}
	return string(pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der}))
}

func apnsCert(t testing.TB, id int64) map[string]any {
	return map[string]any{"id": id, "vendor": "apns", "name": "ios-prod",
		"apns": map[string]any{"environment": "production", "bundleId": "com.example.chat", "teamId": "ABCDE12345",
			"keyId": "KEY1234567", "privateKey": p8Key(t)}}
}

func huaweiCert(id int64) map[string]any {
	return map[string]any{"id": id, "vendor": "huawei", "name": "hw", "huawei": map[string]any{"appId": "104000001", "appSecret": "hw-secret-value"},
		"badgeClass": "com.example.chat.MainActivity"}
}

const apnsToken = "9f3a0000000000000000000000000000000000000000000000000000000000ab"

func (a *api) setup() {
	a.t.Helper()
	for _, c := range []map[string]any{apnsCert(a.t, 10001), huaweiCert(10002)} {
		if r := a.do("POST", "/v1/certificates", "admin", c); r.Status != http.StatusCreated {
			a.t.Fatalf("create certificate: %d %s", r.Status, r.Body)
		}
	}
}

func TestDeviceLifecycle(t *testing.T) {
	a := newAPI(t)
	a.setup()

	r := a.do("PUT", "/v1/devices/iphone-1", "user:alice", map[string]any{
		"certificateId": 10001, "token": apnsToken, "platform": "ios", "appVersion": "2.3.0",
		"locale": "zh-CN", "timezone": "Asia/Shanghai", "someNewField": "ignored on app routes"})
	if r.Status != http.StatusOK {
		t.Fatalf("upload: %d %s", r.Status, r.Body)
	}
	d := r.json(t)
	for k, want := range map[string]any{"deviceId": "iphone-1", "userId": "alice", "certificateId": 10001.0, "vendor": "apns",
		"platform": "ios", "state": "background", "status": "active", "unreadCount": 0.0, "tokenSuffix": "00ab",
		"appVersion": "2.3.0", "locale": "zh-CN", "timezone": "Asia/Shanghai"} {
		if d[k] != want {
			t.Errorf("device %s = %v, want %v", k, d[k], want)
		}
	}
	for _, k := range []string{"createdAt", "updatedAt", "expiresAt"} {
		if _, err := time.Parse(time.RFC3339, fmt.Sprint(d[k])); err != nil {
			t.Errorf("device %s = %v, not RFC 3339", k, d[k])
		}
	}
	if bytes.Contains(r.Body, []byte(apnsToken)) {
		t.Fatal("upload response carries the full token")
	}

	r = a.do("PUT", "/v1/devices/iphone-1/state", "user:alice", map[string]any{"state": "foreground", "unreadCount": 3})
	if r.Status != http.StatusOK || r.json(t)["state"] != "foreground" || r.json(t)["unreadCount"] != 3.0 {
		t.Fatalf("state: %d %s", r.Status, r.Body)
	}
	r = a.do("GET", "/v1/devices", "user:alice", nil)
	var list struct{ Devices []map[string]any }
	json.Unmarshal(r.Body, &list)
	if r.Status != http.StatusOK || len(list.Devices) != 1 || list.Devices[0]["state"] != "foreground" {
		t.Fatalf("list: %d %s", r.Status, r.Body)
	}
	// Another user sees only their own (none).
	r = a.do("GET", "/v1/devices", "user:bob", nil)
	if r.Status != http.StatusOK || string(bytes.TrimSpace(r.Body)) != `{"devices":[]}` {
		t.Fatalf("bob's list: %d %s", r.Status, r.Body)
	}

	// Account switch: bob uploads the same token on the same phone.
	r = a.do("PUT", "/v1/devices/iphone-1", "user:bob", map[string]any{"certificateId": 10001, "token": apnsToken, "platform": "ios"})
	if r.Status != http.StatusOK {
		t.Fatalf("bob upload: %d %s", r.Status, r.Body)
	}
	r = a.do("GET", "/v1/users/alice", "admin", nil)
	var user struct {
		UserID  string
		Tags    []string
		Devices []map[string]any
	}
	if err := json.Unmarshal(r.Body, &user); err != nil || r.Status != http.StatusOK {
		t.Fatalf("push check: %d %s", r.Status, r.Body)
	}
	if len(user.Devices) != 1 || user.Devices[0]["status"] != "logged_out" || user.Devices[0]["tokenSuffix"] != "" {
		t.Fatalf("alice after bob took the token: %s", r.Body)
	}
	if _, ok := user.Devices[0]["lastResult"]; !ok || user.Tags == nil {
		t.Fatalf("push check lacks lastResult or tags: %s", r.Body)
	}

	// Logout is idempotent.
	for i := 0; i < 2; i++ {
		if r = a.do("DELETE", "/v1/devices/iphone-1", "user:bob", nil); r.Status != http.StatusNoContent || len(r.Body) != 0 {
			t.Fatalf("delete #%d: %d %s", i, r.Status, r.Body)
		}
	}
	r = a.do("GET", "/v1/devices", "user:bob", nil)
	json.Unmarshal(r.Body, &list)
	if len(list.Devices) != 1 || list.Devices[0]["status"] != "logged_out" {
		t.Fatalf("bob after logout: %s", r.Body)
	}
	if bytes.Contains(a.logs.Bytes(), []byte(apnsToken)) {
		t.Fatal("a log line carries the full token")
	}
}

func TestKick(t *testing.T) {
	a := newAPI(t)
	a.setup()
	for _, id := range []string{"p1", "p2"} {
		a.do("PUT", "/v1/devices/"+id, "user:alice", map[string]any{"certificateId": 10002, "token": "hw-token-" + id, "platform": "android"})
	}
	r := a.do("POST", "/v1/users/alice/kick", "admin", map[string]any{"keepDeviceId": "p2"})
	if r.Status != http.StatusOK {
		t.Fatalf("kick: %d %s", r.Status, r.Body)
	}
	var out struct{ Devices []map[string]any }
	json.Unmarshal(r.Body, &out)
	got := map[string]any{}
	for _, d := range out.Devices {
		got[d["deviceId"].(string)] = d["status"]
	}
	if got["p1"] != "kicked" || got["p2"] != "active" {
		t.Fatalf("after kick: %v", got)
	}
	// An empty body kicks every device.
	r = a.do("POST", "/v1/users/alice/kick", "admin", nil)
	if r.Status != http.StatusOK || bytes.Contains(r.Body, []byte(`"active"`)) {
		t.Fatalf("kick all: %d %s", r.Status, r.Body)
	}
	// An empty body labelled as a form (curl -d '') is still no body.
	if r := a.do("POST", "/v1/users/alice/kick", "admin", "", "Content-Type", "application/x-www-form-urlencoded"); r.Status != http.StatusOK {
		t.Fatalf("kick with an empty form body: %d %s", r.Status, r.Body)
	}
	wantError(t, a.do("POST", "/v1/users/alice/kick", "admin", "keepDeviceId=p1", "Content-Type", "application/x-www-form-urlencoded"), 415, "unsupported_media_type", "")
	wantError(t, a.do("POST", "/v1/users/alice/kick", "admin", map[string]any{"keepDeviceId": "nope"}), 404, "not_found", "")
	wantError(t, a.do("POST", "/v1/users/nobody/kick", "admin", nil), 404, "not_found", "")
	wantError(t, a.do("POST", "/v1/users/alice/kick", "admin", map[string]any{"keepDevice": "p1"}), 400, "invalid_argument", "keepDevice")
	wantError(t, a.do("POST", "/v1/users/alice/kick", "admin", map[string]any{"keepDeviceId": "bad id!"}), 400, "invalid_argument", "keepDeviceId")
}

func TestCertificates(t *testing.T) {
	a := newAPI(t)
	key := p8Key(t)
	c := apnsCert(t, 0)
	c["apns"].(map[string]any)["privateKey"] = key
	delete(c, "id")
	r := a.do("POST", "/v1/certificates", "admin", c)
	if r.Status != http.StatusCreated {
		t.Fatalf("create: %d %s", r.Status, r.Body)
	}
	created := r.json(t)
	id := int64(created["id"].(float64))
	if id < store.FirstCertificateID {
		t.Fatalf("assigned id %d", id)
	}
	if bytes.Contains(r.Body, []byte("PRIVATE KEY")) || bytes.Contains(r.Body, []byte("privateKey")) {
		t.Fatalf("create response carries the key: %s", r.Body)
	}
	path := fmt.Sprintf("/v1/certificates/%d", id)
	for _, p := range []string{path, "/v1/certificates"} {
		r = a.do("GET", p, "admin", nil)
		if r.Status != http.StatusOK || bytes.Contains(r.Body, []byte("PRIVATE KEY")) {
			t.Fatalf("GET %s: %d %s", p, r.Status, r.Body)
		}
	}
	// Rename without resending the key: the stored key is kept.
	c["name"] = "ios-renamed"
	delete(c["apns"].(map[string]any), "privateKey")
	r = a.do("PUT", path, "admin", c)
	if r.Status != http.StatusOK || r.json(t)["name"] != "ios-renamed" {
		t.Fatalf("replace: %d %s", r.Status, r.Body)
	}
	stored, err := a.store.GetCertificate(context.Background(), id)
	if err != nil || stored.APNs.PrivateKey != key {
		t.Fatalf("replace lost the stored key: %v", err)
	}
	// The vendor cannot change.
	hw := huaweiCert(id)
	wantError(t, a.do("PUT", path, "admin", hw), 400, "invalid_argument", "vendor")
	// Path and body IDs must agree.
	c["id"] = id + 1
	wantError(t, a.do("PUT", path, "admin", c), 400, "invalid_argument", "id")
	delete(c, "id")
	wantError(t, a.do("PUT", "/v1/certificates/999", "admin", c), 404, "not_found", "")

	// Duplicate ID, validation errors naming the field, unknown fields.
	dup := huaweiCert(id)
	wantError(t, a.do("POST", "/v1/certificates", "admin", dup), 409, "conflict", "id")
	bad := huaweiCert(0)
	bad["huawei"].(map[string]any)["appSecret"] = ""
	wantError(t, a.do("POST", "/v1/certificates", "admin", bad), 400, "invalid_argument", "huawei.appSecret")
	badKey := apnsCert(t, 0)
	badKey["apns"].(map[string]any)["privateKey"] = "-----BEGIN PRIVATE KEY-----\nnot a key\n-----END PRIVATE KEY-----"
	wantError(t, a.do("POST", "/v1/certificates", "admin", badKey), 400, "invalid_argument", "apns.privateKey")
	unknown := huaweiCert(0)
	unknown["colour"] = "blue"
	wantError(t, a.do("POST", "/v1/certificates", "admin", unknown), 400, "invalid_argument", "colour")
	wantError(t, a.do("POST", "/v1/certificates", "admin", `{"id": "10001"}`), 400, "invalid_argument", "id")
	wantError(t, a.do("GET", "/v1/certificates/abc", "admin", nil), 400, "invalid_argument", "id")
	wantError(t, a.do("GET", "/v1/certificates/0", "admin", nil), 400, "invalid_argument", "id")
	wantError(t, a.do("GET", "/v1/certificates/424242", "admin", nil), 404, "not_found", "")

	if r = a.do("DELETE", path, "admin", nil); r.Status != http.StatusNoContent {
		t.Fatalf("delete: %d %s", r.Status, r.Body)
	}
	wantError(t, a.do("DELETE", path, "admin", nil), 404, "not_found", "")
	if bytes.Contains(a.logs.Bytes(), []byte("PRIVATE KEY")) || bytes.Contains(a.logs.Bytes(), []byte("hw-secret-value")) {
		t.Fatal("a secret reached the logs")
	}
}

func TestAuthentication(t *testing.T) {
	a := newAPI(t)
	a.setup()
	expired, err := auth.MintHS256([]byte(testSecret), "alice", time.Minute, time.Now().Add(-time.Hour), "", "")
	if err != nil {
		t.Fatal(err)
	}
	wrongKey, _ := auth.MintHS256([]byte("another-secret-0123456789abcdef-xx"), "alice", time.Hour, time.Now(), "", "")
	appCases := map[string]string{
		"none":      "",
		"malformed": "Basic abc",
		"garbage":   "Bearer not.a.jwt",
		"expired":   "Bearer " + expired,
		"wrong key": "Bearer " + wrongKey,
		"admin key": "Bearer " + testAdminKey,
	}
	for name, h := range appCases {
		t.Run("app/"+name, func(t *testing.T) {
			wantError(t, a.do("GET", "/v1/devices", h, nil), 401, "unauthenticated", "")
			wantError(t, a.do("PUT", "/v1/devices/d1", h, map[string]any{"certificateId": 10001, "token": apnsToken, "platform": "ios"}), 401, "unauthenticated", "")
		})
	}
	adminCases := map[string]string{
		"none":      "",
		"wrong key": "Bearer wrong-admin-key-000000",
		"user jwt":  "Bearer " + userToken(t, "alice"),
	}
	for name, h := range adminCases {
		t.Run("admin/"+name, func(t *testing.T) {
			wantError(t, a.do("GET", "/v1/certificates", h, nil), 401, "unauthenticated", "")
			wantError(t, a.do("GET", "/v1/users/alice", h, nil), 401, "unauthenticated", "")
		})
	}
	// Both rotated admin keys work.
	if r := a.do("GET", "/v1/certificates", "Bearer second-admin-key-42", nil); r.Status != http.StatusOK {
		t.Fatalf("second admin key: %d", r.Status)
	}
	if r := a.do("GET", "/healthz", "", nil); r.Status != http.StatusOK || r.json(t)["status"] != "ok" {
		t.Fatalf("healthz: %d %s", r.Status, r.Body)
	}
}

func TestBadInputKeepsStoredData(t *testing.T) {
	a := newAPI(t)
	a.setup()
	good := map[string]any{"certificateId": 10001, "token": apnsToken, "platform": "ios"}
	if r := a.do("PUT", "/v1/devices/d1", "user:alice", good); r.Status != http.StatusOK {
		t.Fatalf("upload: %d %s", r.Status, r.Body)
	}
	before := a.do("GET", "/v1/devices", "user:alice", nil).Body

	with := func(k string, v any) map[string]any {
		m := map[string]any{}
		for kk, vv := range good {
			m[kk] = vv
		}
		if v == nil {
			delete(m, k)
		} else {
			m[k] = v
		}
		return m
	}
	big := strings.Repeat("x", httpapi.AppBodyLimit)
	cases := []struct {
		name, method, path string
		body               any
		hdr                []string
		status             int
		code, field        string
	}{
		{"bad device id", "PUT", "/v1/devices/bad%20id", good, nil, 400, "invalid_argument", "deviceId"},
		{"long device id", "PUT", "/v1/devices/" + strings.Repeat("a", 129), good, nil, 400, "invalid_argument", "deviceId"},
		{"missing certificate", "PUT", "/v1/devices/d1", with("certificateId", nil), nil, 400, "invalid_argument", "certificateId"},
		{"certificate as string", "PUT", "/v1/devices/d1", with("certificateId", "10001"), nil, 400, "invalid_argument", "certificateId"},
		{"certificate fraction", "PUT", "/v1/devices/d1", with("certificateId", 1.5), nil, 400, "invalid_argument", "certificateId"},
		{"unknown certificate", "PUT", "/v1/devices/d1", with("certificateId", 424242), nil, 400, "invalid_argument", "certificateId"},
		{"token not hex", "PUT", "/v1/devices/d1", with("token", "zz"+apnsToken[2:]), nil, 400, "invalid_argument", "token"},
		{"token short", "PUT", "/v1/devices/d1", with("token", "abcd"), nil, 400, "invalid_argument", "token"},
		{"token missing", "PUT", "/v1/devices/d1", with("token", nil), nil, 400, "invalid_argument", "token"},
		{"token number", "PUT", "/v1/devices/d1", with("token", 5), nil, 400, "invalid_argument", "token"},
		{"bad platform", "PUT", "/v1/devices/d1", with("platform", "windows"), nil, 400, "invalid_argument", "platform"},
		{"android on apns", "PUT", "/v1/devices/d1", with("platform", "android"), nil, 400, "invalid_argument", "platform"},
		{"ios on huawei", "PUT", "/v1/devices/d1", map[string]any{"certificateId": 10002, "token": "t", "platform": "ios"}, nil, 400, "invalid_argument", "platform"},
		{"long app version", "PUT", "/v1/devices/d1", with("appVersion", strings.Repeat("9", 65)), nil, 400, "invalid_argument", "appVersion"},
		{"control in locale", "PUT", "/v1/devices/d1", with("locale", "zh\nCN"), nil, 400, "invalid_argument", "locale"},
		{"malformed json", "PUT", "/v1/devices/d1", `{"certificateId": 10001,`, nil, 400, "invalid_argument", ""},
		{"array body", "PUT", "/v1/devices/d1", `[1,2]`, nil, 400, "invalid_argument", ""},
		{"two values", "PUT", "/v1/devices/d1", `{} {}`, nil, 400, "invalid_argument", ""},
		{"empty body", "PUT", "/v1/devices/d1", "", nil, 400, "invalid_argument", ""},
		{"too large", "PUT", "/v1/devices/d1", `{"token":"` + big + `"}`, nil, 413, "payload_too_large", ""},
		{"not json", "PUT", "/v1/devices/d1", `certificateId=10001`, []string{"Content-Type", "application/x-www-form-urlencoded"}, 415, "unsupported_media_type", ""},
		{"text plain", "PUT", "/v1/devices/d1/state", `{"state":"background"}`, []string{"Content-Type", "text/plain"}, 415, "unsupported_media_type", ""},
		{"bad state", "PUT", "/v1/devices/d1/state", map[string]any{"state": "asleep"}, nil, 400, "invalid_argument", "state"},
		{"negative unread", "PUT", "/v1/devices/d1/state", map[string]any{"state": "background", "unreadCount": -1}, nil, 400, "invalid_argument", "unreadCount"},
		{"huge unread", "PUT", "/v1/devices/d1/state", map[string]any{"state": "background", "unreadCount": 100000}, nil, 400, "invalid_argument", "unreadCount"},
		{"unread string", "PUT", "/v1/devices/d1/state", map[string]any{"state": "background", "unreadCount": "3"}, nil, 400, "invalid_argument", "unreadCount"},
		{"unknown device state", "PUT", "/v1/devices/nope/state", map[string]any{"state": "background"}, nil, 404, "not_found", ""},
		{"unknown route", "GET", "/v1/nothing", nil, nil, 404, "not_found", ""},
		{"wrong method", "PATCH", "/v1/devices/d1", good, nil, 405, "method_not_allowed", ""},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			wantError(t, a.do(c.method, c.path, "user:alice", c.body, c.hdr...), c.status, c.code, c.field)
			if after := a.do("GET", "/v1/devices", "user:alice", nil).Body; !bytes.Equal(after, before) {
				t.Fatalf("stored data changed:\n before %s\n after  %s", before, after)
			}
		})
	}
}

func TestContentTypeWithCharset(t *testing.T) {
	a := newAPI(t)
	a.setup()
	r := a.do("PUT", "/v1/devices/d1", "user:alice", map[string]any{"certificateId": 10002, "token": "hw-token", "platform": "android"},
		"Content-Type", "application/json; charset=utf-8")
	if r.Status != http.StatusOK {
		t.Fatalf("upload with charset: %d %s", r.Status, r.Body)
	}
}

func TestDecodeUpload(t *testing.T) {
	up, err := httpapi.DecodeUpload([]byte(`{"certificateId":10001,"token":"abc","platform":"android","extra":[1]}`), "alice", "d1")
	if err != nil || up.CertificateID != 10001 || up.Token != "abc" || up.UserID != "alice" || up.DeviceID != "d1" {
		t.Fatalf("DecodeUpload = %+v, %v", up, err)
	}
}

// FuzzDecodeUpload checks that no body makes upload decoding panic, and that
// every rejection is a 400 naming a field or the body.
func FuzzDecodeUpload(f *testing.F) {
	f.Add([]byte(`{"certificateId":10001,"token":"` + apnsToken + `","platform":"ios"}`))
	f.Fuzz(func(t *testing.T, body []byte) {
		up, err := httpapi.DecodeUpload(body, "alice", "d1")
		if err != nil {
			var fe *device.FieldError
			var he *httpapi.Error
			if !errors.As(err, &fe) && !(errors.As(err, &he) && he.Status == http.StatusBadRequest) {
				t.Fatalf("rejection %T %v is neither a field error nor a 400", err, err)
			}
			return
		}
		if err := up.Validate(); err != nil {
			t.Fatalf("DecodeUpload accepted an invalid upload: %v", err)
		}
	})
}

// BenchmarkUpload measures the token-upload handler end to end on the
// in-memory embedded store: JWT verification, decoding, validation, the
// store transaction and the response.
func BenchmarkUpload(b *testing.B) {
	st := embedded.OpenMemory(store.Options{})
	ver, _ := auth.NewVerifier(context.Background(), auth.JWTConfig{HS256Secret: []byte(testSecret)})
	h := httpapi.NewHandler(httpapi.Deps{Users: ver, Log: slog.New(slog.NewTextHandler(io.Discard, nil))},
		httpapi.DeviceRoutes(st), httpapi.AdminRoutes(st))
	if _, err := st.CreateCertificate(context.Background(), mustCert(b)); err != nil {
		b.Fatal(err)
	}
	tok := "Bearer " + userToken(b, "alice")
	body := []byte(`{"certificateId":10002,"token":"hw-token-0123456789","platform":"android","appVersion":"2.3.0"}`)
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		req := httptest.NewRequest("PUT", "/v1/devices/d1", bytes.NewReader(body))
		req.Header.Set("Content-Type", "application/json")
		req.Header.Set("Authorization", tok)
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, req)
		if rec.Code != http.StatusOK {
			b.Fatalf("upload: %d %s", rec.Code, rec.Body)
		}
	}
}

func mustCert(tb testing.TB) cert.Certificate {
	c := cert.Certificate{ID: 10002, Vendor: device.Huawei, Name: "hw", Huawei: &cert.Huawei{AppID: "104000001", AppSecret: "hw-secret-value"}}
	if err := c.Validate(); err != nil {
		tb.Fatal(err)
	}
	return c
}
