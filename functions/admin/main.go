// Command admin is the Lambda function behind the backend's admin routes:
// certificates (/v1/certificates), the push check (GET /v1/users/{userId})
// and kicks (POST /v1/users/{userId}/kick), with admin keys read once per
// container from Secrets Manager.
package main

import (
	"context"
	"net/http"

	"github.com/offpush/offpush/shared/config"
	"github.com/offpush/offpush/shared/httpapi"
	"github.com/offpush/offpush/shared/lambdahttp"
)

func main() { lambdahttp.Start("admin", run) }

func run(ctx context.Context, getenv func(string) string) (http.Handler, error) {
	env, err := config.NewEnv(ctx, getenv, config.Lambda)
	if err != nil {
		return nil, err
	}
	st, deps, _, err := env.API(ctx, config.Admins)
	if err != nil {
		return nil, err
	}
	return httpapi.NewHandler(deps, httpapi.AdminRoutes(st)), nil
}
