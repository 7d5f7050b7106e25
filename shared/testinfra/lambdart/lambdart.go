// Package lambdart runs a Lambda function's real bootstrap binary under a
// minimal AWS Lambda Runtime API, so tests invoke the functions the way Lambda
// does (https://docs.aws.amazon.com/lambda/latest/dg/runtimes-api.html)
// without the Runtime Interface Emulator.
//
// Each Function is one execution environment: the binary runs as a child
// process with AWS_LAMBDA_RUNTIME_API pointing at a server of this package and
// the environment variables Lambda sets, and serves one invocation at a time.
// As in Lambda, a process that panics, exits, times out or fails its init is
// replaced by a fresh one (a new cold start) at the next invocation.
//
// Only _test.go files import this package.
package lambdart

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path"
	"path/filepath"
	"runtime"
	"sort"
	"strconv"
	"sync"
	"testing"
	"time"
)

// Defaults of Config.
const (
	// DefaultTimeout is template.yaml's function timeout.
	DefaultTimeout = 10 * time.Second
	// DefaultInitTimeout is Lambda's limit on the init phase.
	DefaultInitTimeout = 10 * time.Second
	// DefaultMemoryMB is template.yaml's function memory size.
	DefaultMemoryMB = 256
	// DefaultRegion is used when Config.Env sets no AWS_REGION.
	DefaultRegion = "us-east-1"
)

// accountID is the AWS account in the function ARN.
const accountID = "123456789012"

// Error types Lambda reports for failures outside the function's own error
// values.
const (
	// ErrorTypeTimeout: the invocation ran past its deadline, or the init
	// phase past its limit.
	ErrorTypeTimeout = "Sandbox.Timedout"
	// ErrorTypeExit: the process exited before it answered.
	ErrorTypeExit = "Runtime.ExitError"
	// ErrorTypeResponseTooLarge: the response was over Lambda's 6 MB limit.
	ErrorTypeResponseTooLarge = "Function.ResponseSizeTooLarge"
	// ErrorTypeUnknown: the runtime reported an error without a type.
	ErrorTypeUnknown = "Runtime.Unknown"
)

// Error is a failed invocation as Lambda reports it: the error the function
// posted (a returned error or a recovered panic), an init failure posted to
// /runtime/init/error, a process that exited, or a timeout.
type Error struct {
	// Type is errorType: the function's error type name (aws-lambda-go uses
	// the Go type name, "string" for panic("...")) or one of the ErrorType
	// constants.
	Type string `json:"errorType"`
	// Message is errorMessage.
	Message string `json:"errorMessage"`
	// StackTrace is the stackTrace the runtime sent, if any (a panic's).
	StackTrace []any `json:"stackTrace,omitempty"`
	// Init reports a failure of the init phase rather than of the handler.
	Init bool `json:"-"`
	// RequestID is the failed invocation's request ID.
	RequestID string `json:"-"`
}

func (e *Error) Error() string {
	phase := "invocation"
	if e.Init {
		phase = "init"
	}
	return fmt.Sprintf("lambda %s failed (RequestId %s): %s: %s", phase, e.RequestID, e.Type, e.Message)
}

// Config describes a function and its execution environment.
type Config struct {
	// Name is AWS_LAMBDA_FUNCTION_NAME; empty means the name of the binary's
	// directory, which Build names after the package.
	Name string
	// Env is added to the environment Lambda sets, and overrides it. The
	// process sees nothing else of the test's environment.
	Env map[string]string
	// Timeout is the function timeout, from the moment the runtime receives
	// the event; 0 means DefaultTimeout.
	Timeout time.Duration
	// InitTimeout bounds the time from process start to its first request for
	// an event; 0 means DefaultInitTimeout.
	InitTimeout time.Duration
	// MemoryMB is AWS_LAMBDA_FUNCTION_MEMORY_SIZE; 0 means DefaultMemoryMB.
	MemoryMB int
}

// Function is one execution environment of a function binary. Its methods are
// safe for concurrent use; invocations are served one at a time.
type Function struct {
	binary      string
	name        string
	arn         string
	env         []string
	timeout     time.Duration
	initTimeout time.Duration
	logPath     string
	logFile     *os.File

	// invokeMu makes invocations wait for each other, as in a sandbox.
	invokeMu sync.Mutex

	mu        sync.Mutex
	sb        *sandbox // the running process; nil before the first start and after a reset
	closed    bool
	finalLogs string // the output, kept when Close removes the file
}

