package fcm

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"firebase.google.com/go/v4/messaging"

	"github.com/offpush/offpush/shared/cert"
	"github.com/offpush/offpush/shared/device"
	"github.com/offpush/offpush/shared/push"
	"github.com/offpush/offpush/shared/vendors/vendortest"
)

// memStore is a push.TokenStore shared by clients in a test.
type memStore struct {
	mu   sync.Mutex
	tok  map[string]string
	exp  map[string]time.Time
	puts int
}

func (s *memStore) GetVendorToken(_ context.Context, key string) (string, time.Time, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.tok[key], s.exp[key], nil
}

func (s *memStore) PutVendorToken(_ context.Context, key, token string, expiresAt time.Time) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.tok == nil {
		s.tok, s.exp = map[string]string{}, map[string]time.Time{}
	}
	s.tok[key], s.exp[key] = token, expiresAt
	s.puts++
	return nil
}

// mockCert is a certificate for the mock's service account, validated as
// the admin API validates it.
func mockCert(t testing.TB, mock *vendortest.FCMMock) cert.Certificate {
	t.Helper()
	c := cert.Certificate{
		ID: 10001, Vendor: device.FCM, Name: "android",
		FCM:              &cert.FCM{ServiceAccountJSON: mock.ServiceAccountJSON},
		DefaultChannelID: "chat_default",
	}
	if err := c.Validate(); err != nil {
		t.Fatalf("mock service account fails certificate validation: %v", err)
	}
	return c
}

type envOpt func(map[string]string, *push.EnvConfig)

func withURL(u string) envOpt {
	return func(m map[string]string, _ *push.EnvConfig) { m[push.URLFCM] = u }
}

func withStore(s push.TokenStore) envOpt {
	return func(_ map[string]string, c *push.EnvConfig) { c.Tokens = s }
}

func newEnv(t testing.TB, mock *vendortest.FCMMock, opts ...envOpt) *push.Env {
	t.Helper()
	vars := map[string]string{push.URLFCM: mock.URL(), push.CAFile: mock.CAFile}
	var cfg push.EnvConfig
	for _, o := range opts {
		o(vars, &cfg)
	}
	env, err := push.NewEnv(func(k string) string { return vars[k] }, cfg)
	if err != nil {
		t.Fatal(err)
	}
	return env
}

