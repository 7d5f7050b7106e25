package xiaomi

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/offpush/offpush/shared/cert"
	"github.com/offpush/offpush/shared/push"
	"github.com/offpush/offpush/shared/vendors/vendortest"
)

// newEnv builds the process environment the way NewEnv reads it, pointing
// Xiaomi at base and trusting caFile.
func newEnv(t testing.TB, base, caFile string) *push.Env {
	t.Helper()
	vars := map[string]string{push.URLXiaomi: base, push.CAFile: caFile}
	env, err := push.NewEnv(func(k string) string { return vars[k] }, push.EnvConfig{Log: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	return env
}

func newTestClient(t testing.TB, c cert.Certificate, base string) *Client {
	t.Helper()
	cl, err := New(c, newEnv(t, base, ""))
	if err != nil {
		t.Fatal(err)
	}
	return cl
}

// newMockClient starts a strict mock and a client talking to it over TLS.
func newMockClient(t testing.TB, c cert.Certificate) (*vendortest.XiaomiMock, *Client) {
	t.Helper()
	mock := vendortest.NewXiaomi(t, vendortest.Options{}, testSecret, testPackage)
	cl, err := New(c, newEnv(t, mock.URL(), mock.CAFile(t)))
	if err != nil {
		t.Fatal(err)
	}
	return mock, cl
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
			{ID: 2, Xiaomi: &cert.Xiaomi{PackageName: testPackage}},
			{ID: 3, Xiaomi: &cert.Xiaomi{AppSecret: testSecret}},
		} {
			if _, err := New(c, newEnv(t, "", "")); !errors.Is(err, push.ErrNoCredential) {
				t.Errorf("New(%+v) error = %v, want ErrNoCredential", c.Xiaomi, err)
			}
		}
	})
	t.Run("hosts by region", func(t *testing.T) {
		vars := map[string]string{}
		env, err := push.NewEnv(func(k string) string { return vars[k] }, push.EnvConfig{})
		if err != nil {
			t.Fatal(err)
		}
		for region, want := range map[string]string{
			cert.RegionChina:  "https://api.xmpush.xiaomi.com/v3/message/regid",
			"":                "https://api.xmpush.xiaomi.com/v3/message/regid",
			cert.RegionGlobal: "https://api.xmpush.global.xiaomi.com/v3/message/regid",
		} {
			c := testCert()
			c.Xiaomi.Region = region
			cl, err := New(c, env)
			if err != nil {
				t.Fatal(err)
			}
			if cl.URL() != want {
				t.Errorf("region %q: URL %s, want %s", region, cl.URL(), want)
			}
		}
	})
	t.Run("override replaces both regions and keeps the path", func(t *testing.T) {
		for _, region := range []string{cert.RegionChina, cert.RegionGlobal} {
			c := testCert()
			c.Xiaomi.Region = region
			cl := newTestClient(t, c, "https://127.0.0.1:9443/xm")
			if want := "https://127.0.0.1:9443/xm/v3/message/regid"; cl.URL() != want {
				t.Errorf("URL %s, want %s", cl.URL(), want)
			}
		}
	})
}

func TestSendSuccess(t *testing.T) {
	mock, cl := newMockClient(t, testCert())
	ts := targets("regid-1", "regid-2", "regid-3")
	results := cl.Send(context.Background(), testMessage(), ts)
	for i, r := range results {
		if r.Outcome != push.Sent || r.MessageID == "" {
			t.Errorf("target %d: %+v, want sent with a message ID", i, r)
		}
	}
	got := mock.Log.Received()
	if len(got) != 1 {
		t.Fatalf("mock received %d requests, want 1", len(got))
	}
	if !reflect.DeepEqual(got[0].Targets, []string{"regid-1", "regid-2", "regid-3"}) {
		t.Errorf("mock targets %v", got[0].Targets)
	}
	if got[0].Path != SendPath {
		t.Errorf("path %s, want %s", got[0].Path, SendPath)
	}
	mock.Log.CheckClean(t)
}

