package vendortest

import (
	"crypto"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/tls"
	"encoding/base64"
	"encoding/json"
	"io"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"
)

type fcmClaims map[string]any

func (m *FCMMock) testClaims() fcmClaims {
	now := time.Now().Unix()
	return fcmClaims{"iss": m.ClientEmail, "aud": m.tokenURI, "scope": fcmScope, "iat": now - 10, "exp": now + 3590}
}

func signJWT(t *testing.T, key *rsa.PrivateKey, header, claims map[string]any) string {
	t.Helper()
	enc := func(v any) string {
		b, err := json.Marshal(v)
		if err != nil {
			t.Fatal(err)
		}
		return base64.RawURLEncoding.EncodeToString(b)
	}
	signing := enc(header) + "." + enc(claims)
	sum := sha256.Sum256([]byte(signing))
	sig, err := rsa.SignPKCS1v15(rand.Reader, key, crypto.SHA256, sum[:])
	if err != nil {
		t.Fatal(err)
	}
	return signing + "." + base64.RawURLEncoding.EncodeToString(sig)
}

func fcmTokenRequest(t *testing.T, m *FCMMock, assertion string) (*http.Response, map[string]any) {
	t.Helper()
	client := &http.Client{Transport: &http.Transport{TLSClientConfig: m.clientTLS(t)}}
	resp, err := client.PostForm(m.tokenURI, url.Values{"grant_type": {fcmJWTBearer}, "assertion": {assertion}})
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var body map[string]any
	_ = json.NewDecoder(resp.Body).Decode(&body)
	return resp, body
}

func (m *FCMMock) clientTLS(t *testing.T) *tls.Config {
	t.Helper()
	return ClientTLS(m.srv)
}

func TestFCMMockTokenEndpoint(t *testing.T) {
	m := NewFCM(t, Options{})
	header := map[string]any{"alg": "RS256", "typ": "JWT", "kid": m.keyID}
	other, err := rsa.GenerateKey(rand.Reader, 1024)
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name  string
		key   *rsa.PrivateKey
		edit  func(h map[string]any, c fcmClaims)
		ok    bool
		fails bool
	}{
		{"valid", fcmKey, nil, true, false},
		{"signed by another key", other, nil, false, true},
		{"wrong issuer", fcmKey, func(_ map[string]any, c fcmClaims) { c["iss"] = "someone@else" }, false, true},
		{"wrong audience", fcmKey, func(_ map[string]any, c fcmClaims) { c["aud"] = "https://oauth2.googleapis.com/token" }, false, true},
		{"no scope", fcmKey, func(_ map[string]any, c fcmClaims) { delete(c, "scope") }, false, true},
		{"unrelated scope", fcmKey, func(_ map[string]any, c fcmClaims) { c["scope"] = "https://www.googleapis.com/auth/userinfo.email" }, false, true},
		{"expired", fcmKey, func(_ map[string]any, c fcmClaims) { c["exp"] = time.Now().Add(-time.Minute).Unix() }, false, true},
		{"over an hour", fcmKey, func(_ map[string]any, c fcmClaims) { c["exp"] = c["iat"].(int64) + 7200 }, false, true},
		{"issued in the future", fcmKey, func(_ map[string]any, c fcmClaims) { c["iat"] = time.Now().Add(time.Hour).Unix() }, false, true},
		{"HS256", fcmKey, func(h map[string]any, _ fcmClaims) { h["alg"] = "HS256" }, false, true},
		{"wrong kid", fcmKey, func(h map[string]any, _ fcmClaims) { h["kid"] = "nope" }, false, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			m.Log = Log{}
			h := map[string]any{}
			for k, v := range header {
				h[k] = v
			}
			c := m.testClaims()
			if tt.edit != nil {
				tt.edit(h, c)
			}
			resp, body := fcmTokenRequest(t, m, signJWT(t, tt.key, h, c))
			if ok := resp.StatusCode == http.StatusOK && body["access_token"] != nil; ok != tt.ok {
				t.Errorf("status %d body %v, want ok=%v", resp.StatusCode, body, tt.ok)
			}
			if !tt.ok && body["error"] != "invalid_grant" {
				t.Errorf("error %v, want invalid_grant", body["error"])
			}
			if fails := len(m.Log.Failures()) > 0; fails != tt.fails {
				t.Errorf("failures %v, want some=%v", m.Log.Failures(), tt.fails)
			}
		})
	}
}

