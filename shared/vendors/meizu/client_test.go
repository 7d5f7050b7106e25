package meizu

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/offpush/offpush/shared/cert"
	"github.com/offpush/offpush/shared/push"
	"github.com/offpush/offpush/shared/vendors/vendortest"
)

// newEnv builds the process environment the way NewEnv reads it, pointing
// Meizu at base.
func newEnv(t testing.TB, base string) *push.Env {
	t.Helper()
	vars := map[string]string{push.URLMeizu: base}
	env, err := push.NewEnv(func(k string) string { return vars[k] }, push.EnvConfig{Log: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	return env
}

func newTestClient(t testing.TB, c cert.Certificate, base string) *Client {
	t.Helper()
	cl, err := New(c, newEnv(t, base))
	if err != nil {
		t.Fatal(err)
	}
	return cl
}

// newMockClient starts a strict mock and a client talking to it over HTTP,
// as Meizu's document shows.
func newMockClient(t testing.TB, c cert.Certificate) (*vendortest.MeizuMock, *Client) {
	t.Helper()
	mock := vendortest.NewMeizu(t, vendortest.Options{}, testAppID, testSecret)
	return mock, newTestClient(t, c, mock.URL())
}

func targets(tokens ...string) []push.Target {
	out := make([]push.Target, len(tokens))
	for i, tok := range tokens {
		out[i] = push.Target{Token: tok}
	}
	return out
}

func outcomes(rs []push.Result) []push.Outcome {
	out := make([]push.Outcome, len(rs))
	for i, r := range rs {
		out[i] = r.Outcome
	}
	return out
}

func TestNew(t *testing.T) {
	t.Run("no credential", func(t *testing.T) {
		for _, c := range []cert.Certificate{
			{ID: 1},
			{ID: 2, Meizu: &cert.Meizu{AppID: testAppID}},
			{ID: 3, Meizu: &cert.Meizu{AppSecret: testSecret}},
		} {
			if _, err := New(c, newEnv(t, "")); !errors.Is(err, push.ErrNoCredential) {
				t.Errorf("New(%+v) error = %v, want ErrNoCredential", c.Meizu, err)
			}
		}
	})
	t.Run("production URL", func(t *testing.T) {
		cl := newTestClient(t, testCert(), "")
		if want := "http://server-api-push.meizu.com/garcia/api/server/push/varnished/pushByPushId"; cl.URL() != want {
			t.Errorf("URL %s, want %s", cl.URL(), want)
		}
	})
	t.Run("override keeps the path", func(t *testing.T) {
		cl := newTestClient(t, testCert(), "https://127.0.0.1:9443/mz")
		if want := "https://127.0.0.1:9443/mz/garcia/api/server/push/varnished/pushByPushId"; cl.URL() != want {
			t.Errorf("URL %s, want %s", cl.URL(), want)
		}
	})
}

func TestSendSuccess(t *testing.T) {
	mock, cl := newMockClient(t, testCert())
	results := cl.Send(context.Background(), testMessage(), targets("pid-1", "pid-2"))
	for i, r := range results {
		if r.Outcome != push.Sent || r.MessageID == "" {
			t.Errorf("target %d: %+v, want sent with a message ID", i, r)
		}
	}
	got := mock.Log.Received()
	if len(got) != 1 || !reflect.DeepEqual(got[0].Targets, []string{"pid-1", "pid-2"}) || got[0].Path != SendPath {
		t.Fatalf("mock received %+v", got)
	}
	mock.Log.CheckClean(t)
}

// TestRequestsMatchWire checks that Requests reports exactly the bytes Send
// puts on the wire, as capture mode relies on, and no secret.
func TestRequestsMatchWire(t *testing.T) {
	mock, cl := newMockClient(t, testCert())
	m := testMessage()
	m.Info.Desc = "含 & 符号 + 加号 = 等号"
	ts := make([]push.Target, 250)
	for i := range ts {
		ts[i].Token = fmt.Sprintf("pid-%03d", i)
	}
	reqs, _ := cl.Requests(m, ts)
	cl.Send(context.Background(), m, ts)
	got := mock.Log.Received()
	if len(got) != 3 || len(reqs) != 3 {
		t.Fatalf("%d requests received, Requests gave %d, want 3", len(got), len(reqs))
	}
	bodies := map[string]bool{}
	for _, r := range got {
		bodies[string(r.Body)] = true
	}
	for i, r := range reqs {
		if !bodies[string(r.Payload)] {
			t.Errorf("request %d body was not received as built", i)
		}
		if strings.Contains(string(r.Payload), testSecret) {
			t.Errorf("request %d carries the app secret", i)
		}
		f, err := url.ParseQuery(string(r.Payload))
		if err != nil {
			t.Fatal(err)
		}
		if f.Get("pushIds") != r.Target {
			t.Errorf("request %d Target %q, pushIds %q", i, r.Target, f.Get("pushIds"))
		}
	}
	mock.Log.CheckClean(t)
}

// TestSendBatching sends 101 pushIds: two requests of 100 and 1, results in
// input order, each scripted outcome where its target was.
func TestSendBatching(t *testing.T) {
	mock, cl := newMockClient(t, testCert())
	ts := make([]push.Target, MaxPushIDs+1)
	for i := range ts {
		ts[i].Token = fmt.Sprintf("pid-%03d", i)
	}
	ts[3].Token = "invalid-3"
	ts[42].Token = "quota-42"
	ts[100].Token = "invalid-100"
	results := cl.Send(context.Background(), testMessage(), ts)
	for i, r := range results {
		want := push.Sent
		switch i {
		case 3, 100:
			want = push.InvalidToken
		case 42:
			want = push.Quota
		}
		if r.Outcome != want {
			t.Errorf("target %d (%s): %s, want %s", i, ts[i].Token, r.Outcome, want)
		}
	}
	got := mock.Log.Received()
	if len(got) != 2 {
		t.Fatalf("mock received %d requests, want 2", len(got))
	}
	sizes := []int{len(got[0].Targets), len(got[1].Targets)}
	if !(sizes[0] == 100 && sizes[1] == 1 || sizes[0] == 1 && sizes[1] == 100) {
		t.Errorf("batch sizes %v, want 100 and 1", sizes)
	}
	mock.Log.CheckClean(t)
}

// TestSendScripted covers the mock's value-map answers, mixed in one request.
func TestSendScripted(t *testing.T) {
	mock, cl := newMockClient(t, testCert())
	ts := targets("ok-1", "invalid-a", "busy1-b", "quota-c", "ok-2")
	got := outcomes(cl.Send(context.Background(), testMessage(), ts))
	want := []push.Outcome{push.Sent, push.InvalidToken, push.Retryable, push.Quota, push.Sent}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("first send %v, want %v", got, want)
	}
	// Send never retries; the busy pushId succeeds when the caller retries.
	if r := cl.Send(context.Background(), testMessage(), targets("busy1-b"))[0]; r.Outcome != push.Sent {
		t.Errorf("second send %+v, want sent", r)
	}
	if n := len(mock.Log.Received()); n != 2 {
		t.Errorf("mock received %d requests, want 2", n)
	}
	mock.Log.CheckClean(t)
}

// TestSendCredentials: a wrong secret fails the sign (1006) and a wrong
// appId is refused (110000); both are Auth, never invalid tokens.
func TestSendCredentials(t *testing.T) {
	tests := []struct {
		name    string
		meizu   cert.Meizu
		code    string
		failure string
	}{
		{"wrong secret", cert.Meizu{AppID: testAppID, AppSecret: "not-the-secret"}, "1006", "sign"},
		{"wrong appId", cert.Meizu{AppID: "100998", AppSecret: testSecret}, "110000", "appId"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			mock := vendortest.NewMeizu(t, vendortest.Options{}, testAppID, testSecret)
			c := testCert()
			c.Meizu = &tt.meizu
			cl := newTestClient(t, c, mock.URL())
			for i, r := range cl.Send(context.Background(), testMessage(), targets("pid-1", "invalid-2")) {
				if r.Outcome != push.Auth || !strings.Contains(r.Reason, tt.code) {
					t.Errorf("target %d: %+v, want auth %s", i, r, tt.code)
				}
			}
			if f := mock.Log.Failures(); len(f) != 1 || !strings.Contains(f[0], tt.failure) {
				t.Errorf("mock failures %v, want the %s check only", f, tt.failure)
			}
		})
	}
}

