package oppo

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/offpush/offpush/shared/device"
	"github.com/offpush/offpush/shared/push"
	"github.com/offpush/offpush/shared/vendors/vendortest"
)

// memStore is a push.TokenStore in memory, counting its calls.
type memStore struct {
	mu   sync.Mutex
	toks map[string]string
	exps map[string]time.Time
	gets int
	puts int
}

func (s *memStore) GetVendorToken(_ context.Context, key string) (string, time.Time, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.gets++
	return s.toks[key], s.exps[key], nil
}

func (s *memStore) PutVendorToken(_ context.Context, key, tok string, exp time.Time) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.toks == nil {
		s.toks, s.exps = map[string]string{}, map[string]time.Time{}
	}
	s.toks[key], s.exps[key] = tok, exp
	s.puts++
	return nil
}

// testEnv builds the environment as a container does, from variables.
func testEnv(t testing.TB, vars map[string]string, store push.TokenStore) *push.Env {
	t.Helper()
	env, err := push.NewEnv(func(k string) string { return vars[k] },
		push.EnvConfig{Tokens: store, Log: slog.New(slog.NewTextHandler(io.Discard, nil))})
	if err != nil {
		t.Fatal(err)
	}
	return env
}

func mockEnv(t testing.TB, m *vendortest.OPPOMock, store push.TokenStore) *push.Env {
	return testEnv(t, map[string]string{push.URLOPPO: m.URL(), push.CAFile: m.CAFile}, store)
}

func newMock(t testing.TB) *vendortest.OPPOMock {
	return vendortest.NewOPPO(t, vendortest.Options{}, "appkey1", "mastersecret1")
}

