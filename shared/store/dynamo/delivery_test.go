package dynamo

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/offpush/offpush/shared/cert"
	"github.com/offpush/offpush/shared/device"
	"github.com/offpush/offpush/shared/store"
	"github.com/offpush/offpush/shared/store/storetest"
	"github.com/offpush/offpush/shared/testinfra/dynamolocal"
)

// uploadUsers gives users user-000… one device "phone" each, in parallel.
func uploadUsers(t *testing.T, s *Store, certID int64, n int) []string {
	t.Helper()
	ids := make([]string, n)
	errs := make([]error, n)
	sem := make(chan struct{}, 16)
	var wg sync.WaitGroup
	for i := range ids {
		ids[i] = fmt.Sprintf("user-%03d", i)
		sem <- struct{}{}
		wg.Go(func() {
			defer func() { <-sem }()
			_, errs[i] = s.UpsertDevice(context.Background(), androidUpload(ids[i], "phone", certID, fcmToken(i)))
		})
	}
	wg.Wait()
	if err := errors.Join(errs...); err != nil {
		t.Fatal(err)
	}
	return ids
}

// sentTo is the result recorded for a user's devices in these tests.
func sentTo(userID string, at time.Time) device.LastResult {
	return device.LastResult{Outcome: "sent", MessageID: "m-" + userID, At: at}
}

func TestCallsPerBatch(t *testing.T) {
	counter := &callCounter{counts: map[string]int{}}
	client := dynamolocal.Client(t, func(o *dynamodb.Options) { o.APIOptions = append(o.APIOptions, counter.addTo) })
	ctx := context.Background()
	clock := storetest.NewClock()
	s, prefix := open(t, client, store.Options{Now: clock.Now})
	c, err := s.CreateCertificate(ctx, cert.Certificate{Vendor: device.FCM, Name: "android", FCM: &cert.FCM{ProjectID: "p"}})
	if err != nil {
		t.Fatal(err)
	}
	const n = 500
	ids := uploadUsers(t, s, c.ID, n)
	at := clock.Now().Add(time.Second)
	var results []store.ResultUpdate
	for _, id := range ids {
		results = append(results, store.ResultUpdate{UserID: id, Devices: []store.DeviceResult{{DeviceID: "phone", Result: sentTo(id, at), CountUnread: true}}})
	}
	exp := clock.Now().Add(time.Hour)
	counter.take()

	steps := []struct {
		name string
		run  func() error
		want string
	}{
		{"GetUsers, 500 users", func() error {
			users, err := s.GetUsers(ctx, ids)
			if err == nil && (len(users) != n || users[0].UserID != ids[0] || users[n-1].UserID != ids[n-1]) {
				err = fmt.Errorf("read %d users", len(users))
			}
			return err
		}, "BatchGetItem:5"},
		{"RecordResults, 500 users", func() error { return s.RecordResults(ctx, results) }, "TransactWriteItems:5"},
		{"Claim, wins", func() error { return wantClaim(s.Claim(ctx, "push#a#1", exp))(store.Claim{Claimed: true}) }, "PutItem:1"},
		{"Claim, held", func() error { return wantClaim(s.Claim(ctx, "push#a#1", exp))(store.Claim{}) }, "PutItem:1"},
		{"Complete", func() error { return s.Complete(ctx, "push#a#1", []byte("result"), exp) }, "PutItem:1"},
		{"Claim, done", func() error {
			return wantClaim(s.Claim(ctx, "push#a#1", exp))(store.Claim{Done: true, Value: []byte("result")})
		}, "PutItem:1"},
		{"InvalidateToken", func() error { return s.InvalidateToken(ctx, ids[0], "phone", fcmToken(0)) }, "GetItem:1 TransactWriteItems:1"},
		{"InvalidateToken, stale", func() error { return s.InvalidateToken(ctx, ids[1], "phone", fcmToken(9999)) }, "GetItem:1"},
	}
	for _, st := range steps {
		start := time.Now()
		if err := st.run(); err != nil {
			t.Fatalf("%s: %v", st.name, err)
		}
		got := counter.take()
		t.Logf("%-40s %-40s %v", st.name, got, time.Since(start).Round(time.Millisecond))
		if got != st.want {
			t.Errorf("%s: calls %s, want %s", st.name, got, st.want)
		}
	}

	users, err := s.GetUsers(ctx, ids)
	if err != nil {
		t.Fatal(err)
	}
	for _, u := range users {
		d := u.Devices[0]
		if d.UnreadCount != 1 || d.LastResult == nil || *d.LastResult != sentTo(u.UserID, at) {
			t.Fatalf("%s after RecordResults: unread %d, last result %+v", u.UserID, d.UnreadCount, d.LastResult)
		}
	}
	if d := users[0].Devices[0]; d.Status != device.InvalidToken || d.Token != "" {
		t.Errorf("invalidated device: %+v", d)
	}
	if getRaw(t, client, prefix+IndexTable, indexKey(store.TokenKey(fcmToken(0)))) != nil {
		t.Error("the invalidated token is still in the index")
	}

	// The layout other readers rely on: lastResult inside the device map,
	// at in Unix milliseconds; no ver bump for results.
	raw := getRaw(t, client, prefix+UsersTable, userKey(ids[1]))
	dev, _ := raw["dev#phone"].(*types.AttributeValueMemberM)
	lr, ok := dev.Value["lastResult"].(*types.AttributeValueMemberM)
	if !ok {
		t.Fatalf("no lastResult map in dev#phone: %v", dev.Value)
	}
	if got := numAttr(t, lr.Value, "at"); got != fmt.Sprint(at.UnixMilli()) {
		t.Errorf("lastResult.at = %s, want %d", got, at.UnixMilli())
	}
	if o, _ := lr.Value["outcome"].(*types.AttributeValueMemberS); o == nil || o.Value != "sent" {
		t.Errorf("lastResult.outcome = %v", lr.Value["outcome"])
	}
	if got := numAttr(t, raw, "ver"); got != "1" {
		t.Errorf("ver after RecordResults = %s, want 1 (results do not bump ver)", got)
	}
}