func TestFCMMockSendChecks(t *testing.T) {
	m := NewFCM(t, Options{})
	_, tok := fcmTokenRequest(t, m, signJWT(t, fcmKey, map[string]any{"alg": "RS256", "typ": "JWT", "kid": m.keyID}, m.testClaims()))
	access, _ := tok["access_token"].(string)
	if access == "" {
		t.Fatalf("no access token: %v", tok)
	}
	client := &http.Client{Transport: &http.Transport{TLSClientConfig: m.clientTLS(t)}}
	send := func(project, bearer, contentType, body string) (*http.Response, string) {
		req, err := http.NewRequest(http.MethodPost, m.URL()+"/v1/projects/"+project+"/messages:send", strings.NewReader(body))
		if err != nil {
			t.Fatal(err)
		}
		if bearer != "" {
			req.Header.Set("Authorization", "Bearer "+bearer)
		}
		req.Header.Set("Content-Type", contentType)
		resp, err := client.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp, string(b)
	}
	good := `{"message":{"token":"tok","notification":{"title":"t","body":"b"},"data":{"ext":"{}"},"android":{"ttl":"60s","priority":"high","notification":{"channel_id":"c","notification_count":2}}}}`
	tests := []struct {
		name     string
		project  string
		bearer   string
		ctype    string
		body     string
		status   int
		contains string
		fails    bool
	}{
		{"valid", m.ProjectID, access, "application/json", good, 200, `"name":"projects/offpush-test/messages/0:`, false},
		{"validate only", m.ProjectID, access, "application/json", `{"validate_only":true,"message":{"token":"tok"}}`, 200, "fake_message_id", false},
		{"no bearer", m.ProjectID, "", "application/json", good, 401, "UNAUTHENTICATED", true},
		{"unknown bearer", m.ProjectID, "ya29.forged", "application/json", good, 401, "UNAUTHENTICATED", true},
		{"other project", "someone-else", access, "application/json", good, 403, "PERMISSION_DENIED", true},
		{"form body", m.ProjectID, access, "application/x-www-form-urlencoded", good, 400, "INVALID_ARGUMENT", true},
		{"unknown top-level field", m.ProjectID, access, "application/json", `{"message":{"token":"t"},"dry_run":true}`, 400, "INVALID_ARGUMENT", true},
		{"no target", m.ProjectID, access, "application/json", `{"message":{"notification":{"title":"t"}}}`, 400, "exactly one", true},
		{"two targets", m.ProjectID, access, "application/json", `{"message":{"token":"t","topic":"news"}}`, 400, "exactly one", true},
		{"data value not a string", m.ProjectID, access, "application/json", `{"message":{"token":"t","data":{"n":1}}}`, 400, "INVALID_ARGUMENT", true},
		{"reserved data key", m.ProjectID, access, "application/json", `{"message":{"token":"t","data":{"google.sent":"x"}}}`, 400, "reserved", true},
		{"ttl as a number", m.ProjectID, access, "application/json", `{"message":{"token":"t","android":{"ttl":60}}}`, 400, "INVALID_ARGUMENT", true},
		{"ttl without unit", m.ProjectID, access, "application/json", `{"message":{"token":"t","android":{"ttl":"60"}}}`, 400, "ttl", true},
		{"ttl over 28 days", m.ProjectID, access, "application/json", `{"message":{"token":"t","android":{"ttl":"2419201s"}}}`, 400, "ttl", true},
		{"priority enum", m.ProjectID, access, "application/json", `{"message":{"token":"t","android":{"priority":"urgent"}}}`, 400, "priority", true},
		{"unknown android field", m.ProjectID, access, "application/json", `{"message":{"token":"t","android":{"badge":1}}}`, 400, "INVALID_ARGUMENT", true},
		{"negative count", m.ProjectID, access, "application/json", `{"message":{"token":"t","android":{"notification":{"notification_count":-1}}}}`, 400, "notification_count", true},
		{"over 4096 bytes", m.ProjectID, access, "application/json", `{"message":{"token":"t","data":{"ext":"` + strings.Repeat("x", 4096) + `"}}}`, 400, "4096", true},
		{"dead token", m.ProjectID, access, "application/json", `{"message":{"token":"invalid-1"}}`, 404, `"errorCode":"UNREGISTERED"`, false},
		{"quota", m.ProjectID, access, "application/json", `{"message":{"token":"quota-1"}}`, 429, `"errorCode":"QUOTA_EXCEEDED"`, false},
		{"busy", m.ProjectID, access, "application/json", `{"message":{"token":"busy1-1"}}`, 503, `"errorCode":"UNAVAILABLE"`, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			m.Log = Log{}
			resp, body := send(tt.project, tt.bearer, tt.ctype, tt.body)
			if resp.StatusCode != tt.status || !strings.Contains(body, tt.contains) {
				t.Errorf("got %d %s, want %d with %q", resp.StatusCode, body, tt.status, tt.contains)
			}
			if fails := len(m.Log.Failures()) > 0; fails != tt.fails {
				t.Errorf("failures %v, want some=%v", m.Log.Failures(), tt.fails)
			}
		})
	}

	// An expired token is refused like a real one past its hour, and that
	// is no client bug.
	m.Log = Log{}
	m.ExpireTokens()
	if resp, body := send(m.ProjectID, access, "application/json", good); resp.StatusCode != 401 || !strings.Contains(body, "UNAUTHENTICATED") {
		t.Errorf("expired token: %d %s", resp.StatusCode, body)
	}
	m.Log.CheckClean(t)
}