// Start launches binary (see Build) with env as Launch does and stops it when
// the test ends. Its output is logged if the test failed.
func Start(tb testing.TB, binary string, env map[string]string) *Function {
	tb.Helper()
	return StartConfig(tb, binary, Config{Env: env})
}

// StartConfig is Start with the whole configuration.
func StartConfig(tb testing.TB, binary string, cfg Config) *Function {
	tb.Helper()
	f, err := Launch(binary, cfg)
	if err != nil {
		tb.Fatalf("lambdart: %v", err)
	}
	tb.Cleanup(func() {
		f.Close()
		if tb.Failed() {
			tb.Logf("output of function %s:\n%s", f.name, f.Logs())
		}
	})
	return f
}

// Launch starts binary's first process, which runs its init phase at once
// (an init failure is reported by the first invocation). Use it for a
// function shared by several tests (started from a fixture, closed in
// TestMain); the caller must Close it. Start is simpler for one test.
func Launch(binary string, cfg Config) (*Function, error) {
	abs, err := filepath.Abs(binary)
	if err != nil {
		return nil, fmt.Errorf("launch %s: %w", binary, err)
	}
	if _, err := os.Stat(abs); err != nil {
		return nil, fmt.Errorf("launch %s: %w", binary, err)
	}
	f := &Function{
		binary:      abs,
		name:        cfg.Name,
		timeout:     cfg.Timeout,
		initTimeout: cfg.InitTimeout,
	}
	if f.name == "" {
		f.name = filepath.Base(filepath.Dir(abs))
	}
	if f.timeout <= 0 {
		f.timeout = DefaultTimeout
	}
	if f.initTimeout <= 0 {
		f.initTimeout = DefaultInitTimeout
	}
	memory := cfg.MemoryMB
	if memory <= 0 {
		memory = DefaultMemoryMB
	}
	env := map[string]string{
		"PATH":                            "/usr/local/bin:/usr/bin/:/bin:/opt/bin",
		"LANG":                            "en_US.UTF-8",
		"TZ":                              ":UTC",
		"_HANDLER":                        "bootstrap",
		"AWS_LAMBDA_FUNCTION_NAME":        f.name,
		"AWS_LAMBDA_FUNCTION_VERSION":     "$LATEST",
		"AWS_LAMBDA_FUNCTION_MEMORY_SIZE": strconv.Itoa(memory),
		"AWS_LAMBDA_LOG_GROUP_NAME":       "/aws/lambda/" + f.name,
		"AWS_LAMBDA_LOG_FORMAT":           "Text",
		"AWS_LAMBDA_INITIALIZATION_TYPE":  "on-demand",
		"AWS_REGION":                      DefaultRegion,
	}
	for k, v := range cfg.Env {
		env[k] = v
	}
	if _, ok := cfg.Env["AWS_DEFAULT_REGION"]; !ok {
		env["AWS_DEFAULT_REGION"] = env["AWS_REGION"]
	}
	// Set per process by the sandbox.
	delete(env, "AWS_LAMBDA_RUNTIME_API")
	delete(env, "AWS_LAMBDA_LOG_STREAM_NAME")
	for k, v := range env {
		f.env = append(f.env, k+"="+v)
	}
	sort.Strings(f.env)
	f.arn = fmt.Sprintf("arn:aws:lambda:%s:%s:function:%s", env["AWS_REGION"], accountID, f.name)

	logFile, err := os.CreateTemp("", "lambdart-"+sanitize(f.name)+"-*.log")
	if err != nil {
		return nil, fmt.Errorf("launch %s: create log file: %w", f.name, err)
	}
	logFile.Close()
	// O_APPEND: stdout and stderr of successive processes share the file.
	if f.logFile, err = os.OpenFile(logFile.Name(), os.O_WRONLY|os.O_APPEND, 0); err != nil {
		os.Remove(logFile.Name())
		return nil, fmt.Errorf("launch %s: open log file: %w", f.name, err)
	}
	f.logPath = logFile.Name()

	f.mu.Lock()
	defer f.mu.Unlock()
	if f.sb, err = f.spawn(); err != nil {
		f.logFile.Close()
		os.Remove(f.logPath)
		return nil, err
	}
	return f, nil
}

// Name is the function's name (AWS_LAMBDA_FUNCTION_NAME).
func (f *Function) Name() string { return f.name }

// ARN is the function ARN the runtime receives with each event.
func (f *Function) ARN() string { return f.arn }

