package vivo

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/offpush/offpush/shared/device"
	"github.com/offpush/offpush/shared/push"
	"github.com/offpush/offpush/shared/vendors/vendortest"
)

// memStore is a push.TokenStore in memory.
type memStore struct {
	mu   sync.Mutex
	toks map[string]string
	exps map[string]time.Time
}

func (s *memStore) GetVendorToken(_ context.Context, key string) (string, time.Time, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.toks[key], s.exps[key], nil
}

func (s *memStore) PutVendorToken(_ context.Context, key, tok string, exp time.Time) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.toks == nil {
		s.toks, s.exps = map[string]string{}, map[string]time.Time{}
	}
	s.toks[key], s.exps[key] = tok, exp
	return nil
}

func testEnv(t testing.TB, vars map[string]string, store push.TokenStore) *push.Env {
	t.Helper()
	env, err := push.NewEnv(func(k string) string { return vars[k] },
		push.EnvConfig{Tokens: store, Log: slog.New(slog.NewTextHandler(io.Discard, nil))})
	if err != nil {
		t.Fatal(err)
	}
	return env
}

func mockEnv(t testing.TB, m *vendortest.VivoMock, store push.TokenStore) *push.Env {
	return testEnv(t, map[string]string{push.URLVivo: m.URL(), push.CAFile: m.CAFile}, store)
}

func testApp() vendortest.VivoApp {
	v := testCert().Vivo
	return vendortest.VivoApp{AppID: v.AppID, AppKey: v.AppKey, AppSecret: v.AppSecret}
}

func newMock(t testing.TB) *vendortest.VivoMock {
	return vendortest.NewVivo(t, vendortest.Options{}, testApp())
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

func TestNew(t *testing.T) {
	c := testCert()
	c.Vivo = nil
	if _, err := New(c, testEnv(t, nil, nil)); !errors.Is(err, push.ErrNoCredential) {
		t.Errorf("err = %v, want ErrNoCredential", err)
	}
	c = testCert()
	c.Vivo.AppSecret = ""
	if _, err := New(c, testEnv(t, nil, nil)); !errors.Is(err, push.ErrNoCredential) {
		t.Errorf("err = %v, want ErrNoCredential", err)
	}
	c = testCert()
	c.Vivo.AppID = "abc"
	if _, err := New(c, testEnv(t, nil, nil)); err == nil {
		t.Error("a non-numeric appId was accepted")
	}
}

func TestSendOne(t *testing.T) {
	m := newMock(t)
	c := newClient(t, mockEnv(t, m, nil))
	msg, tg := testMessage(), targets("12345678901234567890123")
	r := c.Send(context.Background(), msg, tg)
	if r[0].Outcome != push.Sent || r[0].MessageID == "" {
		t.Fatalf("%+v", r[0])
	}
	got := m.Log.Received()
	if len(got) != 1 || got[0].Path != SendPath {
		t.Fatalf("received %+v", got)
	}
	if got[0].Header.Get("authToken") == "" {
		t.Error("no authToken header")
	}
	reqs, _ := c.Requests(msg, tg)
	if reqs[0].URL != m.URL()+SendPath || !bytes.Equal(reqs[0].Payload, got[0].Body) {
		t.Errorf("Requests differs from the wire:\n%s\n%s", reqs[0].Payload, got[0].Body)
	}
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
			if r := c.Send(context.Background(), testMessage(), targets(tt.token)); r[0].Outcome != tt.want {
				t.Errorf("send: %+v, want %s", r[0], tt.want)
			}
			m2 := newMock(t)
			c2 := newClient(t, mockEnv(t, m2, nil))
			r := c2.Send(context.Background(), testMessage(), targets(tt.token, "ok-2"))
			second := push.Sent
			if tt.want == push.Retryable || tt.want == push.Quota {
				second = tt.want // the whole pushToList
			}
			if r[0].Outcome != tt.want || r[1].Outcome != second {
				t.Errorf("pushToList: %+v, want %s, %s", r, tt.want, second)
			}
			m.Log.CheckClean(t)
			m2.Log.CheckClean(t)
		})
	}
}

