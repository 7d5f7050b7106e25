package honor

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/offpush/offpush/shared/push"
	"github.com/offpush/offpush/shared/vendors/vendortest"
)

// memStore is a push.TokenStore shared by clients in a test.
type memStore struct {
	mu   sync.Mutex
	toks map[string]string
	exp  map[string]time.Time
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
	return nil
}

type fixture struct {
	mock *vendortest.HonorMock
	env  *push.Env
}

func newFixture(t *testing.T, prefix string) *fixture {
	t.Helper()
	mock := vendortest.NewHonor(t, vendortest.Options{}, testAppID, testClientID, testSecret)
	vars := map[string]string{
		push.URLHonor:     mock.URL() + prefix,
		push.URLHonorAuth: mock.URL() + prefix,
		push.CAFile:       mock.CAFile,
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

func wantOutcomes(t *testing.T, rs []push.Result, want ...push.Outcome) {
	t.Helper()
	got := make([]push.Outcome, len(rs))
	for i, r := range rs {
		got[i] = r.Outcome
	}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Fatalf("outcomes = %v, want %v (results %+v)", got, want, rs)
	}
}

func TestNewNeedsCredential(t *testing.T) {
	c := testCert()
	c.Honor.ClientSecret = ""
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
	start := time.Now()
	rs := c.Send(context.Background(), m, ts)
	wantOutcomes(t, rs, push.Sent, push.Sent)
	if rs[0].MessageID == "" {
		t.Error("no requestId as MessageID")
	}
	got := f.mock.Log.Received()
	if len(got) != 1 || !bytes.Equal(got[0].Body, reqs[0].Payload) {
		t.Fatalf("mock received %d requests, or other bytes than Requests() built", len(got))
	}
	h := got[0].Header
	if !strings.HasPrefix(h.Get("Authorization"), "Bearer hnat-") {
		t.Errorf("Authorization = %q", h.Get("Authorization"))
	}
	ms, err := strconv.ParseInt(h.Get("timestamp"), 10, 64)
	if err != nil || time.UnixMilli(ms).Before(start.Add(-time.Second)) || time.UnixMilli(ms).After(time.Now()) {
		t.Errorf("timestamp header %q is not the send time in ms", h.Get("timestamp"))
	}
	eq(t, got[0].Path, "/api/v1/"+testAppID+"/sendMessage")
	f.mock.Log.CheckClean(t)
}

func TestScriptedAnswers(t *testing.T) {
	tests := []struct {
		name       string
		tokens     []string
		stringCode bool
		want       []push.Outcome
		retryAfter time.Duration
	}{
		{name: "expireTokens are invalid", tokens: []string{"ok-1", "invalid-1", "ok-2"},
			want: []push.Outcome{push.Sent, push.InvalidToken, push.Sent}},
		{name: "every token expired", tokens: []string{"invalid-1", "invalid-2"},
			want: []push.Outcome{push.InvalidToken, push.InvalidToken}},
		{name: "string success code", tokens: []string{"invalid-1", "ok-1"}, stringCode: true,
			want: []push.Outcome{push.InvalidToken, push.Sent}},
		{name: "failTokens are retryable", tokens: []string{"busy1-a", "ok-1"},
			want: []push.Outcome{push.Retryable, push.Sent}},
		{name: "quota is HTTP 429", tokens: []string{"quota-a", "ok-1"},
			want: []push.Outcome{push.Retryable, push.Retryable}, retryAfter: time.Minute},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newFixture(t, "")
			f.mock.SetStringCode(tt.stringCode)
			rs := f.client(t).Send(context.Background(), testMessage(), targets(tt.tokens...))
			wantOutcomes(t, rs, tt.want...)
			for _, r := range rs {
				if r.Outcome == push.Retryable && r.RetryAfter != tt.retryAfter {
					t.Errorf("RetryAfter = %v, want %v", r.RetryAfter, tt.retryAfter)
				}
			}
			f.mock.Log.CheckClean(t)
		})
	}
}

func TestBusyThenSent(t *testing.T) {
	f := newFixture(t, "")
	c := f.client(t)
	wantOutcomes(t, c.Send(context.Background(), testMessage(), targets("busy1-x")), push.Retryable)
	wantOutcomes(t, c.Send(context.Background(), testMessage(), targets("busy1-x")), push.Sent)
	f.mock.Log.CheckClean(t)
}