func newClient(t testing.TB, env *push.Env) *Client {
	t.Helper()
	c, err := New(testCert(), env)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func targets(tokens ...string) []push.Target {
	out := make([]push.Target, len(tokens))
	for i, tok := range tokens {
		out[i] = push.Target{Token: tok}
	}
	return out
}

// sentBody is what Send puts on the wire for a Requests payload.
func sentBody(t *testing.T, got []byte, payload []byte) {
	t.Helper()
	form, err := url.ParseQuery(string(got))
	if err != nil {
		t.Fatal(err)
	}
	tok := form.Get("auth_token")
	if tok == "" {
		t.Fatalf("no auth_token in %s", got)
	}
	want := "auth_token=" + url.QueryEscape(tok) + "&" + string(payload)
	if string(got) != want {
		t.Errorf("sent body differs from Requests:\n got %s\nwant %s", got, want)
	}
}

func TestNewNeedsCredential(t *testing.T) {
	c := testCert()
	c.OPPO = nil
	if _, err := New(c, testEnv(t, nil, nil)); !errors.Is(err, push.ErrNoCredential) {
		t.Errorf("err = %v, want ErrNoCredential", err)
	}
	c = testCert()
	c.OPPO.MasterSecret = ""
	if _, err := New(c, testEnv(t, nil, nil)); !errors.Is(err, push.ErrNoCredential) {
		t.Errorf("err = %v, want ErrNoCredential", err)
	}
}

func TestSendOne(t *testing.T) {
	m := newMock(t)
	c := newClient(t, mockEnv(t, m, nil))
	msg := testMessage()
	tg := targets("CN_b6bbd94b59cdb5df8391642c1509b7fe")
	res := c.Send(context.Background(), msg, tg)
	if res[0].Outcome != push.Sent || !strings.HasPrefix(res[0].MessageID, "appkey1-1-1-") {
		t.Fatalf("result %+v", res[0])
	}
	got := m.Log.Received()
	if len(got) != 1 || got[0].Path != UnicastPath {
		t.Fatalf("received %+v", got)
	}
	reqs, _ := c.Requests(msg, tg)
	if reqs[0].URL != m.URL()+UnicastPath {
		t.Errorf("Requests URL %s", reqs[0].URL)
	}
	sentBody(t, got[0].Body, reqs[0].Payload)
	m.Log.CheckClean(t)
}

func TestScriptedOutcomes(t *testing.T) {
	for _, tt := range []struct {
		token string
		want  push.Outcome
	}{
		{"invalid-1", push.InvalidToken},
		{"busy1-1", push.Retryable},
		{"quota-1", push.Quota},
		{"ok-1", push.Sent},
	} {
		t.Run(tt.token, func(t *testing.T) {
			m := newMock(t)
			c := newClient(t, mockEnv(t, m, nil))
			res := c.Send(context.Background(), testMessage(), targets(tt.token))
			if res[0].Outcome != tt.want {
				t.Errorf("unicast: %+v, want %s", res[0], tt.want)
			}
			res = c.Send(context.Background(), testMessage(), targets(tt.token, "ok-2"))
			want := tt.want
			if tt.token == "busy1-1" {
				want = push.Sent // busy once only
			}
			if res[0].Outcome != want || res[1].Outcome != push.Sent {
				t.Errorf("batch: %+v, want %s then sent", res, want)
			}
			m.Log.CheckClean(t)
		})
	}
}

func TestBusyBatchIsRetryableForAll(t *testing.T) {
	m := newMock(t)
	c := newClient(t, mockEnv(t, m, nil))
	res := c.Send(context.Background(), testMessage(), targets("ok-1", "busy1-x", "ok-2"))
	for i, r := range res {
		if r.Outcome != push.Retryable {
			t.Errorf("%d: %+v, want retryable", i, r)
		}
	}
	m.Log.CheckClean(t)
}

func TestBatchAtLimitInInputOrder(t *testing.T) {
	m := newMock(t)
	c := newClient(t, mockEnv(t, m, nil))
	tokens := make([]string, 1002)
	for i := range tokens {
		switch {
		case i%97 == 5:
			tokens[i] = fmt.Sprintf("invalid-%d", i)
		case i%89 == 7:
			tokens[i] = fmt.Sprintf("quota-%d", i)
		default:
			tokens[i] = fmt.Sprintf("tok-%04d", i)
		}
	}
	tokens[1001] = tokens[3] // a duplicate: sent once, both get its result
	msg := testMessage()
	res := c.Send(context.Background(), msg, targets(tokens...))
	got := m.Log.Received()
	if len(got) != 2 {
		t.Fatalf("%d requests, want 2", len(got))
	}
	for _, r := range got {
		if r.Path != BatchPath || len(r.Targets) > MaxBatch {
			t.Errorf("request to %s with %d targets", r.Path, len(r.Targets))
		}
	}
	if n := len(m.Log.Targets()); n != 1001 {
		t.Errorf("%d targets sent, want 1001 distinct", n)
	}
	for i, tok := range tokens {
		want := push.Sent
		switch {
		case strings.HasPrefix(tok, "invalid-"):
			want = push.InvalidToken
		case strings.HasPrefix(tok, "quota-"):
			want = push.Quota
		}
		if res[i].Outcome != want {
			t.Errorf("%d %s: %+v, want %s", i, tok, res[i], want)
		}
	}
	if res[1001].Outcome != res[3].Outcome || res[1001].MessageID != res[3].MessageID {
		t.Errorf("duplicate got %+v, first %+v", res[1001], res[3])
	}
	// Requests() bytes are what the mock received, request by request.
	reqs, _ := c.Requests(msg, targets(tokens...))
	if len(reqs) != 2 {
		t.Fatalf("%d requests", len(reqs))
	}
	bodies := map[string][]byte{}
	for _, r := range got {
		form, _ := url.ParseQuery(string(r.Body))
		bodies[form.Get("messages")[:200]] = r.Body
	}
	for _, r := range reqs {
		form, _ := url.ParseQuery(string(r.Payload))
		body, ok := bodies[form.Get("messages")[:200]]
		if !ok {
			t.Fatalf("request not received")
		}
		sentBody(t, body, r.Payload)
	}
	m.Log.CheckClean(t)
}

func TestTokenFetchedOnceAndShared(t *testing.T) {
	m := newMock(t)
	store := &memStore{}
	env := mockEnv(t, m, store)
	c := newClient(t, env)
	for range 3 {
		if r := c.Send(context.Background(), testMessage(), targets("a", "b")); r[0].Outcome != push.Sent {
			t.Fatalf("%+v", r)
		}
	}
	if n := m.AuthCalls(); n != 1 {
		t.Errorf("%d auth calls, want 1", n)
	}
	if store.toks["oppo#appkey1"] == "" || store.exps["oppo#appkey1"].Before(time.Now().Add(23*time.Hour)) {
		t.Errorf("store %+v %+v: want the 24-hour token under oppo#appkey1", store.toks, store.exps)
	}
	// Another container's client takes the stored token.
	other := newClient(t, mockEnv(t, m, store))
	if r := other.Send(context.Background(), testMessage(), targets("c")); r[0].Outcome != push.Sent {
		t.Fatalf("%+v", r)
	}
	if n := m.AuthCalls(); n != 1 {
		t.Errorf("%d auth calls after a second client, want 1", n)
	}
	m.Log.CheckClean(t)
}

func TestReauthOnceOnCode11(t *testing.T) {
	m := newMock(t)
	c := newClient(t, mockEnv(t, m, &memStore{}))
	if r := c.Send(context.Background(), testMessage(), targets("a")); r[0].Outcome != push.Sent {
		t.Fatal(r)
	}
	m.ExpireTokens()
	if r := c.Send(context.Background(), testMessage(), targets("a", "b")); r[0].Outcome != push.Sent || r[1].Outcome != push.Sent {
		t.Fatalf("after expiry: %+v", r)
	}
	if n := m.AuthCalls(); n != 2 {
		t.Errorf("%d auth calls, want 2", n)
	}
	// Refused again after the fresh token: Auth, no third token.
	m.FailNext(2, CodeInvalidAuthToken, "Invalid AuthToken")
	r := c.Send(context.Background(), testMessage(), targets("a"))
	if r[0].Outcome != push.Auth {
		t.Errorf("twice refused: %+v", r[0])
	}
	if n := m.AuthCalls(); n != 3 {
		t.Errorf("%d auth calls, want 3 (one re-auth)", n)
	}
	m.Log.CheckClean(t)
}

// TestCodes runs every code of OPPO's action table over the wire.
func TestCodes(t *testing.T) {
	for _, tt := range []struct {
		code int
		want push.Outcome
	}{
		{-1, push.Retryable}, {-2, push.Retryable}, {13, push.Retryable}, {55, push.Retryable},
		{33, push.Quota},
		{14, push.Auth}, {15, push.Auth}, {16, push.Auth}, {17, push.Auth}, {18, push.Auth}, {19, push.Auth},
		{26, push.Rejected}, {27, push.Rejected}, {28, push.Rejected}, {29, push.Rejected}, {30, push.Rejected},
		{59, push.Rejected}, {40, push.Rejected}, {41, push.Rejected}, {67, push.Rejected},
		{10000, push.InvalidToken},
	} {
		t.Run(fmt.Sprint(tt.code), func(t *testing.T) {
			m := newMock(t)
			c := newClient(t, mockEnv(t, m, nil))
			m.FailNext(1, tt.code, "scripted")
			r := c.Send(context.Background(), testMessage(), targets("a", "b"))
			for _, x := range r {
				if x.Outcome != tt.want {
					t.Errorf("%+v, want %s", x, tt.want)
				}
			}
			m.Log.CheckClean(t)
		})
	}
}

func TestAuthRefused(t *testing.T) {
	m := vendortest.NewOPPO(t, vendortest.Options{}, "appkey1", "the-real-secret")
	c := newClient(t, mockEnv(t, m, nil))
	r := c.Send(context.Background(), testMessage(), targets("a", "b"))
	for _, x := range r {
		if x.Outcome != push.Auth || !strings.Contains(x.Reason, "16") {
			t.Errorf("%+v, want auth (16)", x)
		}
	}
	if f := m.Log.Failures(); len(f) != 1 || !strings.Contains(f[0], "sign") {
		t.Errorf("mock failures %q, want the bad sign", f)
	}
	if len(m.Log.Received()) != 0 {
		t.Error("a push was sent without a token")
	}
}

func TestHTTPFailures(t *testing.T) {
	m := newMock(t)
	var mu sync.Mutex
	mode := "send503"
	srv := vendortest.NewTLSServer(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		md := mode
		mu.Unlock()
		switch {
		case md == "all503" || md == "send503" && !strings.HasSuffix(r.URL.Path, AuthPath):
			w.Header().Set("Retry-After", "7")
			http.Error(w, "busy", http.StatusServiceUnavailable)
		case md == "html":
			_, _ = io.WriteString(w, "<html>gateway</html>")
		default:
			m.ServeHTTP(w, r)
		}
	}))
	env := testEnv(t, map[string]string{push.URLOPPO: srv.URL, push.CAFile: vendortest.CAFile(t, srv)}, nil)
	c := newClient(t, env)
	r := c.Send(context.Background(), testMessage(), targets("a"))
	if r[0].Outcome != push.Retryable || r[0].RetryAfter != 7*time.Second {
		t.Errorf("send 503: %+v", r[0])
	}
	mu.Lock()
	mode = "html"
	mu.Unlock()
	if r := c.Send(context.Background(), testMessage(), targets("a")); r[0].Outcome != push.Retryable {
		t.Errorf("unreadable 200: %+v", r[0])
	}

	// Auth endpoint down: retryable, not an auth failure.
	mu.Lock()
	mode = "all503"
	mu.Unlock()
	c2 := newClient(t, env)
	if r := c2.Send(context.Background(), testMessage(), targets("a")); r[0].Outcome != push.Retryable || r[0].RetryAfter != 7*time.Second {
		t.Errorf("auth 503: %+v", r[0])
	}

	// Transport failure and timeout.
	dead := httptest.NewServer(http.NotFoundHandler())
	dead.Close()
	c3 := newClient(t, testEnv(t, map[string]string{push.URLOPPO: dead.URL}, nil))
	if r := c3.Send(context.Background(), testMessage(), targets("a")); r[0].Outcome != push.Retryable {
		t.Errorf("connection refused: %+v", r[0])
	}
	slow := vendortest.NewOPPO(t, vendortest.Options{Latency: time.Second}, "appkey1", "mastersecret1")
	c4 := newClient(t, mockEnv(t, slow, nil))
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	if r := c4.Send(ctx, testMessage(), targets("a")); r[0].Outcome != push.Retryable {
		t.Errorf("timeout: %+v", r[0])
	}
}

