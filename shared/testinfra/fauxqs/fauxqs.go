// Package fauxqs runs the fauxqs SQS emulator once per test process, so the
// queue code is tested against a real SQS API in the normal `go test`.
//
// fauxqs (npm, pinned by infra/local/install-fauxqs.sh) is found in
// $OFFPUSH_FAUXQS_DIR, else in <repo root>/.cache/fauxqs, where `make tools`
// installs it; it runs on the machine's Node.js. Without it, or without node,
// tests that need it are skipped, unless OFFPUSH_INTEGRATION=required, which
// fails them instead.
//
// What fauxqs 1.9.2 does as SQS does, checked by this package's tests:
// CreateQueue with RedrivePolicy (a message received more than
// maxReceiveCount times moves to the dead-letter queue on the next receive),
// per-message DelaySeconds, SendMessageBatch (10 entries, distinct IDs,
// per-entry Failed results), ReceiveMessage with WaitTimeSeconds (long
// polling) and VisibilityTimeout, message attributes, DeleteMessage and
// ChangeMessageVisibility. Its gaps:
//   - its command line ignores FAUXQS_LOGGER (dist/cli.js passes logger: true)
//     and always listens on 0.0.0.0; the emulator's output is kept only for
//     error messages;
//   - message and batch sizes are checked against 1 MiB, today's SQS limit, so
//     the queue package's stricter 256 KiB check is tested without it;
//   - message bodies with characters above U+FFFF (emoji) are refused as
//     InvalidMessageContents, which SQS accepts; the queue package writes
//     them as JSON escapes;
//   - no ListDeadLetterSourceQueues or StartMessageMoveTask (redriving a
//     dead-letter queue back to its source), so the operator's DLQ replay
//     cannot be tested here.
//
// Only _test.go files import this package.
package fauxqs

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math"
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
	"github.com/aws/aws-sdk-go-v2/service/sqs"
	sqstypes "github.com/aws/aws-sdk-go-v2/service/sqs/types"
)

// Environment variables read by this package.
const (
	// EnvDir names the directory holding node_modules/fauxqs.
	EnvDir = "OFFPUSH_FAUXQS_DIR"
	// EnvIntegration set to "required" turns a missing emulator or node from
	// a skip into a failure (CI and `make test` set it).
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
	endpoint string
	skip     string // why the emulator cannot run here; set when it is not installed
	err      error  // why it failed to start although installed
}

// Main runs the tests of a package and stops the emulator afterwards, if any
// test started it. Use it in TestMain: os.Exit(fauxqs.Main(m)).
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
			tb.Fatalf("fauxqs is required (%s=required) but %s; run `make tools`", EnvIntegration, server.skip)
		}
		tb.Skipf("fauxqs not available: %s; run `make tools` to install it", server.skip)
	}
	if server.err != nil {
		tb.Fatalf("fauxqs: %v", server.err)
	}
	return server.endpoint
}

// Client returns an SQS client for the emulator: static credentials, region
// us-east-1. optFns adjust the client, for example to add middleware.
func Client(tb testing.TB, optFns ...func(*sqs.Options)) *sqs.Client {
	tb.Helper()
	return newClient(Endpoint(tb), optFns...)
}

func newClient(endpoint string, optFns ...func(*sqs.Options)) *sqs.Client {
	opts := sqs.Options{
		Region:       "us-east-1",
		BaseEndpoint: aws.String(endpoint),
		Credentials: aws.CredentialsProviderFunc(func(context.Context) (aws.Credentials, error) {
			return aws.Credentials{AccessKeyID: "offpushlocal", SecretAccessKey: "offpushlocal", Source: "fauxqs"}, nil
		}),
	}
	return sqs.New(opts, optFns...)
}

var queueSeq atomic.Int64