// TestFCMMockChecksOnceABody: a body that differs from a checked one only
// in its token is not decoded again, and anything else still is.
func TestFCMMockChecksOnceABody(t *testing.T) {
	var c fcmChecked
	body := func(tok, extra string) []byte {
		return []byte(`{"message":{"token":"` + tok + `","data":{"ext":"{}"` + extra + `},"android":{"priority":"high"}}}`)
	}
	for _, tok := range []string{"tok-1", "tok-2", `tok-\u0033`} {
		got, _, err := c.check(body(tok, ""))
		if want := strings.ReplaceAll(tok, `\u0033`, "3"); err != nil || got != want {
			t.Fatalf("check(%s) = %q, %v; want %q", tok, got, err, want)
		}
	}
	if len(c.bodies) != 1 {
		t.Fatalf("%d bodies remembered, want 1 for three that differ only in their token", len(c.bodies))
	}
	// A different body is decoded, and its broken rule found.
	if _, _, err := c.check(body("tok-4", `,"from":"x"`)); err == nil || !strings.Contains(err.Error(), "reserved") {
		t.Fatalf("reserved data key: %v, want it refused", err)
	}
	// An empty token is no token, even in a remembered shape.
	if _, _, err := c.check(body("", "")); err == nil {
		t.Fatal("an empty token passed")
	}
	// "token" as a data key: never remembered, and the message's token is
	// the one returned.
	withKey := []byte(`{"message":{"data":{"token":"not-it"},"token":"tok-5"}}`)
	for range 2 {
		if got, _, err := c.check(withKey); err != nil || got != "tok-5" {
			t.Fatalf("check with a data key named token = %q, %v; want tok-5", got, err)
		}
	}
	if len(c.bodies) != 1 {
		t.Fatalf("%d bodies remembered, want the body with two \"token\": keys left out", len(c.bodies))
	}
}
