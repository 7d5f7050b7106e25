package huawei

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/offpush/offpush/shared/cert"
	"github.com/offpush/offpush/shared/push"
	"github.com/offpush/offpush/shared/vendors/vendortest"
)

// memStore is a push.TokenStore shared by clients in a test.
type memStore struct {
	mu   sync.Mutex
	toks map[string]string
	exp  map[string]time.Time
	puts int
}

func newMemStore() *memStore {
	return &memStore{toks: map[string]string{}, exp: map[string]time.Time{}}
}

func (s *memStore) GetVendorToken(_ context.Context, key string) (string, time.Time, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.toks[key], s.exp[key], nil
}

func (s *memStore) PutVendorToken(_ context.Context, key, tok string, exp time.Time) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.toks[key], s.exp[key] = tok, exp
	s.puts++
	return nil
}

type fixture struct {
	mock *vendortest.HuaweiMock
	env  *push.Env
}

// newFixture starts a mock and an Env pointing both Huawei URLs at it,
// with prefix appended to the send URL override.
func newFixture(t *testing.T, prefix string) *fixture {
	t.Helper()
	mock := vendortest.NewHuawei(t, vendortest.Options{}, testAppID, testSecret)
	vars := map[string]string{
		push.URLHuawei:     mock.URL() + prefix,
		push.URLHuaweiAuth: mock.URL() + prefix,
		push.CAFile:        mock.CAFile,
	}
	env, err := push.NewEnv(func(k string) string { return vars[k] }, push.EnvConfig{Tokens: newMemStore()})
	if err != nil {
		t.Fatal(err)
	}
	return &fixture{mock: mock, env: env}
}

func (f *fixture) client(t *testing.T) *Client {
	t.Helper()
	c, err := New(testCert(), f.env)
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

func outcomes(rs []push.Result) []push.Outcome {
	out := make([]push.Outcome, len(rs))
	for i, r := range rs {
		out[i] = r.Outcome
	}
	return out
}

func wantOutcomes(t *testing.T, rs []push.Result, want ...push.Outcome) {
	t.Helper()
	got := outcomes(rs)
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Fatalf("outcomes = %v, want %v (results %+v)", got, want, rs)
	}
}

func TestNewNeedsCredential(t *testing.T) {
	c := testCert()
	c.Huawei = nil
	if _, err := New(c, &push.Env{}); !errors.Is(err, push.ErrNoCredential) {
		t.Fatalf("err = %v, want ErrNoCredential", err)
	}
}

func TestSendSuccessOverTheWire(t *testing.T) {
	f := newFixture(t, "")
	c := f.client(t)
	m := testMessage()
	ts := targets("tok-a", "tok-b")
	reqs, _ := c.Requests(m, ts)
	rs := c.Send(context.Background(), m, ts)
	wantOutcomes(t, rs, push.Sent, push.Sent)
	if rs[0].MessageID == "" {
		t.Error("no requestId as MessageID")
	}
	got := f.mock.Log.Received()
	if len(got) != 1 || !bytes.Equal(got[0].Body, reqs[0].Payload) {
		t.Fatalf("mock received %d requests; Requests() bytes equal: %v", len(got), len(got) == 1 && bytes.Equal(got[0].Body, reqs[0].Payload))
	}
	if h := got[0].Header.Get("Authorization"); !strings.HasPrefix(h, "Bearer hwat-") {
		t.Errorf("Authorization = %q", h)
	}
	if got[0].Path != "/v1/"+testAppID+"/messages:send" {
		t.Errorf("path = %s", got[0].Path)
	}
	f.mock.Log.CheckClean(t)
}