func newClient(t testing.TB, mock *vendortest.FCMMock, opts ...envOpt) *Client {
	t.Helper()
	c, err := New(mockCert(t, mock), newEnv(t, mock, opts...))
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func targets(tokens ...string) []push.Target {
	ts := make([]push.Target, len(tokens))
	for i, tok := range tokens {
		ts[i] = push.Target{Token: tok}
	}
	return ts
}

const sendPath = "/v1/projects/offpush-test/messages:send"

func TestSend(t *testing.T) {
	mock := vendortest.NewFCM(t, vendortest.Options{})
	c := newClient(t, mock)
	m := testMessage()
	res := c.Send(context.Background(), m, []push.Target{{Token: "tok-a", Badge: intp(2)}, {Token: "tok-b"}})
	for i, r := range res {
		if r.Outcome != push.Sent || !strings.HasPrefix(r.MessageID, "projects/offpush-test/messages/0:") {
			t.Errorf("result %d = %+v, want sent with a message name", i, r)
		}
	}
	got := mock.Log.Received()
	if len(got) != 2 {
		t.Fatalf("mock received %d requests, want 2", len(got))
	}
	for _, r := range got {
		if r.Path != sendPath {
			t.Errorf("path %s, want %s", r.Path, sendPath)
		}
		if v := r.Header.Get("X-GOOG-API-FORMAT-VERSION"); v != "2" {
			t.Errorf("X-GOOG-API-FORMAT-VERSION = %q", v)
		}
	}
	if n := mock.TokenRequests(); n != 1 {
		t.Errorf("token requests %d, want 1", n)
	}
	mock.Log.CheckClean(t)
}

// TestOutcomes covers every row of the §3 action table the mock can
// produce, in one Send, in input order.
func TestOutcomes(t *testing.T) {
	mock := vendortest.NewFCM(t, vendortest.Options{})
	c := newClient(t, mock)
	tests := []struct {
		token      string
		want       push.Outcome
		retryAfter time.Duration
		reason     string
	}{
		{"ok-1", push.Sent, 0, ""},
		{"invalid-1", push.InvalidToken, 0, "UNREGISTERED"},
		{"mismatch-1", push.InvalidToken, 0, "SENDER_ID_MISMATCH"},
		{"badtoken-1", push.InvalidToken, 0, "INVALID_ARGUMENT"},
		{"badarg-1", push.Rejected, 0, "INVALID_ARGUMENT"},
		{"quota-1", push.Retryable, time.Minute, "QUOTA_EXCEEDED"},
		{"busy1-1", push.Retryable, 3 * time.Second, "UNAVAILABLE"},
		{"internal-1", push.Retryable, 0, "INTERNAL"},
		{"unspecified-1", push.Retryable, 0, "UNSPECIFIED_ERROR"},
		{"thirdparty-1", push.Auth, 0, "THIRD_PARTY_AUTH_ERROR"},
		{"ok-2", push.Sent, 0, ""},
	}
	var ts []push.Target
	for _, tt := range tests {
		ts = append(ts, push.Target{Token: tt.token})
	}
	start := time.Now()
	res := c.Send(context.Background(), testMessage(), ts)
	if d := time.Since(start); d > 2*time.Second {
		t.Errorf("Send took %v: the SDK's own retries were not stopped", d)
	}
	for i, tt := range tests {
		r := res[i]
		if r.Outcome != tt.want || r.RetryAfter != tt.retryAfter || !strings.HasPrefix(r.Reason, tt.reason) {
			t.Errorf("%s: got %+v, want %s retryAfter %v reason %s…", tt.token, r, tt.want, tt.retryAfter, tt.reason)
		}
	}
	// One request per token: the 503 was not retried inside Send.
	if n := len(mock.Log.Received()); n != len(tests) {
		t.Errorf("mock received %d requests, want %d", n, len(tests))
	}
	// The caller's retry of the busy token succeeds (busy1: once).
	if r := c.Send(context.Background(), testMessage(), targets("busy1-1"))[0]; r.Outcome != push.Sent {
		t.Errorf("retried busy token: %+v", r)
	}
	mock.Log.CheckClean(t)
}

// TestManyTargetsInOrder sends past the SDK's 500-message SendEach limit
// with a small concurrency and checks every result lands at its index.
func TestManyTargetsInOrder(t *testing.T) {
	mock := vendortest.NewFCM(t, vendortest.Options{Latency: time.Millisecond})
	c, err := NewWithOptions(mockCert(t, mock), newEnv(t, mock), Options{Concurrency: 7})
	if err != nil {
		t.Fatal(err)
	}
	ts := make([]push.Target, 1001)
	for i := range ts {
		ts[i].Token = fmt.Sprintf("tok-%d", i)
		if i%97 == 0 {
			ts[i].Token = fmt.Sprintf("invalid-%d", i)
		}
	}
	res := c.Send(context.Background(), testMessage(), ts)
	if len(res) != len(ts) {
		t.Fatalf("%d results for %d targets", len(res), len(ts))
	}
	for i, r := range res {
		want := push.Sent
		if i%97 == 0 {
			want = push.InvalidToken
		}
		if r.Outcome != want {
			t.Fatalf("result %d = %+v, want %s", i, r, want)
		}
	}
	if n := len(mock.Log.Received()); n != 1001 {
		t.Errorf("mock received %d requests, want 1001 (one per device)", n)
	}
	if n := mock.TokenRequests(); n != 1 {
		t.Errorf("token requests %d, want 1 for all 1001 pushes", n)
	}
	mock.Log.CheckClean(t)
}

func TestTokenReusedAndShared(t *testing.T) {
	mock := vendortest.NewFCM(t, vendortest.Options{})
	store := &memStore{}
	a := newClient(t, mock, withStore(store))
	for range 3 {
		if r := a.Send(context.Background(), testMessage(), targets("tok"))[0]; r.Outcome != push.Sent {
			t.Fatalf("send: %+v", r)
		}
	}
	if n := mock.TokenRequests(); n != 1 {
		t.Errorf("token requests %d after 3 sends, want 1", n)
	}
	if store.puts != 1 {
		t.Errorf("token stored %d times, want 1", store.puts)
	}
	// Another container (a new client with the same store) takes the
	// stored token instead of fetching one.
	b := newClient(t, mock, withStore(store))
	if r := b.Send(context.Background(), testMessage(), targets("tok"))[0]; r.Outcome != push.Sent {
		t.Fatalf("send: %+v", r)
	}
	if n := mock.TokenRequests(); n != 1 {
		t.Errorf("token requests %d after a second client, want 1 (shared through the store)", n)
	}
	mock.Log.CheckClean(t)
}

// TestReauthOnce: an access token FCM refuses (401 UNAUTHENTICATED) is
// dropped and the push is sent again once with a new token.
func TestReauthOnce(t *testing.T) {
	mock := vendortest.NewFCM(t, vendortest.Options{})
	store := &memStore{}
	c := newClient(t, mock, withStore(store))
	if r := c.Send(context.Background(), testMessage(), targets("tok"))[0]; r.Outcome != push.Sent {
		t.Fatalf("send: %+v", r)
	}
	mock.ExpireTokens()
	res := c.Send(context.Background(), testMessage(), targets("tok-1", "tok-2", "tok-3"))
	for i, r := range res {
		if r.Outcome != push.Sent {
			t.Errorf("result %d after expiry = %+v, want sent", i, r)
		}
	}
	if n := mock.TokenRequests(); n != 2 {
		t.Errorf("token requests %d, want 2 (one refresh after expiry)", n)
	}
	mock.Log.CheckClean(t)
}

// TestAuthRefused: a service account the token endpoint refuses is Auth,
// never InvalidToken, and nothing reaches the send API.
func TestAuthRefused(t *testing.T) {
	mock := vendortest.NewFCM(t, vendortest.Options{})
	mock.RefuseAuth(true)
	c := newClient(t, mock)
	res := c.Send(context.Background(), testMessage(), targets("tok-1", "invalid-2"))
	for i, r := range res {
		if r.Outcome != push.Auth || !strings.Contains(r.Reason, "invalid_grant") {
			t.Errorf("result %d = %+v, want auth with invalid_grant", i, r)
		}
	}
	if n := len(mock.Log.Received()); n != 0 {
		t.Errorf("mock received %d sends", n)
	}
	mock.Log.CheckClean(t)
}

func TestInvalidArgumentBeforeSending(t *testing.T) {
	mock := vendortest.NewFCM(t, vendortest.Options{})
	c := newClient(t, mock)

	big := testMessage()
	big.Info.Ext = strings.Repeat("x", 5000)
	for i, r := range c.Send(context.Background(), big, targets("tok-1", "tok-2")) {
		if r.Outcome != push.InvalidArgument || !strings.Contains(r.Reason, "4096") {
			t.Errorf("oversize result %d = %+v", i, r)
		}
	}
	// One bad target does not hold back the others.
	res := c.Send(context.Background(), testMessage(), targets("tok-1", "", "tok-3"))
	if res[0].Outcome != push.Sent || res[1].Outcome != push.InvalidArgument || res[2].Outcome != push.Sent {
		t.Errorf("mixed results %+v", res)
	}
	if n := len(mock.Log.Received()); n != 2 {
		t.Errorf("mock received %d requests, want 2", n)
	}
	reqs, results := c.Requests(big, targets("tok-1"))
	if len(reqs) != 0 || results[0].Outcome != push.InvalidArgument {
		t.Errorf("Requests for an oversize message: %d requests, %+v", len(reqs), results)
	}
	mock.Log.CheckClean(t)
}

func TestDryRun(t *testing.T) {
	mock := vendortest.NewFCM(t, vendortest.Options{})
	c := newClient(t, mock)
	m := testMessage()
	m.DryRun = true
	res := c.Send(context.Background(), m, targets("tok-1", "invalid-2"))
	if r := res[0]; r.Outcome != push.Sent || r.Reason != "dry_run" || !strings.HasSuffix(r.MessageID, "/fake_message_id") {
		t.Errorf("dry run result = %+v", r)
	}
	if r := res[1]; r.Outcome != push.InvalidToken {
		t.Errorf("dry run of a dead token = %+v, want invalid_token (FCM validates the token)", r)
	}
	for _, r := range mock.Log.Received() {
		var body struct {
			ValidateOnly bool `json:"validate_only"`
		}
		if err := json.Unmarshal(r.Body, &body); err != nil || !body.ValidateOnly {
			t.Errorf("dry run request without validate_only: %s", r.Body)
		}
	}
	mock.Log.CheckClean(t)
}

// TestRequestsMatchWire: Requests returns exactly the bytes, URL and
// headers Send puts on the wire.
func TestRequestsMatchWire(t *testing.T) {
	for _, dry := range []bool{false, true} {
		t.Run(fmt.Sprintf("dryRun=%v", dry), func(t *testing.T) {
			mock := vendortest.NewFCM(t, vendortest.Options{})
			c := newClient(t, mock)
			m := testMessage()
			m.DryRun = dry
			m.Info.AndroidInfo.GoogleImage = "https://cdn.example.com/<a>&b.png"
			ts := []push.Target{{Token: "tok-1", Badge: intp(4)}, {Token: "tok-2"}}
			reqs, _ := c.Requests(m, ts)
			c.Send(context.Background(), m, ts)
			byToken := map[string]vendortest.Received{}
			for _, r := range mock.Log.Received() {
				byToken[r.Targets[0]] = r
			}
			if len(reqs) != 2 || len(byToken) != 2 {
				t.Fatalf("%d requests built, %d received", len(reqs), len(byToken))
			}
			for i, req := range reqs {
				got, ok := byToken[req.Target]
				if !ok || req.Targets[0] != i {
					t.Fatalf("request %d for %s not received", i, req.Target)
				}
				if string(got.Body) != string(req.Payload) {
					t.Errorf("body differs:\nbuilt %s\n sent %s", req.Payload, got.Body)
				}
				if req.URL != mock.URL()+sendPath {
					t.Errorf("URL %s", req.URL)
				}
				for k, v := range req.Header {
					if got.Header.Get(k) != v {
						t.Errorf("header %s: built %q, sent %q", k, v, got.Header.Get(k))
					}
				}
				if _, ok := req.Header["Authorization"]; ok {
					t.Error("Requests exposes the credential")
				}
			}
			mock.Log.CheckClean(t)
		})
	}
}

func TestURLOverrideKeepsPath(t *testing.T) {
	mock := vendortest.NewFCM(t, vendortest.Options{})
	c := newClient(t, mock, withURL(mock.URL()+"/fcm"))
	if r := c.Send(context.Background(), testMessage(), targets("tok"))[0]; r.Outcome != push.Sent {
		t.Fatalf("send: %+v", r)
	}
	if got := mock.Log.Received()[0].Path; got != "/fcm"+sendPath {
		t.Errorf("path %s, want /fcm%s", got, sendPath)
	}
	reqs, _ := c.Requests(testMessage(), targets("tok"))
	if reqs[0].URL != mock.URL()+"/fcm"+sendPath {
		t.Errorf("Requests URL %s", reqs[0].URL)
	}
	mock.Log.CheckClean(t)
}

// TestTransportErrorRetryable: a send that cannot connect is Retryable at
// once; the SDK's own retries (with 1+2+4 s of backoff) are cut short.
func TestTransportErrorRetryable(t *testing.T) {
	mock := vendortest.NewFCM(t, vendortest.Options{})
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	dead := "https://" + l.Addr().String()
	l.Close()
	c := newClient(t, mock, withURL(dead))
	start := time.Now()
	r := c.Send(context.Background(), testMessage(), targets("tok"))[0]
	if r.Outcome != push.Retryable || !strings.HasPrefix(r.Reason, "transport:") {
		t.Errorf("result %+v, want retryable transport error", r)
	}
	if d := time.Since(start); d > time.Second {
		t.Errorf("took %v: retried inside Send", d)
	}
	mock.Log.CheckClean(t)
}

func TestCancelledContext(t *testing.T) {
	mock := vendortest.NewFCM(t, vendortest.Options{})
	c := newClient(t, mock)
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	for i, r := range c.Send(ctx, testMessage(), targets("tok-1", "tok-2")) {
		if r.Outcome != push.Retryable {
			t.Errorf("result %d = %+v, want retryable", i, r)
		}
	}
	mock.Log.CheckClean(t)
}

func TestNewWithoutCredential(t *testing.T) {
	env, err := push.NewEnv(func(string) string { return "" }, push.EnvConfig{})
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range []cert.Certificate{
		{ID: 1, Vendor: device.FCM},
		{ID: 2, Vendor: device.FCM, FCM: &cert.FCM{}},
	} {
		if _, err := New(c, env); !errors.Is(err, push.ErrNoCredential) {
			t.Errorf("certificate %d: err = %v, want ErrNoCredential", c.ID, err)
		}
	}
	bad := cert.Certificate{ID: 3, Vendor: device.FCM, FCM: &cert.FCM{ServiceAccountJSON: `{"project_id":"p","client_email":"a@b","private_key":"nope","token_uri":"https://x"}`}}
	if _, err := New(bad, env); err == nil || errors.Is(err, push.ErrNoCredential) {
		t.Errorf("bad private key: err = %v", err)
	}
}

// TestMockErrorsReadBySDK: the mock's error bodies are the shape the SDK's
// own predicates read (details[FcmError].errorCode).
func TestMockErrorsReadBySDK(t *testing.T) {
	mock := vendortest.NewFCM(t, vendortest.Options{})
	c := newClient(t, mock)
	for token, is := range map[string]func(error) bool{
		"invalid-1":    messaging.IsUnregistered,
		"mismatch-1":   messaging.IsSenderIDMismatch,
		"badtoken-1":   messaging.IsInvalidArgument,
		"quota-1":      messaging.IsQuotaExceeded,
		"internal-1":   messaging.IsInternal,
		"thirdparty-1": messaging.IsThirdPartyAuthError,
	} {
		_, err := c.fcm.Send(context.Background(), &messaging.Message{Token: token})
		if err == nil || !is(err) {
			t.Errorf("%s: SDK error %v not recognised", token, err)
		}
	}
	mock.Log.CheckClean(t)
}

// TestDialLimitDoesNotCapConnections: a cold client with more requests in
// flight than maxDialsPerHost connections can carry (the mock allows 100
// streams a connection) dials a few connections at a time, and the pool
// still grows to what the concurrency needs.
func TestDialLimitDoesNotCapConnections(t *testing.T) {
	mock := vendortest.NewFCM(t, vendortest.Options{Latency: 50 * time.Millisecond})
	mock.Record(false)
	env := newEnv(t, mock)
	var dials atomic.Int64
	tr := sendTransport(env, env.HTTPClient).(*http.Transport)
	dial := tr.DialContext
	tr.DialContext = func(ctx context.Context, network, addr string) (net.Conn, error) {
		dials.Add(1)
		return dial(ctx, network, addr)
	}
	c, err := NewWithOptions(mockCert(t, mock), env, Options{Concurrency: 700})
	if err != nil {
		t.Fatal(err)
	}
	ts := make([]push.Target, 1400)
	for i := range ts {
		ts[i].Token = fmt.Sprintf("tok-%d", i)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	start := time.Now()
	for i, r := range c.Send(ctx, testMessage(), ts) {
		if r.Outcome != push.Sent {
			t.Fatalf("push %d: %+v", i, r)
		}
	}
	if d := time.Since(start); d > 10*time.Second {
		t.Errorf("took %v", d)
	}
	// 700 requests in flight need 7 connections of 100 streams; more than
	// maxDialsPerHost shows the limit bounds dials, not connections (a
	// loaded machine may not reach all 700 at once).
	if n := mock.Connections(); n <= maxDialsPerHost {
		t.Errorf("%d connections carried 700 requests in flight; want more than %d", n, maxDialsPerHost)
	}
	// The cold-start burst dials a few connections at a time, not one per
	// waiting request (without the limit this burst dials hundreds).
	if n := dials.Load(); n > 40 {
		t.Errorf("%d dials for %d connections", n, mock.Connections())
	}
	t.Logf("%d connections, %d dials", mock.Connections(), dials.Load())
	mock.Log.CheckClean(t)
}