func TestInvalidArgument(t *testing.T) {
	t.Run("content too long", func(t *testing.T) {
		mock, cl := newMockClient(t, testCert())
		m := testMessage()
		m.Info.Desc = strings.Repeat("c", 101)
		for i, r := range cl.Send(context.Background(), m, targets("pid-1", "pid-2")) {
			if r.Outcome != push.InvalidArgument || !strings.Contains(r.Reason, "content") {
				t.Errorf("target %d: %+v, want invalid_argument on the content", i, r)
			}
		}
		if n := len(mock.Log.Received()); n != 0 {
			t.Errorf("mock received %d requests, want none", n)
		}
		mock.Log.CheckClean(t)
	})
	t.Run("pushId with a comma", func(t *testing.T) {
		mock, cl := newMockClient(t, testCert())
		got := outcomes(cl.Send(context.Background(), testMessage(), targets("pid-1", "a,b", "pid-2")))
		want := []push.Outcome{push.Sent, push.InvalidArgument, push.Sent}
		if !reflect.DeepEqual(got, want) {
			t.Errorf("outcomes %v, want %v", got, want)
		}
		if rec := mock.Log.Targets(); !reflect.DeepEqual(rec, []string{"pid-1", "pid-2"}) {
			t.Errorf("mock targets %v", rec)
		}
		mock.Log.CheckClean(t)
	})
}