func TestBatchAtLimitInInputOrder(t *testing.T) {
	m := newMock(t)
	c := newClient(t, mockEnv(t, m, nil))
	tokens := make([]string, 1002)
	for i := range tokens {
		if i%97 == 5 {
			tokens[i] = fmt.Sprintf("invalid-%d", i)
		} else {
			tokens[i] = fmt.Sprintf("reg-%04d", i)
		}
	}
	tokens[1001] = tokens[5] // a duplicate
	msg := testMessage()
	res := c.Send(context.Background(), msg, targets(tokens...))
	got := m.Log.Received()
	if len(got) != 3 || got[0].Path != SaveListPayloadPath {
		t.Fatalf("%d requests, want saveListPayload and 2 pushToList", len(got))
	}
	for _, r := range got[1:] {
		if r.Path != PushToListPath || len(r.Targets) > MaxBatch {
			t.Errorf("%s with %d regIds", r.Path, len(r.Targets))
		}
	}
	if n := len(m.Log.Targets()); n != 1001 {
		t.Errorf("%d regIds sent, want 1001 distinct", n)
	}
	for i, tok := range tokens {
		want := push.Sent
		if strings.HasPrefix(tok, "invalid-") {
			want = push.InvalidToken
		}
		if res[i].Outcome != want {
			t.Errorf("%d %s: %+v, want %s", i, tok, res[i], want)
		}
	}
	if res[1001].Outcome != push.InvalidToken {
		t.Errorf("duplicate: %+v", res[1001])
	}
	// Requests() bytes are the wire bytes, the taskId aside.
	reqs, _ := c.Requests(msg, targets(tokens...))
	if len(reqs) != 3 || len(reqs[0].Targets) != 0 {
		t.Fatalf("%d requests", len(reqs))
	}
	if !bytes.Equal(reqs[0].Payload, got[0].Body) {
		t.Errorf("saveListPayload:\n%s\n%s", reqs[0].Payload, got[0].Body)
	}
	seen := 0
	for _, r := range reqs[1:] {
		for _, g := range got[1:] {
			want := bytes.Replace(r.Payload, []byte(`"taskId":"`+TaskIDPlaceholder+`"`), []byte(`"taskId":"`+taskID(g.Body)+`"`), 1)
			if bytes.Equal(want, g.Body) {
				seen++
			}
		}
	}
	if seen != 2 {
		t.Errorf("%d of 2 pushToList bodies match Requests", seen)
	}
	m.Log.CheckClean(t)
}

func taskID(body []byte) string {
	_, rest, _ := bytes.Cut(body, []byte(`"taskId":"`))
	id, _, _ := bytes.Cut(rest, []byte(`"`))
	return string(id)
}

func TestTokenFetchedOnceAndShared(t *testing.T) {
	m := newMock(t)
	store := &memStore{}
	c := newClient(t, mockEnv(t, m, store))
	for range 3 {
		if r := c.Send(context.Background(), testMessage(), targets("a", "b")); r[0].Outcome != push.Sent {
			t.Fatalf("%+v", r)
		}
	}
	if n := m.AuthCalls("10004"); n != 1 {
		t.Errorf("%d auth calls, want 1", n)
	}
	if store.toks["vivo#10004"] == "" {
		t.Errorf("no token stored under vivo#10004: %v", store.toks)
	}
	other := newClient(t, mockEnv(t, m, store))
	if r := other.Send(context.Background(), testMessage(), targets("c")); r[0].Outcome != push.Sent {
		t.Fatal(r)
	}
	if n := m.AuthCalls("10004"); n != 1 {
		t.Errorf("%d auth calls after another client, want 1", n)
	}
	m.Log.CheckClean(t)
}

func TestReauthOnce(t *testing.T) {
	m := newMock(t)
	c := newClient(t, mockEnv(t, m, &memStore{}))
	if r := c.Send(context.Background(), testMessage(), targets("a")); r[0].Outcome != push.Sent {
		t.Fatal(r)
	}
	m.ExpireTokens()
	if r := c.Send(context.Background(), testMessage(), targets("a", "b")); r[0].Outcome != push.Sent || r[1].Outcome != push.Sent {
		t.Fatalf("after expiry: %+v", r)
	}
	if n := m.AuthCalls("10004"); n != 2 {
		t.Errorf("%d auth calls, want 2", n)
	}
	m.FailNext(2, CodeAuthFailed, "authToken不合法")
	if r := c.Send(context.Background(), testMessage(), targets("a")); r[0].Outcome != push.Auth {
		t.Errorf("refused twice: %+v", r[0])
	}
	if n := m.AuthCalls("10004"); n != 3 {
		t.Errorf("%d auth calls, want 3", n)
	}
	m.Log.CheckClean(t)
}

