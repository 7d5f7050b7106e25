package dynamo

import (
	"context"
	"fmt"
	"os"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
	"github.com/aws/smithy-go/middleware"

	"github.com/offpush/offpush/shared/cert"
	"github.com/offpush/offpush/shared/device"
	"github.com/offpush/offpush/shared/store"
	"github.com/offpush/offpush/shared/store/storetest"
	"github.com/offpush/offpush/shared/testinfra/dynamolocal"
)

func TestMain(m *testing.M) { os.Exit(dynamolocal.Main(m)) }

// open creates tables under a fresh prefix and a store on them.
func open(t *testing.T, client *dynamodb.Client, opts store.Options) (*Store, string) {
	t.Helper()
	prefix := dynamolocal.UniquePrefix()
	if err := CreateTables(context.Background(), client, prefix); err != nil {
		t.Fatalf("CreateTables: %v", err)
	}
	return New(client, prefix, opts), prefix
}

func TestConformance(t *testing.T) {
	client := dynamolocal.Client(t)
	storetest.Run(t, func(t *testing.T, opts store.Options) store.Store {
		s, _ := open(t, client, opts)
		return s
	})
}

// callCounter counts DynamoDB operations by name, once per call (SDK retries
// of one call are not counted again).
type callCounter struct {
	mu     sync.Mutex
	counts map[string]int
}

func (c *callCounter) addTo(stack *middleware.Stack) error {
	return stack.Initialize.Add(middleware.InitializeMiddlewareFunc("CountCalls",
		func(ctx context.Context, in middleware.InitializeInput, next middleware.InitializeHandler) (middleware.InitializeOutput, middleware.Metadata, error) {
			c.mu.Lock()
			c.counts[middleware.GetOperationName(ctx)]++
			c.mu.Unlock()
			return next.HandleInitialize(ctx, in)
		}), middleware.Before)
}

// take returns the counts since the last take, as "Op:n" in name order.
func (c *callCounter) take() string {
	c.mu.Lock()
	defer c.mu.Unlock()
	var parts []string
	for op, n := range c.counts {
		parts = append(parts, fmt.Sprintf("%s:%d", op, n))
	}
	sort.Strings(parts)
	c.counts = map[string]int{}
	return strings.Join(parts, " ")
}

func fcmToken(n int) string { return fmt.Sprintf("fcm-token:%d-%s", n, strings.Repeat("y", 40)) }

func androidUpload(user, dev string, certID int64, token string) device.Upload {
	return device.Upload{UserID: user, DeviceID: dev, CertificateID: certID, Token: token, Platform: device.Android, AppVersion: "1.0.0"}
}

func TestCallsPerUpload(t *testing.T) {
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
	// A second store on the same tables, as in a fresh Lambda container.
	s := New(client, prefix, opts)
	counter.take()

	steps := []struct {
		name string
		run  func() error
		want string
	}{
		{"new device, fresh container", func() error {
			_, err := s.UpsertDevice(ctx, androidUpload("alice", "phone", c.ID, fcmToken(1)))
			return err
		}, "BatchGetItem:1 TransactWriteItems:1"},
		{"second new device", func() error {
			_, err := s.UpsertDevice(ctx, androidUpload("alice", "tablet", c.ID, fcmToken(2)))
			return err
		}, "BatchGetItem:1 TransactWriteItems:1"},
		{"re-upload", func() error {
			_, err := s.UpsertDevice(ctx, androidUpload("alice", "phone", c.ID, fcmToken(1)))
			return err
		}, "BatchGetItem:1 TransactWriteItems:1"},
		{"new token on the same device", func() error {
			_, err := s.UpsertDevice(ctx, androidUpload("alice", "phone", c.ID, fcmToken(3)))
			return err
		}, "BatchGetItem:1 TransactWriteItems:1"},
		{"token moves from another user", func() error {
			_, err := s.UpsertDevice(ctx, androidUpload("bob", "phone", c.ID, fcmToken(2)))
			return err
		}, "BatchGetItem:1 TransactWriteItems:1"},
		{"state change", func() error {
			_, err := s.SetDeviceState(ctx, "bob", "phone", device.StateChange{State: device.Foreground})
			return err
		}, "UpdateItem:1"},
		{"increment unread", func() error {
			_, err := s.IncrementUnread(ctx, "bob", "phone")
			return err
		}, "UpdateItem:1"},
		{"list devices", func() error {
			_, err := s.ListDevices(ctx, "alice")
			return err
		}, "GetItem:1"},
		{"clear token", func() error { return s.ClearDevice(ctx, "alice", "phone") }, "GetItem:1 TransactWriteItems:1"},
		{"kick", func() error {
			_, err := s.KickDevices(ctx, "bob", "")
			return err
		}, "GetItem:1 UpdateItem:1"},
	}
	for _, st := range steps {
		clock.Advance(time.Second)
		if err := st.run(); err != nil {
			t.Fatalf("%s: %v", st.name, err)
		}
		got := counter.take()
		t.Logf("%-40s %s", st.name, got)
		if got != st.want {
			t.Errorf("%s: calls %s, want %s", st.name, got, st.want)
		}
	}
	if d, ok := deviceOf(t, s, "alice", "tablet"); !ok || d.Token != "" || d.Status != device.LoggedOut {
		t.Errorf("alice's tablet kept the token bob took: %+v", d)
	}
}

