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
	"context"
	"encoding/json"
	"fmt"
	"math"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/sqs"
	sqstypes "github.com/aws/aws-sdk-go-v2/service/sqs/types"

	"github.com/offpush/offpush/shared/testinfra/emulator"
)

// Environment variables read by this package.
const (
	// EnvDir names the directory holding node_modules/fauxqs.
	EnvDir = "OFFPUSH_FAUXQS_DIR"
	// EnvIntegration set to "required" turns a missing emulator or node from
	// a skip into a failure (CI and `make test` set it).
	EnvIntegration = emulator.EnvIntegration
)

// server is the one emulator of this test process.
var server = &emulator.Emulator{
	Name:     "fauxqs",
	EnvDir:   EnvDir,
	CacheDir: "fauxqs",
	Locate:   locate,
	Ready: func(ctx context.Context, endpoint string) error {
		client := newClient(endpoint, func(o *sqs.Options) { o.RetryMaxAttempts = 1 })
		_, err := client.ListQueues(ctx, &sqs.ListQueuesInput{})
		return err
	},
}

// Main runs the tests of a package and stops the emulator afterwards, if any
// test started it. Use it in TestMain: os.Exit(fauxqs.Main(m)).
func Main(m *testing.M) int { return server.Main(m) }

// Endpoint returns the URL of the running emulator, starting it on first use.
// It skips the test (or fails it, when OFFPUSH_INTEGRATION=required) if the
// emulator is not installed.
func Endpoint(tb testing.TB) string {
	tb.Helper()
	return server.Endpoint(tb)
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
func Dir() (string, error) { return server.Dir() }

// locate finds fauxqs's command line in dir and node on PATH. The command
// line cannot pick a free port itself (port 0 works only through the
// JavaScript API), so the emulator package picks one and retries when another
// process takes it first.
func locate(dir string) (command func(port int) *exec.Cmd, skip string) {
	cli := filepath.Join(dir, "node_modules", "fauxqs", "dist", "cli.js")
	if _, err := os.Stat(cli); err != nil {
		return nil, fmt.Sprintf("%s not found", cli)
	}
	node, err := exec.LookPath("node")
	if err != nil {
		return nil, "node not found on PATH"
	}
	return func(port int) *exec.Cmd {
		cmd := exec.Command(node, cli)
		cmd.Env = append(os.Environ(),
			"FAUXQS_PORT="+strconv.Itoa(port),
			"FAUXQS_LOGGER=false", // ignored by fauxqs 1.9.2's command line; see the package doc
		)
		return cmd
	}, ""
}