// wantClaim checks a Claim's result.
func wantClaim(got store.Claim, err error) func(want store.Claim) error {
	return func(want store.Claim) error {
		if err != nil {
			return err
		}
		if got.Claimed != want.Claimed || got.Done != want.Done || string(got.Value) != string(want.Value) {
			return fmt.Errorf("claim = %+v, want %+v", got, want)
		}
		return nil
	}
}

// hookedAPI runs beforeTransact once, before the first TransactWriteItems
// goes out: a change made while an operation is under way.
type hookedAPI struct {
	*dynamodb.Client
	once           sync.Once
	beforeTransact func()
}

func (h *hookedAPI) TransactWriteItems(ctx context.Context, in *dynamodb.TransactWriteItemsInput, optFns ...func(*dynamodb.Options)) (*dynamodb.TransactWriteItemsOutput, error) {
	h.once.Do(h.beforeTransact)
	return h.Client.TransactWriteItems(ctx, in, optFns...)
}

// withoutOldItems is a DynamoDB that does not return the item with a failed
// condition, as one without ReturnValuesOnConditionCheckFailure would.
type withoutOldItems struct{ API }

func (w withoutOldItems) PutItem(ctx context.Context, in *dynamodb.PutItemInput, optFns ...func(*dynamodb.Options)) (*dynamodb.PutItemOutput, error) {
	out, err := w.API.PutItem(ctx, in, optFns...)
	if e := (*types.ConditionalCheckFailedException)(nil); errors.As(err, &e) {
		e.Item = nil
	}
	return out, err
}