// TestRequestsMatchWire checks that Requests reports exactly the bytes Send
// puts on the wire, as capture mode relies on, and no credential.
func TestRequestsMatchWire(t *testing.T) {
	mock, cl := newMockClient(t, testCert())
	m := testMessage()
	ts := make([]push.Target, 1500)
	for i := range ts {
		ts[i].Token = fmt.Sprintf("regid-%04d", i)
	}
	reqs, _ := cl.Requests(m, ts)
	cl.Send(context.Background(), m, ts)
	got := mock.Log.Received()
	if len(got) != len(reqs) || len(reqs) != 2 {
		t.Fatalf("%d requests received, Requests gave %d, want 2", len(got), len(reqs))
	}
	bodies := map[string]bool{}
	for _, r := range got {
		bodies[string(r.Body)] = true
	}
	for i, r := range reqs {
		if !bodies[string(r.Payload)] {
			t.Errorf("request %d body was not received as built", i)
		}
		if r.URL != mock.URL()+SendPath {
			t.Errorf("request %d URL %s", i, r.URL)
		}
		for k, v := range r.Header {
			if strings.EqualFold(k, "Authorization") || strings.Contains(v, testSecret) {
				t.Errorf("request %d header %s carries the credential", i, k)
			}
		}
		if r.Target != strings.Join(tokensOf(ts, r.Targets), ",") {
			t.Errorf("request %d Target does not list its regIds", i)
		}
	}
	mock.Log.CheckClean(t)
}

func tokensOf(ts []push.Target, idx []int) []string {
	out := make([]string, len(idx))
	for i, j := range idx {
		out[i] = ts[j].Token
	}
	return out
}