func TestInvalidArgumentBeforeSending(t *testing.T) {
	m := newMock(t)
	cc := testCert()
	cc.DefaultChannelID = ""
	c, err := New(cc, mockEnv(t, m, nil))
	if err != nil {
		t.Fatal(err)
	}
	r := c.Send(context.Background(), testMessage(), targets("a", "b"))
	for _, x := range r {
		if x.Outcome != push.InvalidArgument || !strings.Contains(x.Reason, "channel") {
			t.Errorf("%+v", x)
		}
	}
	msg := testMessage()
	msg.Info.Title = strings.Repeat("t", 51)
	r = newClient(t, mockEnv(t, m, nil)).Send(context.Background(), msg, targets("a", "", "b"))
	for _, x := range r {
		if x.Outcome != push.InvalidArgument {
			t.Errorf("%+v", x)
		}
	}
	// An empty token alone is refused; the others go.
	r = newClient(t, mockEnv(t, m, nil)).Send(context.Background(), testMessage(), targets("a", ""))
	if r[0].Outcome != push.Sent || r[1].Outcome != push.InvalidArgument {
		t.Errorf("%+v", r)
	}
	if n := len(m.Log.Targets()); n != 1 {
		t.Errorf("%d targets reached the mock, want 1", n)
	}
	m.Log.CheckClean(t)
}