func (w withoutOldItems) TransactWriteItems(ctx context.Context, in *dynamodb.TransactWriteItemsInput, optFns ...func(*dynamodb.Options)) (*dynamodb.TransactWriteItemsOutput, error) {
	out, err := w.API.TransactWriteItems(ctx, in, optFns...)
	if e := (*types.TransactionCanceledException)(nil); errors.As(err, &e) {
		for i := range e.CancellationReasons {
			e.CancellationReasons[i].Item = nil
		}
	}
	return out, err
}

// TestRecordResultsSurvivesRemovedDevice: devices removed while the results
// of 150 users are being recorded cancel their transaction; the results of
// everyone else are still stored, and every count goes up exactly once.
func TestRecordResultsSurvivesRemovedDevice(t *testing.T) {
	for _, tt := range []struct {
		name    string
		oldItem bool // DynamoDB returns the item with a failed condition
		want    string
	}{
		// Each of the two transactions (100 and 50 users) is cancelled once
		// and sent again without the removed devices.
		{"item returned with the failure", true, "TransactWriteItems:4"},
		{"item read again", false, "GetItem:2 TransactWriteItems:4"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			counter := &callCounter{counts: map[string]int{}}
			client := dynamolocal.Client(t, func(o *dynamodb.Options) { o.APIOptions = append(o.APIOptions, counter.addTo) })
			ctx := context.Background()
			clock := storetest.NewClock()
			opts := store.Options{Now: clock.Now}
			admin, prefix := open(t, client, opts)
			c, err := admin.CreateCertificate(ctx, cert.Certificate{Vendor: device.FCM, Name: "android", FCM: &cert.FCM{ProjectID: "p"}})
			if err != nil {
				t.Fatal(err)
			}
			ids := uploadUsers(t, admin, c.ID, 150)
			// user-007 has a tablet too; it and user-120's only device go
			// while the results are recorded.
			if _, err := admin.UpsertDevice(ctx, androidUpload("user-007", "tablet", c.ID, fcmToken(1007))); err != nil {
				t.Fatal(err)
			}
			users := prefix + UsersTable
			uncounted := dynamolocal.Client(t)
			removeDevice := func(userID, deviceID string) {
				if _, err := uncounted.UpdateItem(ctx, &dynamodb.UpdateItemInput{
					TableName:                &users,
					Key:                      userKey(userID),
					UpdateExpression:         ptr("REMOVE #d"),
					ExpressionAttributeNames: map[string]string{"#d": deviceAttr(deviceID)},
				}); err != nil {
					t.Error(err)
				}
			}
			var api API = &hookedAPI{Client: client, beforeTransact: func() {
				removeDevice("user-007", "tablet")
				removeDevice("user-120", "phone")
			}}
			if !tt.oldItem {
				api = withoutOldItems{api}
			}
			s := New(api, prefix, opts)

			at := clock.Now()
			var results []store.ResultUpdate
			for _, id := range ids {
				up := store.ResultUpdate{UserID: id, Devices: []store.DeviceResult{{DeviceID: "phone", Result: sentTo(id, at), CountUnread: true}}}
				if id == "user-007" {
					up.Devices = append(up.Devices, store.DeviceResult{DeviceID: "tablet", Result: sentTo(id, at), CountUnread: true})
				}
				results = append(results, up)
			}
			counter.take()
			if err := s.RecordResults(ctx, results); err != nil {
				t.Fatal(err)
			}
			got := counter.take()
			t.Logf("RecordResults, 150 users, 2 devices removed meanwhile: %s", got)
			if got != tt.want {
				t.Errorf("calls %s, want %s", got, tt.want)
			}

			read, err := s.GetUsers(ctx, ids)
			if err != nil {
				t.Fatal(err)
			}
			if len(read) != 150 {
				t.Fatalf("read %d users, want 150", len(read))
			}
			for _, u := range read {
				switch u.UserID {
				case "user-120":
					if len(u.Devices) != 0 {
						t.Errorf("user-120's removed device came back: %+v", u.Devices)
					}
				default:
					if len(u.Devices) != 1 || u.Devices[0].DeviceID != "phone" {
						t.Fatalf("%s devices: %+v", u.UserID, u.Devices)
					}
					d := u.Devices[0]
					if d.UnreadCount != 1 || d.LastResult == nil || *d.LastResult != sentTo(u.UserID, at) {
						t.Errorf("%s: unread %d (want 1), last result %+v", u.UserID, d.UnreadCount, d.LastResult)
					}
				}
			}
		})
	}
}