// TestSendBatching sends 1001 regIds: two requests of 1000 and 1, results
// in input order, each scripted outcome where its target was.
func TestSendBatching(t *testing.T) {
	mock, cl := newMockClient(t, testCert())
	ts := make([]push.Target, MaxRegIDs+1)
	for i := range ts {
		ts[i].Token = fmt.Sprintf("regid-%04d", i)
	}
	ts[7].Token = "invalid-7"
	ts[999].Token = "invalid-999"
	results := cl.Send(context.Background(), testMessage(), ts)
	if len(results) != len(ts) {
		t.Fatalf("%d results for %d targets", len(results), len(ts))
	}
	for i, r := range results {
		want := push.Sent
		if i == 7 || i == 999 {
			want = push.InvalidToken
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
	if !(sizes[0] == 1000 && sizes[1] == 1 || sizes[0] == 1 && sizes[1] == 1000) {
		t.Errorf("batch sizes %v, want 1000 and 1", sizes)
	}
	mock.Log.CheckClean(t)
}

// TestSendScripted covers each scripted answer of the mock.
func TestSendScripted(t *testing.T) {
	tests := []struct {
		name   string
		tokens []string
		want   []push.Outcome
	}{
		{"bad_regids among valid ones", []string{"ok-1", "invalid-a", "ok-2"}, []push.Outcome{push.Sent, push.InvalidToken, push.Sent}},
		{"every regId invalid (20301)", []string{"invalid-a", "invalid-b"}, []push.Outcome{push.InvalidToken, push.InvalidToken}},
		{"daily quota (200001)", []string{"quota-a", "ok-1"}, []push.Outcome{push.Quota, push.Quota}},
		{"busy (HTTP 503)", []string{"busy1-a"}, []push.Outcome{push.Retryable}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			mock, cl := newMockClient(t, testCert())
			got := outcomes(cl.Send(context.Background(), testMessage(), targets(tt.tokens...)))
			if !reflect.DeepEqual(got, tt.want) {
				t.Errorf("outcomes %v, want %v", got, tt.want)
			}
			mock.Log.CheckClean(t)
		})
	}
	t.Run("busy then sent: Send itself never retries", func(t *testing.T) {
		mock, cl := newMockClient(t, testCert())
		ts := targets("busy1-a")
		if r := cl.Send(context.Background(), testMessage(), ts)[0]; r.Outcome != push.Retryable {
			t.Fatalf("first send %+v, want retryable", r)
		}
		if n := len(mock.Log.Received()); n != 1 {
			t.Fatalf("Send made %d requests, want 1", n)
		}
		if r := cl.Send(context.Background(), testMessage(), ts)[0]; r.Outcome != push.Sent {
			t.Fatalf("second send %+v, want sent", r)
		}
		mock.Log.CheckClean(t)
	})
}

// TestSendAuth: a wrong AppSecret is an Auth outcome and never an invalid
// token.
func TestSendAuth(t *testing.T) {
	mock := vendortest.NewXiaomi(t, vendortest.Options{}, "the-real-secret", testPackage)
	cl, err := New(testCert(), newEnv(t, mock.URL(), mock.CAFile(t)))
	if err != nil {
		t.Fatal(err)
	}
	results := cl.Send(context.Background(), testMessage(), targets("regid-1", "invalid-2"))
	for i, r := range results {
		if r.Outcome != push.Auth || !strings.Contains(r.Reason, "21301") {
			t.Errorf("target %d: %+v, want auth 21301", i, r)
		}
	}
	if f := mock.Log.Failures(); len(f) != 1 || !strings.Contains(f[0], "Authorization") {
		t.Errorf("mock failures %v, want the Authorization check only", f)
	}
}

// TestInvalidArgument: limits are checked before sending; a bad regId is
// left out of the request, a bad message sends nothing.
func TestInvalidArgument(t *testing.T) {
	t.Run("title too long", func(t *testing.T) {
		mock, cl := newMockClient(t, testCert())
		m := testMessage()
		m.Info.Title = strings.Repeat("t", 50)
		for i, r := range cl.Send(context.Background(), m, targets("regid-1", "regid-2")) {
			if r.Outcome != push.InvalidArgument || !strings.Contains(r.Reason, "title") {
				t.Errorf("target %d: %+v, want invalid_argument on the title", i, r)
			}
		}
		if n := len(mock.Log.Received()); n != 0 {
			t.Errorf("mock received %d requests, want none", n)
		}
		mock.Log.CheckClean(t)
	})
	t.Run("regId with a comma", func(t *testing.T) {
		mock, cl := newMockClient(t, testCert())
		got := outcomes(cl.Send(context.Background(), testMessage(), targets("regid-1", "a,b", "", "regid-2")))
		want := []push.Outcome{push.Sent, push.InvalidArgument, push.InvalidArgument, push.Sent}
		if !reflect.DeepEqual(got, want) {
			t.Errorf("outcomes %v, want %v", got, want)
		}
		if rec := mock.Log.Targets(); !reflect.DeepEqual(rec, []string{"regid-1", "regid-2"}) {
			t.Errorf("mock targets %v", rec)
		}
		mock.Log.CheckClean(t)
	})
}

func TestDryRun(t *testing.T) {
	mock, cl := newMockClient(t, testCert())
	m := testMessage()
	m.DryRun = true
	got := cl.Send(context.Background(), m, targets("regid-1", "a,b"))
	if got[0] != (push.Result{Outcome: push.Sent, Reason: "dry_run"}) || got[1].Outcome != push.InvalidArgument {
		t.Errorf("dry run results %+v", got)
	}
	if n := len(mock.Log.Received()); n != 0 {
		t.Errorf("dry run sent %d requests", n)
	}
	mock.Log.CheckClean(t)
}

// TestURLOverride: an override with a path prefix keeps Xiaomi's path after
// it.
func TestURLOverride(t *testing.T) {
	mock := vendortest.NewXiaomi(t, vendortest.Options{}, testSecret, testPackage)
	cl, err := New(testCert(), newEnv(t, mock.URL()+"/proxy/xm", mock.CAFile(t)))
	if err != nil {
		t.Fatal(err)
	}
	if r := cl.Send(context.Background(), testMessage(), targets("regid-1"))[0]; r.Outcome != push.Sent {
		t.Fatalf("send %+v", r)
	}
	if got := mock.Log.Received()[0].Path; got != "/proxy/xm/v3/message/regid" {
		t.Errorf("path %s", got)
	}
	mock.Log.CheckClean(t)
}

// TestSendTransport: transport failures and timeouts are retryable.
func TestSendTransport(t *testing.T) {
	t.Run("connection refused", func(t *testing.T) {
		srv := httptest.NewServer(http.NotFoundHandler())
		base := srv.URL
		srv.Close()
		cl := newTestClient(t, testCert(), base)
		if r := cl.Send(context.Background(), testMessage(), targets("regid-1"))[0]; r.Outcome != push.Retryable {
			t.Errorf("%+v, want retryable", r)
		}
	})
	t.Run("deadline", func(t *testing.T) {
		mock := vendortest.NewXiaomi(t, vendortest.Options{Latency: time.Second}, testSecret, testPackage)
		cl, err := New(testCert(), newEnv(t, mock.URL(), mock.CAFile(t)))
		if err != nil {
			t.Fatal(err)
		}
		ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
		defer cancel()
		if r := cl.Send(ctx, testMessage(), targets("regid-1"))[0]; r.Outcome != push.Retryable {
			t.Errorf("%+v, want retryable", r)
		}
	})
	t.Run("429 with Retry-After", func(t *testing.T) {
		srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Retry-After", "30")
			w.WriteHeader(http.StatusTooManyRequests)
		}))
		defer srv.Close()
		cl := newTestClient(t, testCert(), srv.URL)
		r := cl.Send(context.Background(), testMessage(), targets("regid-1"))[0]
		if r.Outcome != push.Retryable || r.RetryAfter != 30*time.Second {
			t.Errorf("%+v, want retryable after 30s", r)
		}
	})
}