func TestDryRun(t *testing.T) {
	m := newMock(t)
	c := newClient(t, mockEnv(t, m, nil))
	msg := testMessage()
	msg.DryRun = true
	r := c.Send(context.Background(), msg, targets("a", "b"))
	for _, x := range r {
		if x.Outcome != push.Sent || x.Reason != "dry_run" {
			t.Errorf("%+v", x)
		}
	}
	if m.AuthCalls() != 0 || len(m.Log.Received()) != 0 {
		t.Error("a dry run reached OPPO")
	}
}

func TestURLOverrideKeepsPath(t *testing.T) {
	m := newMock(t)
	env := testEnv(t, map[string]string{push.URLOPPO: m.URL() + "/oppo-proxy", push.CAFile: m.CAFile}, nil)
	c := newClient(t, env)
	// With an override, overseas registration IDs go to the same host.
	r := c.Send(context.Background(), testMessage(), targets("IN_abc", "CN_def"))
	if r[0].Outcome != push.Sent || r[1].Outcome != push.Sent {
		t.Fatalf("%+v", r)
	}
	got := m.Log.Received()
	if len(got) != 1 || got[0].Path != "/oppo-proxy"+BatchPath {
		t.Errorf("received %+v", got)
	}
	m.Log.CheckClean(t)
}

func TestRegionHosts(t *testing.T) {
	c := newClient(t, testEnv(t, nil, nil))
	reqs, _ := c.Requests(testMessage(), targets("CN_a", "IN_b", "c", "OPPO_SG_d"))
	if len(reqs) != 2 {
		t.Fatalf("%d requests", len(reqs))
	}
	if reqs[0].URL != DefaultBaseURL+BatchPath || reqs[0].Target != "CN_a,c" || fmt.Sprint(reqs[0].Targets) != "[0 2]" {
		t.Errorf("china: %s %s %v", reqs[0].URL, reqs[0].Target, reqs[0].Targets)
	}
	if reqs[1].URL != IntlBaseURL+BatchPath || reqs[1].Target != "IN_b,OPPO_SG_d" || fmt.Sprint(reqs[1].Targets) != "[1 3]" {
		t.Errorf("overseas: %s %s %v", reqs[1].URL, reqs[1].Target, reqs[1].Targets)
	}
	if reqs[0].Header["Content-Type"] != "application/x-www-form-urlencoded" {
		t.Errorf("header %v", reqs[0].Header)
	}
}

func TestCapture(t *testing.T) {
	c := newClient(t, testEnv(t, nil, nil))
	sink := &captureSink{}
	cl := push.Capture(c, device.OPPO, 10001, sink, time.Now)
	r := cl.Send(context.Background(), testMessage(), targets("a", "b"))
	if r[0].Outcome != push.Sent || len(sink.got) != 1 || !strings.HasPrefix(string(sink.got[0].Payload), "messages=") {
		t.Errorf("%+v %+v", r, sink.got)
	}
	if strings.Contains(string(sink.got[0].Payload), "auth_token") {
		t.Error("captured payload carries the auth token")
	}
}

type captureSink struct{ got []push.Captured }

func (s *captureSink) SaveCaptured(_ context.Context, reqs []push.Captured) error {
	s.got = append(s.got, reqs...)
	return nil
}
