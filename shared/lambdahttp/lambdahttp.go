// Package lambdahttp serves an http.Handler as an API Gateway HTTP API
// (payload v2) Lambda handler, so the functions and the local server share
// one router.
package lambdahttp

import (
	"context"
	"net/http"
	"os"

	"github.com/aws/aws-lambda-go/events"
	"github.com/aws/aws-lambda-go/lambda"
	"github.com/awslabs/aws-lambda-go-api-proxy/httpadapter"

	"github.com/offpush/offpush/shared/logging"
)

// Handler adapts h to the Lambda handler signature of HTTP API events.
func Handler(h http.Handler) func(context.Context, events.APIGatewayV2HTTPRequest) (events.APIGatewayV2HTTPResponse, error) {
	return httpadapter.NewV2(h).ProxyWithContext
}

// Start builds the function's handler once per container and serves it. A
// build error is logged and ends the process, so Lambda reports an init
// failure instead of serving half-configured.
func Start(name string, build func(ctx context.Context, getenv func(string) string) (http.Handler, error)) {
	h, err := build(context.Background(), os.Getenv)
	if err != nil {
		logging.New(os.Getenv).Error(name+" failed to start", "error", err.Error())
		os.Exit(1)
	}
	lambda.Start(Handler(h))
}