func TestScriptedAnswers(t *testing.T) {
	tests := []struct {
		name      string
		tokens    []string
		v3        bool
		want      []push.Outcome
		retryWait time.Duration
	}{
		{name: "partial success, v1 msg", tokens: []string{"ok-1", "invalid-1", "ok-2"},
			want: []push.Outcome{push.Sent, push.InvalidToken, push.Sent}},
		{name: "partial success, v3 msg", tokens: []string{"invalid-1", "ok-1"}, v3: true,
			want: []push.Outcome{push.InvalidToken, push.Sent}},
		{name: "busy is HTTP 503 with Retry-After", tokens: []string{"busy1-a", "ok-1"},
			want: []push.Outcome{push.Retryable, push.Retryable}, retryWait: time.Second},
		{name: "quota is flow control", tokens: []string{"quota-a"},
			want: []push.Outcome{push.Retryable}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newFixture(t, "")
			f.mock.SetPartialV3(tt.v3)
			rs := f.client(t).Send(context.Background(), testMessage(), targets(tt.tokens...))
			wantOutcomes(t, rs, tt.want...)
			for _, r := range rs {
				if r.Outcome == push.Retryable && r.RetryAfter != tt.retryWait {
					t.Errorf("RetryAfter = %v, want %v", r.RetryAfter, tt.retryWait)
				}
			}
			f.mock.Log.CheckClean(t)
		})
	}
}

func TestBusyThenSent(t *testing.T) {
	f := newFixture(t, "")
	c := f.client(t)
	ts := targets("busy1-x")
	wantOutcomes(t, c.Send(context.Background(), testMessage(), ts), push.Retryable)
	wantOutcomes(t, c.Send(context.Background(), testMessage(), ts), push.Sent)
	f.mock.Log.CheckClean(t)
}

// TestAllInvalidGuard: an 80300007 is trusted only after this certificate
// has delivered (it can also mean a wrong appId or package).
func TestAllInvalidGuard(t *testing.T) {
	f := newFixture(t, "")
	now := time.Now()
	var clock atomic.Int64
	clock.Store(now.UnixNano())
	f.env.Now = func() time.Time { return time.Unix(0, clock.Load()) }
	c := f.client(t)
	ctx := context.Background()

	rs := c.Send(ctx, testMessage(), targets("invalid-1", "invalid-2"))
	wantOutcomes(t, rs, push.Rejected, push.Rejected)
	eq(t, rs[0].Reason, ReasonUnconfirmed)

	// A single token is no proof either: a wrong appId fails it the same way.
	rs = c.Send(ctx, testMessage(), targets("invalid-3"))
	wantOutcomes(t, rs, push.Rejected)

	// A dry run proves nothing.
	dry := testMessage()
	dry.DryRun = true
	wantOutcomes(t, c.Send(ctx, dry, targets("ok-0")), push.Sent)
	wantOutcomes(t, c.Send(ctx, testMessage(), targets("invalid-4")), push.Rejected)

	// A delivery confirms the appId; now 80300007 means dead tokens.
	wantOutcomes(t, c.Send(ctx, testMessage(), targets("ok-1")), push.Sent)
	rs = c.Send(ctx, testMessage(), targets("invalid-5", "invalid-6"))
	wantOutcomes(t, rs, push.InvalidToken, push.InvalidToken)
	eq(t, rs[0].Reason, CodeAllInvalid)

	// The confirmation lapses after a day without a delivery.
	clock.Store(now.Add(25 * time.Hour).UnixNano())
	wantOutcomes(t, c.Send(ctx, testMessage(), targets("invalid-7")), push.Rejected)

	// A partial success confirms too.
	wantOutcomes(t, c.Send(ctx, testMessage(), targets("ok-2", "invalid-8")), push.Sent, push.InvalidToken)
	wantOutcomes(t, c.Send(ctx, testMessage(), targets("invalid-9")), push.InvalidToken)
	f.mock.Log.CheckClean(t)
}