// TestClassify maps every answer shape onto outcomes.
func TestClassify(t *testing.T) {
	now := time.Date(2026, 11, 21, 10, 0, 0, 0, time.UTC)
	tokens := []string{"r1", "r2", "r3"}
	all := func(o push.Outcome) []push.Outcome { return []push.Outcome{o, o, o} }
	tests := []struct {
		name   string
		status int
		header http.Header
		body   string
		want   []push.Outcome
		reason string
		retry  time.Duration
	}{
		{name: "success", status: 200, body: `{"result":"ok","trace_id":"Xlm1","code":0,"data":{"id":"slm1"},"description":"成功"}`, want: all(push.Sent)},
		{name: "success without data", status: 200, body: `{"result":"ok","code":0}`, want: all(push.Sent)},
		{name: "bad_regids string", status: 200, body: `{"result":"ok","code":0,"data":{"id":"slm1","bad_regids":"r1,r3"}}`, want: []push.Outcome{push.InvalidToken, push.Sent, push.InvalidToken}},
		{name: "bad_regids array", status: 200, body: `{"result":"ok","code":0,"data":{"id":"slm1","bad_regids":["r2"]}}`, want: []push.Outcome{push.Sent, push.InvalidToken, push.Sent}},
		{name: "code as string", status: 200, body: `{"result":"ok","code":"0","data":{"id":"slm1"}}`, want: all(push.Sent)},
		{name: "auth 21301", status: 200, body: `{"result":"error","code":21301,"description":"认证失败"}`, want: all(push.Auth), reason: "xiaomi 21301"},
		{name: "auth 21301 with HTTP 401", status: 401, body: `{"result":"error","code":21301}`, want: all(push.Auth)},
		{name: "missing param 21305", status: 200, body: `{"result":"error","reason":"Must input one of: regid","code":21305,"description":"缺少必要的参数"}`, want: all(push.Rejected), reason: "Must input"},
		{name: "missing param 10016", status: 200, body: `{"result":"error","code":10016}`, want: all(push.Rejected)},
		{name: "all regIds invalid 20301", status: 200, body: `{"result":"error","code":20301}`, want: all(push.InvalidToken)},
		{name: "daily quota 200001", status: 200, body: `{"result":"error","code":200001}`, want: all(push.Quota)},
		{name: "service error 10002", status: 200, body: `{"result":"error","code":10002}`, want: all(push.Retryable)},
		{name: "service error 10003", status: 200, body: `{"result":"error","code":10003}`, want: all(push.Retryable)},
		{name: "unknown code", status: 200, body: `{"result":"error","code":99999}`, want: all(push.Rejected)},
		{name: "error result with code 0", status: 200, body: `{"result":"error","code":0}`, want: all(push.Rejected)},
		{name: "HTTP 500", status: 500, body: `oops`, want: all(push.Retryable)},
		{name: "HTTP 503 with code", status: 503, body: `{"result":"error","code":21301}`, want: all(push.Retryable)},
		{name: "HTTP 429 Retry-After seconds", status: 429, header: http.Header{"Retry-After": {"12"}}, want: all(push.Retryable), retry: 12 * time.Second},
		{name: "HTTP 503 Retry-After date", status: 503, header: http.Header{"Retry-After": {now.Add(time.Minute).Format(http.TimeFormat)}}, want: all(push.Retryable), retry: time.Minute},
		{name: "HTTP 401 without body", status: 401, want: all(push.Auth)},
		{name: "HTTP 403 html", status: 403, body: `<html>forbidden</html>`, want: all(push.Auth)},
		{name: "HTTP 404", status: 404, body: `not found`, want: all(push.Rejected)},
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
			if tt.reason != "" && !strings.Contains(rs[0].Reason, tt.reason) {
				t.Errorf("reason %q, want it to contain %q", rs[0].Reason, tt.reason)
			}
			if rs[0].RetryAfter != tt.retry {
				t.Errorf("RetryAfter %v, want %v", rs[0].RetryAfter, tt.retry)
			}
		})
	}
	t.Run("message ID kept", func(t *testing.T) {
		rs := Classify(200, http.Header{}, []byte(`{"result":"ok","code":0,"data":{"id":"slm42","bad_regids":"r2"}}`), tokens, now)
		if rs[0].MessageID != "slm42" || rs[1].Outcome != push.InvalidToken {
			t.Errorf("%+v", rs)
		}
	})
}