// Invocation is what one invocation did.
type Invocation struct {
	// RequestID is the Lambda request ID (Lambda-Runtime-Aws-Request-Id).
	RequestID string
	// Response is the payload the function returned; nil on error.
	Response []byte
	// Err is an *Error for a failed invocation, or the error of ctx if it
	// ended first.
	Err error
	// Logs is what the function wrote to stdout and stderr from the start of
	// the invocation (including the init phase of a cold start) until its
	// result arrived.
	Logs string
	// Duration is how long the invocation took, init included.
	Duration time.Duration
	// ColdStart reports that the process had not finished its init phase
	// when the invocation arrived, so Logs may hold lines of the init.
	ColdStart bool
}

// Invoke sends event to the function and waits for its response, as a
// synchronous Lambda invoke. It returns an *Error if the function posted an
// error or panicked, its init failed, its process exited, or it ran past its
// deadline; and ctx's error if ctx ends first (the process is then replaced,
// as after a timeout).
func (f *Function) Invoke(ctx context.Context, event []byte) ([]byte, error) {
	inv := f.Call(ctx, event)
	return inv.Response, inv.Err
}

// Call is Invoke returning the whole Invocation: request ID and logs too.
func (f *Function) Call(ctx context.Context, event []byte) Invocation {
	f.invokeMu.Lock()
	defer f.invokeMu.Unlock()
	start := time.Now()
	from := f.logSize()
	inv := &invocation{
		id:         newRequestID(),
		event:      event,
		timeout:    f.timeout,
		dispatched: make(chan struct{}),
		done:       make(chan result, 1),
	}
	resp, cold, err := f.run(ctx, inv)
	return Invocation{
		RequestID: inv.id,
		Response:  resp,
		Err:       err,
		Logs:      f.logsFrom(from),
		Duration:  time.Since(start),
		ColdStart: cold,
	}
}

// run delivers inv to a process and waits for its outcome. cold reports
// that the process was still in its init phase.
func (f *Function) run(ctx context.Context, inv *invocation) (resp []byte, cold bool, err error) {
	for {
		sb, err := f.sandboxFor(inv)
		if err != nil {
			return nil, true, err
		}
		cold = !sb.initDone()
		resp, again, err := f.await(ctx, sb, inv)
		if !again {
			return resp, cold, err
		}
		// The process exited between invocations (after a panic, say): as
		// Lambda does, run the event in a fresh one.
		inv = inv.retry()
	}
}

// await queues inv on sb and waits for its outcome. again reports that sb
// exited after earlier invocations without taking inv, which then belongs
// on a fresh process.
func (f *Function) await(ctx context.Context, sb *sandbox, inv *invocation) (resp []byte, again bool, err error) {
	sb.queue <- inv // room for one: invocations are serialised

	// Until the runtime takes the event, the init phase (or, for a warm
	// process, its return to /next) is what runs.
	warm := sb.initDone()
	wait := f.initTimeout
	if !warm {
		wait -= time.Since(sb.started)
	}
	dispatch := time.NewTimer(wait)
	defer dispatch.Stop()
	var deadline <-chan time.Time
	dispatched := inv.dispatched
	for {
		select {
		case res := <-inv.done:
			return res.payload, false, res.withID(inv.id)
		case <-dispatched:
			dispatched = nil
			dispatch.Stop()
			t := time.NewTimer(time.Until(inv.deadline))
			defer t.Stop()
			deadline = t.C
		case <-dispatch.C:
			f.reset(sb)
			msg := fmt.Sprintf("the runtime did not ask for the event within %s of its start (init timeout)", f.initTimeout)
			if warm {
				msg = fmt.Sprintf("the runtime did not come back to /next within %s", f.initTimeout)
			}
			return nil, false, &Error{Type: ErrorTypeTimeout, Init: !warm, RequestID: inv.id, Message: msg}
		case <-deadline:
			if res, ok := poll(inv); ok {
				return res.payload, false, res.withID(inv.id)
			}
			f.reset(sb)
			return nil, false, &Error{Type: ErrorTypeTimeout, RequestID: inv.id,
				Message: fmt.Sprintf("Task timed out after %.2f seconds", inv.timeout.Seconds())}
		case <-sb.initFailed:
			f.reset(sb)
			return nil, false, sb.initError(inv.id)
		case <-sb.exited:
			// A runtime posts the error, then exits after a panic: the posted
			// error is the outcome.
			if res, ok := poll(inv); ok {
				f.reset(sb)
				return res.payload, false, res.withID(inv.id)
			}
			f.reset(sb)
			if e := sb.initError(inv.id); e != nil {
				return nil, false, e
			}
			taken := isClosed(inv.dispatched)
			if !taken && sb.servedAny() {
				return nil, true, nil
			}
			return nil, false, sb.exitError(inv.id, !taken)
		case <-ctx.Done():
			f.reset(sb)
			return nil, false, fmt.Errorf("invoke %s (RequestId %s): %w", f.name, inv.id, context.Cause(ctx))
		}
	}
}