// NewQueue creates a standard queue and its dead-letter queue in the
// emulator and returns their URLs. A message received more than maxReceive
// times (1 to 1000) moves to the dead-letter queue; visibility is the queue's
// visibility timeout, rounded up to whole seconds. Each call gets queues of
// its own, named after name; they are deleted when the test ends.
func NewQueue(tb testing.TB, name string, maxReceive int, visibility time.Duration) (url, dlqURL string) {
	tb.Helper()
	if maxReceive < 1 || maxReceive > 1000 {
		tb.Fatalf("fauxqs.NewQueue: maxReceive %d is outside SQS's 1 to 1000", maxReceive)
	}
	secs := int(math.Ceil(visibility.Seconds()))
	if secs < 0 || secs > 43200 {
		tb.Fatalf("fauxqs.NewQueue: visibility %s is outside SQS's 0 to 12 hours", visibility)
	}
	c := Client(tb)
	ctx := context.Background()
	// Queue names are at most 80 characters; leave room for the suffixes.
	suffix := fmt.Sprintf("-%d-%d", os.Getpid(), queueSeq.Add(1))
	if max := 80 - len(suffix) - len("-dlq"); len(name) > max {
		name = name[:max]
	}
	name += suffix

	dlq, err := c.CreateQueue(ctx, &sqs.CreateQueueInput{QueueName: aws.String(name + "-dlq")})
	if err != nil {
		tb.Fatalf("create dead-letter queue %s-dlq: %v", name, err)
	}
	tb.Cleanup(func() { deleteQueue(c, *dlq.QueueUrl) })
	attrs, err := c.GetQueueAttributes(ctx, &sqs.GetQueueAttributesInput{
		QueueUrl:       dlq.QueueUrl,
		AttributeNames: []sqstypes.QueueAttributeName{sqstypes.QueueAttributeNameQueueArn},
	})
	if err != nil {
		tb.Fatalf("read the dead-letter queue's ARN: %v", err)
	}
	redrive, err := json.Marshal(map[string]string{
		"deadLetterTargetArn": attrs.Attributes[string(sqstypes.QueueAttributeNameQueueArn)],
		"maxReceiveCount":     strconv.Itoa(maxReceive),
	})
	if err != nil {
		tb.Fatal(err)
	}
	q, err := c.CreateQueue(ctx, &sqs.CreateQueueInput{
		QueueName: aws.String(name),
		Attributes: map[string]string{
			string(sqstypes.QueueAttributeNameRedrivePolicy):     string(redrive),
			string(sqstypes.QueueAttributeNameVisibilityTimeout): strconv.Itoa(secs),
		},
	})
	if err != nil {
		tb.Fatalf("create queue %s: %v", name, err)
	}
	tb.Cleanup(func() { deleteQueue(c, *q.QueueUrl) })
	return *q.QueueUrl, *dlq.QueueUrl
}

func deleteQueue(c *sqs.Client, url string) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	c.DeleteQueue(ctx, &sqs.DeleteQueueInput{QueueUrl: aws.String(url)})
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
	return filepath.Join(root, ".cache", "fauxqs"), nil
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
	cli := filepath.Join(dir, "node_modules", "fauxqs", "dist", "cli.js")
	if _, err := os.Stat(cli); err != nil {
		server.skip = fmt.Sprintf("%s not found", cli)
		return
	}
	node, err := exec.LookPath("node")
	if err != nil {
		server.skip = "node not found on PATH"
		return
	}
	// The command line cannot pick a free port itself (port 0 works only
	// through the JavaScript API), and another process may take the one we
	// found before the emulator binds it: try a few ports.
	for attempt := 0; attempt < 3; attempt++ {
		server.err = launch(node, cli)
		if !errors.Is(server.err, errExited) {
			return
		}
	}
}

// errExited: the emulator stopped before it answered.
var errExited = errors.New("fauxqs exited before answering")

func launch(node, cli string) error {
	port, err := freePort()
	if err != nil {
		return err
	}
	out := &tailBuffer{max: 8 << 10}
	cmd := exec.Command(node, cli)
	cmd.Env = append(os.Environ(),
		"FAUXQS_PORT="+strconv.Itoa(port),
		"FAUXQS_LOGGER=false", // ignored by fauxqs 1.9.2's command line; see the package doc
	)
	cmd.Stdout = out
	cmd.Stderr = out
	cmd.SysProcAttr = sysProcAttr()
	if err := cmd.Start(); err != nil {
		return fmt.Errorf("start %s %s: %w", node, cli, err)
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
		return fmt.Errorf("%w; emulator output:\n%s", err, out.String())
	}
	server.mu.Lock()
	server.cmd, server.exited, server.endpoint = cmd, exited, endpoint
	server.mu.Unlock()
	return nil
}

// waitReady polls ListQueues until the emulator answers.
func waitReady(endpoint string, exited <-chan struct{}) error {
	client := newClient(endpoint, func(o *sqs.Options) { o.RetryMaxAttempts = 1 })
	deadline := time.Now().Add(startTimeout)
	var lastErr error
	for time.Now().Before(deadline) {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		_, err := client.ListQueues(ctx, &sqs.ListQueuesInput{})
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
	return fmt.Errorf("fauxqs did not answer on %s within %s: %v", endpoint, startTimeout, lastErr)
}

func stop() {
	server.mu.Lock()
	defer server.mu.Unlock()
	if server.cmd == nil {
		return
	}
	server.cmd.Process.Kill()
	<-server.exited
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
