package lambdart

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/aws/aws-lambda-go/events"
)

// reply is testdata/echo's answer to the echo action.
type reply struct {
	Action      string            `json:"action"`
	Message     string            `json:"message"`
	RequestID   string            `json:"requestId"`
	FunctionARN string            `json:"functionArn"`
	DeadlineMs  int64             `json:"deadlineMs"`
	TraceID     string            `json:"traceId"`
	Env         map[string]string `json:"env"`
	PID         int               `json:"pid"`
	Count       int               `json:"count"`
}

func echoBinary(t *testing.T) string {
	t.Helper()
	return Build(t, "./testdata/echo")
}

func event(action, message string) []byte {
	b, _ := json.Marshal(map[string]string{"action": action, "message": message})
	return b
}

// echo invokes the echo action and decodes the reply.
func echo(t *testing.T, f *Function, message string) (reply, Invocation) {
	t.Helper()
	inv := f.Call(context.Background(), event("echo", message))
	if inv.Err != nil {
		t.Fatalf("echo: %v", inv.Err)
	}
	var r reply
	if err := json.Unmarshal(inv.Response, &r); err != nil {
		t.Fatalf("echo reply %q: %v", inv.Response, err)
	}
	return r, inv
}

// lambdaError asserts that err is an *Error.
func lambdaError(t *testing.T, err error) *Error {
	t.Helper()
	var e *Error
	if !errors.As(err, &e) {
		t.Fatalf("error = %v (%T), want *lambdart.Error", err, err)
	}
	return e
}

var (
	uuidRE      = regexp.MustCompile(`^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$`)
	logStreamRE = regexp.MustCompile(`^\d{4}/\d{2}/\d{2}/\[\$LATEST\][0-9a-f]{32}$`)
	traceRE     = regexp.MustCompile(`^Root=1-[0-9a-f]{8}-[0-9a-f]{24};Parent=[0-9a-f]{16};Sampled=0$`)
)

func TestInvokePassesEventContextAndEnvironment(t *testing.T) {
	f := Start(t, echoBinary(t), map[string]string{"ECHO_EXTRA": "extra", "AWS_REGION": "eu-west-1"})
	before := time.Now()
	r, inv := echo(t, f, "hi")
	after := time.Now()

	if r.Action != "echo" || r.Message != "hi" {
		t.Errorf("event arrived as action %q message %q", r.Action, r.Message)
	}
	if !uuidRE.MatchString(inv.RequestID) || r.RequestID != inv.RequestID {
		t.Errorf("request ID: function saw %q, Call returned %q (want one UUID)", r.RequestID, inv.RequestID)
	}
	if want := "arn:aws:lambda:eu-west-1:123456789012:function:echo"; r.FunctionARN != want || f.ARN() != want {
		t.Errorf("function ARN = %q (ARN() %q), want %q", r.FunctionARN, f.ARN(), want)
	}
	deadline := time.UnixMilli(r.DeadlineMs)
	if deadline.Before(before.Add(DefaultTimeout-time.Second)) || deadline.After(after.Add(DefaultTimeout)) {
		t.Errorf("deadline %s is not about %s after the invocation (%s)", deadline, DefaultTimeout, before)
	}
	if !traceRE.MatchString(r.TraceID) || r.Env["_X_AMZN_TRACE_ID"] != r.TraceID {
		t.Errorf("trace ID %q, _X_AMZN_TRACE_ID %q", r.TraceID, r.Env["_X_AMZN_TRACE_ID"])
	}
	want := map[string]string{
		"AWS_LAMBDA_FUNCTION_NAME":        "echo",
		"AWS_LAMBDA_FUNCTION_VERSION":     "$LATEST",
		"AWS_LAMBDA_FUNCTION_MEMORY_SIZE": "256",
		"AWS_LAMBDA_LOG_GROUP_NAME":       "/aws/lambda/echo",
		"AWS_LAMBDA_LOG_FORMAT":           "Text",
		"AWS_REGION":                      "eu-west-1",
		"AWS_DEFAULT_REGION":              "eu-west-1",
		"_HANDLER":                        "bootstrap",
		"ECHO_EXTRA":                      "extra",
	}
	for k, v := range want {
		if r.Env[k] != v {
			t.Errorf("%s = %q, want %q", k, r.Env[k], v)
		}
	}
	if !logStreamRE.MatchString(r.Env["AWS_LAMBDA_LOG_STREAM_NAME"]) {
		t.Errorf("AWS_LAMBDA_LOG_STREAM_NAME = %q", r.Env["AWS_LAMBDA_LOG_STREAM_NAME"])
	}
	if !strings.HasPrefix(r.Env["AWS_LAMBDA_RUNTIME_API"], "127.0.0.1:") {
		t.Errorf("AWS_LAMBDA_RUNTIME_API = %q", r.Env["AWS_LAMBDA_RUNTIME_API"])
	}
	if home, ok := r.Env["HOME"]; ok {
		t.Errorf("the test's environment leaked into the function: HOME=%q", home)
	}

	// A warm process serves the next invocation.
	r2, inv2 := echo(t, f, "again")
	if r2.PID != r.PID || r2.Count != 2 {
		t.Errorf("second invocation ran in pid %d as invocation %d; want pid %d, invocation 2", r2.PID, r2.Count, r.PID)
	}
	if inv2.ColdStart {
		t.Error("second invocation reported a cold start")
	}
	if inv2.RequestID == inv.RequestID || r2.RequestID != inv2.RequestID {
		t.Errorf("second request ID %q (function saw %q), first %q", inv2.RequestID, r2.RequestID, inv.RequestID)
	}
}

