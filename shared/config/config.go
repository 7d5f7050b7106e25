// Package config reads offpush's environment (the variables of the API
// contract) and builds what it names: the store, the app-JWT verifier and
// the admin keys. The Lambda mains and the local server share it, each with
// its own defaults.
package config

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strconv"
	"strings"

	"github.com/aws/aws-sdk-go-v2/aws"
	awsconfig "github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager"
	"github.com/aws/smithy-go/logging"

	"github.com/offpush/offpush/shared/auth"
	"github.com/offpush/offpush/shared/store"
	"github.com/offpush/offpush/shared/store/dynamo"
	"github.com/offpush/offpush/shared/tracing"
)

// Where offpush runs decides its defaults.
type Where int

// Environments.
const (
	// Lambda: DynamoDB, SQS, live vendors, secrets from Secrets Manager.
	Lambda Where = iota
	// Local: the local server, with an embedded store, in-process queue and
	// captured pushes.
	Local
)

// Config is offpush's configuration, read from the environment.
type Config struct {
	Addr               string
	Store              string // memory, file:<path> or dynamodb
	TablePrefix        string
	CreateTables       bool
	Queue              string // local or sqs
	QueueURL           string
	DLQURL             string
	MaxAttempts        int
	PlanQueueURL       string
	PlanSegments       int
	ScheduleGroup      string
	SchedulerRoleARN   string
	SchedulerTargetARN string
	JWTSecret          string
	JWTSecretARN       string
	JWKSURL            string
	JWTIssuer          string
	JWTAudience        string
	AdminKeys          []string
	AdminKeysSecretARN string
	VendorMode         string // live or capture
	MaxDevices         int
}

// Load reads the configuration from getenv with the defaults of where.
func Load(getenv func(string) string, where Where) (Config, error) {
	get := func(name, def string) string {
		if v := strings.TrimSpace(getenv(name)); v != "" {
			return v
		}
		return def
	}
	c := Config{
		Addr:               get("OFFPUSH_ADDR", "127.0.0.1:8080"),
		TablePrefix:        get("OFFPUSH_TABLE_PREFIX", "offpush-"),
		QueueURL:           get("OFFPUSH_QUEUE_URL", ""),
		DLQURL:             get("OFFPUSH_DLQ_URL", ""),
		PlanQueueURL:       get("OFFPUSH_PLAN_QUEUE_URL", ""),
		ScheduleGroup:      get("OFFPUSH_SCHEDULE_GROUP", ""),
		SchedulerRoleARN:   get("OFFPUSH_SCHEDULER_ROLE_ARN", ""),
		SchedulerTargetARN: get("OFFPUSH_SCHEDULER_TARGET_ARN", ""),
		JWTSecret:          getenv("OFFPUSH_JWT_HS256_SECRET"),
		JWTSecretARN:       get("OFFPUSH_JWT_HS256_SECRET_ARN", ""),
		JWKSURL:            get("OFFPUSH_JWT_JWKS_URL", ""),
		JWTIssuer:          get("OFFPUSH_JWT_ISSUER", ""),
		JWTAudience:        get("OFFPUSH_JWT_AUDIENCE", ""),
		AdminKeys:          auth.ParseKeyList(getenv("OFFPUSH_ADMIN_KEYS")),
		AdminKeysSecretARN: get("OFFPUSH_ADMIN_KEYS_SECRET_ARN", ""),
	}
	if where == Local {
		c.Store = get("OFFPUSH_STORE", "file:.offpush/data.db")
		c.Queue = get("OFFPUSH_QUEUE", "local")
		c.VendorMode = get("OFFPUSH_VENDOR_MODE", "capture")
	} else {
		c.Store = get("OFFPUSH_STORE", "dynamodb")
		c.Queue = get("OFFPUSH_QUEUE", "sqs")
		c.VendorMode = get("OFFPUSH_VENDOR_MODE", "live")
	}
	var err error
	if c.CreateTables, err = parseBool(getenv("OFFPUSH_CREATE_TABLES")); err != nil {
		return c, fmt.Errorf("OFFPUSH_CREATE_TABLES: %w", err)
	}
	if v := get("OFFPUSH_MAX_DEVICES", ""); v != "" {
		if c.MaxDevices, err = strconv.Atoi(v); err != nil || c.MaxDevices < 1 || c.MaxDevices > 100 {
			return c, fmt.Errorf("OFFPUSH_MAX_DEVICES: must be an integer from 1 to 100")
		}
	}
	if v := get("OFFPUSH_MAX_ATTEMPTS", ""); v != "" {
		if c.MaxAttempts, err = strconv.Atoi(v); err != nil || c.MaxAttempts < 1 || c.MaxAttempts > 20 {
			return c, fmt.Errorf("OFFPUSH_MAX_ATTEMPTS: must be an integer from 1 to 20")
		}
	}
	if v := get("OFFPUSH_PLAN_SEGMENTS", ""); v != "" {
		if c.PlanSegments, err = strconv.Atoi(v); err != nil || c.PlanSegments < 1 || c.PlanSegments > 1000 {
			return c, fmt.Errorf("OFFPUSH_PLAN_SEGMENTS: must be an integer from 1 to 1000")
		}
	}
	switch {
	case c.Store == "memory", c.Store == "dynamodb", strings.HasPrefix(c.Store, "file:") && len(c.Store) > len("file:"):
	default:
		return c, fmt.Errorf("OFFPUSH_STORE: must be memory, file:<path> or dynamodb, not %q", c.Store)
	}
	if c.Queue != "local" && c.Queue != "sqs" {
		return c, fmt.Errorf("OFFPUSH_QUEUE: must be local or sqs, not %q", c.Queue)
	}
	if c.VendorMode != "live" && c.VendorMode != "capture" {
		return c, fmt.Errorf("OFFPUSH_VENDOR_MODE: must be live or capture, not %q", c.VendorMode)
	}
	return c, nil
}