func deviceOf(t *testing.T, s *Store, user, id string) (device.Device, bool) {
	t.Helper()
	list, err := s.ListDevices(context.Background(), user)
	if err != nil {
		t.Fatal(err)
	}
	for _, d := range list {
		if d.DeviceID == id {
			return d, true
		}
	}
	return device.Device{}, false
}

func getRaw(t *testing.T, client *dynamodb.Client, table string, key map[string]types.AttributeValue) map[string]types.AttributeValue {
	t.Helper()
	out, err := client.GetItem(context.Background(), &dynamodb.GetItemInput{TableName: &table, Key: key, ConsistentRead: ptr(true)})
	if err != nil {
		t.Fatalf("GetItem %s: %v", table, err)
	}
	return out.Item
}

func numAttr(t *testing.T, item map[string]types.AttributeValue, name string) string {
	t.Helper()
	n, ok := item[name].(*types.AttributeValueMemberN)
	if !ok {
		t.Fatalf("attribute %s is %T, want a number; item %v", name, item[name], item)
	}
	return n.Value
}

// TestItemLayout checks what other readers of the tables (the SAM
// template's TTL, broadcast scans) rely on, and the TTL DynamoDB Local
// never enforces.
func TestItemLayout(t *testing.T) {
	client := dynamolocal.Client(t)
	ctx := context.Background()
	clock := storetest.NewClock()
	s, prefix := open(t, client, store.Options{Now: clock.Now})
	c, err := s.CreateCertificate(ctx, cert.Certificate{Vendor: device.FCM, Name: "android", FCM: &cert.FCM{}})
	if err != nil {
		t.Fatal(err)
	}
	const id = "ab.c:d-1_x" // device IDs may hold . : - _
	d, err := s.UpsertDevice(ctx, androidUpload("alice", id, c.ID, fcmToken(1)))
	if err != nil {
		t.Fatal(err)
	}
	wantExpiry := fmt.Sprint(clock.Now().Add(270 * 24 * time.Hour).Unix())

	user := getRaw(t, client, prefix+UsersTable, userKey("alice"))
	if got := numAttr(t, user, "expiresAt"); got != wantExpiry {
		t.Errorf("user expiresAt = %s, want %s (tokenAt + 270 days)", got, wantExpiry)
	}
	if got := numAttr(t, user, "ver"); got != "1" {
		t.Errorf("user ver = %s, want 1", got)
	}
	dev, ok := user["dev#"+id].(*types.AttributeValueMemberM)
	if !ok {
		t.Fatalf("no top-level map dev#%s in %v", id, user)
	}
	if got := numAttr(t, dev.Value, "tokenAt"); got != fmt.Sprint(clock.Now().UnixMilli()) {
		t.Errorf("tokenAt = %s, want unix milliseconds %d", got, clock.Now().UnixMilli())
	}
	if tok, _ := dev.Value["token"].(*types.AttributeValueMemberS); tok == nil || tok.Value != d.Token {
		t.Errorf("token not stored in the device map: %v", dev.Value)
	}

	idx := getRaw(t, client, prefix+IndexTable, indexKey(store.TokenKey(fcmToken(1))))
	if idx == nil {
		t.Fatal("no index entry for the token")
	}
	if got := numAttr(t, idx, "expiresAt"); got != wantExpiry {
		t.Errorf("index expiresAt = %s, want %s", got, wantExpiry)
	}
	if u, _ := idx["userId"].(*types.AttributeValueMemberS); u == nil || u.Value != "alice" {
		t.Errorf("index userId = %v", idx["userId"])
	}
	if v, _ := idx["deviceId"].(*types.AttributeValueMemberS); v == nil || v.Value != id {
		t.Errorf("index deviceId = %v", idx["deviceId"])
	}
	for name := range idx {
		if strings.Contains(fmt.Sprint(idx[name]), fcmToken(1)) {
			t.Errorf("index entry holds the token in %s", name)
		}
	}

	// A state change does not bump ver; a later upload moves the expiry.
	if _, err := s.SetDeviceState(ctx, "alice", id, device.StateChange{State: device.Foreground}); err != nil {
		t.Fatal(err)
	}
	if got := numAttr(t, getRaw(t, client, prefix+UsersTable, userKey("alice")), "ver"); got != "1" {
		t.Errorf("ver after a state change = %s, want 1", got)
	}
	clock.Advance(24 * time.Hour)
	if _, err := s.UpsertDevice(ctx, androidUpload("alice", id, c.ID, fcmToken(1))); err != nil {
		t.Fatal(err)
	}
	user = getRaw(t, client, prefix+UsersTable, userKey("alice"))
	if got, want := numAttr(t, user, "expiresAt"), fmt.Sprint(clock.Now().Add(270*24*time.Hour).Unix()); got != want {
		t.Errorf("expiresAt after re-upload = %s, want %s", got, want)
	}
	if got := numAttr(t, user, "ver"); got != "2" {
		t.Errorf("ver after re-upload = %s, want 2", got)
	}
}