func TestFunctionErrorKeepsTheProcess(t *testing.T) {
	f := Start(t, echoBinary(t), nil)
	first, _ := echo(t, f, "warm")
	inv := f.Call(context.Background(), event("error", "no luck"))
	if inv.Response != nil {
		t.Errorf("response %q with an error", inv.Response)
	}
	e := lambdaError(t, inv.Err)
	if e.Type != "echoError" || e.Message != "failed: no luck" || e.Init || e.RequestID != inv.RequestID {
		t.Errorf("error = %+v, want echoError %q for request %s", e, "failed: no luck", inv.RequestID)
	}
	if !strings.Contains(e.Error(), "echoError") || !strings.Contains(e.Error(), inv.RequestID) {
		t.Errorf("Error() = %q", e.Error())
	}
	r, _ := echo(t, f, "after")
	if r.PID != first.PID || r.Count != 3 {
		t.Errorf("after a returned error: pid %d invocation %d, want pid %d invocation 3", r.PID, r.Count, first.PID)
	}
}

func TestPanicReplacesTheProcess(t *testing.T) {
	f := Start(t, echoBinary(t), nil)
	first, _ := echo(t, f, "warm")
	_, err := f.Invoke(context.Background(), event("panic", "oops"))
	e := lambdaError(t, err)
	if e.Type != "string" || e.Message != "boom: oops" || len(e.StackTrace) == 0 || e.Init {
		t.Errorf("panic error = %+v, want type string, message %q and a stack trace", e, "boom: oops")
	}
	r, inv := echo(t, f, "after")
	if r.PID == first.PID || r.Count != 1 || !inv.ColdStart {
		t.Errorf("after a panic: pid %d invocation %d (cold start %v), want a cold start of a new process (not %d)", r.PID, r.Count, inv.ColdStart, first.PID)
	}
}

func TestExitDuringInvocation(t *testing.T) {
	f := Start(t, echoBinary(t), nil)
	inv := f.Call(context.Background(), event("exit", ""))
	e := lambdaError(t, inv.Err)
	if e.Type != ErrorTypeExit || !strings.Contains(e.Message, "exit status 3") || e.Init || e.RequestID != inv.RequestID {
		t.Errorf("error = %+v, want %s with exit status 3", e, ErrorTypeExit)
	}
	if r, _ := echo(t, f, "after"); r.Count != 1 {
		t.Errorf("after an exit: invocation %d of its process, want a fresh process", r.Count)
	}
}