// TestCodes runs the codes of vivo's action table over the wire, on a
// single send and on a pushToList.
func TestCodes(t *testing.T) {
	for _, tt := range []struct {
		code int
		want push.Outcome
	}{
		{10070, push.Quota}, {10252, push.Quota}, {10254, push.Quota},
		{10094, push.Auth},
		{10096, push.Rejected}, {10097, push.Rejected},
		{10072, push.Retryable},
		{10302, push.Rejected},
	} {
		t.Run(fmt.Sprint(tt.code), func(t *testing.T) {
			m := newMock(t)
			c := newClient(t, mockEnv(t, m, nil))
			m.FailNext(1, tt.code, "scripted")
			if r := c.Send(context.Background(), testMessage(), targets("a")); r[0].Outcome != tt.want {
				t.Errorf("send: %+v, want %s", r[0], tt.want)
			}
			m2 := newMock(t)
			c2 := newClient(t, mockEnv(t, m2, nil))
			m2.FailNext(1, tt.code, "scripted") // on saveListPayload
			for _, x := range c2.Send(context.Background(), testMessage(), targets("a", "b")) {
				if x.Outcome != tt.want {
					t.Errorf("saveListPayload: %+v, want %s", x, tt.want)
				}
			}
			m.Log.CheckClean(t)
			m2.Log.CheckClean(t)
		})
	}
}

func TestDailyTotalStopsCalls(t *testing.T) {
	m := newMock(t)
	c := newClient(t, mockEnv(t, m, nil))
	if r := c.Send(context.Background(), testMessage(), targets("quota-1")); r[0].Outcome != push.Quota {
		t.Fatal(r)
	}
	before := len(m.Log.Received())
	for _, tg := range [][]push.Target{targets("ok-1"), targets("ok-1", "ok-2")} {
		r := c.Send(context.Background(), testMessage(), tg)
		if r[0].Outcome != push.Quota || !strings.Contains(r[0].Reason, "until 00:00 China time") {
			t.Errorf("%+v", r[0])
		}
	}
	if n := len(m.Log.Received()); n != before {
		t.Errorf("%d more calls after 10070, want none", n-before)
	}
	now := c.now().In(china)
	midnight := time.Date(now.Year(), now.Month(), now.Day()+1, 0, 0, 0, 0, china)
	if !c.stopAll.Equal(midnight) {
		t.Errorf("stopped until %v, want %v", c.stopAll, midnight)
	}
	c.now = func() time.Time { return midnight.Add(time.Second) }
	if r := c.stopped(false); r != nil {
		t.Errorf("still stopped after midnight: %+v", r)
	}
	m.Log.CheckClean(t)
}

func TestBatchTotalStopsOnlyBatches(t *testing.T) {
	m := newMock(t)
	c := newClient(t, mockEnv(t, m, nil))
	m.FailNext(1, CodeDailyListBodies, "批量发送消息体超出限制")
	if r := c.Send(context.Background(), testMessage(), targets("a", "b")); r[0].Outcome != push.Quota {
		t.Fatal(r)
	}
	if r := c.Send(context.Background(), testMessage(), targets("a", "b")); r[0].Outcome != push.Quota {
		t.Errorf("batch after 10252: %+v", r[0])
	}
	if r := c.Send(context.Background(), testMessage(), targets("a")); r[0].Outcome != push.Sent {
		t.Errorf("single send after 10252: %+v", r[0])
	}
	m.Log.CheckClean(t)
}

// TestAuthLimiterShared builds many clients of one app from one Env, as
// one per certificate: their auth calls together stay within vivo's 10 a
// second, which the mock checks.
func TestAuthLimiterShared(t *testing.T) {
	if testing.Short() {
		t.Skip("takes over a second")
	}
	m := newMock(t)
	env := mockEnv(t, m, nil) // no store: every client fetches its own token
	const n = 15
	clients := make([]*Client, n)
	for i := range clients {
		clients[i] = newClient(t, env)
	}
	if clients[0].limiter != clients[n-1].limiter {
		t.Fatal("clients of one app do not share the limiter")
	}
	if other := newClient(t, mockEnv(t, m, nil)); other.limiter == clients[0].limiter {
		t.Error("two Envs share a limiter")
	}
	start := time.Now()
	var wg sync.WaitGroup
	for _, c := range clients {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if r := c.Send(context.Background(), testMessage(), targets("a")); r[0].Outcome != push.Sent {
				t.Errorf("%+v", r[0])
			}
		}()
	}
	wg.Wait()
	if n := m.AuthCalls("10004"); n != 15 {
		t.Errorf("%d auth calls, want 15", n)
	}
	if d := time.Since(start); d < time.Second {
		t.Errorf("15 auth calls in %s: not limited to 10 a second", d)
	}
	m.Log.CheckClean(t)
}