// TestBatchingAndGuardWithinOneSend: 1001 tokens make two requests, results
// come back in input order, and the first batch's delivery vouches for the
// second batch's 80300007 on a fresh client.
func TestBatchingAndGuardWithinOneSend(t *testing.T) {
	f := newFixture(t, "")
	c := f.client(t)
	tokens := make([]string, MaxTokens+1)
	for i := range tokens {
		tokens[i] = fmt.Sprintf("ok-%04d", i)
	}
	tokens[7] = "invalid-early"
	tokens[MaxTokens] = "invalid-last"
	rs := c.Send(context.Background(), testMessage(), targets(tokens...))
	if len(rs) != len(tokens) {
		t.Fatalf("%d results for %d targets", len(rs), len(tokens))
	}
	for i, r := range rs {
		want := push.Sent
		if i == 7 || i == MaxTokens {
			want = push.InvalidToken
		}
		if r.Outcome != want {
			t.Fatalf("result %d = %+v, want %s", i, r, want)
		}
	}
	got := f.mock.Log.Received()
	if len(got) != 2 {
		t.Fatalf("%d requests, want 2", len(got))
	}
	sizes := map[int]bool{len(got[0].Targets): true, len(got[1].Targets): true}
	if !sizes[MaxTokens] || !sizes[1] {
		t.Errorf("batch sizes %d and %d, want 1000 and 1", len(got[0].Targets), len(got[1].Targets))
	}
	if f.mock.AuthCalls() != 1 {
		t.Errorf("%d token fetches for one Send, want 1", f.mock.AuthCalls())
	}
	f.mock.Log.CheckClean(t)
}

func TestAccessTokenReusedAndShared(t *testing.T) {
	f := newFixture(t, "")
	c := f.client(t)
	for range 3 {
		wantOutcomes(t, c.Send(context.Background(), testMessage(), targets("ok")), push.Sent)
	}
	if n := f.mock.AuthCalls(); n != 1 {
		t.Fatalf("%d token fetches for three sends, want 1", n)
	}
	// Another container (a new client on the same store) takes the shared
	// token instead of fetching.
	c2 := f.client(t)
	wantOutcomes(t, c2.Send(context.Background(), testMessage(), targets("ok")), push.Sent)
	if n := f.mock.AuthCalls(); n != 1 {
		t.Fatalf("%d token fetches after a second client, want 1", n)
	}
	f.mock.Log.CheckClean(t)
}

func TestReauthOnceOnExpiredToken(t *testing.T) {
	f := newFixture(t, "")
	c := f.client(t)
	wantOutcomes(t, c.Send(context.Background(), testMessage(), targets("ok")), push.Sent)
	f.mock.ExpireTokens()
	wantOutcomes(t, c.Send(context.Background(), testMessage(), targets("ok")), push.Sent)
	if n := f.mock.AuthCalls(); n != 2 {
		t.Fatalf("%d token fetches, want 2 (one re-auth)", n)
	}
	f.mock.Log.CheckClean(t)
}

func TestExpiredTwiceIsAuth(t *testing.T) {
	f := newFixture(t, "")
	f.mock.SetTokenLifetime(time.Nanosecond) // every token is dead on arrival
	rs := f.client(t).Send(context.Background(), testMessage(), targets("ok"))
	wantOutcomes(t, rs, push.Auth)
	if n := f.mock.AuthCalls(); n != 2 {
		t.Fatalf("%d token fetches, want 2 (one retry only)", n)
	}
	f.mock.Log.CheckClean(t)
}

func TestOAuthFailures(t *testing.T) {
	t.Run("refused credentials are Auth", func(t *testing.T) {
		f := newFixture(t, "")
		c := testCert()
		c.Huawei.AppSecret = "wrong"
		cl, err := New(c, f.env)
		if err != nil {
			t.Fatal(err)
		}
		rs := cl.Send(context.Background(), testMessage(), targets("invalid-1", "ok"))
		wantOutcomes(t, rs, push.Auth, push.Auth)
		if !strings.Contains(rs[0].Reason, "1101") {
			t.Errorf("reason %q does not carry Huawei's error", rs[0].Reason)
		}
		if len(f.mock.Log.Received()) != 0 {
			t.Error("sent without a token")
		}
		f.mock.Log.CheckClean(t)
	})
	t.Run("OAuth service down is Retryable", func(t *testing.T) {
		f := newFixture(t, "")
		f.mock.SetAuthDown(http.StatusServiceUnavailable)
		wantOutcomes(t, f.client(t).Send(context.Background(), testMessage(), targets("ok")), push.Retryable)
		f.mock.Log.CheckClean(t)
	})
}