func TestTimeoutReplacesTheProcess(t *testing.T) {
	f := StartConfig(t, echoBinary(t), Config{Timeout: 300 * time.Millisecond})
	first, _ := echo(t, f, "warm")
	inv := f.Call(context.Background(), event("sleep", ""))
	e := lambdaError(t, inv.Err)
	if e.Type != ErrorTypeTimeout || e.Message != "Task timed out after 0.30 seconds" || e.Init {
		t.Errorf("error = %+v, want %s after 0.30 seconds", e, ErrorTypeTimeout)
	}
	if inv.Duration > 5*time.Second {
		t.Errorf("timed out after %s, want about 300ms", inv.Duration)
	}
	if r, _ := echo(t, f, "after"); r.PID == first.PID || r.Count != 1 {
		t.Errorf("after a timeout: pid %d invocation %d, want a new process", r.PID, r.Count)
	}
}

func TestContextEndsTheInvocation(t *testing.T) {
	f := Start(t, echoBinary(t), nil)
	ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
	defer cancel()
	_, err := f.Invoke(ctx, event("sleep", ""))
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("error = %v, want the context's deadline", err)
	}
	if r, _ := echo(t, f, "after"); r.Count != 1 {
		t.Errorf("after a cancelled invocation: invocation %d of its process, want a fresh process", r.Count)
	}
}

func TestInitFailures(t *testing.T) {
	for _, tc := range []struct {
		init, wantType, wantMessage, wantLog string
	}{
		{"exit", ErrorTypeExit, "Runtime exited with error: exit status 2", "echo: init failed on purpose"},
		{"error", "ConfigError", "echo: bad configuration", ""},
		{"hang", ErrorTypeTimeout, "init timeout", ""},
	} {
		t.Run(tc.init, func(t *testing.T) {
			f := StartConfig(t, echoBinary(t), Config{
				Env:         map[string]string{"ECHO_INIT": tc.init},
				InitTimeout: 500 * time.Millisecond,
			})
			// Every invocation runs a fresh init, which fails again.
			for i := 0; i < 2; i++ {
				inv := f.Call(context.Background(), event("echo", ""))
				e := lambdaError(t, inv.Err)
				if e.Type != tc.wantType || !strings.Contains(e.Message, tc.wantMessage) || !e.Init || e.RequestID != inv.RequestID || !inv.ColdStart {
					t.Errorf("invocation %d: error = %+v, want init failure %s %q", i+1, e, tc.wantType, tc.wantMessage)
				}
			}
			if logs := f.Logs(); tc.wantLog != "" && strings.Count(logs, tc.wantLog) < 2 {
				t.Errorf("logs %q hold %q fewer than twice", logs, tc.wantLog)
			}
		})
	}
}

func TestResponseTooLarge(t *testing.T) {
	f := Start(t, echoBinary(t), nil)
	e := lambdaError(t, f.Call(context.Background(), event("big", "")).Err)
	if e.Type != ErrorTypeResponseTooLarge {
		t.Errorf("error = %+v, want %s", e, ErrorTypeResponseTooLarge)
	}
	if r, _ := echo(t, f, "after"); r.Message != "after" {
		t.Errorf("after a too large response: %+v", r)
	}
}