// sandboxFor returns the process that serves the next invocation: the
// running one, or a fresh one when it failed. A failure of a process that no
// invocation has seen yet (its init failed before the first invoke) is that
// invocation's outcome, as in Lambda.
func (f *Function) sandboxFor(inv *invocation) (*sandbox, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.closed {
		return nil, fmt.Errorf("invoke %s: function is closed", f.name)
	}
	if sb := f.sb; sb != nil {
		if e := sb.unreportedInitFailure(inv.id); e != nil {
			f.sb = nil
			sb.stop()
			return nil, e
		}
		if !sb.failed() {
			return sb, nil
		}
		f.sb = nil
		sb.stop()
	}
	sb, err := f.spawn()
	if err != nil {
		return nil, err
	}
	f.sb = sb
	return sb, nil
}

// reset ends sb, whose invocation has its outcome; the next invocation
// starts a fresh process.
func (f *Function) reset(sb *sandbox) {
	sb.markReported()
	f.mu.Lock()
	if f.sb == sb {
		f.sb = nil
	}
	f.mu.Unlock()
	sb.stop()
}

// Close stops the function's process and removes its log file; Logs keeps
// returning what it captured. Close is safe to call more than once.
func (f *Function) Close() error {
	f.mu.Lock()
	if f.closed {
		f.mu.Unlock()
		return nil
	}
	f.closed = true
	sb := f.sb
	f.sb = nil
	f.mu.Unlock()
	if sb != nil {
		sb.stop()
	}
	logs := f.readLogs()
	f.mu.Lock()
	f.finalLogs = logs
	f.mu.Unlock()
	err := f.logFile.Close()
	os.Remove(f.logPath)
	return err
}

// Logs returns everything the function's processes wrote to stdout and
// stderr so far: what Lambda sends to CloudWatch Logs.
func (f *Function) Logs() string {
	f.mu.Lock()
	closed, final := f.closed, f.finalLogs
	f.mu.Unlock()
	if closed {
		return final
	}
	return f.readLogs()
}

func (f *Function) readLogs() string {
	b, err := os.ReadFile(f.logPath)
	if err != nil {
		return fmt.Sprintf("(lambdart: read logs: %v)", err)
	}
	return string(b)
}

func (f *Function) logSize() int64 {
	fi, err := os.Stat(f.logPath)
	if err != nil {
		return 0
	}
	return fi.Size()
}

func (f *Function) logsFrom(offset int64) string {
	file, err := os.Open(f.logPath)
	if err != nil {
		return ""
	}
	defer file.Close()
	if _, err := file.Seek(offset, 0); err != nil {
		return ""
	}
	var b []byte
	buf := make([]byte, 32<<10)
	for {
		n, err := file.Read(buf)
		b = append(b, buf[:n]...)
		if err != nil {
			break
		}
	}
	return string(b)
}

// invocation is one event on its way through the Runtime API.
type invocation struct {
	id      string
	event   []byte
	timeout time.Duration
	// deadline is set by the runtime API when it hands the event to the
	// runtime, before it closes dispatched.
	deadline time.Time
	// dispatched is closed before the event is written to the runtime, so an
	// open channel means the runtime cannot have seen the event.
	dispatched chan struct{}
	done       chan result // receives the one outcome the runtime posts
}

// retry returns a copy of inv for another process: same request ID and
// event, fresh channels (the old process's server may still hold the old ones).
func (inv *invocation) retry() *invocation {
	return &invocation{
		id:         inv.id,
		event:      inv.event,
		timeout:    inv.timeout,
		dispatched: make(chan struct{}),
		done:       make(chan result, 1),
	}
}

func isClosed(c <-chan struct{}) bool {
	select {
	case <-c:
		return true
	default:
		return false
	}
}

// result is the outcome the runtime posted for an invocation.
type result struct {
	payload []byte
	err     *Error
}

