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
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"sync/atomic"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"

	"github.com/offpush/offpush/shared/testinfra/emulator"
)

// Environment variables read by this package.
const (
	// EnvDir names the directory holding DynamoDBLocal.jar and DynamoDBLocal_lib.
	EnvDir = "OFFPUSH_DYNAMODB_LOCAL_DIR"
	// EnvIntegration set to "required" turns a missing emulator or java from
	// a skip into a failure (CI sets it).
	EnvIntegration = emulator.EnvIntegration
)

// server is the one emulator of this test process.
var server = &emulator.Emulator{
	Name:        "DynamoDB Local",
	EnvDir:      EnvDir,
	CacheDir:    "dynamodb-local",
	Locate:      locate,
	TempWorkDir: "dynamodb-local-", // the emulator writes a metadata file into its working directory
	Ready: func(ctx context.Context, endpoint string) error {
		client := newClient(endpoint, func(o *dynamodb.Options) { o.RetryMaxAttempts = 1 })
		_, err := client.ListTables(ctx, &dynamodb.ListTablesInput{})
		return err
	},
}

// Main runs the tests of a package and stops the emulator afterwards, if any
// test started it. Use it in TestMain: os.Exit(dynamolocal.Main(m)).
func Main(m *testing.M) int { return server.Main(m) }

// Endpoint returns the URL of the running emulator, starting it on first use.
// It skips the test (or fails it, when OFFPUSH_INTEGRATION=required) if the
// emulator is not installed.
func Endpoint(tb testing.TB) string {
	tb.Helper()
	return server.Endpoint(tb)
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
func Dir() (string, error) { return server.Dir() }

// locate finds DynamoDBLocal.jar in dir and java on PATH.
func locate(dir string) (command func(port int) *exec.Cmd, skip string) {
	jar := filepath.Join(dir, "DynamoDBLocal.jar")
	if _, err := os.Stat(jar); err != nil {
		return nil, fmt.Sprintf("%s not found", jar)
	}
	java, err := exec.LookPath("java")
	if err != nil {
		return nil, "java not found on PATH"
	}
	return func(port int) *exec.Cmd {
		return exec.Command(java,
			"-Djava.library.path="+filepath.Join(dir, "DynamoDBLocal_lib"),
			"-jar", jar,
			"-inMemory", "-sharedDb", "-disableTelemetry",
			"-port", strconv.Itoa(port))
	}, ""
}
