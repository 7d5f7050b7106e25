package dynamo

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/offpush/offpush/shared/cert"
	"github.com/offpush/offpush/shared/device"
	"github.com/offpush/offpush/shared/push"
	"github.com/offpush/offpush/shared/store"
	"github.com/offpush/offpush/shared/store/storetest"
	"github.com/offpush/offpush/shared/testinfra/dynamolocal"
)

func TestCallsPerBroadcastOp(t *testing.T) {
	counter := &callCounter{counts: map[string]int{}}
	client := dynamolocal.Client(t, func(o *dynamodb.Options) { o.APIOptions = append(o.APIOptions, counter.addTo) })
	ctx := context.Background()
	clock := storetest.NewClock()
	s, _ := open(t, client, store.Options{Now: clock.Now})
	c, err := s.CreateCertificate(ctx, cert.Certificate{Vendor: device.FCM, Name: "android", FCM: &cert.FCM{ProjectID: "p"}})
	if err != nil {
		t.Fatal(err)
	}
	for i := range 12 {
		if _, err := s.UpsertDevice(ctx, androidUpload(fmt.Sprintf("user-%02d", i), "phone", c.ID, fcmToken(i))); err != nil {
			t.Fatal(err)
		}
	}
	var oldTags, newTags []string
	for i := range store.MaxTags {
		oldTags, newTags = append(oldTags, fmt.Sprintf("old%03d", i)), append(newTags, fmt.Sprintf("new%03d", i))
	}
	counter.take()

	v := "gold"
	steps := []struct {
		name string
		run  func() error
		want string
	}{
		{"PutJob", func() error {
			return s.PutJob(ctx, store.Job{ID: "j1", Status: store.JobPlanning, CreatedAt: clock.Now(), Message: push.Message{ID: "m"}})
		}, "TransactWriteItems:1"},
		{"SetJobStatus", func() error {
			_, err := s.SetJobStatus(ctx, "j1", []store.JobStatus{store.JobScheduled, store.JobPlanning}, store.JobSending, clock.Now())
			return err
		}, "UpdateItem:1"},
		{"SetJobStatus, conflict", func() error {
			_, err := s.SetJobStatus(ctx, "j1", []store.JobStatus{store.JobScheduled}, store.JobPlanning, clock.Now())
			return wantErr(err, store.ErrConflict)
		}, "UpdateItem:1"},
		{"AddJobCounts", func() error {
			_, err := s.AddJobCounts(ctx, "j1", store.JobCounts{BatchesDone: 1, Devices: 500, Sent: 498, Failed: 2})
			return err
		}, "UpdateItem:1"},
		{"AddJobCounts, missing job", func() error {
			_, err := s.AddJobCounts(ctx, "nope", store.JobCounts{Sent: 1})
			return wantErr(err, store.ErrNotFound)
		}, "UpdateItem:1"},
		{"FinishPlanning", func() error {
			_, err := s.FinishPlanning(ctx, "j1")
			return err
		}, "UpdateItem:1"},
		{"ListJobs", func() error {
			jobs, err := s.ListJobs(ctx, "", 10)
			if err == nil && len(jobs) != 1 {
				err = fmt.Errorf("%d jobs", len(jobs))
			}
			return err
		}, "BatchGetItem:1 Query:1"},
		{"SaveCheckpoint", func() error {
			return s.SaveCheckpoint(ctx, "j1", 0, 0, store.Checkpoint{Cursor: "user-05", NextBatch: 1})
		}, "PutItem:1"},
		{"SaveCheckpoint, stale", func() error {
			return wantErr(s.SaveCheckpoint(ctx, "j1", 0, 0, store.Checkpoint{NextBatch: 1}), store.ErrConflict)
		}, "PutItem:1"},
		{"GetCheckpoint", func() error {
			_, err := s.GetCheckpoint(ctx, "j1", 0)
			return err
		}, "GetItem:1"},
		{"PutJobUsers", func() error { return s.PutJobUsers(ctx, "j1", 0, []string{"user-01", "user-02"}) }, "PutItem:1"},
		{"GetJobUsers", func() error {
			_, err := s.GetJobUsers(ctx, "j1", 0)
			return err
		}, "GetItem:1"},
		{"UpdateTags, user with devices", func() error {
			_, err := s.UpdateTags(ctx, "user-01", []string{"vip", "beta"}, nil)
			return err
		}, "GetItem:1 TransactWriteItems:1"},
		{"UpdateTags, new user", func() error {
			_, err := s.UpdateTags(ctx, "tag-only", []string{"vip"}, nil)
			return err
		}, "GetItem:1 TransactWriteItems:1"},
		{"UpdateTags, 100 tags", func() error {
			_, err := s.UpdateTags(ctx, "many", oldTags, nil)
			return err
		}, "GetItem:1 TransactWriteItems:2"},
		{"UpdateTags, 100 added and 100 removed", func() error {
			_, err := s.UpdateTags(ctx, "many", newTags, oldTags)
			return err
		}, "GetItem:1 TransactWriteItems:3"},
		{"UpdateTags, over the cap", func() error {
			_, err := s.UpdateTags(ctx, "many", []string{"one-more"}, nil)
			return wantErr(err, store.ErrLimit)
		}, "GetItem:1"},
		{"UpdateAttributes, new name", func() error {
			_, err := s.UpdateAttributes(ctx, "user-01", map[string]*string{"level": &v})
			return err
		}, "BatchGetItem:1 TransactWriteItems:1"},
		{"UpdateAttributes, known name", func() error {
			_, err := s.UpdateAttributes(ctx, "user-02", map[string]*string{"level": &v})
			return err
		}, "BatchGetItem:1 TransactWriteItems:1"},
		{"IndexUserIDs, one page", func() error {
			ids, next, err := s.IndexUserIDs(ctx, store.TagKey("vip"), "", 10)
			if err == nil && (fmt.Sprint(ids) != "[tag-only user-01]" || next != "") {
				err = fmt.Errorf("ids %v, next %q", ids, next)
			}
			return err
		}, "Query:1"},
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

	// One Scan per page, every user once: 12 with devices, tag-only, many.
	seen := map[string]bool{}
	pages := 0
	for seg := range 3 {
		cursor := ""
		for {
			ids, next, err := s.ScanUserIDs(ctx, seg, 3, cursor, 4)
			if err != nil {
				t.Fatal(err)
			}
			pages++
			for _, id := range ids {
				if seen[id] {
					t.Errorf("%s scanned twice", id)
				}
				seen[id] = true
			}
			if next == "" {
				break
			}
			cursor = next
		}
	}
	if got, want := counter.take(), fmt.Sprintf("Scan:%d", pages); got != want {
		t.Errorf("ScanUserIDs: calls %s, want %s (one per page)", got, want)
	}
	if len(seen) != 14 {
		t.Errorf("scanned %d users, want 14", len(seen))
	}

	// One Query per page of a tag's members.
	pages = 0
	var members []string
	for after := ""; ; pages++ {
		ids, next, err := s.IndexUserIDs(ctx, store.TagKey("new007"), after, 1)
		if err != nil {
			t.Fatal(err)
		}
		members = append(members, ids...)
		if next == "" {
			pages++
			break
		}
		after = next
	}
	if got, want := counter.take(), fmt.Sprintf("Query:%d", pages); got != want || fmt.Sprint(members) != "[many]" {
		t.Errorf("IndexUserIDs: calls %s, want %s; members %v", got, want, members)
	}
	for _, tag := range []string{"old000", "old099"} {
		if ids, _, _ := s.IndexUserIDs(ctx, store.TagKey(tag), "", 10); len(ids) != 0 {
			t.Errorf("removed tag %s still indexed: %v", tag, ids)
		}
	}
	for _, tag := range []string{"new000", "new098", "new099"} {
		if ids, _, _ := s.IndexUserIDs(ctx, store.TagKey(tag), "", 10); fmt.Sprint(ids) != "[many]" {
			t.Errorf("added tag %s indexed as %v", tag, ids)
		}
	}
	if u, err := s.GetUser(ctx, "many"); err != nil || !slices.Equal(u.Tags, newTags) {
		t.Errorf("many's tags: %v %v", u.Tags, err)
	}
}

func wantErr(err, want error) error {
	if !errors.Is(err, want) {
		return fmt.Errorf("error %v, want %v", err, want)
	}
	return nil
}

// TestTagOnlyUser: a user with tags and attributes and no device is read
// like any other, can upload a device later, and keeps its labels; a user
// with labels does not expire, and expires with its devices once it has
// none.
func TestTagOnlyUser(t *testing.T) {
	client := dynamolocal.Client(t)
	ctx := context.Background()
	clock := storetest.NewClock()
	s, prefix := open(t, client, store.Options{Now: clock.Now})
	c, err := s.CreateCertificate(ctx, cert.Certificate{Vendor: device.FCM, Name: "android", FCM: &cert.FCM{}})
	if err != nil {
		t.Fatal(err)
	}
	users := prefix + UsersTable
	city := "sz"
	if _, err := s.UpdateTags(ctx, "alice", []string{"vip"}, nil); err != nil {
		t.Fatal(err)
	}
	// Adding a tag the user has changes nothing but writes its entry again
	// (a repeated request repairs the index), on a check, not an update.
	if tags, err := s.UpdateTags(ctx, "alice", []string{"vip"}, nil); err != nil || fmt.Sprint(tags) != "[vip]" {
		t.Fatalf("tag again: %v %v", tags, err)
	}
	if _, err := s.UpdateAttributes(ctx, "alice", map[string]*string{"city": &city}); err != nil {
		t.Fatal(err)
	}
	raw := getRaw(t, client, users, userKey("alice"))
	for _, a := range []string{"ver", "expiresAt"} {
		if _, ok := raw[a]; ok {
			t.Errorf("a user without devices has %s: %v", a, raw)
		}
	}
	if ss, _ := raw["tags"].(*types.AttributeValueMemberSS); ss == nil || fmt.Sprint(ss.Value) != "[vip]" {
		t.Errorf("tags = %v, want a string set", raw["tags"])
	}
	if m, _ := raw["attrs"].(*types.AttributeValueMemberM); m == nil || len(m.Value) != 1 {
		t.Errorf("attrs = %v, want a map", raw["attrs"])
	}
	if got := numAttr(t, raw, "labelVer"); got != "2" {
		t.Errorf("labelVer = %s, want 2 (a tag write and an attribute write)", got)
	}
	for _, k := range []string{store.TagKey("vip"), store.AttributeKey("city", "sz")} {
		if getRaw(t, client, prefix+IndexTable, membershipKey(k, "alice")) == nil {
			t.Errorf("no index entry %s/alice", k)
		}
	}

	u, err := s.GetUser(ctx, "alice")
	if err != nil || fmt.Sprint(u.Tags) != "[vip]" || u.Attributes["city"] != "sz" || len(u.Devices) != 0 {
		t.Fatalf("GetUser = %+v, %v", u, err)
	}
	list, err := s.GetUsers(ctx, []string{"alice", "nobody"})
	if err != nil || len(list) != 1 || list[0].UserID != "alice" || fmt.Sprint(list[0].Tags) != "[vip]" {
		t.Fatalf("GetUsers = %+v, %v", list, err)
	}
	if devs, err := s.KickDevices(ctx, "alice", ""); err != nil || len(devs) != 0 {
		t.Fatalf("kick of a user without devices: %v %v", devs, err)
	}
	if _, err := s.SetDeviceState(ctx, "alice", "phone", device.StateChange{State: device.Foreground}); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("state of a missing device: %v", err)
	}

	// A first device: the upload's ver condition holds on an item without ver.
	if _, err := s.UpsertDevice(ctx, androidUpload("alice", "phone", c.ID, fcmToken(1))); err != nil {
		t.Fatalf("upload to a tag-only user: %v", err)
	}
	raw = getRaw(t, client, users, userKey("alice"))
	if got := numAttr(t, raw, "ver"); got != "1" {
		t.Errorf("ver after the first upload = %s, want 1", got)
	}
	if _, ok := raw["expiresAt"]; ok {
		t.Errorf("a user with labels got a TTL: %v", raw["expiresAt"])
	}
	u, err = s.GetUser(ctx, "alice")
	if err != nil || fmt.Sprint(u.Tags) != "[vip]" || u.Attributes["city"] != "sz" || len(u.Devices) != 1 {
		t.Fatalf("after the upload: %+v, %v", u, err)
	}

	// The last label goes: the user expires with its device again.
	if _, err := s.UpdateTags(ctx, "alice", nil, []string{"vip"}); err != nil {
		t.Fatal(err)
	}
	if _, ok := getRaw(t, client, users, userKey("alice"))["expiresAt"]; ok {
		t.Error("a user with an attribute got a TTL")
	}
	if _, err := s.UpdateAttributes(ctx, "alice", map[string]*string{"city": nil}); err != nil {
		t.Fatal(err)
	}
	raw = getRaw(t, client, users, userKey("alice"))
	if got, want := numAttr(t, raw, "expiresAt"), fmt.Sprint(expirySeconds(u.Devices[0].TokenAt)); got != want {
		t.Errorf("expiresAt without labels = %s, want %s (the device's)", got, want)
	}
	for _, a := range []string{"tags", "attrs"} {
		if _, ok := raw[a]; ok {
			t.Errorf("%s left on the item: %v", a, raw[a])
		}
	}
	for _, k := range []string{store.TagKey("vip"), store.AttributeKey("city", "sz")} {
		if getRaw(t, client, prefix+IndexTable, membershipKey(k, "alice")) != nil {
			t.Errorf("index entry %s/alice left behind", k)
		}
	}

	// A user whose only labels go, without a device, expires at once.
	if _, err := s.UpdateTags(ctx, "bob", []string{"x"}, nil); err != nil {
		t.Fatal(err)
	}
	if _, err := s.UpdateTags(ctx, "bob", nil, []string{"x"}); err != nil {
		t.Fatal(err)
	}
	if got, want := numAttr(t, getRaw(t, client, users, userKey("bob")), "expiresAt"), fmt.Sprint(ttlSeconds(clock.Now())); got != want {
		t.Errorf("bob's expiresAt = %s, want %s (now)", got, want)
	}
	// Removing a tag from a user the store never had writes nothing.
	if tags, err := s.UpdateTags(ctx, "nobody", nil, []string{"x"}); err != nil || tags == nil || len(tags) != 0 {
		t.Fatalf("remove from an unknown user: %v %v", tags, err)
	}
	if getRaw(t, client, users, userKey("nobody")) != nil {
		t.Error("removing a tag created a user")
	}
}

