// Package dynamolocal runs AWS's DynamoDB Local once per test process, so the
// DynamoDB store is tested against the real emulator in the normal `go test`.
//
// The emulator (DynamoDBLocal.jar and DynamoDBLocal_lib) is found in
// $OFFPUSH_DYNAMODB_LOCAL_DIR, else in <repo root>/.cache/dynamodb-local, where
// `make tools` installs it. Without it, or without java, tests that need it are
// skipped, unless OFFPUSH_INTEGRATION=required, which fails them instead.
//
// Only _test.go files import this package.
package dynamolocal

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
)

// Environment variables read by this package.
const (
	// EnvDir names the directory holding DynamoDBLocal.jar and DynamoDBLocal_lib.
	EnvDir = "OFFPUSH_DYNAMODB_LOCAL_DIR"
	// EnvIntegration set to "required" turns a missing emulator or java from
	// a skip into a failure (CI sets it).
	EnvIntegration = "OFFPUSH_INTEGRATION"
)

// startTimeout bounds how long the emulator may take to answer.
const startTimeout = 30 * time.Second

// server is the one emulator of this test process.
var server struct {
	once     sync.Once
	mu       sync.Mutex
	cmd      *exec.Cmd
	exited   chan struct{}
	workDir  string
	endpoint string
	skip     string // why the emulator cannot run here; set when it is not installed
	err      error  // why it failed to start although installed
}

// Main runs the tests of a package and stops the emulator afterwards, if any
// test started it. Use it in TestMain: os.Exit(dynamolocal.Main(m)).
func Main(m *testing.M) int {
	code := m.Run()
	stop()
	return code
}

// Endpoint returns the URL of the running emulator, starting it on first use.
// It skips the test (or fails it, when OFFPUSH_INTEGRATION=required) if the
// emulator is not installed.
func Endpoint(tb testing.TB) string {
	tb.Helper()
	server.once.Do(start)
	if server.skip != "" {
		if os.Getenv(EnvIntegration) == "required" {
			tb.Fatalf("DynamoDB Local is required (%s=required) but %s; run `make tools`", EnvIntegration, server.skip)
		}
		tb.Skipf("DynamoDB Local not available: %s; run `make tools` to install it", server.skip)
	}
	if server.err != nil {
		tb.Fatalf("DynamoDB Local: %v", server.err)
	}
	return server.endpoint
}

// Client returns a DynamoDB client for the emulator: static credentials,
// region us-east-1. optFns adjust the client, for example to add middleware.
func Client(tb testing.TB, optFns ...func(*dynamodb.Options)) *dynamodb.Client {
	tb.Helper()
	return newClient(Endpoint(tb), optFns...)
}

func newClient(endpoint string, optFns ...func(*dynamodb.Options)) *dynamodb.Client {
	opts := dynamodb.Options{
		Region:       "us-east-1",
		BaseEndpoint: aws.String(endpoint),
		Credentials: aws.CredentialsProviderFunc(func(context.Context) (aws.Credentials, error) {
			return aws.Credentials{AccessKeyID: "offpushlocal", SecretAccessKey: "offpushlocal", Source: "dynamolocal"}, nil
		}),
	}
	return dynamodb.New(opts, optFns...)
}

var prefixSeq atomic.Int64

// UniquePrefix returns a table-name prefix no other caller in this process
// gets, so each test works on its own tables in the shared emulator.
func UniquePrefix() string {
	return fmt.Sprintf("t%d-%d-", os.Getpid(), prefixSeq.Add(1))
}

// Dir returns the directory the emulator is looked for in.
func Dir() (string, error) {
	if d := os.Getenv(EnvDir); d != "" {
		return d, nil
	}
	root, err := repoRoot()
	if err != nil {
		return "", err
	}
	return filepath.Join(root, ".cache", "dynamodb-local"), nil
}

