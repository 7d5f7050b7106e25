package config

import (
	"context"
	"log/slog"
	"sync"

	"github.com/aws/aws-sdk-go-v2/aws"

	"github.com/offpush/offpush/shared/auth"
	"github.com/offpush/offpush/shared/httpapi"
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
	// Getenv is the environment the configuration was read from.
	Getenv func(string) string
	// Embedded opens the embedded stores; the local server sets it.
	Embedded Embedded
	aws      func() (aws.Config, error)
}

// NewEnv reads the configuration of where from getenv.
func NewEnv(ctx context.Context, getenv func(string) string, where Where) (*Env, error) {
	cfg, err := Load(getenv, where)
	if err != nil {
		return nil, err
	}
	e := &Env{Config: cfg, Log: logging.New(getenv), Tracer: tracing.New(getenv), Getenv: getenv}
	e.aws = sync.OnceValues(func() (aws.Config, error) { return AWS(ctx, e.Tracer, e.Log) })
	return e, nil
}

// AWSConfig returns the AWS SDK configuration, loading it on first use.
func (e *Env) AWSConfig() (aws.Config, error) { return e.aws() }

// OpenStore opens the configured store.
func (e *Env) OpenStore(ctx context.Context) (store.Store, error) {
	return e.openStore(ctx, e.aws, e.Embedded, store.Options{})
}

// Verifier builds the app-JWT verifier.
func (e *Env) Verifier(ctx context.Context) (*auth.Verifier, error) {
	return e.verifier(ctx, secretsManager(e.aws))
}

// Admins builds the admin-key checker.
func (e *Env) Admins(ctx context.Context) (*auth.AdminKeys, error) {
	return e.admins(ctx, secretsManager(e.aws))
}

// Callers selects whom an API authenticates.
type Callers int

// Caller kinds; combine with |.
const (
	// Apps are verified by their JWT.
	Apps Callers = 1 << iota
	// Admins are checked against the admin keys.
	Admins
)

// API opens the store and builds the handler dependencies for callers: the
// shared start of every HTTP function and of the local server. close
// releases what it opened.
func (e *Env) API(ctx context.Context, callers Callers) (st store.Store, deps httpapi.Deps, close func(), err error) {
	deps.Log = e.Log
	var closers []func()
	close = func() {
		for i := len(closers) - 1; i >= 0; i-- {
			closers[i]()
		}
	}
	defer func() {
		if err != nil {
			close()
		}
	}()
	if st, err = e.OpenStore(ctx); err != nil {
		return nil, deps, close, err
	}
	closers = append(closers, func() { st.Close() })
	if callers&Apps != 0 {
		v, err := e.Verifier(ctx)
		if err != nil {
			return nil, deps, close, err
		}
		closers = append(closers, v.Close)
		deps.Users = v
	}
	if callers&Admins != 0 {
		a, err := e.Admins(ctx)
		if err != nil {
			return nil, deps, close, err
		}
		deps.Admins = a
	}
	return st, deps, close, nil
}