func TestDryRun(t *testing.T) {
	mock, cl := newMockClient(t, testCert())
	m := testMessage()
	m.DryRun = true
	got := cl.Send(context.Background(), m, targets("pid-1", ""))
	if got[0] != (push.Result{Outcome: push.Sent, Reason: "dry_run"}) || got[1].Outcome != push.InvalidArgument {
		t.Errorf("dry run results %+v", got)
	}
	if n := len(mock.Log.Received()); n != 0 {
		t.Errorf("dry run sent %d requests", n)
	}
	mock.Log.CheckClean(t)
}

func TestURLOverride(t *testing.T) {
	mock := vendortest.NewMeizu(t, vendortest.Options{}, testAppID, testSecret)
	cl := newTestClient(t, testCert(), mock.URL()+"/proxy/mz/")
	if r := cl.Send(context.Background(), testMessage(), targets("pid-1"))[0]; r.Outcome != push.Sent {
		t.Fatalf("send %+v", r)
	}
	if got := mock.Log.Received()[0].Path; got != "/proxy/mz"+SendPath {
		t.Errorf("path %s", got)
	}
	mock.Log.CheckClean(t)
}

func TestSendTransport(t *testing.T) {
	t.Run("connection refused", func(t *testing.T) {
		srv := httptest.NewServer(http.NotFoundHandler())
		base := srv.URL
		srv.Close()
		cl := newTestClient(t, testCert(), base)
		if r := cl.Send(context.Background(), testMessage(), targets("pid-1"))[0]; r.Outcome != push.Retryable {
			t.Errorf("%+v, want retryable", r)
		}
	})
	t.Run("deadline", func(t *testing.T) {
		mock := vendortest.NewMeizu(t, vendortest.Options{Latency: time.Second}, testAppID, testSecret)
		cl := newTestClient(t, testCert(), mock.URL())
		ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
		defer cancel()
		if r := cl.Send(ctx, testMessage(), targets("pid-1"))[0]; r.Outcome != push.Retryable {
			t.Errorf("%+v, want retryable", r)
		}
	})
	t.Run("503 with Retry-After", func(t *testing.T) {
		srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Retry-After", "7")
			w.WriteHeader(http.StatusServiceUnavailable)
		}))
		defer srv.Close()
		cl := newTestClient(t, testCert(), srv.URL)
		r := cl.Send(context.Background(), testMessage(), targets("pid-1"))[0]
		if r.Outcome != push.Retryable || r.RetryAfter != 7*time.Second {
			t.Errorf("%+v, want retryable after 7s", r)
		}
	})
}