// TestLabelsRaceUploads: an upload and a tag write that cross each other
// end with the TTL the labels call for.
func TestLabelsRaceUploads(t *testing.T) {
	client := dynamolocal.Client(t)
	counter := &callCounter{counts: map[string]int{}}
	counted := dynamolocal.Client(t, func(o *dynamodb.Options) { o.APIOptions = append(o.APIOptions, counter.addTo) })
	ctx := context.Background()
	clock := storetest.NewClock()
	opts := store.Options{Now: clock.Now}
	admin, prefix := open(t, client, opts)
	c, err := admin.CreateCertificate(ctx, cert.Certificate{Vendor: device.FCM, Name: "android", FCM: &cert.FCM{}})
	if err != nil {
		t.Fatal(err)
	}
	users := prefix + UsersTable

	// alice is tagged while her second upload is under way. The tag write
	// leaves ver alone; labelVer makes the upload plan again, and it
	// leaves no TTL.
	if _, err := admin.UpsertDevice(ctx, androidUpload("alice", "tablet", c.ID, fcmToken(4))); err != nil {
		t.Fatal(err)
	}
	s := New(&hookedAPI{Client: counted, beforeTransact: func() {
		if _, err := admin.UpdateTags(ctx, "alice", []string{"vip"}, nil); err != nil {
			t.Error(err)
		}
	}}, prefix, opts)
	if _, err := s.UpsertDevice(ctx, androidUpload("alice", "phone", c.ID, fcmToken(1))); err != nil {
		t.Fatal(err)
	}
	if got, want := counter.take(), "BatchGetItem:2 TransactWriteItems:2"; got != want {
		t.Errorf("upload that met a tag write: calls %s, want %s", got, want)
	}
	raw := getRaw(t, client, users, userKey("alice"))
	if _, ok := raw["expiresAt"]; ok {
		t.Errorf("tagged during the upload, alice has a TTL: %v", raw["expiresAt"])
	}
	if u, _ := admin.GetUser(ctx, "alice"); fmt.Sprint(u.Tags) != "[vip]" || len(u.Devices) != 2 {
		t.Errorf("alice: %+v", u)
	}

	// bob loses his last tag while he uploads a newer device: the tag
	// write plans again, and the TTL follows the newer device.
	if _, err := admin.UpsertDevice(ctx, androidUpload("bob", "phone", c.ID, fcmToken(2))); err != nil {
		t.Fatal(err)
	}
	if _, err := admin.UpdateTags(ctx, "bob", []string{"vip"}, nil); err != nil {
		t.Fatal(err)
	}
	clock.Advance(time.Hour)
	var tablet device.Device
	s = New(&hookedAPI{Client: counted, beforeTransact: func() {
		var err error
		if tablet, err = admin.UpsertDevice(ctx, androidUpload("bob", "tablet", c.ID, fcmToken(3))); err != nil {
			t.Error(err)
		}
	}}, prefix, opts)
	if _, err := s.UpdateTags(ctx, "bob", nil, []string{"vip"}); err != nil {
		t.Fatal(err)
	}
	if got, want := counter.take(), "GetItem:2 TransactWriteItems:2"; got != want {
		t.Errorf("tag write that met an upload: calls %s, want %s", got, want)
	}
	if got, want := numAttr(t, getRaw(t, client, users, userKey("bob")), "expiresAt"), fmt.Sprint(expirySeconds(tablet.TokenAt)); got != want {
		t.Errorf("bob's expiresAt = %s, want %s (the tablet's)", got, want)
	}
}