// withID returns the result's error with the request ID filled in, or nil.
func (r result) withID(id string) error {
	if r.err == nil {
		return nil
	}
	r.err.RequestID = id
	return r.err
}

// poll returns the invocation's outcome if it has already arrived.
func poll(inv *invocation) (result, bool) {
	select {
	case res := <-inv.done:
		return res, true
	default:
		return result{}, false
	}
}

// newRequestID returns a random UUID, the form of Lambda request IDs.
func newRequestID() string {
	var b [16]byte
	rand.Read(b[:])
	b[6] = b[6]&0x0f | 0x40
	b[8] = b[8]&0x3f | 0x80
	h := hex.EncodeToString(b[:])
	return h[0:8] + "-" + h[8:12] + "-" + h[12:16] + "-" + h[16:20] + "-" + h[20:32]
}

// newTraceID returns an X-Ray trace header as Lambda passes it: not sampled,
// so an X-Ray SDK in the function sends nothing.
func newTraceID() string {
	var b [20]byte
	rand.Read(b[:])
	h := hex.EncodeToString(b[:])
	return fmt.Sprintf("Root=1-%08x-%s;Parent=%s;Sampled=0", time.Now().Unix(), h[:24], h[24:40])
}

// newLogStreamName returns a log stream name in Lambda's form.
func newLogStreamName() string {
	var b [16]byte
	rand.Read(b[:])
	return time.Now().UTC().Format("2006/01/02") + "/[$LATEST]" + hex.EncodeToString(b[:])
}

func sanitize(name string) string {
	out := []byte(name)
	for i, c := range out {
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '-' || c == '_') {
			out[i] = '_'
		}
	}
	return string(out)
}

// builds caches Build's binaries for the life of the test process.
var builds struct {
	mu sync.Mutex
	m  map[string]*buildEntry
}

type buildEntry struct {
	once sync.Once
	path string
	err  error
}

// Build compiles the function package pkg for this machine the way the
// Makefile does for Lambda (CGO off, -tags lambda.norpc, -trimpath) and
// returns the path of its bootstrap binary, in a directory named after the
// package. pkg is an import path or a path relative to the test's directory
// (./testdata/echo). Each package is built once per test process; the
// binary is replaced in place by the next test run.
func Build(tb testing.TB, pkg string) string {
	tb.Helper()
	wd, err := os.Getwd()
	if err != nil {
		tb.Fatalf("lambdart: build %s: %v", pkg, err)
	}
	key := wd + "\x00" + pkg + "\x00" + runtime.GOOS + "/" + runtime.GOARCH
	builds.mu.Lock()
	if builds.m == nil {
		builds.m = map[string]*buildEntry{}
	}
	e := builds.m[key]
	if e == nil {
		e = &buildEntry{}
		builds.m[key] = e
	}
	builds.mu.Unlock()
	e.once.Do(func() { e.path, e.err = build(wd, pkg, key) })
	if e.err != nil {
		tb.Fatalf("lambdart: build %s: %v", pkg, e.err)
	}
	return e.path
}

func build(wd, pkg, key string) (string, error) {
	goTool, err := exec.LookPath("go")
	if err != nil {
		return "", errors.New("the go command is not on PATH")
	}
	sum := sha256.Sum256([]byte(key))
	name := path.Base(filepath.ToSlash(pkg))
	if name == "." || name == "/" || name == ".." {
		name = "function"
	}
	// A fixed directory per package keeps one binary per package on disk,
	// however many test runs there are.
	dir := filepath.Join(os.TempDir(), fmt.Sprintf("offpush-lambdart-%d", os.Getuid()), hex.EncodeToString(sum[:6]), name)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return "", err
	}
	tmp := filepath.Join(dir, fmt.Sprintf(".bootstrap-%d", os.Getpid()))
	cmd := exec.Command(goTool, "build", "-tags", "lambda.norpc", "-trimpath", "-o", tmp, pkg)
	cmd.Dir = wd
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0", "GOOS="+runtime.GOOS, "GOARCH="+runtime.GOARCH)
	if out, err := cmd.CombinedOutput(); err != nil {
		os.Remove(tmp)
		return "", fmt.Errorf("go build: %v\n%s", err, out)
	}
	// Rename, not build in place: another test process may be running the
	// previous binary.
	bin := filepath.Join(dir, "bootstrap")
	if err := os.Rename(tmp, bin); err != nil {
		os.Remove(tmp)
		return "", err
	}
	return bin, nil
}