// TestClassify maps every documented code onto outcomes.
func TestClassify(t *testing.T) {
	now := time.Date(2026, 11, 21, 10, 0, 0, 0, time.UTC)
	tokens := []string{"p1", "p2", "p3"}
	all := func(o push.Outcome) []push.Outcome { return []push.Outcome{o, o, o} }
	top := func(code string) string {
		return `{"code":"` + code + `","message":"","value":"","redirect":""}`
	}
	value := func(code string) string {
		return `{"code":"200","message":"","value":{"` + code + `":["p2"]},"redirect":"","msgId":"m1"}`
	}
	tests := []struct {
		name   string
		status int
		header http.Header
		body   string
		want   []push.Outcome
		reason string
		retry  time.Duration
	}{
		{name: "success", status: 200, body: `{"code":"200","message":"","msgId":"c2ee","value":{}}`, want: all(push.Sent)},
		{name: "success with empty string value", status: 200, body: `{"code":"200","value":""}`, want: all(push.Sent)},
		{name: "code as number", status: 200, body: `{"code":200,"value":{}}`, want: all(push.Sent)},
		{name: "document example: 110002 and 110003", status: 200,
			body: `{"code":"200","message":"","value":{"110002":["p1","p3"],"110003":["p2"]},"msgId":"c2ee"}`,
			want: all(push.InvalidToken)},
		{name: "value 110002", status: 200, body: value("110002"), want: []push.Outcome{push.Sent, push.InvalidToken, push.Sent}, reason: "110002"},
		{name: "value 110003", status: 200, body: value("110003"), want: []push.Outcome{push.Sent, push.InvalidToken, push.Sent}},
		{name: "value 201 no permission", status: 200, body: value("201"), want: []push.Outcome{push.Sent, push.Auth, push.Sent}},
		{name: "value 501", status: 200, body: value("501"), want: []push.Outcome{push.Sent, push.Retryable, push.Sent}},
		{name: "value 513", status: 200, body: value("513"), want: []push.Outcome{push.Sent, push.Retryable, push.Sent}},
		{name: "value 519 overloaded", status: 200, body: value("519"), want: []push.Outcome{push.Sent, push.Retryable, push.Sent}},
		{name: "value 520 folded", status: 200, body: value("520"), want: []push.Outcome{push.Sent, push.Retryable, push.Sent}},
		{name: "value 110010 notifications off keeps the token", status: 200, body: value("110010"), want: []push.Outcome{push.Sent, push.Rejected, push.Sent}, reason: "110010"},
		{name: "value 110011 daily limit", status: 200, body: value("110011"), want: []push.Outcome{push.Sent, push.Quota, push.Sent}},
		{name: "value 110005 alias (not ours)", status: 200, body: value("110005"), want: []push.Outcome{push.Sent, push.Rejected, push.Sent}},
		{name: "value lists an unknown pushId", status: 200, body: `{"code":"200","value":{"110002":["zz"]}}`, want: all(push.Sent)},
		{name: "top 500", status: 200, body: top("500"), want: all(push.Retryable)},
		{name: "top 1001", status: 200, body: top("1001"), want: all(push.Retryable)},
		{name: "top 1003", status: 200, body: top("1003"), want: all(push.Retryable)},
		{name: "top 110010 rate", status: 200, body: `{"code":"110010","message":"应用请求频率超过限制","value":"","redirect":""}`, want: all(push.Retryable), reason: "应用请求频率超过限制"},
		{name: "top 110051", status: 200, body: top("110051"), want: all(push.Retryable)},
		{name: "top 1006 sign", status: 200, body: top("1006"), want: all(push.Auth), reason: "1006: signature failed"},
		{name: "top 110000", status: 200, body: top("110000"), want: all(push.Auth)},
		{name: "top 110001", status: 200, body: top("110001"), want: all(push.Auth)},
		{name: "top 110033", status: 200, body: top("110033"), want: all(push.Auth)},
		{name: "top 110009 blacklisted", status: 200, body: top("110009"), want: all(push.Auth)},
		{name: "top 110002", status: 200, body: top("110002"), want: all(push.InvalidToken)},
		{name: "top 110003", status: 200, body: top("110003"), want: all(push.InvalidToken)},
		{name: "top 110019 daily", status: 200, body: top("110019"), want: all(push.Quota)},
		{name: "top 1005", status: 200, body: top("1005"), want: all(push.Rejected)},
		{name: "top 110004", status: 200, body: top("110004"), want: all(push.Rejected)},
		{name: "top 110031", status: 200, body: top("110031"), want: all(push.Rejected)},
		{name: "top 110053", status: 200, body: top("110053"), want: all(push.Rejected)},
		{name: "top unknown", status: 200, body: top("123456"), want: all(push.Rejected)},
		{name: "HTTP 502", status: 502, body: `<html>bad gateway</html>`, want: all(push.Retryable)},
		{name: "HTTP 429 Retry-After", status: 429, header: http.Header{"Retry-After": {"5"}}, want: all(push.Retryable), retry: 5 * time.Second},
		{name: "HTTP 403 without code", status: 403, body: `forbidden`, want: all(push.Auth)},
		{name: "HTTP 404 without code", status: 404, body: `not found`, want: all(push.Rejected)},
		{name: "unreadable 200", status: 200, body: `<html>`, want: all(push.Retryable)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := tt.header
			if h == nil {
				h = http.Header{}
			}
			rs := Classify(tt.status, h, []byte(tt.body), tokens, now)
			if got := outcomes(rs); !reflect.DeepEqual(got, tt.want) {
				t.Errorf("outcomes %v, want %v", got, tt.want)
			}
			if tt.reason != "" && !strings.Contains(rs[0].Reason+rs[1].Reason, tt.reason) {
				t.Errorf("reasons %q / %q, want %q", rs[0].Reason, rs[1].Reason, tt.reason)
			}
			if rs[0].RetryAfter != tt.retry {
				t.Errorf("RetryAfter %v, want %v", rs[0].RetryAfter, tt.retry)
			}
		})
	}
	t.Run("duplicate pushIds share the listed outcome; msgId kept", func(t *testing.T) {
		rs := Classify(200, http.Header{}, []byte(`{"code":"200","value":{"110002":["p1"]},"msgId":"m9"}`), []string{"p1", "p2", "p1"}, now)
		if got := outcomes(rs); !reflect.DeepEqual(got, []push.Outcome{push.InvalidToken, push.Sent, push.InvalidToken}) {
			t.Errorf("outcomes %v", got)
		}
		if rs[1].MessageID != "m9" {
			t.Errorf("message ID %q", rs[1].MessageID)
		}
	})
}