func TestAuthRefused(t *testing.T) {
	app := testApp()
	app.AppSecret = "the-real-secret"
	m := vendortest.NewVivo(t, vendortest.Options{}, app)
	c := newClient(t, mockEnv(t, m, nil))
	for _, x := range c.Send(context.Background(), testMessage(), targets("a", "b")) {
		if x.Outcome != push.Auth {
			t.Errorf("%+v, want auth", x)
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
			w.Header().Set("Retry-After", "3")
			http.Error(w, "busy", http.StatusBadGateway)
		default:
			m.ServeHTTP(w, r)
		}
	}))
	env := testEnv(t, map[string]string{push.URLVivo: srv.URL, push.CAFile: vendortest.CAFile(t, srv)}, nil)
	c := newClient(t, env)
	if r := c.Send(context.Background(), testMessage(), targets("a")); r[0].Outcome != push.Retryable || r[0].RetryAfter != 3*time.Second {
		t.Errorf("send 502: %+v", r[0])
	}
	for _, x := range c.Send(context.Background(), testMessage(), targets("a", "b")) {
		if x.Outcome != push.Retryable {
			t.Errorf("saveListPayload 502: %+v", x)
		}
	}
	mu.Lock()
	mode = "all503"
	mu.Unlock()
	c2 := newClient(t, testEnv(t, map[string]string{push.URLVivo: srv.URL, push.CAFile: vendortest.CAFile(t, srv)}, nil))
	if r := c2.Send(context.Background(), testMessage(), targets("a")); r[0].Outcome != push.Retryable {
		t.Errorf("auth 502: %+v", r[0])
	}
	dead := httptest.NewServer(http.NotFoundHandler())
	dead.Close()
	c3 := newClient(t, testEnv(t, map[string]string{push.URLVivo: dead.URL}, nil))
	if r := c3.Send(context.Background(), testMessage(), targets("a")); r[0].Outcome != push.Retryable {
		t.Errorf("connection refused: %+v", r[0])
	}
}

func TestInvalidArgumentBeforeSending(t *testing.T) {
	m := newMock(t)
	c := newClient(t, mockEnv(t, m, nil))
	msg := testMessage()
	msg.Info.Desc = strings.Repeat("x", 101)
	for _, x := range c.Send(context.Background(), msg, targets("a", "b")) {
		if x.Outcome != push.InvalidArgument || !strings.Contains(x.Reason, "at most 100") {
			t.Errorf("%+v", x)
		}
	}
	r := c.Send(context.Background(), testMessage(), targets("", "a"))
	if r[0].Outcome != push.InvalidArgument || r[1].Outcome != push.Sent {
		t.Errorf("%+v", r)
	}
	if got := m.Log.Received(); len(got) != 1 || got[0].Path != SendPath {
		t.Errorf("received %+v", got)
	}
	m.Log.CheckClean(t)
}

func TestDryRun(t *testing.T) {
	m := newMock(t)
	c := newClient(t, mockEnv(t, m, nil))
	msg := testMessage()
	msg.DryRun = true
	for _, x := range c.Send(context.Background(), msg, targets("a", "b", "c")) {
		if x.Outcome != push.Sent || x.Reason != "dry_run" {
			t.Errorf("%+v", x)
		}
	}
	if m.AuthCalls("10004") != 0 || len(m.Log.Received()) != 0 {
		t.Error("a dry run reached vivo")
	}
}

func TestURLOverrideKeepsPath(t *testing.T) {
	m := newMock(t)
	c := newClient(t, testEnv(t, map[string]string{push.URLVivo: m.URL() + "/vivo", push.CAFile: m.CAFile}, nil))
	if r := c.Send(context.Background(), testMessage(), targets("a", "b")); r[0].Outcome != push.Sent {
		t.Fatal(r)
	}
	got := m.Log.Received()
	if len(got) != 2 || got[0].Path != "/vivo"+SaveListPayloadPath || got[1].Path != "/vivo"+PushToListPath {
		t.Errorf("received %+v", got)
	}
	m.Log.CheckClean(t)
}

func TestCapture(t *testing.T) {
	c := newClient(t, testEnv(t, nil, nil))
	sink := &captureSink{}
	r := push.Capture(c, device.Vivo, 10002, sink, time.Now).Send(context.Background(), testMessage(), targets("a", "b"))
	if r[0].Outcome != push.Sent || r[1].Outcome != push.Sent || len(sink.got) != 2 {
		t.Fatalf("%+v %d", r, len(sink.got))
	}
	if sink.got[0].URL != DefaultBaseURL+SaveListPayloadPath || sink.got[1].Target != "a,b" {
		t.Errorf("%+v", sink.got)
	}
}

type captureSink struct{ got []push.Captured }

func (s *captureSink) SaveCaptured(_ context.Context, reqs []push.Captured) error {
	s.got = append(s.got, reqs...)
	return nil
}