func TestClaimWithoutReturnedItem(t *testing.T) {
	counter := &callCounter{counts: map[string]int{}}
	client := dynamolocal.Client(t, func(o *dynamodb.Options) { o.APIOptions = append(o.APIOptions, counter.addTo) })
	ctx := context.Background()
	clock := storetest.NewClock()
	_, prefix := open(t, client, store.Options{Now: clock.Now})
	s := New(withoutOldItems{client}, prefix, store.Options{Now: clock.Now})
	exp := clock.Now().Add(time.Hour)
	if err := wantClaim(s.Claim(ctx, "k", exp))(store.Claim{Claimed: true}); err != nil {
		t.Fatal(err)
	}
	if err := s.Complete(ctx, "k", []byte("v"), exp); err != nil {
		t.Fatal(err)
	}
	counter.take()
	if err := wantClaim(s.Claim(ctx, "k", exp))(store.Claim{Done: true, Value: []byte("v")}); err != nil {
		t.Fatal(err)
	}
	if got, want := counter.take(), "GetItem:1 PutItem:1"; got != want {
		t.Errorf("claim of a done record, read back: calls %s, want %s", got, want)
	}
	clock.Advance(time.Hour)
	if err := wantClaim(s.Claim(ctx, "k", clock.Now().Add(time.Hour)))(store.Claim{Claimed: true}); err != nil {
		t.Fatalf("claim at the expiry: %v", err)
	}
}

// TestInvalidateTokenForeignIndex: an index entry that names another device
// is left alone, and the device still loses the dead token.
func TestInvalidateTokenForeignIndex(t *testing.T) {
	counter := &callCounter{counts: map[string]int{}}
	client := dynamolocal.Client(t, func(o *dynamodb.Options) { o.APIOptions = append(o.APIOptions, counter.addTo) })
	ctx := context.Background()
	s, prefix := open(t, client, store.Options{Now: storetest.NewClock().Now})
	c, err := s.CreateCertificate(ctx, cert.Certificate{Vendor: device.FCM, Name: "android", FCM: &cert.FCM{}})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.UpsertDevice(ctx, androidUpload("alice", "phone", c.ID, fcmToken(1))); err != nil {
		t.Fatal(err)
	}
	entry := indexKey(store.TokenKey(fcmToken(1)))
	entry["userId"], entry["deviceId"] = str("dave"), str("phone")
	if _, err := client.PutItem(ctx, &dynamodb.PutItemInput{TableName: ptr(prefix + IndexTable), Item: entry}); err != nil {
		t.Fatal(err)
	}
	counter.take()
	if err := s.InvalidateToken(ctx, "alice", "phone", fcmToken(1)); err != nil {
		t.Fatal(err)
	}
	t.Logf("InvalidateToken, foreign index entry: %s", counter.take())
	if d, _ := deviceOf(t, s, "alice", "phone"); d.Status != device.InvalidToken || d.Token != "" {
		t.Errorf("device after invalidation: %+v", d)
	}
	idx := getRaw(t, client, prefix+IndexTable, indexKey(store.TokenKey(fcmToken(1))))
	if u, _ := idx["userId"].(*types.AttributeValueMemberS); u == nil || u.Value != "dave" {
		t.Errorf("an entry naming another device was deleted or changed: %v", idx)
	}
}
