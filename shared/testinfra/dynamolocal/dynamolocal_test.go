package dynamolocal

import (
	"context"
	"os"
	"path/filepath"
	"testing"

	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
)

func TestMain(m *testing.M) { os.Exit(Main(m)) }

func TestClientAnswers(t *testing.T) {
	c := Client(t)
	if _, err := c.ListTables(context.Background(), &dynamodb.ListTablesInput{}); err != nil {
		t.Fatalf("ListTables: %v", err)
	}
	// A second client talks to the same emulator.
	if Endpoint(t) != Endpoint(t) {
		t.Fatal("endpoint changed between calls")
	}
}

func TestUniquePrefix(t *testing.T) {
	seen := map[string]bool{}
	for i := 0; i < 100; i++ {
		p := UniquePrefix()
		if seen[p] {
			t.Fatalf("prefix %q returned twice", p)
		}
		seen[p] = true
	}
}

func TestDir(t *testing.T) {
	t.Setenv(EnvDir, "")
	dir, err := Dir()
	if err != nil {
		t.Fatal(err)
	}
	if filepath.Base(dir) != "dynamodb-local" {
		t.Fatalf("Dir() = %s; want <repo root>/.cache/dynamodb-local", dir)
	}
	if _, err := os.Stat(filepath.Join(dir, "..", "..", "go.mod")); err != nil {
		t.Fatalf("Dir() = %s, not under the repository root: %v", dir, err)
	}
	t.Setenv(EnvDir, "/elsewhere")
	if dir, err := Dir(); err != nil || dir != "/elsewhere" {
		t.Fatalf("Dir() with %s set = %s, %v; want /elsewhere", EnvDir, dir, err)
	}
}