func TestBatchingInInputOrder(t *testing.T) {
	f := newFixture(t, "")
	tokens := make([]string, MaxTokens+1)
	for i := range tokens {
		tokens[i] = fmt.Sprintf("ok-%04d", i)
	}
	tokens[3] = "invalid-a"
	tokens[MaxTokens] = "invalid-b"
	rs := f.client(t).Send(context.Background(), testMessage(), targets(tokens...))
	for i, r := range rs {
		want := push.Sent
		if i == 3 || i == MaxTokens {
			want = push.InvalidToken
		}
		if r.Outcome != want {
			t.Fatalf("result %d = %+v, want %s", i, r, want)
		}
	}
	got := f.mock.Log.Received()
	if len(got) != 2 || len(got[0].Targets)+len(got[1].Targets) != MaxTokens+1 ||
		(len(got[0].Targets) != 1 && len(got[1].Targets) != 1) {
		t.Fatalf("%d requests, want 1000 + 1 tokens", len(got))
	}
	if n := f.mock.AuthCalls(); n != 1 {
		t.Errorf("%d token fetches, want 1", n)
	}
	f.mock.Log.CheckClean(t)
}

func TestAccessTokenReusedAndShared(t *testing.T) {
	f := newFixture(t, "")
	c := f.client(t)
	for range 3 {
		wantOutcomes(t, c.Send(context.Background(), testMessage(), targets("ok")), push.Sent)
	}
	wantOutcomes(t, f.client(t).Send(context.Background(), testMessage(), targets("ok")), push.Sent)
	if n := f.mock.AuthCalls(); n != 1 {
		t.Fatalf("%d token fetches, want 1 (reused, then shared through the store)", n)
	}
	f.mock.Log.CheckClean(t)
}

func TestReauthOnceOn401(t *testing.T) {
	f := newFixture(t, "")
	c := f.client(t)
	wantOutcomes(t, c.Send(context.Background(), testMessage(), targets("ok")), push.Sent)
	f.mock.ExpireTokens()
	wantOutcomes(t, c.Send(context.Background(), testMessage(), targets("ok")), push.Sent)
	if n := f.mock.AuthCalls(); n != 2 {
		t.Fatalf("%d token fetches, want 2", n)
	}
	f.mock.Log.CheckClean(t)
}

func TestRefusedTwiceIsAuth(t *testing.T) {
	f := newFixture(t, "")
	f.mock.SetTokenLifetime(time.Nanosecond)
	wantOutcomes(t, f.client(t).Send(context.Background(), testMessage(), targets("ok")), push.Auth)
	if n := f.mock.AuthCalls(); n != 2 {
		t.Fatalf("%d token fetches, want 2 (one retry only)", n)
	}
	f.mock.Log.CheckClean(t)
}

func TestOAuthRefusalIsAuth(t *testing.T) {
	f := newFixture(t, "")
	c := testCert()
	c.Honor.ClientSecret = "wrong"
	cl, _ := New(c, f.env)
	rs := cl.Send(context.Background(), testMessage(), targets("invalid-1"))
	wantOutcomes(t, rs, push.Auth)
	if !strings.Contains(rs[0].Reason, "invalid_client") {
		t.Errorf("reason %q lacks the OAuth error", rs[0].Reason)
	}
	if len(f.mock.Log.Received()) != 0 {
		t.Error("sent without a token")
	}
	f.mock.Log.CheckClean(t)
}

func TestInvalidArgumentBeforeSending(t *testing.T) {
	f := newFixture(t, "")
	m := testMessage()
	m.Info.Desc = strings.Repeat("荣", 1500)
	rs := f.client(t).Send(context.Background(), m, targets("a"))
	wantOutcomes(t, rs, push.InvalidArgument)
	if len(f.mock.Log.Received()) != 0 || f.mock.AuthCalls() != 0 {
		t.Error("an oversize message reached Honor")
	}
}

func TestDryRunSendsNothing(t *testing.T) {
	f := newFixture(t, "")
	m := testMessage()
	m.DryRun = true
	rs := f.client(t).Send(context.Background(), m, targets("ok-1", "invalid-2"))
	wantOutcomes(t, rs, push.Sent, push.Sent)
	eq(t, rs[0].Reason, "dry_run")
	if len(f.mock.Log.Received()) != 0 || f.mock.AuthCalls() != 0 {
		t.Error("a dry run reached Honor")
	}
}

func TestURLOverrideKeepsVendorPath(t *testing.T) {
	f := newFixture(t, "/proxy/honor")
	wantOutcomes(t, f.client(t).Send(context.Background(), testMessage(), targets("ok")), push.Sent)
	if got := f.mock.Log.Received(); len(got) != 1 || got[0].Path != "/proxy/honor/api/v1/"+testAppID+"/sendMessage" {
		t.Fatalf("received %+v", got)
	}
	f.mock.Log.CheckClean(t)
}