func TestLogsArePerInvocation(t *testing.T) {
	f := Start(t, echoBinary(t), map[string]string{"AWS_LAMBDA_LOG_FORMAT": "JSON"})
	first := f.Call(context.Background(), event("log", "first"))
	second := f.Call(context.Background(), event("log", "second"))
	for _, inv := range []Invocation{first, second} {
		if inv.Err != nil {
			t.Fatal(inv.Err)
		}
	}
	for _, want := range []string{"stdout: first\n", "stderr: first\n"} {
		if !strings.Contains(first.Logs, want) {
			t.Errorf("first invocation's logs %q lack %q", first.Logs, want)
		}
	}
	if strings.Contains(second.Logs, "first") {
		t.Errorf("second invocation's logs %q hold the first's", second.Logs)
	}
	var found bool
	for _, line := range strings.Split(second.Logs, "\n") {
		var rec map[string]any
		if json.Unmarshal([]byte(line), &rec) != nil {
			continue
		}
		if rec["message"] == "slog line" && rec["requestId"] == second.RequestID && rec["note"] == "second" {
			found = true
		}
	}
	if !found {
		t.Errorf("second invocation's logs %q lack the JSON slog line with its request ID %s", second.Logs, second.RequestID)
	}
	all := f.Logs()
	if !strings.Contains(all, "stdout: first") || !strings.Contains(all, "stdout: second") {
		t.Errorf("Logs() = %q, want both invocations", all)
	}
}

func TestInvocationsRunOneAtATime(t *testing.T) {
	f := Start(t, echoBinary(t), nil)
	const n = 8
	var wg sync.WaitGroup
	replies := make([]reply, n)
	errs := make([]error, n)
	for i := 0; i < n; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			inv := f.Call(context.Background(), event("echo", strconv.Itoa(i)))
			if inv.Err != nil {
				errs[i] = inv.Err
				return
			}
			if err := json.Unmarshal(inv.Response, &replies[i]); err != nil {
				errs[i] = err
				return
			}
			if replies[i].RequestID != inv.RequestID {
				errs[i] = fmt.Errorf("function saw request %s, Call returned %s", replies[i].RequestID, inv.RequestID)
			}
		}()
	}
	wg.Wait()
	counts := map[int]bool{}
	for i, r := range replies {
		if errs[i] != nil {
			t.Errorf("invocation %d: %v", i, errs[i])
			continue
		}
		if r.Message != strconv.Itoa(i) || r.PID != replies[0].PID {
			t.Errorf("invocation %d: got message %q in pid %d", i, r.Message, r.PID)
		}
		counts[r.Count] = true
	}
	if len(counts) != n {
		t.Errorf("one process served invocations numbered %v, want %d distinct", counts, n)
	}
}

func TestRuntimeAPIRejectsStrayRequests(t *testing.T) {
	f := Start(t, echoBinary(t), nil)
	r, _ := echo(t, f, "")
	base := "http://" + r.Env["AWS_LAMBDA_RUNTIME_API"] + "/2018-06-01/runtime"
	for _, tc := range []struct {
		method, path string
		status       int
		errorType    string
	}{
		{"POST", "/invocation/" + newRequestID() + "/response", http.StatusBadRequest, "InvalidRequestID"},
		{"POST", "/invocation/" + r.RequestID + "/response", http.StatusBadRequest, "InvalidRequestID"}, // already answered
		{"POST", "/invocation/" + newRequestID() + "/error", http.StatusBadRequest, "InvalidRequestID"},
		{"POST", "/init/error", http.StatusForbidden, "InvalidStateTransition"},
		{"GET", "/invocation/nothing", http.StatusNotFound, ""},
	} {
		req, _ := http.NewRequest(tc.method, base+tc.path, strings.NewReader(`{}`))
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != tc.status || !strings.Contains(string(body), tc.errorType) {
			t.Errorf("%s %s = %d %s, want %d %s", tc.method, tc.path, resp.StatusCode, body, tc.status, tc.errorType)
		}
	}
	if r2, _ := echo(t, f, "still"); r2.PID != r.PID {
		t.Errorf("the stray requests disturbed the function: pid %d, was %d", r2.PID, r.PID)
	}
}