func TestInvalidArgumentBeforeSending(t *testing.T) {
	f := newFixture(t, "")
	c := f.client(t)
	m := testMessage()
	m.Info.Desc = strings.Repeat("长", 1500) // 4500 bytes
	rs := c.Send(context.Background(), m, targets("a", "b"))
	wantOutcomes(t, rs, push.InvalidArgument, push.InvalidArgument)
	if !strings.Contains(rs[0].Reason, "4096") {
		t.Errorf("reason %q does not name the limit", rs[0].Reason)
	}
	if len(f.mock.Log.Received()) != 0 || f.mock.AuthCalls() != 0 {
		t.Error("an oversize message reached Huawei")
	}
	reqs, _ := c.Requests(m, targets("a"))
	if len(reqs) != 0 {
		t.Error("Requests returned a request for an oversize message")
	}

	// The largest body Huawei allows goes through the mock's own check.
	m = testMessage()
	base, _ := BuildRequest(m, nil, testCert())
	b, _ := base.Encode()
	m.Info.Desc += strings.Repeat("x", MaxBodyBytes-len(b))
	wantOutcomes(t, c.Send(context.Background(), m, targets(strings.Repeat("T", 200))), push.Sent)
	f.mock.Log.CheckClean(t)
}

func TestDryRun(t *testing.T) {
	f := newFixture(t, "")
	m := testMessage()
	m.DryRun = true
	rs := f.client(t).Send(context.Background(), m, targets("ok-1", "ok-2"))
	wantOutcomes(t, rs, push.Sent, push.Sent)
	eq(t, rs[0].Reason, "dry_run")
	got := f.mock.Log.Received()
	if len(got) != 1 || !bytes.Contains(got[0].Body, []byte(`"validate_only":true`)) {
		t.Fatalf("dry run did not send validate_only: %d requests", len(got))
	}
	// Illegal tokens found by a dry run are reported, never condemned.
	rs = f.client(t).Send(context.Background(), m, targets("ok-3", "invalid-4"))
	wantOutcomes(t, rs, push.Sent, push.Rejected)
	f.mock.Log.CheckClean(t)
}

func TestURLOverrideKeepsVendorPath(t *testing.T) {
	f := newFixture(t, "/proxy/huawei")
	c := f.client(t)
	reqs, _ := c.Requests(testMessage(), targets("ok"))
	eq(t, reqs[0].URL, f.mock.URL()+"/proxy/huawei/v1/"+testAppID+"/messages:send")
	wantOutcomes(t, c.Send(context.Background(), testMessage(), targets("ok")), push.Sent)
	if got := f.mock.Log.Received(); len(got) != 1 || got[0].Path != "/proxy/huawei/v1/"+testAppID+"/messages:send" {
		t.Fatalf("received %+v", got)
	}
	f.mock.Log.CheckClean(t)
}

func TestExtAsIntentParamAccepted(t *testing.T) {
	f := newFixture(t, "")
	c := testCert()
	c.ClickAction = cert.ClickAction{Type: cert.ClickOpenPage, Intent: pageIntent}
	cl, err := New(c, f.env)
	if err != nil {
		t.Fatal(err)
	}
	m := testMessage()
	m.Type = push.Call
	m.Info.AndroidInfo.ExtAsHuaweiIntentParam = 1
	m.Info.AndroidInfo.Sound = "ring"
	wantOutcomes(t, cl.Send(context.Background(), m, targets("ok")), push.Sent)
	f.mock.Log.CheckClean(t)
}

func TestTransportErrorIsRetryable(t *testing.T) {
	srv := httptest.NewServer(http.NotFoundHandler())
	base := srv.URL
	srv.Close() // nothing listens there now
	vars := map[string]string{push.URLHuawei: base, push.URLHuaweiAuth: base}
	env, _ := push.NewEnv(func(k string) string { return vars[k] }, push.EnvConfig{})
	c, _ := New(testCert(), env)
	wantOutcomes(t, c.Send(context.Background(), testMessage(), targets("ok")), push.Retryable)
}

