// Package dynamo is the DynamoDB implementation of store.Store, the one the
// Lambda functions use.
//
// Three tables, named by a prefix (the SAM template creates them; tests and
// the local emulator use CreateTables):
//
//   - {prefix}users, key userId: one item per user. Each device is a
//     top-level map attribute dev#<deviceId>, so a device is written without
//     a parent map having to exist and all of a user's devices come back in
//     one GetItem. ver counts the writes that add or remove devices, move or
//     clear tokens, or kick, and guards them against each other; expiresAt
//     (TTL) follows the latest token upload. A device's last push result is
//     the map lastResult inside its dev#<deviceId> map. Tags are the string
//     set tags, attributes the map attrs (name → value), both absent when
//     empty; labelVer counts their writes. A user with tags or attributes
//     has no expiresAt (they outlive devices; its expired devices are
//     ignored on read and dropped by its next upload), and a user may have
//     them and no device, nor ver.
//   - {prefix}index, key pk/sk: token → owner entries (pk tok#<sha256>,
//     sk -), and tag and attribute memberships (pk tag#<tag> or
//     attr#<name>=<value>, sk the user ID).
//   - {prefix}jobs, key pk/sk: certificates (pk cert) and their ID counter,
//     vendor access tokens (pk vtoken#<key>), captured requests (pk
//     captured), once-only records (pk claim#<key>), bulk jobs (pk
//     job#<id>: content as JSON, status and counters as attributes) and
//     their listing (pk jobs, sk <created ms>#<id>), planner checkpoints
//     (pk ckpt#<jobId>, sk segment), explicit audience chunks (pk
//     jobusers#<jobId>, sk chunk number) and the deployment's attribute
//     names (pk attrnames).
//
// A token upload is one BatchGetItem and one TransactWriteItems. A 500-user
// push batch is read with five BatchGetItem and its results recorded with
// five TransactWriteItems. A job's counters change with one UpdateItem
// (ADD); a tag change is one GetItem and one TransactWriteItems; everyone
// is read with a parallel Scan of the users table, a tag or attribute
// audience with one Query per key.
package dynamo

import (
	"context"
	"errors"
	"math/rand/v2"
	"time"

	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/offpush/offpush/shared/store"
)

// Table name suffixes; the full name is the prefix followed by the suffix.
const (
	UsersTable = "users"
	IndexTable = "index"
	JobsTable  = "jobs"
)

// API is the part of the DynamoDB client the store uses; *dynamodb.Client
// satisfies it.
type API interface {
	GetItem(ctx context.Context, in *dynamodb.GetItemInput, optFns ...func(*dynamodb.Options)) (*dynamodb.GetItemOutput, error)
	PutItem(ctx context.Context, in *dynamodb.PutItemInput, optFns ...func(*dynamodb.Options)) (*dynamodb.PutItemOutput, error)
	UpdateItem(ctx context.Context, in *dynamodb.UpdateItemInput, optFns ...func(*dynamodb.Options)) (*dynamodb.UpdateItemOutput, error)
	DeleteItem(ctx context.Context, in *dynamodb.DeleteItemInput, optFns ...func(*dynamodb.Options)) (*dynamodb.DeleteItemOutput, error)
	Query(ctx context.Context, in *dynamodb.QueryInput, optFns ...func(*dynamodb.Options)) (*dynamodb.QueryOutput, error)
	Scan(ctx context.Context, in *dynamodb.ScanInput, optFns ...func(*dynamodb.Options)) (*dynamodb.ScanOutput, error)
	BatchGetItem(ctx context.Context, in *dynamodb.BatchGetItemInput, optFns ...func(*dynamodb.Options)) (*dynamodb.BatchGetItemOutput, error)
	TransactWriteItems(ctx context.Context, in *dynamodb.TransactWriteItemsInput, optFns ...func(*dynamodb.Options)) (*dynamodb.TransactWriteItemsOutput, error)
	BatchWriteItem(ctx context.Context, in *dynamodb.BatchWriteItemInput, optFns ...func(*dynamodb.Options)) (*dynamodb.BatchWriteItemOutput, error)
}

// Store keeps devices and certificates in DynamoDB. It is safe for
// concurrent use; build one per Lambda container.
type Store struct {
	db    API
	users string
	index string
	jobs  string
	opts  store.Options
}

// New returns a store on the tables named tablePrefix + UsersTable, IndexTable
// and JobsTable.
func New(client API, tablePrefix string, opts store.Options) *Store {
	return &Store{
		db:    client,
		users: tablePrefix + UsersTable,
		index: tablePrefix + IndexTable,
		jobs:  tablePrefix + JobsTable,
		opts:  opts.WithDefaults(),
	}
}

// Close releases nothing: the client belongs to the caller.
func (s *Store) Close() error { return nil }

// now is the store's clock at DynamoDB's precision.
func (s *Store) now() time.Time { return s.opts.Now().UTC().Truncate(time.Millisecond) }

// maxAttempts bounds the optimistic retries of a write that lost a race.
const maxAttempts = 10

// pause waits before retry attempt+1: jittered, growing from 10 ms to 320 ms.
func pause(ctx context.Context, attempt int) error {
	ceiling := 10 * time.Millisecond << min(attempt, 5)
	d := ceiling/2 + rand.N(ceiling/2)
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}

func conditionFailed(err error) bool {
	var e *types.ConditionalCheckFailedException
	return errors.As(err, &e)
}

// conflict reports a single-item write refused because a transaction held
// the item; it was not applied and may be retried.
func conflict(err error) bool {
	var e *types.TransactionConflictException
	return errors.As(err, &e)
}

// cancelled returns the per-item reasons of a cancelled transaction, and
// whether every failure is one a fresh read may cure (a condition that no
// longer holds, or a conflict with another transaction).
func cancelled(err error) (reasons []types.CancellationReason, retry bool) {
	var e *types.TransactionCanceledException
	if !errors.As(err, &e) {
		return nil, false
	}
	for _, r := range e.CancellationReasons {
		switch reasonCode(r) {
		case "", "None", "ConditionalCheckFailed", "TransactionConflict":
		default:
			return e.CancellationReasons, false
		}
	}
	return e.CancellationReasons, true
}

func reasonCode(r types.CancellationReason) string {
	if r.Code == nil {
		return ""
	}
	return *r.Code
}

// failedCondition reports whether item i of a cancelled transaction failed
// its condition.
func failedCondition(reasons []types.CancellationReason, i int) bool {
	return i < len(reasons) && reasonCode(reasons[i]) == "ConditionalCheckFailed"
}

// retryConflicts runs a single-item write, again while it meets a transaction
// in progress on its item.
func retryConflicts(ctx context.Context, write func() error) error {
	for attempt := 1; ; attempt++ {
		err := write()
		if err == nil || !conflict(err) || attempt == maxAttempts {
			return err
		}
		if err := pause(ctx, attempt); err != nil {
			return err
		}
	}
}

// getUser reads a user item, consistently.
func (s *Store) getUser(ctx context.Context, userID string) (userItem, error) {
	out, err := s.db.GetItem(ctx, &dynamodb.GetItemInput{
		TableName:      &s.users,
		Key:            userKey(userID),
		ConsistentRead: ptr(true),
	})
	if err != nil {
		return userItem{}, err
	}
	return parseUser(userID, out.Item)
}

func ptr[T any](v T) *T { return &v }

// Interface guards.
var (
	_ store.Store = (*Store)(nil)
	_ API         = (*dynamodb.Client)(nil)
	_ TableAPI    = (*dynamodb.Client)(nil)
)
