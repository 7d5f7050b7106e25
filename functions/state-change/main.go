// Command state-change is the Lambda function behind the app's
// foreground/background reports: PUT /v1/devices/{deviceId}/state.
package main

import (
	"context"
	"net/http"

	"github.com/offpush/offpush/shared/config"
	"github.com/offpush/offpush/shared/httpapi"
	"github.com/offpush/offpush/shared/lambdahttp"
)

func main() { lambdahttp.Start("state-change", run) }

func run(ctx context.Context, getenv func(string) string) (http.Handler, error) {
	env, err := config.NewEnv(ctx, getenv, config.Lambda)
	if err != nil {
		return nil, err
	}
	st, deps, _, err := env.API(ctx, config.Apps)
	if err != nil {
		return nil, err
	}
	return httpapi.NewHandler(deps, httpapi.StateRoutes(st)), nil
}