func TestCloseStopsTheProcess(t *testing.T) {
	f, err := Launch(echoBinary(t), Config{Env: map[string]string{"AWS_LAMBDA_LOG_FORMAT": "JSON"}})
	if err != nil {
		t.Fatal(err)
	}
	inv := f.Call(context.Background(), event("log", "before close"))
	if inv.Err != nil {
		t.Fatal(inv.Err)
	}
	r, _ := echo(t, f, "")
	if err := f.Close(); err != nil {
		t.Errorf("Close: %v", err)
	}
	if err := syscall.Kill(r.PID, 0); !errors.Is(err, syscall.ESRCH) {
		t.Errorf("process %d still there after Close (kill -0: %v)", r.PID, err)
	}
	if !strings.Contains(f.Logs(), "stdout: before close") {
		t.Errorf("Logs() after Close = %q", f.Logs())
	}
	if _, err := f.Invoke(context.Background(), event("echo", "")); err == nil {
		t.Error("Invoke after Close succeeded")
	}
	if err := f.Close(); err != nil {
		t.Errorf("second Close: %v", err)
	}
}

func TestBuildIsCached(t *testing.T) {
	a, b := echoBinary(t), echoBinary(t)
	if a != b {
		t.Errorf("Build returned %s, then %s", a, b)
	}
	if filepath.Base(a) != "bootstrap" || filepath.Base(filepath.Dir(a)) != "echo" {
		t.Errorf("binary at %s, want .../echo/bootstrap", a)
	}
	if fi, err := os.Stat(a); err != nil || fi.Mode()&0o111 == 0 {
		t.Errorf("binary %s: %v, mode %v", a, err, fi.Mode())
	}
}

func TestHTTPEventShape(t *testing.T) {
	b := HTTPEvent("put", "/v1/devices/d1?x=1&x=2&y=z", map[string]string{
		"Authorization": "Bearer t",
		"Content-Type":  "application/json",
		"Cookie":        "a=1; b=2",
	}, []byte(`{"k":"v"}`))
	var ev events.APIGatewayV2HTTPRequest
	if err := json.Unmarshal(b, &ev); err != nil {
		t.Fatal(err)
	}
	rc := ev.RequestContext
	checks := []struct {
		name      string
		got, want any
	}{
		{"version", ev.Version, "2.0"},
		{"routeKey", ev.RouteKey, "$default"},
		{"rawPath", ev.RawPath, "/v1/devices/d1"},
		{"rawQueryString", ev.RawQueryString, "x=1&x=2&y=z"},
		{"queryStringParameters", fmt.Sprint(ev.QueryStringParameters), "map[x:1,2 y:z]"},
		{"authorization", ev.Headers["authorization"], "Bearer t"},
		{"content-type", ev.Headers["content-type"], "application/json"},
		{"content-length", ev.Headers["content-length"], "9"},
		{"x-forwarded-proto", ev.Headers["x-forwarded-proto"], "https"},
		{"cookies", fmt.Sprint(ev.Cookies), "[a=1 b=2]"},
		{"http.method", rc.HTTP.Method, "PUT"},
		{"http.path", rc.HTTP.Path, "/v1/devices/d1"},
		{"http.sourceIp", rc.HTTP.SourceIP, eventSourceIP},
		{"stage", rc.Stage, "$default"},
		{"body", ev.Body, `{"k":"v"}`},
		{"isBase64Encoded", ev.IsBase64Encoded, false},
	}
	for _, c := range checks {
		if c.got != c.want {
			t.Errorf("%s = %v, want %v", c.name, c.got, c.want)
		}
	}
	for k := range ev.Headers {
		if k != strings.ToLower(k) {
			t.Errorf("header %q is not lower-case", k)
		}
	}
	if _, ok := ev.Headers["cookie"]; ok {
		t.Error("cookie header kept; API Gateway moves it to cookies")
	}
	if rc.RequestID == "" || rc.TimeEpoch == 0 || rc.Time == "" || rc.DomainName == "" {
		t.Errorf("request context lacks requestId, time or domainName: %+v", rc)
	}

	var bin events.APIGatewayV2HTTPRequest
	json.Unmarshal(HTTPEvent("POST", "/x", nil, []byte{0xff, 0x00}), &bin)
	if !bin.IsBase64Encoded || bin.Body != "/wA=" {
		t.Errorf("binary body = %q (base64 %v), want /wA= base64-encoded", bin.Body, bin.IsBase64Encoded)
	}
	var empty events.APIGatewayV2HTTPRequest
	json.Unmarshal(HTTPEvent("GET", "/healthz", nil, nil), &empty)
	if _, ok := empty.Headers["content-length"]; ok || empty.Body != "" || empty.RawQueryString != "" {
		t.Errorf("bodyless GET: headers %v, body %q, query %q", empty.Headers, empty.Body, empty.RawQueryString)
	}
}

