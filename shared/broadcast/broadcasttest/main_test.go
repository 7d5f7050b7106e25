// Package broadcasttest runs broadcasts end to end: integration tests on
// DynamoDB Local and fauxqs through the real store, queues, worker and vendor
// clients (against the strict vendor mocks), and the planning and delivery
// benchmarks on the embedded store and the in-process queue. It holds tests
// only.
package broadcasttest

import (
	"os"
	"testing"

	"github.com/offpush/offpush/shared/testinfra/dynamolocal"
)

// TestMain stops DynamoDB Local after the tests. fauxqs has no stop of its
// own outside fauxqs.Main, which would run the tests a second time: it ends
// with this process (its Pdeathsig), as it does after a panic.
func TestMain(m *testing.M) { os.Exit(dynamolocal.Main(m)) }