// repoRoot walks up from the working directory (a package directory under
// go test) to the directory holding go.mod.
func repoRoot() (string, error) {
	dir, err := os.Getwd()
	if err != nil {
		return "", fmt.Errorf("find repository root: %w", err)
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			return dir, nil
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return "", errors.New("find repository root: no go.mod above the working directory")
		}
		dir = parent
	}
}

func start() {
	dir, err := Dir()
	if err != nil {
		server.skip = err.Error()
		return
	}
	jar := filepath.Join(dir, "DynamoDBLocal.jar")
	if _, err := os.Stat(jar); err != nil {
		server.skip = fmt.Sprintf("%s not found", jar)
		return
	}
	java, err := exec.LookPath("java")
	if err != nil {
		server.skip = "java not found on PATH"
		return
	}
	// Another process may take the free port between our check and the
	// emulator's bind, and the emulator then exits: try a few ports.
	for attempt := 0; attempt < 3; attempt++ {
		server.err = launch(java, dir, jar)
		if !errors.Is(server.err, errExited) {
			return
		}
	}
}

// errExited: the emulator stopped before it answered.
var errExited = errors.New("DynamoDB Local exited before answering")

func launch(java, dir, jar string) error {
	port, err := freePort()
	if err != nil {
		return err
	}
	workDir, err := os.MkdirTemp("", "dynamodb-local-")
	if err != nil {
		return fmt.Errorf("create work directory: %w", err)
	}
	out := &tailBuffer{max: 8 << 10}
	cmd := exec.Command(java,
		"-Djava.library.path="+filepath.Join(dir, "DynamoDBLocal_lib"),
		"-jar", jar,
		"-inMemory", "-sharedDb", "-disableTelemetry",
		"-port", strconv.Itoa(port))
	cmd.Dir = workDir // the emulator writes a metadata file into its working directory
	cmd.Stdout = out
	cmd.Stderr = out
	cmd.SysProcAttr = sysProcAttr()
	if err := cmd.Start(); err != nil {
		os.RemoveAll(workDir)
		return fmt.Errorf("start %s: %w", java, err)
	}
	exited := make(chan struct{})
	go func() {
		cmd.Wait()
		close(exited)
	}()
	endpoint := "http://127.0.0.1:" + strconv.Itoa(port)
	if err := waitReady(endpoint, exited); err != nil {
		cmd.Process.Kill()
		<-exited
		os.RemoveAll(workDir)
		return fmt.Errorf("%w; emulator output:\n%s", err, out.String())
	}
	server.mu.Lock()
	server.cmd, server.exited, server.workDir, server.endpoint = cmd, exited, workDir, endpoint
	server.mu.Unlock()
	return nil
}

// waitReady polls ListTables until the emulator answers.
func waitReady(endpoint string, exited <-chan struct{}) error {
	client := newClient(endpoint, func(o *dynamodb.Options) { o.RetryMaxAttempts = 1 })
	deadline := time.Now().Add(startTimeout)
	var lastErr error
	for time.Now().Before(deadline) {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		_, err := client.ListTables(ctx, &dynamodb.ListTablesInput{})
		cancel()
		if err == nil {
			return nil
		}
		lastErr = err
		select {
		case <-exited:
			return fmt.Errorf("%w on %s", errExited, endpoint)
		case <-time.After(100 * time.Millisecond):
		}
	}
	return fmt.Errorf("DynamoDB Local did not answer on %s within %s: %v", endpoint, startTimeout, lastErr)
}

func stop() {
	server.mu.Lock()
	defer server.mu.Unlock()
	if server.cmd == nil {
		return
	}
	server.cmd.Process.Kill()
	<-server.exited
	os.RemoveAll(server.workDir)
	server.cmd = nil
}

func freePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, fmt.Errorf("find a free port: %w", err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}

// tailBuffer keeps the last max bytes written to it, for error messages.
type tailBuffer struct {
	mu  sync.Mutex
	max int
	buf bytes.Buffer
}

func (b *tailBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.buf.Write(p)
	if over := b.buf.Len() - b.max; over > 0 {
		b.buf.Next(over)
	}
	return len(p), nil
}

func (b *tailBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}