func parseBool(s string) (bool, error) {
	if s == "" {
		return false, nil
	}
	return strconv.ParseBool(s)
}

// AWS loads the AWS SDK configuration (region, credentials, and endpoint
// overrides such as AWS_ENDPOINT_URL_DYNAMODB) with tracing added and the
// SDK's own log lines sent through log, so they are JSON like every other.
func AWS(ctx context.Context, tr tracing.Tracer, log *slog.Logger) (aws.Config, error) {
	cfg, err := awsconfig.LoadDefaultConfig(ctx, awsconfig.WithLogger(sdkLogger{log: log}))
	if err != nil {
		return aws.Config{}, fmt.Errorf("load AWS configuration: %w", err)
	}
	tr.AWS(&cfg)
	return cfg, nil
}

// sdkLogger adapts log to the AWS SDK's logger. The SDK hands it each
// operation's context, so a line carries the Lambda request ID.
type sdkLogger struct {
	log *slog.Logger
	ctx context.Context
}

// Logf implements logging.Logger.
func (l sdkLogger) Logf(c logging.Classification, format string, v ...any) {
	level := slog.LevelDebug
	if c == logging.Warn {
		level = slog.LevelWarn
	}
	ctx := l.ctx
	if ctx == nil {
		ctx = context.Background()
	}
	l.log.Log(ctx, level, "aws sdk: "+fmt.Sprintf(format, v...))
}

// WithContext implements logging.ContextLogger.
func (l sdkLogger) WithContext(ctx context.Context) logging.Logger {
	return sdkLogger{log: l.log, ctx: ctx}
}

// Embedded opens an embedded store (OFFPUSH_STORE memory or file:<path>).
// Only the local server links one: a Lambda function's Env has none, which
// keeps bbolt out of the function binaries.
type Embedded func(spec string, opts store.Options) (store.Store, error)

// openStore opens the store the configuration names. awsCfg is used only
// for the DynamoDB store; embedded, for the others.
func (c Config) openStore(ctx context.Context, awsCfg func() (aws.Config, error), embedded Embedded, opts store.Options) (store.Store, error) {
	if opts.MaxDevices == 0 {
		opts.MaxDevices = c.MaxDevices
	}
	if c.Store != "dynamodb" {
		if embedded == nil {
			return nil, fmt.Errorf("OFFPUSH_STORE=%s is for the local server; Lambda functions use dynamodb", c.Store)
		}
		return embedded(c.Store, opts)
	}
	cfg, err := awsCfg()
	if err != nil {
		return nil, err
	}
	client := dynamodb.NewFromConfig(cfg)
	if c.CreateTables {
		if err := dynamo.CreateTables(ctx, client, c.TablePrefix); err != nil {
			return nil, err
		}
	}
	return dynamo.New(client, c.TablePrefix, opts), nil
}

// verifier builds the app-JWT verifier: an HS256 secret (from the variable,
// or read once from Secrets Manager), a JWKS URL, or both.
func (c Config) verifier(ctx context.Context, sm func() (auth.SecretGetter, error)) (*auth.Verifier, error) {
	secret := c.JWTSecret
	if secret == "" && c.JWTSecretARN != "" {
		client, err := sm()
		if err != nil {
			return nil, err
		}
		if secret, err = auth.LoadSecretString(ctx, client, c.JWTSecretARN); err != nil {
			return nil, fmt.Errorf("OFFPUSH_JWT_HS256_SECRET_ARN: %w", err)
		}
	}
	if secret == "" && c.JWKSURL == "" {
		return nil, errors.New("no app JWT verification configured: set OFFPUSH_JWT_HS256_SECRET (or _ARN) or OFFPUSH_JWT_JWKS_URL")
	}
	var key []byte
	if secret != "" {
		key = []byte(secret)
	}
	return auth.NewVerifier(ctx, auth.JWTConfig{HS256Secret: key, JWKSURL: c.JWKSURL, Issuer: c.JWTIssuer, Audience: c.JWTAudience})
}

// admins builds the admin-key checker: keys from OFFPUSH_ADMIN_KEYS, or read
// once from the Secrets Manager secret OFFPUSH_ADMIN_KEYS_SECRET_ARN.
func (c Config) admins(ctx context.Context, sm func() (auth.SecretGetter, error)) (*auth.AdminKeys, error) {
	if len(c.AdminKeys) > 0 {
		return auth.NewAdminKeys(c.AdminKeys)
	}
	if c.AdminKeysSecretARN == "" {
		return nil, errors.New("no admin keys configured: set OFFPUSH_ADMIN_KEYS or OFFPUSH_ADMIN_KEYS_SECRET_ARN")
	}
	client, err := sm()
	if err != nil {
		return nil, err
	}
	return auth.LoadAdminKeys(ctx, client, c.AdminKeysSecretARN)
}

// secretsManager returns a constructor of the Secrets Manager client, for
// verifier and admins, built from the lazily loaded AWS configuration.
func secretsManager(awsCfg func() (aws.Config, error)) func() (auth.SecretGetter, error) {
	return func() (auth.SecretGetter, error) {
		cfg, err := awsCfg()
		if err != nil {
			return nil, err
		}
		return secretsmanager.NewFromConfig(cfg), nil
	}
}