func TestCreateTablesIdempotentWithTTL(t *testing.T) {
	client := dynamolocal.Client(t)
	ctx := context.Background()
	prefix := dynamolocal.UniquePrefix()
	for i := 0; i < 2; i++ {
		if err := CreateTables(ctx, client, prefix); err != nil {
			t.Fatalf("CreateTables, run %d: %v", i+1, err)
		}
	}
	for _, table := range []string{UsersTable, IndexTable, JobsTable} {
		name := prefix + table
		out, err := client.DescribeTimeToLive(ctx, &dynamodb.DescribeTimeToLiveInput{TableName: &name})
		if err != nil {
			t.Fatal(err)
		}
		d := out.TimeToLiveDescription
		if d == nil || d.TimeToLiveStatus != types.TimeToLiveStatusEnabled || d.AttributeName == nil || *d.AttributeName != "expiresAt" {
			t.Errorf("%s TTL = %+v, want enabled on expiresAt", name, d)
		}
		desc, err := client.DescribeTable(ctx, &dynamodb.DescribeTableInput{TableName: &name})
		if err != nil {
			t.Fatal(err)
		}
		if bm := desc.Table.BillingModeSummary; bm == nil || bm.BillingMode != types.BillingModePayPerRequest {
			t.Errorf("%s billing mode = %+v, want PAY_PER_REQUEST", name, bm)
		}
	}
}