func TestTransportErrorIsRetryable(t *testing.T) {
	srv := httptest.NewServer(http.NotFoundHandler())
	base := srv.URL
	srv.Close()
	vars := map[string]string{push.URLHonor: base, push.URLHonorAuth: base}
	env, _ := push.NewEnv(func(k string) string { return vars[k] }, push.EnvConfig{})
	c, _ := New(testCert(), env)
	wantOutcomes(t, c.Send(context.Background(), testMessage(), targets("ok")), push.Retryable)
}

// TestAnswerTable covers the answers a strict mock does not script.
func TestAnswerTable(t *testing.T) {
	tests := []struct {
		status int
		body   string
		want   push.Outcome
		sends  int32
	}{
		{200, `{"code":200,"message":"success","data":{"sendResult":true,"requestId":"r"}}`, push.Sent, 1},
		{200, `{"code":"80000000","message":"success","data":{"sendResult":true}}`, push.Sent, 1},
		{200, `{"code":"200","data":{"expireTokens":["t1","t2"]}}`, push.InvalidToken, 1},
		{401, `{"code":401,"message":"unauthorized"}`, push.Auth, 2},
		{200, `{"code":"80200003","message":"token expired"}`, push.Auth, 2},
		{200, `{"code":80200001,"message":"auth error"}`, push.Auth, 1},
		{403, `{"code":"80300002","message":"no permission"}`, push.Auth, 1},
		{403, ``, push.Auth, 1},
		{200, `{"code":"81000001","message":"internal"}`, push.Retryable, 1},
		{500, ``, push.Retryable, 1},
		{502, `<html>bad gateway</html>`, push.Retryable, 1},
		{503, `{"code":503}`, push.Retryable, 1},
		{429, `{"code":429}`, push.Retryable, 1},
		{400, `{"code":"80100003","message":"bad structure"}`, push.Rejected, 1},
		{400, `{"code":"80300007","message":"all tokens invalid"}`, push.Rejected, 1},
		{404, ``, push.Rejected, 1},
	}
	for _, tt := range tests {
		t.Run(fmt.Sprintf("%d_%s", tt.status, tt.body), func(t *testing.T) {
			var sends atomic.Int32
			srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				if strings.HasSuffix(r.URL.Path, AuthPath) {
					fmt.Fprint(w, `{"access_token":"x","expires_in":3600,"token_type":"Bearer"}`)
					return
				}
				sends.Add(1)
				w.Header().Set("Retry-After", "9")
				w.WriteHeader(tt.status)
				fmt.Fprint(w, tt.body)
			}))
			defer srv.Close()
			vars := map[string]string{push.URLHonor: srv.URL, push.URLHonorAuth: srv.URL}
			env, _ := push.NewEnv(func(k string) string { return vars[k] }, push.EnvConfig{})
			c, _ := New(testCert(), env)
			rs := c.Send(context.Background(), testMessage(), targets("t1", "t2"))
			wantOutcomes(t, rs, tt.want, tt.want)
			if tt.want == push.Retryable && tt.status != 200 && rs[0].RetryAfter != 9*time.Second {
				t.Errorf("RetryAfter = %v, want 9s", rs[0].RetryAfter)
			}
			if sends.Load() != tt.sends {
				t.Errorf("%d sends, want %d", sends.Load(), tt.sends)
			}
		})
	}
}

func TestMockRefusesHuaweiSpelling(t *testing.T) {
	f := newFixture(t, "")
	c := f.client(t)
	tok, err := c.tokens.Token(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	for _, tt := range []struct{ name, body, ts string }{
		{"add_num", `{"token":["t"],"android":{"notification":{"title":"a","body":"b","clickAction":{"type":3},"badge":{"add_num":1,"badgeClass":"x.Y"}}}}`, "now"},
		{"missing timestamp", `{"token":["t"],"android":{"notification":{"title":"a","body":"b","clickAction":{"type":3}}}}`, ""},
		{"missing clickAction", `{"token":["t"],"android":{"notification":{"title":"a","body":"b"}}}`, "now"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			before := len(f.mock.Log.Failures())
			req, _ := http.NewRequest(http.MethodPost, c.sendURL, strings.NewReader(tt.body))
			req.Header.Set("Authorization", "Bearer "+tok)
			req.Header.Set("Content-Type", contentType)
			if tt.ts == "now" {
				req.Header.Set("timestamp", strconv.FormatInt(time.Now().UnixMilli(), 10))
			}
			resp, err := f.env.HTTPClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			resp.Body.Close()
			if resp.StatusCode != http.StatusBadRequest || len(f.mock.Log.Failures()) != before+1 {
				t.Fatalf("status %d, failures %v", resp.StatusCode, f.mock.Log.Failures())
			}
		})
	}
}