func TestHTTPRoundTripThroughHTTPAdapter(t *testing.T) {
	f := Start(t, echoBinary(t), nil)
	invoke := func(method, path string, headers map[string]string, body []byte) events.APIGatewayV2HTTPResponse {
		t.Helper()
		out, err := f.Invoke(context.Background(), HTTPEvent(method, path, headers, body))
		if err != nil {
			t.Fatal(err)
		}
		resp, err := DecodeHTTPResponse(out)
		if err != nil {
			t.Fatal(err)
		}
		return resp
	}

	resp := invoke("POST", "/v1/things?a=1&a=2&b=x", map[string]string{
		"Content-Type": "application/json", "X-Custom": "v", "Cookie": "c1=1; c2=2",
	}, []byte(`{"k":"v"}`))
	if resp.StatusCode != http.StatusCreated || http.Header(toHeader(resp.Headers)).Get("X-Echo") != "yes" {
		t.Fatalf("response %d %v", resp.StatusCode, resp.Headers)
	}
	var seen struct {
		Method     string              `json:"method"`
		Path       string              `json:"path"`
		Query      map[string][]string `json:"query"`
		Headers    http.Header         `json:"headers"`
		Cookies    int                 `json:"cookies"`
		Body       []byte              `json:"body"`
		RemoteAddr string              `json:"remoteAddr"`
	}
	if err := json.Unmarshal([]byte(resp.Body), &seen); err != nil {
		t.Fatalf("body %q: %v", resp.Body, err)
	}
	if seen.Method != "POST" || seen.Path != "/v1/things" || fmt.Sprint(seen.Query) != "map[a:[1 2] b:[x]]" ||
		seen.Headers.Get("X-Custom") != "v" || seen.Headers.Get("Content-Type") != "application/json" ||
		seen.Cookies != 2 || string(seen.Body) != `{"k":"v"}` || seen.RemoteAddr != eventSourceIP {
		t.Errorf("the handler saw %+v", seen)
	}

	resp = invoke("POST", "/upload", map[string]string{"Content-Type": "application/octet-stream"}, []byte{0xff, 0x00, 0x7f})
	if err := json.Unmarshal([]byte(resp.Body), &seen); err != nil || string(seen.Body) != "\xff\x00\x7f" {
		t.Errorf("binary request body arrived as %q (%v)", seen.Body, err)
	}
	if resp = invoke("GET", "/binary", nil, nil); resp.Body != "\xff\xfe\x00\x01" || resp.IsBase64Encoded {
		t.Errorf("binary response decoded to %q (base64 %v)", resp.Body, resp.IsBase64Encoded)
	}
}

func toHeader(m map[string]string) http.Header {
	h := http.Header{}
	for k, v := range m {
		h.Set(k, v)
	}
	return h
}

func TestDecodeHTTPResponseRejects(t *testing.T) {
	for _, in := range []string{
		`not json`,
		`{"body":"no status"}`,
		`{"statusCode":200,"body":"%%%","isBase64Encoded":true}`,
	} {
		if _, err := DecodeHTTPResponse([]byte(in)); err == nil {
			t.Errorf("DecodeHTTPResponse(%s) succeeded", in)
		}
	}
	r, err := DecodeHTTPResponse([]byte(`{"statusCode":204,"headers":{"a":"b"}}`))
	if err != nil || r.StatusCode != 204 || r.Headers["a"] != "b" || r.Body != "" {
		t.Errorf("DecodeHTTPResponse(204) = %+v, %v", r, err)
	}
}