// TestStaleIndexEntries covers index entries that no longer tell the truth:
// one naming a device that has lost the token, and one the upload meant to
// delete that names another device by now. Neither may block an upload.
func TestStaleIndexEntries(t *testing.T) {
	counter := &callCounter{counts: map[string]int{}}
	client := dynamolocal.Client(t, func(o *dynamodb.Options) { o.APIOptions = append(o.APIOptions, counter.addTo) })
	ctx := context.Background()
	s, prefix := open(t, client, store.Options{Now: storetest.NewClock().Now})
	c, err := s.CreateCertificate(ctx, cert.Certificate{Vendor: device.FCM, Name: "android", FCM: &cert.FCM{}})
	if err != nil {
		t.Fatal(err)
	}
	users := prefix + UsersTable
	if _, err := s.UpsertDevice(ctx, androidUpload("alice", "phone", c.ID, fcmToken(1))); err != nil {
		t.Fatal(err)
	}
	// alice's device loses the token behind the index's back.
	if _, err := client.UpdateItem(ctx, &dynamodb.UpdateItemInput{
		TableName:                &users,
		Key:                      userKey("alice"),
		UpdateExpression:         ptr("REMOVE #d.#t"),
		ExpressionAttributeNames: map[string]string{"#d": "dev#phone", "#t": "token"},
	}); err != nil {
		t.Fatal(err)
	}
	counter.take()
	if _, err := s.UpsertDevice(ctx, androidUpload("bob", "phone", c.ID, fcmToken(1))); err != nil {
		t.Fatalf("upload over a stale index entry: %v", err)
	}
	// The strip fails, the owner is read to confirm the entry is stale, and
	// the second transaction checks the owner instead of stripping it.
	if got, want := counter.take(), "BatchGetItem:2 GetItem:1 TransactWriteItems:2"; got != want {
		t.Errorf("upload over a stale entry: calls %s, want %s", got, want)
	}
	if d, _ := deviceOf(t, s, "alice", "phone"); d.Status != device.Active {
		t.Errorf("alice's device was stripped of a token it did not hold: %+v", d)
	}
	if d, _ := deviceOf(t, s, "bob", "phone"); d.Token != fcmToken(1) {
		t.Errorf("bob's upload: %+v", d)
	}

	// carol's old token's entry names someone else by now; her new token
	// still goes through, and leaves that entry alone.
	if _, err := s.UpsertDevice(ctx, androidUpload("carol", "phone", c.ID, fcmToken(2))); err != nil {
		t.Fatal(err)
	}
	oldKey := store.TokenKey(fcmToken(2))
	entry := indexKey(oldKey)
	entry["userId"], entry["deviceId"] = str("dave"), str("phone")
	if _, err := client.PutItem(ctx, &dynamodb.PutItemInput{TableName: ptr(prefix + IndexTable), Item: entry}); err != nil {
		t.Fatal(err)
	}
	counter.take()
	if _, err := s.UpsertDevice(ctx, androidUpload("carol", "phone", c.ID, fcmToken(3))); err != nil {
		t.Fatalf("upload whose old entry names another device: %v", err)
	}
	if got, want := counter.take(), "BatchGetItem:2 TransactWriteItems:2"; got != want {
		t.Errorf("upload whose old entry is foreign: calls %s, want %s", got, want)
	}
	idx := getRaw(t, client, prefix+IndexTable, indexKey(oldKey))
	if u, _ := idx["userId"].(*types.AttributeValueMemberS); u == nil || u.Value != "dave" {
		t.Errorf("an entry naming another device was deleted or changed: %v", idx)
	}
}

func TestGetUserReadsTagsAndAttributes(t *testing.T) {
	client := dynamolocal.Client(t)
	ctx := context.Background()
	s, prefix := open(t, client, store.Options{Now: storetest.NewClock().Now})
	c, err := s.CreateCertificate(ctx, cert.Certificate{Vendor: device.FCM, Name: "android", FCM: &cert.FCM{}})
	if err != nil {
		t.Fatal(err)
	}
	// Tags and attributes written before any device, without ver.
	if _, err := client.PutItem(ctx, &dynamodb.PutItemInput{TableName: ptr(prefix + UsersTable), Item: map[string]types.AttributeValue{
		"userId": str("alice"),
		"tags":   &types.AttributeValueMemberSS{Value: []string{"vip", "beta"}},
		"attrs":  &types.AttributeValueMemberM{Value: map[string]types.AttributeValue{"city": str("Shenzhen")}},
	}}); err != nil {
		t.Fatal(err)
	}
	if _, err := s.UpsertDevice(ctx, androidUpload("alice", "phone", c.ID, fcmToken(1))); err != nil {
		t.Fatal(err)
	}
	u, err := s.GetUser(ctx, "alice")
	if err != nil {
		t.Fatal(err)
	}
	if fmt.Sprint(u.Tags) != "[beta vip]" || u.Attributes["city"] != "Shenzhen" || len(u.Devices) != 1 {
		t.Fatalf("GetUser = %+v", u)
	}
}
