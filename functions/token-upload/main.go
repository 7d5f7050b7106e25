// Command token-upload is the Lambda function behind the app's token routes:
// PUT /v1/devices/{deviceId} (upload), DELETE /v1/devices/{deviceId}
// (clear, logout) and GET /v1/devices.
package main

import (
	"context"
	"net/http"

	"github.com/offpush/offpush/shared/config"
	"github.com/offpush/offpush/shared/httpapi"
	"github.com/offpush/offpush/shared/lambdahttp"
)

func main() { lambdahttp.Start("token-upload", run) }

func run(ctx context.Context, getenv func(string) string) (http.Handler, error) {
	env, err := config.NewEnv(ctx, getenv, config.Lambda)
	if err != nil {
		return nil, err
	}
	st, deps, _, err := env.API(ctx, config.Apps)
	if err != nil {
		return nil, err
	}
	return httpapi.NewHandler(deps, httpapi.DeviceRoutes(st)), nil
}