// TestCodeTable covers every code of vendor-apis.md §4 with a server that
// answers it.
func TestCodeTable(t *testing.T) {
	tests := []struct {
		status int
		code   string
		want   push.Outcome
	}{
		{200, "80000000", push.Sent},
		{400, "80100001", push.Rejected},
		{400, "80100003", push.Rejected},
		{400, "80100004", push.Rejected},
		{400, "80100013", push.Rejected},
		{400, "80100016", push.Rejected},
		{400, "80100017", push.Retryable},
		{400, "80100018", push.Rejected},
		{401, "80200001", push.Auth},
		{401, "80200003", push.Auth}, // expired even after the one re-auth
		{401, "80200005", push.Auth},
		{403, "80300002", push.Auth},
		{400, "80300007", push.Rejected}, // unconfirmed on a fresh client
		{413, "80300008", push.Rejected},
		{400, "80300010", push.Rejected},
		{403, "80300011", push.Auth},
		{400, "80300013", push.Auth},
		{500, "80600003", push.Retryable}, // HTTP 5xx wins
		{200, "80600003", push.Auth},
		{500, "81000001", push.Retryable},
		{200, "81000001", push.Retryable},
		{500, "", push.Retryable},
		{502, "", push.Retryable},
		{503, "", push.Retryable},
		{429, "", push.Retryable},
		{404, "", push.Rejected},
		{401, "", push.Auth},
		{200, "89999999", push.Rejected},
	}
	for _, tt := range tests {
		t.Run(fmt.Sprintf("%d_%s", tt.status, tt.code), func(t *testing.T) {
			var sends atomic.Int32
			srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				if strings.HasSuffix(r.URL.Path, AuthPath) {
					fmt.Fprint(w, `{"access_token":"x","expires_in":3600,"token_type":"Bearer"}`)
					return
				}
				sends.Add(1)
				w.Header().Set("Retry-After", "7")
				w.WriteHeader(tt.status)
				if tt.code != "" {
					fmt.Fprintf(w, `{"code":%q,"msg":"m","requestId":"r1"}`, tt.code)
				}
			}))
			defer srv.Close()
			vars := map[string]string{push.URLHuawei: srv.URL, push.URLHuaweiAuth: srv.URL}
			env, _ := push.NewEnv(func(k string) string { return vars[k] }, push.EnvConfig{})
			c, _ := New(testCert(), env)
			rs := c.Send(context.Background(), testMessage(), targets("t1", "t2"))
			wantOutcomes(t, rs, tt.want, tt.want)
			if tt.want == push.Retryable && rs[0].RetryAfter != 7*time.Second {
				t.Errorf("RetryAfter = %v, want 7s", rs[0].RetryAfter)
			}
			wantSends := int32(1)
			if tt.code == CodeTokenExpired || tt.code == CodeJWTExpired {
				wantSends = 2
			}
			if sends.Load() != wantSends {
				t.Errorf("%d sends, want %d", sends.Load(), wantSends)
			}
		})
	}
}

// TestMockRefusesMisspeltFields checks the mock's strictness on a body the
// client would never send.
func TestMockRefusesMisspeltFields(t *testing.T) {
	f := newFixture(t, "")
	c := f.client(t)
	tok, err := c.tokens.Token(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	body := `{"message":{"token":["t"],"android":{"notification":{"title":"a","body":"b",` +
		`"click_action":{"type":3},"badge":{"add_num":1,"badge_class":"x.Y"}}}}}`
	req, _ := http.NewRequest(http.MethodPost, c.sendURL, strings.NewReader(body))
	req.Header.Set("Authorization", "Bearer "+tok)
	req.Header.Set("Content-Type", contentType)
	resp, err := f.env.HTTPClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusBadRequest || len(f.mock.Log.Failures()) != 1 ||
		!strings.Contains(f.mock.Log.Failures()[0], "badge_class") {
		t.Fatalf("status %d, failures %v", resp.StatusCode, f.mock.Log.Failures())
	}
}
