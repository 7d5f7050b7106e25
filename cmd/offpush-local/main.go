// Command offpush-local runs the whole offpush API in one process for
// development: every route of every Lambda function on one http.Server with
// the same handlers, an embedded store, and pushes captured instead of sent.
//
//	offpush-local              serve on OFFPUSH_ADDR (default 127.0.0.1:8080)
//	offpush-local token USER   print an app JWT for USER, valid 24 hours
//	offpush-local admin-key    print the local admin key
//
// Without OFFPUSH_JWT_HS256_SECRET and OFFPUSH_ADMIN_KEYS it generates both
// once and keeps them in .offpush/local-secrets.json (OFFPUSH_LOCAL_DIR), so
// tokens minted in another terminal stay valid across restarts.
package main

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/signal"
	"path/filepath"
	"syscall"
	"time"

	"github.com/offpush/offpush/shared/auth"
	"github.com/offpush/offpush/shared/broadcast"
	"github.com/offpush/offpush/shared/config"
	"github.com/offpush/offpush/shared/delivery"
	"github.com/offpush/offpush/shared/httpapi"
	"github.com/offpush/offpush/shared/pushservice"
	"github.com/offpush/offpush/shared/queue"
	"github.com/offpush/offpush/shared/store/embedded"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, os.Args[1:], os.Getenv, os.Stdout, nil); err != nil {
		fmt.Fprintln(os.Stderr, "offpush-local:", err)
		os.Exit(1)
	}
}

// run serves until ctx ends, or runs a subcommand. ready, if set, receives
// the listening address.
func run(ctx context.Context, args []string, getenv func(string) string, out io.Writer, ready chan<- string) error {
	secrets, err := localSecrets(getenv)
	if err != nil {
		return err
	}
	env := func(k string) string {
		switch {
		case k == "OFFPUSH_JWT_HS256_SECRET" && getenv(k) == "":
			return secrets.JWTSecret
		case k == "OFFPUSH_ADMIN_KEYS" && getenv(k) == "":
			return secrets.AdminKey
		}
		return getenv(k)
	}
	if len(args) > 0 {
		switch args[0] {
		case "token":
			if len(args) != 2 {
				return errors.New("usage: offpush-local token USER")
			}
			tok, err := auth.MintHS256([]byte(env("OFFPUSH_JWT_HS256_SECRET")), args[1], 24*time.Hour, time.Now(),
				env("OFFPUSH_JWT_ISSUER"), env("OFFPUSH_JWT_AUDIENCE"))
			if err != nil {
				return err
			}
			fmt.Fprintln(out, tok)
			return nil
		case "admin-key":
			keys := auth.ParseKeyList(env("OFFPUSH_ADMIN_KEYS"))
			if len(keys) == 0 {
				return errors.New("no admin key configured")
			}
			fmt.Fprintln(out, keys[0])
			return nil
		default:
			return fmt.Errorf("unknown command %q (want no argument, token USER, or admin-key)", args[0])
		}
	}
	return serve(ctx, env, out, ready)
}

func serve(ctx context.Context, getenv func(string) string, out io.Writer, ready chan<- string) error {
	e, err := config.NewEnv(ctx, getenv, config.Local)
	if err != nil {
		return err
	}
	e.Embedded = embedded.Open
	st, deps, closeAPI, err := e.API(ctx, config.Apps|config.Admins)
	if err != nil {
		return err
	}
	defer closeAPI()
	svc, err := pushservice.New(e, st)
	if err != nil {
		return err
	}
	// In-process stand-ins for SQS (bulk batches, planning tasks) and
	// EventBridge Scheduler, with the same semantics.
	var worker *delivery.Worker
	bulk := queue.NewLocal(func(ctx context.Context, body []byte) error { return worker.Handle(ctx, body) },
		queue.LocalOptions{Log: e.Log, Visibility: 30 * time.Second, MaxReceive: 5})
	defer bulk.Close(context.Background())
	worker = svc.Worker(e, st, bulk)
	var planner *broadcast.Planner
	plans := queue.NewLocal(queue.TaskHandler(func(ctx context.Context, t broadcast.Task) error { return planner.Run(ctx, t) }),
		queue.LocalOptions{Log: e.Log, Workers: 2, Visibility: 5 * time.Minute, MaxReceive: 5})
	defer plans.Close(context.Background())
	planner = broadcast.NewPlanner(broadcast.PlannerConfig{Store: st, Batches: bulk, Tasks: plans, Log: e.Log, Segments: e.PlanSegments})
	var bsvc *broadcast.Service
	sched := broadcast.NewLocalScheduler(func(ctx context.Context, id string, at time.Time) error { return bsvc.Fire(ctx, id, at) }, e.Log)
	defer sched.Close()
	bsvc = broadcast.NewService(st, planner, sched, nil)
	if err := bsvc.Restore(ctx); err != nil {
		return err
	}
	routes := []httpapi.Routes{httpapi.DeviceRoutes(st), httpapi.StateRoutes(st), httpapi.AdminRoutes(st),
		httpapi.PushRoutes(svc.Deliverer), httpapi.BroadcastRoutes(bsvc)}
	if e.VendorMode == "capture" {
		routes = append(routes, httpapi.DevRoutes(st))
	}
	h := httpapi.NewHandler(deps, routes...)

	ln, err := net.Listen("tcp", e.Addr)
	if err != nil {
		return err
	}
	srv := &http.Server{Handler: h, ReadHeaderTimeout: 10 * time.Second, ReadTimeout: 30 * time.Second,
		WriteTimeout: 60 * time.Second, IdleTimeout: 2 * time.Minute}
	addr := ln.Addr().String()
	fmt.Fprintf(out, `offpush local server on http://%s
  store:      %s
  vendors:    %s
  admin key:  %s
  JWT secret: %s
  user token: make token USER=alice   (or: go run ./cmd/offpush-local token alice)
`, addr, e.Store, e.VendorMode, getenv("OFFPUSH_ADMIN_KEYS"), getenv("OFFPUSH_JWT_HS256_SECRET"))
	if ready != nil {
		ready <- addr
	}
	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(ln) }()
	select {
	case err := <-errc:
		return err
	case <-ctx.Done():
	}
	shutdown, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	return srv.Shutdown(shutdown)
}

// secretsFile holds the local server's generated credentials.
type secretsFile struct {
	JWTSecret string `json:"jwtSecret"`
	AdminKey  string `json:"adminKey"`
}

// localSecrets loads the generated local credentials, creating them once.
func localSecrets(getenv func(string) string) (secretsFile, error) {
	dir := getenv("OFFPUSH_LOCAL_DIR")
	if dir == "" {
		dir = ".offpush"
	}
	path := filepath.Join(dir, "local-secrets.json")
	var s secretsFile
	if raw, err := os.ReadFile(path); err == nil {
		if err := json.Unmarshal(raw, &s); err != nil {
			return s, fmt.Errorf("read %s: %w", path, err)
		}
		if s.JWTSecret != "" && s.AdminKey != "" {
			return s, nil
		}
	}
	s = secretsFile{JWTSecret: randomText(32), AdminKey: "admin-" + randomText(24)}
	raw, _ := json.MarshalIndent(s, "", "  ")
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return s, err
	}
	if err := os.WriteFile(path, raw, 0o600); err != nil {
		return s, fmt.Errorf("write %s: %w", path, err)
	}
	return s, nil
}

func randomText(n int) string {
	b := make([]byte, n)
	rand.Read(b)
	return base64.RawURLEncoding.EncodeToString(b)
}
