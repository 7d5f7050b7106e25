package config

import (
	"context"
	"log/slog"
	"sync"

	"github.com/aws/aws-sdk-go-v2/aws"

	"github.com/offpush/offpush/shared/auth"
	"github.com/offpush/offpush/shared/logging"
	"github.com/offpush/offpush/shared/store"
	"github.com/offpush/offpush/shared/tracing"
)

// Env is a process's configuration with the logger and tracer built from
// it, and the AWS configuration loaded at most once, when first needed.
type Env struct {
	Config
	Log    *slog.Logger
	Tracer tracing.Tracer
	aws    func() (aws.Config, error)
}

// NewEnv reads the configuration of where from getenv.
func NewEnv(ctx context.Context, getenv func(string) string, where Where) (*Env, error) {
	cfg, err := Load(getenv, where)
	if err != nil {
		return nil, err
	}
	e := &Env{Config: cfg, Log: logging.New(getenv), Tracer: tracing.New(getenv)}
	e.aws = sync.OnceValues(func() (aws.Config, error) { return AWS(ctx, e.Tracer) })
	return e, nil
}

// AWSConfig returns the AWS SDK configuration, loading it on first use.
func (e *Env) AWSConfig() (aws.Config, error) { return e.aws() }

// OpenStore opens the configured store.
func (e *Env) OpenStore(ctx context.Context) (store.Store, error) {
	return e.openStore(ctx, e.aws, store.Options{})
}

// Verifier builds the app-JWT verifier.
func (e *Env) Verifier(ctx context.Context) (*auth.Verifier, error) {
	return e.verifier(ctx, secretsManager(e.aws))
}

// Admins builds the admin-key checker.
func (e *Env) Admins(ctx context.Context) (*auth.AdminKeys, error) {
	return e.admins(ctx, secretsManager(e.aws))
}