// transactHook runs hook before the at-th TransactWriteItems.
type transactHook struct {
	API
	mu    sync.Mutex
	calls int
	at    int
	hook  func()
}

func (h *transactHook) TransactWriteItems(ctx context.Context, in *dynamodb.TransactWriteItemsInput, optFns ...func(*dynamodb.Options)) (*dynamodb.TransactWriteItemsOutput, error) {
	h.mu.Lock()
	h.calls++
	n := h.calls
	h.mu.Unlock()
	if n == h.at {
		h.hook()
	}
	return h.API.TransactWriteItems(ctx, in, optFns...)
}

// TestSplitTagUpdateMeetsAnother: a tag change too big for one transaction
// writes its remaining index entries as the user's tags stand when it
// writes them, even if another change came in between.
func TestSplitTagUpdateMeetsAnother(t *testing.T) {
	client := dynamolocal.Client(t)
	counter := &callCounter{counts: map[string]int{}}
	counted := dynamolocal.Client(t, func(o *dynamodb.Options) { o.APIOptions = append(o.APIOptions, counter.addTo) })
	ctx := context.Background()
	opts := store.Options{Now: storetest.NewClock().Now}
	admin, prefix := open(t, client, opts)
	var oldTags, newTags []string
	for i := range store.MaxTags {
		oldTags, newTags = append(oldTags, fmt.Sprintf("old%03d", i)), append(newTags, fmt.Sprintf("new%03d", i))
	}
	if _, err := admin.UpdateTags(ctx, "carol", oldTags, nil); err != nil {
		t.Fatal(err)
	}
	// The first transaction writes carol and new000…new098; before the
	// second (new099, old000…old097) another admin removes new099 and adds
	// old050 back.
	s := New(&transactHook{API: counted, at: 2, hook: func() {
		if _, err := admin.UpdateTags(ctx, "carol", []string{"old050"}, []string{"new099"}); err != nil {
			t.Error(err)
		}
	}}, prefix, opts)
	if _, err := s.UpdateTags(ctx, "carol", newTags, oldTags); err != nil {
		t.Fatal(err)
	}
	// The second transaction fails its check, carol is read again, and it
	// goes again with the entries as her tags now say.
	if got, want := counter.take(), "GetItem:2 TransactWriteItems:4"; got != want {
		t.Errorf("calls %s, want %s", got, want)
	}
	u, err := admin.GetUser(ctx, "carol")
	if err != nil {
		t.Fatal(err)
	}
	want := append(slices.Clone(newTags[:99]), "old050")
	slices.Sort(want)
	if !slices.Equal(u.Tags, want) {
		t.Fatalf("carol's tags: %v", u.Tags)
	}
	has := map[string]bool{}
	for _, tag := range u.Tags {
		has[tag] = true
	}
	for _, tag := range append(slices.Clone(oldTags), newTags...) {
		ids, _, err := admin.IndexUserIDs(ctx, store.TagKey(tag), "", 10)
		if err != nil {
			t.Fatal(err)
		}
		if indexed := len(ids) == 1; indexed != has[tag] {
			t.Errorf("tag %s: indexed %v, carol has it %v", tag, indexed, has[tag])
		}
	}
}

