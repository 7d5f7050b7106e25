// Package tracing is offpush's one seam for distributed tracing. It uses the
// AWS X-Ray SDK today; the SDK is in maintenance mode until 2027-02-25, so
// nothing else in offpush imports it, and OpenTelemetry can replace it here.
package tracing

import (
	"net/http"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-xray-sdk-go/instrumentation/awsv2"
	"github.com/aws/aws-xray-sdk-go/strategy/ctxmissing"
	"github.com/aws/aws-xray-sdk-go/xray"
	"github.com/aws/aws-xray-sdk-go/xraylog"
)

// Tracer instruments clients when tracing is on. The zero value traces nothing.
type Tracer struct{ on bool }

// New returns a Tracer. Tracing is on inside Lambda (where the function's
// trace segment exists) unless OFFPUSH_TRACING is "off", and off elsewhere
// unless OFFPUSH_TRACING is "on". A missing segment is ignored rather than
// logged, so code paths without one (tests, the local server) stay quiet.
func New(getenv func(string) string) Tracer {
	on := getenv("AWS_LAMBDA_FUNCTION_NAME") != ""
	switch getenv("OFFPUSH_TRACING") {
	case "off":
		on = false
	case "on":
		on = true
	}
	if on {
		xray.Configure(xray.Config{ContextMissingStrategy: ctxmissing.NewDefaultIgnoreErrorStrategy()})
		xray.SetLogger(xraylog.NewDefaultLogger(discard{}, xraylog.LogLevelError))
	}
	return Tracer{on: on}
}

// Enabled reports whether tracing is on.
func (t Tracer) Enabled() bool { return t.on }

// AWS adds X-Ray subsegments to every call of clients built from cfg.
func (t Tracer) AWS(cfg *aws.Config) {
	if t.on {
		awsv2.AWSV2Instrumentor(&cfg.APIOptions)
	}
}

// HTTPClient wraps c so outgoing requests (vendor APIs) are traced.
func (t Tracer) HTTPClient(c *http.Client) *http.Client {
	if !t.on {
		return c
	}
	return xray.Client(c)
}

type discard struct{}

func (discard) Write(p []byte) (int, error) { return len(p), nil }
