package dynamolocal

import (
	"context"
	"os"
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

func TestRepoRoot(t *testing.T) {
	root, err := repoRoot()
	if err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(root + "/go.mod"); err != nil {
		t.Fatalf("repoRoot() = %s without go.mod: %v", root, err)
	}
}