// TestConcurrentLabelWrites: tag and attribute writes to one user, all at
// once, each land once, in the user item and in the index.
func TestConcurrentLabelWrites(t *testing.T) {
	client := dynamolocal.Client(t)
	ctx := context.Background()
	s, _ := open(t, client, store.Options{Now: storetest.NewClock().Now})
	const n = 8
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() {
			if _, err := s.UpdateTags(ctx, "dave", []string{fmt.Sprintf("t%d", i)}, nil); err != nil {
				t.Error(err)
			}
		})
		wg.Go(func() {
			v := fmt.Sprint(i)
			if _, err := s.UpdateAttributes(ctx, "dave", map[string]*string{fmt.Sprintf("a%d", i%4): &v}); err != nil {
				t.Error(err)
			}
		})
	}
	wg.Wait()
	u, err := s.GetUser(ctx, "dave")
	if err != nil || len(u.Tags) != n || len(u.Attributes) != 4 {
		t.Fatalf("dave: %+v %v", u, err)
	}
	for _, tag := range u.Tags {
		if ids, _, _ := s.IndexUserIDs(ctx, store.TagKey(tag), "", 10); fmt.Sprint(ids) != "[dave]" {
			t.Errorf("tag %s indexed as %v", tag, ids)
		}
	}
	for name, v := range u.Attributes {
		for i := range n {
			ids, _, _ := s.IndexUserIDs(ctx, store.AttributeKey(name, fmt.Sprint(i)), "", 10)
			if want := fmt.Sprint(i) == v; (len(ids) == 1) != want {
				t.Errorf("%s=%d indexed %v; dave's value is %s", name, i, ids, v)
			}
		}
	}
}

