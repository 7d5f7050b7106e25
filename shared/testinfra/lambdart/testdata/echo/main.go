// Command echo is a tiny Lambda function for lambdart's tests. It answers an
// event with what the runtime gave it (request ID, deadline, ARN, trace ID,
// environment), or fails the way the event asks; it serves HTTP API events
// through httpadapter, as offpush's functions do. ECHO_INIT makes its init
// phase fail: "exit" exits, "error" posts /runtime/init/error, "hang" never
// starts.
package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"strings"
	"time"

	"github.com/aws/aws-lambda-go/events"
	"github.com/aws/aws-lambda-go/lambda"
	"github.com/aws/aws-lambda-go/lambdacontext"
	"github.com/awslabs/aws-lambda-go-api-proxy/httpadapter"
)

// request is the test event.
type request struct {
	Action  string `json:"action"`
	Message string `json:"message"`
	Version string `json:"version"` // "2.0": an HTTP API event
}

// reply is what the echo action returns.
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

// echoError is the error type the error action returns.
type echoError struct{ msg string }

func (e *echoError) Error() string { return e.msg }

// envNames are the variables the echo action reports.
var envNames = []string{
	"AWS_LAMBDA_RUNTIME_API", "AWS_LAMBDA_FUNCTION_NAME", "AWS_LAMBDA_FUNCTION_VERSION",
	"AWS_LAMBDA_FUNCTION_MEMORY_SIZE", "AWS_LAMBDA_LOG_GROUP_NAME", "AWS_LAMBDA_LOG_STREAM_NAME",
	"AWS_LAMBDA_LOG_FORMAT", "AWS_REGION", "AWS_DEFAULT_REGION", "_HANDLER", "_X_AMZN_TRACE_ID",
	"ECHO_EXTRA", "HOME",
}

func main() {
	switch os.Getenv("ECHO_INIT") {
	case "exit":
		fmt.Fprintln(os.Stderr, "echo: init failed on purpose")
		os.Exit(2)
	case "error":
		postInitError()
		os.Exit(1)
	case "hang":
		time.Sleep(time.Hour)
	}
	count := 0
	web := httpadapter.NewV2(http.HandlerFunc(serveHTTP))
	log := lambdacontext.NewLogger()
	lambda.Start(func(ctx context.Context, raw json.RawMessage) (any, error) {
		count++
		var req request
		if err := json.Unmarshal(raw, &req); err != nil {
			return nil, err
		}
		if req.Version == "2.0" {
			var ev events.APIGatewayV2HTTPRequest
			if err := json.Unmarshal(raw, &ev); err != nil {
				return nil, err
			}
			return web.ProxyWithContext(ctx, ev)
		}
		switch req.Action {
		case "error":
			return nil, &echoError{msg: "failed: " + req.Message}
		case "panic":
			panic("boom: " + req.Message)
		case "exit":
			os.Exit(3)
		case "sleep":
			time.Sleep(time.Hour)
		case "big":
			return strings.Repeat("x", 7<<20), nil
		case "log":
			fmt.Println("stdout: " + req.Message)
			fmt.Fprintln(os.Stderr, "stderr: "+req.Message)
			log.InfoContext(ctx, "slog line", "note", req.Message)
		}
		lc, _ := lambdacontext.FromContext(ctx)
		deadline, _ := ctx.Deadline()
		traceID, _ := ctx.Value("x-amzn-trace-id").(string)
		r := reply{
			Action: req.Action, Message: req.Message, RequestID: lc.AwsRequestID,
			FunctionARN: lc.InvokedFunctionArn, DeadlineMs: deadline.UnixMilli(), TraceID: traceID,
			Env: map[string]string{}, PID: os.Getpid(), Count: count,
		}
		for _, name := range envNames {
			if v, ok := os.LookupEnv(name); ok {
				r.Env[name] = v
			}
		}
		return r, nil
	})
}

// serveHTTP echoes an HTTP request; /binary answers with non-UTF-8 bytes.
func serveHTTP(w http.ResponseWriter, r *http.Request) {
	if r.URL.Path == "/binary" {
		w.Header().Set("Content-Type", "application/octet-stream")
		w.Write([]byte{0xff, 0xfe, 0x00, 0x01})
		return
	}
	body, _ := io.ReadAll(r.Body)
	out, _ := json.Marshal(map[string]any{
		"method":     r.Method,
		"path":       r.URL.Path,
		"query":      r.URL.Query(),
		"headers":    r.Header,
		"cookies":    len(r.Cookies()),
		"body":       body, // base64 in JSON, so binary bodies survive
		"remoteAddr": r.RemoteAddr,
	})
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("X-Echo", "yes")
	w.WriteHeader(http.StatusCreated)
	w.Write(out)
}

// postInitError reports an init failure the way a runtime does.
func postInitError() {
	body, _ := json.Marshal(map[string]string{"errorType": "ConfigError", "errorMessage": "echo: bad configuration"})
	url := "http://" + os.Getenv("AWS_LAMBDA_RUNTIME_API") + "/2018-06-01/runtime/init/error"
	req, err := http.NewRequest(http.MethodPost, url, bytes.NewReader(body))
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return
	}
	req.Header.Set("Lambda-Runtime-Function-Error-Type", "ConfigError")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		fmt.Fprintln(os.Stderr, errors.Join(errors.New("post init error"), err))
		return
	}
	resp.Body.Close()
}