// TestJobLayout checks the job items other readers (and operators) rely on,
// and a listing longer than one page, filtered by status.
func TestJobLayout(t *testing.T) {
	client := dynamolocal.Client(t)
	ctx := context.Background()
	clock := storetest.NewClock()
	s, prefix := open(t, client, store.Options{Now: clock.Now})
	jobs := prefix + JobsTable
	created := clock.Now()
	started := created.Add(time.Minute)
	j := store.Job{ID: "j1", Status: store.JobSending, Spec: []byte(`{"a":1}`), Planned: true, CreatedAt: created, StartedAt: &started,
		Counts: store.JobCounts{Users: 7, Batches: 1}, Message: push.Message{ID: "m", Type: push.Text, From: "admin"}}
	if err := s.PutJob(ctx, j); err != nil {
		t.Fatal(err)
	}
	got, err := s.GetJob(ctx, "j1")
	if err != nil || got.Status != j.Status || string(got.Spec) != `{"a":1}` || !got.Planned || got.Counts != j.Counts ||
		got.StartedAt == nil || !got.StartedAt.Equal(started) || got.CompletedAt != nil || !got.CreatedAt.Equal(created) {
		t.Fatalf("job read back as %+v, %v", got, err)
	}
	raw := getRaw(t, client, jobs, jobKey("j1"))
	if got := numAttr(t, raw, "users"); got != "7" {
		t.Errorf("users = %s, want a top-level number 7", got)
	}
	if st, _ := raw["status"].(*types.AttributeValueMemberS); st == nil || st.Value != "sending" {
		t.Errorf("status = %v", raw["status"])
	}
	if got, want := numAttr(t, raw, "expiresAt"), fmt.Sprint(ttlSeconds(created.Add(store.JobRetention))); got != want {
		t.Errorf("job expiresAt = %s, want %s", got, want)
	}
	listing := getRaw(t, client, jobs, map[string]types.AttributeValue{"pk": str("jobs"), "sk": str(fmt.Sprintf("%013d#j1", created.UnixMilli()))})
	if id, _ := listing["jobId"].(*types.AttributeValueMemberS); id == nil || id.Value != "j1" {
		t.Errorf("listing item = %v", listing)
	}

	// 250 jobs, every fifth sending: ListJobs pages through the listing.
	for i := range 250 {
		st := store.JobCompleted
		if i%5 == 0 {
			st = store.JobSending
		}
		if err := s.PutJob(ctx, store.Job{ID: fmt.Sprintf("k%03d", i), Status: st, CreatedAt: created.Add(time.Duration(i+1) * time.Second)}); err != nil {
			t.Fatal(err)
		}
	}
	list, err := s.ListJobs(ctx, store.JobSending, 40)
	if err != nil || len(list) != 40 || list[0].ID != "k245" || list[39].ID != "k050" {
		t.Fatalf("ListJobs(sending, 40): %d jobs, %v", len(list), err)
	}
	list, err = s.ListJobs(ctx, store.JobSending, 100)
	if err != nil || len(list) != 51 || list[50].ID != "j1" {
		t.Fatalf("ListJobs(sending, 100): %d jobs, %v", len(list), err)
	}
	if list, err = s.ListJobs(ctx, "", 120); err != nil || len(list) != 120 || list[119].ID != "k130" {
		t.Fatalf("ListJobs(all, 120): %d jobs, %v", len(list), err)
	}
	if list, err = s.ListJobs(ctx, store.JobFailed, 10); err != nil || list == nil || len(list) != 0 {
		t.Fatalf("ListJobs(failed): %v, %v", list, err)
	}

	// SetJobStatus keeps the first start, and from no state is a conflict.
	got, err = s.SetJobStatus(ctx, "j1", []store.JobStatus{store.JobSending}, store.JobSending, clock.Now().Add(time.Hour))
	if err != nil || !got.StartedAt.Equal(started) {
		t.Fatalf("started again: %+v %v", got, err)
	}
	if _, err := s.SetJobStatus(ctx, "j1", nil, store.JobFailed, time.Time{}); !errors.Is(err, store.ErrConflict) {
		t.Fatalf("from no state: %v", err)
	}
	if _, err := s.FinishPlanning(ctx, "nope"); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("FinishPlanning of a missing job: %v", err)
	}
	if _, err := s.GetJob(ctx, "nope"); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("GetJob of a missing job: %v", err)
	}
}
