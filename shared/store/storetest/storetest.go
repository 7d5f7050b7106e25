// Package storetest is the conformance suite every store.Store runs: the
// embedded store in its unit tests, the DynamoDB store against DynamoDB Local.
package storetest

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/offpush/offpush/shared/cert"
	"github.com/offpush/offpush/shared/device"
	"github.com/offpush/offpush/shared/push"
	"github.com/offpush/offpush/shared/store"
)

// Factory opens a new, empty store with the given options.
type Factory func(t *testing.T, opts store.Options) store.Store

// Clock is a settable clock for store.Options.Now.
type Clock struct {
	mu  sync.Mutex
	now time.Time
}

// NewClock starts a clock at a fixed instant.
func NewClock() *Clock {
	return &Clock{now: time.Date(2026, 11, 21, 10, 0, 0, 0, time.UTC)}
}

// Now returns the clock's time.
func (c *Clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

// Advance moves the clock forward.
func (c *Clock) Advance(d time.Duration) {
	c.mu.Lock()
	c.now = c.now.Add(d)
	c.mu.Unlock()
}

// Tokens for tests: an APNs token is hex; FCM tokens are printable ASCII.
func apnsToken(n int) string { return fmt.Sprintf("%064x", n) }
func fcmToken(n int) string  { return fmt.Sprintf("fcm-token:%d-%s", n, strings.Repeat("x", 40)) }

// Certificate IDs the suite registers.
const (
	apnsCert = 10001
	fcmCert  = 10002
)

// Run runs the conformance suite.
func Run(t *testing.T, open Factory) {
	t.Run("Certificates", func(t *testing.T) { testCertificates(t, open) })
	t.Run("UploadCreates", func(t *testing.T) { testUploadCreates(t, open) })
	t.Run("UploadRejects", func(t *testing.T) { testUploadRejects(t, open) })
	t.Run("ReuploadIdempotent", func(t *testing.T) { testReupload(t, open) })
	t.Run("TokenMovesToNewUser", func(t *testing.T) { testTokenMoves(t, open) })
	t.Run("TokenMovesWithinUser", func(t *testing.T) { testTokenMovesWithinUser(t, open) })
	t.Run("CapEvictsLeastRecent", func(t *testing.T) { testCap(t, open) })
	t.Run("Expiry", func(t *testing.T) { testExpiry(t, open) })
	t.Run("Clear", func(t *testing.T) { testClear(t, open) })
	t.Run("State", func(t *testing.T) { testState(t, open) })
	t.Run("IncrementUnreadAtomic", func(t *testing.T) { testIncrement(t, open) })
	t.Run("Kick", func(t *testing.T) { testKick(t, open) })
	t.Run("ConcurrentUploadsKeepCap", func(t *testing.T) { testConcurrentCap(t, open) })
	t.Run("ConcurrentSameToken", func(t *testing.T) { testConcurrentSameToken(t, open) })
	t.Run("VendorTokens", func(t *testing.T) { testVendorTokens(t, open) })
	t.Run("GetUsers", func(t *testing.T) { testGetUsers(t, open) })
	t.Run("RecordResults", func(t *testing.T) { testRecordResults(t, open) })
	t.Run("InvalidateToken", func(t *testing.T) { testInvalidateToken(t, open) })
	t.Run("Claim", func(t *testing.T) { testClaim(t, open) })
	t.Run("Jobs", func(t *testing.T) { testJobs(t, open) })
	t.Run("JobLifecycle", func(t *testing.T) { testJobLifecycle(t, open) })
	t.Run("Checkpoints", func(t *testing.T) { testCheckpoints(t, open) })
	t.Run("Tags", func(t *testing.T) { testTags(t, open) })
	t.Run("Attributes", func(t *testing.T) { testAttributes(t, open) })
	t.Run("ScanUserIDs", func(t *testing.T) { testScanUserIDs(t, open) })
	t.Run("Captured", func(t *testing.T) { testCaptured(t, open) })
}

func testVendorTokens(t *testing.T, open Factory) {
	f := setup(t, open, 0)
	if tok, _, err := f.s.GetVendorToken(f.ctx, "huawei#1"); err != nil || tok != "" {
		t.Fatalf("missing token: %q, %v", tok, err)
	}
	exp := f.clock.Now().Add(time.Hour)
	if err := f.s.PutVendorToken(f.ctx, "huawei#1", "tok-1", exp); err != nil {
		t.Fatal(err)
	}
	tok, got, err := f.s.GetVendorToken(f.ctx, "huawei#1")
	if err != nil || tok != "tok-1" || !got.Equal(exp.Truncate(time.Millisecond)) {
		t.Fatalf("stored token: %q %v %v", tok, got, err)
	}
	if tok, _, _ := f.s.GetVendorToken(f.ctx, "huawei#2"); tok != "" {
		t.Fatalf("another key read %q", tok)
	}
	if err := f.s.PutVendorToken(f.ctx, "huawei#1", "tok-2", exp.Add(time.Hour)); err != nil {
		t.Fatal(err)
	}
	if tok, _, _ := f.s.GetVendorToken(f.ctx, "huawei#1"); tok != "tok-2" {
		t.Fatalf("overwritten token read as %q", tok)
	}
	f.clock.Advance(3 * time.Hour)
	if tok, _, _ := f.s.GetVendorToken(f.ctx, "huawei#1"); tok != "" {
		t.Fatalf("expired token still returned: %q", tok)
	}
}

func testCaptured(t *testing.T, open Factory) {
	f := setup(t, open, 0)
	at := f.clock.Now()
	reqs := []push.Captured{
		{Vendor: device.APNs, CertificateID: apnsCert, Target: "t1", URL: "https://apns/3/device/t1", Header: map[string]string{"apns-push-type": "alert"}, Payload: []byte(`{"aps":{}}`), CapturedAt: at},
		{Vendor: device.FCM, CertificateID: fcmCert, Target: "t2", URL: "https://fcm", Payload: []byte(`{"message":{}}`), CapturedAt: at},
	}
	if err := f.s.SaveCaptured(f.ctx, reqs); err != nil {
		t.Fatal(err)
	}
	f.clock.Advance(time.Second)
	later := push.Captured{Vendor: device.APNs, CertificateID: apnsCert, Target: "t3", Payload: []byte(`{}`), CapturedAt: f.clock.Now()}
	if err := f.s.SaveCaptured(f.ctx, []push.Captured{later}); err != nil {
		t.Fatal(err)
	}
	all, err := f.s.ListCaptured(f.ctx, "", 10)
	if err != nil {
		t.Fatal(err)
	}
	var targets []string
	for _, c := range all {
		targets = append(targets, c.Target)
	}
	if fmt.Sprint(targets) != "[t3 t2 t1]" {
		t.Fatalf("captured newest first: %v", targets)
	}
	if all[2].Header["apns-push-type"] != "alert" || string(all[2].Payload) != `{"aps":{}}` || !all[2].CapturedAt.Equal(at) {
		t.Fatalf("captured request changed in the store: %+v", all[2])
	}
	apns, err := f.s.ListCaptured(f.ctx, device.APNs, 1)
	if err != nil || len(apns) != 1 || apns[0].Target != "t3" {
		t.Fatalf("vendor filter and limit: %+v, %v", apns, err)
	}
	if none, err := f.s.ListCaptured(f.ctx, device.Meizu, 5); err != nil || len(none) != 0 {
		t.Fatalf("no meizu requests: %+v, %v", none, err)
	}
}

type fixture struct {
	t     *testing.T
	s     store.Store
	clock *Clock
	ctx   context.Context
}

func setup(t *testing.T, open Factory, maxDevices int) *fixture {
	t.Helper()
	clock := NewClock()
	s := open(t, store.Options{MaxDevices: maxDevices, Now: clock.Now})
	f := &fixture{t: t, s: s, clock: clock, ctx: context.Background()}
	f.mustCreateCert(cert.Certificate{ID: apnsCert, Vendor: device.APNs, Name: "ios",
		APNs: &cert.APNs{Environment: cert.Production, BundleID: "com.example.chat", TeamID: "ABCDE12345", KeyID: "KEY1234567", PrivateKey: "secret-p8"}})
	f.mustCreateCert(cert.Certificate{ID: fcmCert, Vendor: device.FCM, Name: "android",
		FCM: &cert.FCM{ServiceAccountJSON: `{"secret":true}`, ProjectID: "p1"}})
	return f
}

func (f *fixture) mustCreateCert(c cert.Certificate) cert.Certificate {
	f.t.Helper()
	got, err := f.s.CreateCertificate(f.ctx, c)
	if err != nil {
		f.t.Fatalf("CreateCertificate(%d): %v", c.ID, err)
	}
	return got
}

func upload(user, dev string, certID int64, token string) device.Upload {
	p := device.Android
	if certID == apnsCert {
		p = device.IOS
	}
	return device.Upload{UserID: user, DeviceID: dev, CertificateID: certID, Token: token, Platform: p, AppVersion: "2.3.0", Locale: "zh-CN", Timezone: "Asia/Shanghai"}
}

func (f *fixture) mustUpload(up device.Upload) device.Device {
	f.t.Helper()
	d, err := f.s.UpsertDevice(f.ctx, up)
	if err != nil {
		f.t.Fatalf("UpsertDevice(%s/%s): %v", up.UserID, up.DeviceID, err)
	}
	return d
}

func (f *fixture) devices(user string) map[string]device.Device {
	f.t.Helper()
	list, err := f.s.ListDevices(f.ctx, user)
	if err != nil {
		f.t.Fatalf("ListDevices(%s): %v", user, err)
	}
	m := make(map[string]device.Device, len(list))
	for i, d := range list {
		if i > 0 && list[i-1].DeviceID >= d.DeviceID {
			f.t.Errorf("ListDevices(%s) not ordered by device ID: %q before %q", user, list[i-1].DeviceID, d.DeviceID)
		}
		m[d.DeviceID] = d
	}
	return m
}

func (f *fixture) device(user, id string) device.Device {
	f.t.Helper()
	d, ok := f.devices(user)[id]
	if !ok {
		f.t.Fatalf("device %s/%s missing", user, id)
	}
	return d
}

func testCertificates(t *testing.T, open Factory) {
	f := setup(t, open, 0)
	// Auto-assigned IDs start at FirstCertificateID and skip taken ones.
	a := f.mustCreateCert(cert.Certificate{Vendor: device.Huawei, Name: "hw", Huawei: &cert.Huawei{AppID: "123", AppSecret: "s3cret"}})
	b := f.mustCreateCert(cert.Certificate{Vendor: device.Meizu, Name: "mz", Meizu: &cert.Meizu{AppID: "9", AppSecret: "m"}})
	if a.ID < store.FirstCertificateID || b.ID <= a.ID || a.ID == apnsCert || a.ID == fcmCert || b.ID == apnsCert || b.ID == fcmCert {
		t.Fatalf("assigned IDs %d, %d: want distinct new IDs ≥ %d", a.ID, b.ID, store.FirstCertificateID)
	}
	if a.CreatedAt.IsZero() || !a.CreatedAt.Equal(a.UpdatedAt) {
		t.Errorf("CreatedAt/UpdatedAt not set: %+v", a)
	}
	_, err := f.s.CreateCertificate(f.ctx, cert.Certificate{ID: apnsCert, Vendor: device.FCM, Name: "dup", FCM: &cert.FCM{}})
	if !errors.Is(err, store.ErrExists) {
		t.Fatalf("duplicate ID: got %v, want ErrExists", err)
	}
	got, err := f.s.GetCertificate(f.ctx, apnsCert)
	if err != nil {
		t.Fatal(err)
	}
	if got.APNs == nil || got.APNs.PrivateKey != "secret-p8" || got.Name != "ios" || got.Vendor != device.APNs {
		t.Fatalf("GetCertificate lost fields: %+v", got)
	}
	if _, err := f.s.GetCertificate(f.ctx, 999); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("missing certificate: got %v, want ErrNotFound", err)
	}
	list, err := f.s.ListCertificates(f.ctx)
	if err != nil {
		t.Fatal(err)
	}
	var ids []int64
	for _, c := range list {
		ids = append(ids, c.ID)
	}
	if want := []int64{apnsCert, fcmCert, a.ID, b.ID}; fmt.Sprint(ids) != fmt.Sprint(want) {
		t.Fatalf("ListCertificates IDs = %v, want %v", ids, want)
	}

	f.clock.Advance(time.Minute)
	got.Name = "ios-renamed"
	rep, err := f.s.ReplaceCertificate(f.ctx, got)
	if err != nil {
		t.Fatal(err)
	}
	if rep.Name != "ios-renamed" || !rep.CreatedAt.Equal(got.CreatedAt) || !rep.UpdatedAt.After(got.CreatedAt) {
		t.Fatalf("ReplaceCertificate: %+v", rep)
	}
	if again, _ := f.s.GetCertificate(f.ctx, apnsCert); again.Name != "ios-renamed" {
		t.Fatalf("replace not stored: %+v", again)
	}
	if _, err := f.s.ReplaceCertificate(f.ctx, cert.Certificate{ID: 4242, Vendor: device.FCM}); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("replace missing: got %v, want ErrNotFound", err)
	}
	if err := f.s.DeleteCertificate(f.ctx, a.ID); err != nil {
		t.Fatal(err)
	}
	if err := f.s.DeleteCertificate(f.ctx, a.ID); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("delete twice: got %v, want ErrNotFound", err)
	}
	if _, err := f.s.GetCertificate(f.ctx, a.ID); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("deleted certificate still there: %v", err)
	}
}

func testUploadCreates(t *testing.T, open Factory) {
	f := setup(t, open, 0)
	if got := f.devices("alice"); len(got) != 0 {
		t.Fatalf("unknown user has devices: %v", got)
	}
	if _, err := f.s.GetUser(f.ctx, "alice"); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("GetUser(unknown) = %v, want ErrNotFound", err)
	}
	d := f.mustUpload(upload("alice", "d1", apnsCert, apnsToken(1)))
	want := device.Device{UserID: "alice", DeviceID: "d1", CertificateID: apnsCert, Vendor: device.APNs, Platform: device.IOS,
		Token: apnsToken(1), State: device.Background, Status: device.Active, AppVersion: "2.3.0", Locale: "zh-CN", Timezone: "Asia/Shanghai",
		CreatedAt: f.clock.Now(), UpdatedAt: f.clock.Now(), TokenAt: f.clock.Now()}
	if !equalDevice(d, want) {
		t.Fatalf("UpsertDevice returned\n %+v\nwant\n %+v", d, want)
	}
	if got := f.device("alice", "d1"); !equalDevice(got, want) {
		t.Fatalf("stored\n %+v\nwant\n %+v", got, want)
	}
	u, err := f.s.GetUser(f.ctx, "alice")
	if err != nil || u.UserID != "alice" || len(u.Devices) != 1 || !equalDevice(u.Devices[0], want) {
		t.Fatalf("GetUser = %+v, %v", u, err)
	}
	f.mustUpload(upload("alice", "d2", fcmCert, fcmToken(2)))
	if got := f.devices("alice"); len(got) != 2 || got["d2"].Vendor != device.FCM {
		t.Fatalf("second device: %v", got)
	}
}

func testUploadRejects(t *testing.T, open Factory) {
	f := setup(t, open, 0)
	f.mustUpload(upload("alice", "d1", apnsCert, apnsToken(1)))
	before := f.devices("alice")

	_, err := f.s.UpsertDevice(f.ctx, upload("alice", "d1", 777, apnsToken(2)))
	if !errors.Is(err, store.ErrUnknownCertificate) {
		t.Fatalf("unknown certificate: got %v", err)
	}
	_, err = f.s.UpsertDevice(f.ctx, upload("alice", "d1", apnsCert, "not-hex"))
	var fe *device.FieldError
	if !errors.As(err, &fe) || fe.Field != "token" {
		t.Fatalf("bad APNs token: got %v, want a token FieldError", err)
	}
	bad := upload("alice", "d1", fcmCert, fcmToken(3))
	bad.Platform = device.IOS
	_, err = f.s.UpsertDevice(f.ctx, bad)
	if !errors.As(err, &fe) || fe.Field != "platform" {
		t.Fatalf("ios on fcm: got %v, want a platform FieldError", err)
	}
	after := f.devices("alice")
	if len(after) != 1 || !equalDevice(after["d1"], before["d1"]) {
		t.Fatalf("rejected uploads changed stored data:\n before %+v\n after %+v", before, after)
	}
}

func testReupload(t *testing.T, open Factory) {
	f := setup(t, open, 0)
	first := f.mustUpload(upload("alice", "d1", apnsCert, apnsToken(1)))
	unread := 7
	if _, err := f.s.SetDeviceState(f.ctx, "alice", "d1", device.StateChange{State: device.Foreground, UnreadCount: &unread}); err != nil {
		t.Fatal(err)
	}
	f.clock.Advance(time.Hour)
	again := f.mustUpload(upload("alice", "d1", apnsCert, apnsToken(1)))
	if !again.CreatedAt.Equal(first.CreatedAt) || !again.TokenAt.Equal(f.clock.Now()) || again.State != device.Foreground || again.UnreadCount != 7 {
		t.Fatalf("re-upload: %+v (want CreatedAt kept, TokenAt now, state and count kept)", again)
	}
	if len(f.devices("alice")) != 1 {
		t.Fatal("re-upload created a second device")
	}
	// A new token on the same device frees the old one: bob may take it
	// without alice losing anything.
	f.mustUpload(upload("alice", "d1", apnsCert, apnsToken(2)))
	f.mustUpload(upload("bob", "b1", apnsCert, apnsToken(1)))
	if d := f.device("alice", "d1"); d.Token != apnsToken(2) || d.Status != device.Active {
		t.Fatalf("alice's device changed when bob took her old token: %+v", d)
	}
	// Switching certificate (and vendor) on the same device.
	sw := f.mustUpload(upload("alice", "d1", fcmCert, fcmToken(9)))
	if sw.Vendor != device.FCM || sw.CertificateID != fcmCert || sw.Token != fcmToken(9) {
		t.Fatalf("certificate switch: %+v", sw)
	}
	f.mustUpload(upload("carol", "c1", apnsCert, apnsToken(2)))
	if d := f.device("alice", "d1"); d.Status != device.Active || d.Token != fcmToken(9) {
		t.Fatalf("alice's device lost its new token to carol uploading the old one: %+v", d)
	}
}

func testTokenMoves(t *testing.T, open Factory) {
	f := setup(t, open, 0)
	f.mustUpload(upload("alice", "phone", fcmCert, fcmToken(1)))
	f.mustUpload(upload("alice", "tablet", fcmCert, fcmToken(2)))
	f.clock.Advance(time.Minute)
	b := f.mustUpload(upload("bob", "phone", fcmCert, fcmToken(1)))
	if b.Status != device.Active || b.Token != fcmToken(1) {
		t.Fatalf("bob's upload: %+v", b)
	}
	a := f.device("alice", "phone")
	if a.Token != "" || a.Status != device.LoggedOut || a.TokenSuffix() != "" {
		t.Fatalf("alice still holds the token bob uploaded: %+v", a)
	}
	if tab := f.device("alice", "tablet"); tab.Status != device.Active || tab.Token != fcmToken(2) {
		t.Fatalf("alice's other device changed: %+v", tab)
	}
	// And back again: carol takes it from bob, alice is untouched.
	f.mustUpload(upload("carol", "x", fcmCert, fcmToken(1)))
	if d := f.device("bob", "phone"); d.Token != "" || d.Status != device.LoggedOut {
		t.Fatalf("bob kept the token carol took: %+v", d)
	}
	if d := f.device("alice", "tablet"); d.Status != device.Active {
		t.Fatalf("alice's tablet changed: %+v", d)
	}
}

func testTokenMovesWithinUser(t *testing.T, open Factory) {
	f := setup(t, open, 0)
	f.mustUpload(upload("alice", "old-install", fcmCert, fcmToken(1)))
	f.mustUpload(upload("alice", "new-install", fcmCert, fcmToken(1)))
	devs := f.devices("alice")
	if devs["old-install"].Token != "" || devs["old-install"].Status != device.LoggedOut {
		t.Fatalf("old install kept the token: %+v", devs["old-install"])
	}
	if devs["new-install"].Token != fcmToken(1) || devs["new-install"].Status != device.Active {
		t.Fatalf("new install: %+v", devs["new-install"])
	}
}

func testCap(t *testing.T, open Factory) {
	f := setup(t, open, 3)
	for i := 1; i <= 3; i++ {
		f.mustUpload(upload("alice", fmt.Sprintf("d%d", i), fcmCert, fcmToken(i)))
		f.clock.Advance(time.Minute)
	}
	// d1 becomes the most recently active; d2 is now the least.
	if _, err := f.s.SetDeviceState(f.ctx, "alice", "d1", device.StateChange{State: device.Background}); err != nil {
		t.Fatal(err)
	}
	f.clock.Advance(time.Minute)
	f.mustUpload(upload("alice", "d4", fcmCert, fcmToken(4)))
	devs := f.devices("alice")
	if len(devs) != 3 {
		t.Fatalf("%d devices after the cap, want 3: %v", len(devs), devs)
	}
	if _, ok := devs["d2"]; ok {
		t.Fatalf("d2 (least recently active) was not evicted: %v", keys(devs))
	}
	// Re-uploading an existing device at the cap evicts nothing.
	f.mustUpload(upload("alice", "d3", fcmCert, fcmToken(3)))
	if len(f.devices("alice")) != 3 {
		t.Fatal("re-upload at the cap evicted a device")
	}
	// The evicted device's token is free: bob's upload of it strips nobody.
	f.mustUpload(upload("bob", "b1", fcmCert, fcmToken(2)))
	for id, d := range f.devices("alice") {
		if d.Status != device.Active {
			t.Fatalf("alice's %s changed when bob uploaded the evicted token: %+v", id, d)
		}
	}
}

func testExpiry(t *testing.T, open Factory) {
	f := setup(t, open, 0)
	f.mustUpload(upload("alice", "d1", fcmCert, fcmToken(1)))
	f.clock.Advance(100 * 24 * time.Hour)
	f.mustUpload(upload("alice", "d2", fcmCert, fcmToken(2)))
	f.clock.Advance(171 * 24 * time.Hour) // d1 is 271 days old, d2 171
	devs := f.devices("alice")
	if _, ok := devs["d1"]; ok || len(devs) != 1 {
		t.Fatalf("expired device still listed: %v", keys(devs))
	}
	if _, err := f.s.SetDeviceState(f.ctx, "alice", "d1", device.StateChange{State: device.Background}); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("state change on an expired device: %v, want ErrNotFound", err)
	}
	// A fresh upload brings it back as a new device.
	d := f.mustUpload(upload("alice", "d1", fcmCert, fcmToken(1)))
	if !d.CreatedAt.Equal(f.clock.Now()) {
		t.Fatalf("re-upload after expiry kept the old CreatedAt: %+v", d)
	}
}

func testClear(t *testing.T, open Factory) {
	f := setup(t, open, 0)
	f.mustUpload(upload("alice", "d1", fcmCert, fcmToken(1)))
	f.clock.Advance(time.Minute)
	if err := f.s.ClearDevice(f.ctx, "alice", "d1"); err != nil {
		t.Fatal(err)
	}
	d := f.device("alice", "d1")
	if d.Token != "" || d.Status != device.LoggedOut || !d.UpdatedAt.Equal(f.clock.Now()) {
		t.Fatalf("cleared device: %+v", d)
	}
	for _, c := range [][2]string{{"alice", "d1"}, {"alice", "nope"}, {"nobody", "d1"}} {
		if err := f.s.ClearDevice(f.ctx, c[0], c[1]); err != nil {
			t.Fatalf("ClearDevice(%s/%s) again: %v", c[0], c[1], err)
		}
	}
	// The cleared token is free; bob's upload of it leaves alice as she is.
	f.mustUpload(upload("bob", "b1", fcmCert, fcmToken(1)))
	if d := f.device("alice", "d1"); d.Status != device.LoggedOut {
		t.Fatalf("alice changed: %+v", d)
	}
	// Uploading again makes the device active.
	if d := f.mustUpload(upload("alice", "d1", fcmCert, fcmToken(5))); d.Status != device.Active {
		t.Fatalf("re-upload after clear: %+v", d)
	}
}

func testState(t *testing.T, open Factory) {
	f := setup(t, open, 0)
	f.mustUpload(upload("alice", "d1", fcmCert, fcmToken(1)))
	f.clock.Advance(time.Minute)
	three := 3
	d, err := f.s.SetDeviceState(f.ctx, "alice", "d1", device.StateChange{State: device.Foreground, UnreadCount: &three})
	if err != nil {
		t.Fatal(err)
	}
	if d.State != device.Foreground || d.UnreadCount != 3 || !d.UpdatedAt.Equal(f.clock.Now()) || d.Token != fcmToken(1) {
		t.Fatalf("state change returned %+v", d)
	}
	d, err = f.s.SetDeviceState(f.ctx, "alice", "d1", device.StateChange{State: device.Background})
	if err != nil || d.State != device.Background || d.UnreadCount != 3 {
		t.Fatalf("state change without a count: %+v, %v (want count kept)", d, err)
	}
	if got := f.device("alice", "d1"); !equalDevice(got, d) {
		t.Fatalf("stored %+v, returned %+v", got, d)
	}
	for _, c := range [][2]string{{"alice", "nope"}, {"nobody", "d1"}} {
		if _, err := f.s.SetDeviceState(f.ctx, c[0], c[1], device.StateChange{State: device.Background}); !errors.Is(err, store.ErrNotFound) {
			t.Fatalf("SetDeviceState(%s/%s) = %v, want ErrNotFound", c[0], c[1], err)
		}
	}
	if _, err := f.s.GetUser(f.ctx, "nobody"); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("a failed state change created a user: %v", err)
	}
}

func testIncrement(t *testing.T, open Factory) {
	f := setup(t, open, 0)
	f.mustUpload(upload("alice", "d1", fcmCert, fcmToken(1)))
	five := 5
	if _, err := f.s.SetDeviceState(f.ctx, "alice", "d1", device.StateChange{State: device.Background, UnreadCount: &five}); err != nil {
		t.Fatal(err)
	}
	const n = 16
	seen := make(chan int, n)
	var wg sync.WaitGroup
	for i := 0; i < n; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			v, err := f.s.IncrementUnread(f.ctx, "alice", "d1")
			if err != nil {
				t.Error(err)
				return
			}
			seen <- v
		}()
	}
	wg.Wait()
	close(seen)
	got := map[int]bool{}
	for v := range seen {
		if got[v] {
			t.Fatalf("two increments returned %d", v)
		}
		got[v] = true
	}
	for v := 6; v <= 5+n; v++ {
		if !got[v] {
			t.Fatalf("increments returned %v, missing %d", got, v)
		}
	}
	if d := f.device("alice", "d1"); d.UnreadCount != 5+n {
		t.Fatalf("unread = %d, want %d", d.UnreadCount, 5+n)
	}
	if _, err := f.s.IncrementUnread(f.ctx, "alice", "nope"); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("increment missing device: %v", err)
	}
}

func testKick(t *testing.T, open Factory) {
	f := setup(t, open, 0)
	f.mustUpload(upload("alice", "d1", fcmCert, fcmToken(1)))
	f.mustUpload(upload("alice", "d2", fcmCert, fcmToken(2)))
	f.mustUpload(upload("alice", "d3", fcmCert, fcmToken(3)))
	if err := f.s.ClearDevice(f.ctx, "alice", "d3"); err != nil {
		t.Fatal(err)
	}
	if _, err := f.s.KickDevices(f.ctx, "alice", "zzz"); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("kick keeping an unknown device: %v", err)
	}
	if _, err := f.s.KickDevices(f.ctx, "nobody", ""); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("kick unknown user: %v", err)
	}
	after, err := f.s.KickDevices(f.ctx, "alice", "d2")
	if err != nil {
		t.Fatal(err)
	}
	status := map[string]device.Status{}
	for _, d := range after {
		status[d.DeviceID] = d.Status
	}
	want := map[string]device.Status{"d1": device.Kicked, "d2": device.Active, "d3": device.LoggedOut}
	if fmt.Sprint(status) != fmt.Sprint(want) {
		t.Fatalf("after kick %v, want %v", status, want)
	}
	stored := f.devices("alice")
	if stored["d1"].Status != device.Kicked || stored["d1"].Token != fcmToken(1) {
		t.Fatalf("kicked device stored as %+v (want kicked, token kept)", stored["d1"])
	}
	if d := f.mustUpload(upload("alice", "d1", fcmCert, fcmToken(1))); d.Status != device.Active {
		t.Fatalf("re-upload after kick: %+v", d)
	}
	all, err := f.s.KickDevices(f.ctx, "alice", "")
	if err != nil {
		t.Fatal(err)
	}
	for _, d := range all {
		if d.Status == device.Active {
			t.Fatalf("kick all left %s active", d.DeviceID)
		}
	}
}

func testConcurrentCap(t *testing.T, open Factory) {
	f := setup(t, open, 4)
	const n = 10
	var wg sync.WaitGroup
	for i := 0; i < n; i++ {
		wg.Add(1)
		go func(i int) {
			defer wg.Done()
			if _, err := f.s.UpsertDevice(f.ctx, upload("alice", fmt.Sprintf("d%02d", i), fcmCert, fcmToken(i))); err != nil {
				t.Error(err)
			}
		}(i)
	}
	wg.Wait()
	if devs := f.devices("alice"); len(devs) != 4 {
		t.Fatalf("%d devices after %d concurrent uploads, cap 4: %v", len(devs), n, keys(devs))
	}
}

func testConcurrentSameToken(t *testing.T, open Factory) {
	f := setup(t, open, 0)
	users := []string{"u1", "u2", "u3", "u4", "u5"}
	var wg sync.WaitGroup
	for _, u := range users {
		wg.Add(1)
		go func(u string) {
			defer wg.Done()
			if _, err := f.s.UpsertDevice(f.ctx, upload(u, "phone", fcmCert, fcmToken(1))); err != nil {
				t.Error(err)
			}
		}(u)
	}
	wg.Wait()
	holders := 0
	for _, u := range users {
		if d := f.device(u, "phone"); d.Token != "" {
			holders++
			if d.Status != device.Active {
				t.Errorf("%s holds the token but is %s", u, d.Status)
			}
		}
	}
	if holders != 1 {
		t.Fatalf("%d users hold the same token after concurrent uploads, want 1", holders)
	}
}

func equalDevice(a, b device.Device) bool {
	return a.UserID == b.UserID && a.DeviceID == b.DeviceID && a.CertificateID == b.CertificateID &&
		a.Vendor == b.Vendor && a.Platform == b.Platform && a.Token == b.Token && a.State == b.State &&
		a.Status == b.Status && a.UnreadCount == b.UnreadCount && a.AppVersion == b.AppVersion &&
		a.Locale == b.Locale && a.Timezone == b.Timezone && a.CreatedAt.Equal(b.CreatedAt) &&
		a.UpdatedAt.Equal(b.UpdatedAt) && a.TokenAt.Equal(b.TokenAt)
}

func keys(m map[string]device.Device) []string {
	var out []string
	for k := range m {
		out = append(out, k)
	}
	return out
}

func testGetUsers(t *testing.T, open Factory) {
	f := setup(t, open, 0)
	var ids []string
	for i := 0; i < 230; i++ { // more than two BatchGetItem pages
		id := fmt.Sprintf("user-%03d", i)
		ids = append(ids, id)
		if i%3 != 0 { // every third user is unknown
			f.mustUpload(upload(id, "d1", fcmCert, fcmToken(i)))
		}
	}
	users, err := f.s.GetUsers(f.ctx, ids)
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, u := range users {
		got = append(got, u.UserID)
		if len(u.Devices) != 1 || u.Devices[0].Token != fcmToken(mustAtoi(t, u.UserID[5:])) {
			t.Fatalf("user %s read as %+v", u.UserID, u)
		}
	}
	var want []string
	for i, id := range ids {
		if i%3 != 0 {
			want = append(want, id)
		}
	}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Fatalf("GetUsers returned %d users %v..., want %d in request order", len(got), got[:min(3, len(got))], len(want))
	}
	if none, err := f.s.GetUsers(f.ctx, nil); err != nil || len(none) != 0 {
		t.Fatalf("no users: %v %v", none, err)
	}
}

func mustAtoi(t *testing.T, s string) int {
	var n int
	if _, err := fmt.Sscanf(s, "%d", &n); err != nil {
		t.Fatal(err)
	}
	return n
}

func testRecordResults(t *testing.T, open Factory) {
	f := setup(t, open, 0)
	f.mustUpload(upload("alice", "d1", fcmCert, fcmToken(1)))
	f.mustUpload(upload("alice", "d2", fcmCert, fcmToken(2)))
	f.mustUpload(upload("bob", "b1", fcmCert, fcmToken(3)))
	at := f.clock.Now()
	sent := device.LastResult{Outcome: "sent", MessageID: "m-1", At: at}
	skipped := device.LastResult{Outcome: "skipped", Reason: "foreground", At: at}
	err := f.s.RecordResults(f.ctx, []store.ResultUpdate{
		{UserID: "alice", Devices: []store.DeviceResult{{DeviceID: "d1", Result: sent, CountUnread: true}, {DeviceID: "d2", Result: skipped}, {DeviceID: "gone", Result: sent, CountUnread: true}}},
		{UserID: "bob", Devices: []store.DeviceResult{{DeviceID: "b1", Result: sent, CountUnread: true}}},
		{UserID: "nobody", Devices: []store.DeviceResult{{DeviceID: "x", Result: sent, CountUnread: true}}},
	})
	if err != nil {
		t.Fatal(err)
	}
	a := f.devices("alice")
	if a["d1"].UnreadCount != 1 || a["d2"].UnreadCount != 0 || f.device("bob", "b1").UnreadCount != 1 {
		t.Fatalf("unread counts: d1 %d d2 %d b1 %d", a["d1"].UnreadCount, a["d2"].UnreadCount, f.device("bob", "b1").UnreadCount)
	}
	if r := a["d1"].LastResult; r == nil || r.Outcome != "sent" || r.MessageID != "m-1" || !r.At.Equal(at) {
		t.Fatalf("d1 last result %+v", r)
	}
	if r := a["d2"].LastResult; r == nil || r.Outcome != "skipped" || r.Reason != "foreground" {
		t.Fatalf("d2 last result %+v", r)
	}
	if len(a) != 2 {
		t.Fatalf("recording a result for a missing device created it: %v", keys(a))
	}
	if _, err := f.s.GetUser(f.ctx, "nobody"); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("recording a result for an unknown user created it: %v", err)
	}
	// Increments are atomic: concurrent recordings all count.
	var wg sync.WaitGroup
	for i := 0; i < 8; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if err := f.s.RecordResults(f.ctx, []store.ResultUpdate{{UserID: "bob", Devices: []store.DeviceResult{{DeviceID: "b1", Result: sent, CountUnread: true}}}}); err != nil {
				t.Error(err)
			}
		}()
	}
	wg.Wait()
	if n := f.device("bob", "b1").UnreadCount; n != 9 {
		t.Fatalf("unread after concurrent recordings = %d, want 9", n)
	}
	// A re-upload keeps the last result; the state change keeps it too.
	f.mustUpload(upload("alice", "d1", fcmCert, fcmToken(1)))
	if r := f.device("alice", "d1").LastResult; r == nil || r.MessageID != "m-1" {
		t.Fatalf("re-upload lost the last result: %+v", r)
	}
}

func testInvalidateToken(t *testing.T, open Factory) {
	f := setup(t, open, 0)
	f.mustUpload(upload("alice", "d1", fcmCert, fcmToken(1)))
	f.clock.Advance(time.Minute)
	// A stale cleanup (the device uploaded a new token since) does nothing.
	f.mustUpload(upload("alice", "d1", fcmCert, fcmToken(2)))
	if err := f.s.InvalidateToken(f.ctx, "alice", "d1", fcmToken(1)); err != nil {
		t.Fatal(err)
	}
	if d := f.device("alice", "d1"); d.Status != device.Active || d.Token != fcmToken(2) {
		t.Fatalf("a stale cleanup removed the fresh token: %+v", d)
	}
	if err := f.s.InvalidateToken(f.ctx, "alice", "d1", fcmToken(2)); err != nil {
		t.Fatal(err)
	}
	d := f.device("alice", "d1")
	if d.Status != device.InvalidToken || d.Token != "" {
		t.Fatalf("after cleanup: %+v", d)
	}
	// The token left the index: another user may upload it and alice is untouched.
	f.mustUpload(upload("bob", "b1", fcmCert, fcmToken(2)))
	if d := f.device("alice", "d1"); d.Status != device.InvalidToken {
		t.Fatalf("alice changed: %+v", d)
	}
	for _, c := range [][3]string{{"alice", "nope", "x"}, {"nobody", "d1", "x"}} {
		if err := f.s.InvalidateToken(f.ctx, c[0], c[1], c[2]); err != nil {
			t.Fatalf("cleanup of a missing device: %v", err)
		}
	}
	// An upload after the cleanup makes the device active again.
	if d := f.mustUpload(upload("alice", "d1", fcmCert, fcmToken(7))); d.Status != device.Active {
		t.Fatalf("re-upload after invalidation: %+v", d)
	}
}

func testClaim(t *testing.T, open Factory) {
	f := setup(t, open, 0)
	exp := f.clock.Now().Add(7 * 24 * time.Hour)
	c, err := f.s.Claim(f.ctx, "push#admin#1", exp)
	if err != nil || !c.Claimed || c.Done {
		t.Fatalf("first claim: %+v %v", c, err)
	}
	c, err = f.s.Claim(f.ctx, "push#admin#1", exp)
	if err != nil || c.Claimed || c.Done {
		t.Fatalf("claim while pending: %+v %v", c, err)
	}
	if err := f.s.Complete(f.ctx, "push#admin#1", []byte(`{"ok":true}`), exp); err != nil {
		t.Fatal(err)
	}
	c, err = f.s.Claim(f.ctx, "push#admin#1", exp)
	if err != nil || c.Claimed || !c.Done || string(c.Value) != `{"ok":true}` {
		t.Fatalf("claim after completion: %+v %v", c, err)
	}
	if c, _ := f.s.Claim(f.ctx, "push#admin#2", exp); !c.Claimed {
		t.Fatal("another key was not claimable")
	}
	// Concurrent claims: exactly one wins.
	var wg sync.WaitGroup
	var mu sync.Mutex
	won := 0
	for i := 0; i < 10; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			c, err := f.s.Claim(f.ctx, "push#race", exp)
			if err != nil {
				t.Error(err)
				return
			}
			if c.Claimed {
				mu.Lock()
				won++
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	if won != 1 {
		t.Fatalf("%d concurrent claims won, want 1", won)
	}
	// An expired record can be claimed again.
	f.clock.Advance(8 * 24 * time.Hour)
	if c, _ := f.s.Claim(f.ctx, "push#admin#1", f.clock.Now().Add(time.Hour)); !c.Claimed {
		t.Fatal("an expired record was not claimable")
	}
	if err := f.s.Complete(f.ctx, "big", make([]byte, store.MaxClaimValue+1), exp); err == nil {
		t.Fatal("an oversize value was stored")
	}
}

func testJobs(t *testing.T, open Factory) {
	f := setup(t, open, 0)
	if _, err := f.s.GetJob(f.ctx, "nope"); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("missing job: %v", err)
	}
	j := store.Job{ID: "job-1", CreatedAt: f.clock.Now(), Message: push.Message{ID: "m", Type: push.Text, From: "admin", TTL: time.Hour,
		Info: push.OfflinePushInfo{Title: "Sale", Desc: "50% off", Ext: `{"k":"v"}`, APNsInfo: push.APNsInfo{BadgeMode: 1}}}}
	if err := f.s.PutJob(f.ctx, j); err != nil {
		t.Fatal(err)
	}
	got, err := f.s.GetJob(f.ctx, "job-1")
	if err != nil || got.ID != j.ID || got.Message.Info != j.Message.Info || got.Message.TTL != time.Hour || !got.CreatedAt.Equal(j.CreatedAt) {
		t.Fatalf("job read back as %+v, %v", got, err)
	}
}

func testJobLifecycle(t *testing.T, open Factory) {
	f := setup(t, open, 0)
	for i, st := range []store.JobStatus{store.JobScheduled, store.JobSending, store.JobCompleted} {
		j := store.Job{ID: fmt.Sprintf("job-%d", i), Status: st, Spec: []byte(`{"audience":{"all":true}}`), CreatedAt: f.clock.Now().Add(time.Duration(i) * time.Minute),
			Message: push.Message{ID: "m", Type: push.Text, From: "admin", TTL: time.Hour}}
		if err := f.s.PutJob(f.ctx, j); err != nil {
			t.Fatal(err)
		}
	}
	all, err := f.s.ListJobs(f.ctx, "", 10)
	if err != nil || len(all) != 3 || all[0].ID != "job-2" || all[2].ID != "job-0" || string(all[0].Spec) != `{"audience":{"all":true}}` {
		t.Fatalf("ListJobs newest first: %+v, %v", all, err)
	}
	sending, _ := f.s.ListJobs(f.ctx, store.JobSending, 10)
	if len(sending) != 1 || sending[0].ID != "job-1" {
		t.Fatalf("ListJobs(sending) = %+v", sending)
	}
	if one, _ := f.s.ListJobs(f.ctx, "", 1); len(one) != 1 {
		t.Fatalf("limit ignored: %d jobs", len(one))
	}
	// Status moves only from the expected states.
	at := f.clock.Now()
	j, err := f.s.SetJobStatus(f.ctx, "job-0", []store.JobStatus{store.JobScheduled}, store.JobPlanning, at)
	if err != nil || j.Status != store.JobPlanning || j.StartedAt == nil || !j.StartedAt.Equal(at) {
		t.Fatalf("scheduled → planning: %+v, %v", j, err)
	}
	if _, err := f.s.SetJobStatus(f.ctx, "job-0", []store.JobStatus{store.JobScheduled}, store.JobPlanning, at); !errors.Is(err, store.ErrConflict) {
		t.Fatalf("second transition from scheduled: %v, want ErrConflict", err)
	}
	if _, err := f.s.SetJobStatus(f.ctx, "nope", []store.JobStatus{store.JobScheduled}, store.JobPlanning, at); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("missing job: %v", err)
	}
	// Counters add up under concurrency.
	var wg sync.WaitGroup
	for i := 0; i < 10; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if _, err := f.s.AddJobCounts(f.ctx, "job-1", store.JobCounts{BatchesDone: 1, Devices: 3, Sent: 2, Failed: 1, InvalidTokens: 1}); err != nil {
				t.Error(err)
			}
		}()
	}
	wg.Wait()
	j, err = f.s.AddJobCounts(f.ctx, "job-1", store.JobCounts{Batches: 12, Users: 5000})
	want := store.JobCounts{Users: 5000, Batches: 12, BatchesDone: 10, Devices: 30, Sent: 20, Failed: 10, InvalidTokens: 10}
	if err != nil || j.Counts != want {
		t.Fatalf("counts %+v, want %+v (%v)", j.Counts, want, err)
	}
	if j, err = f.s.FinishPlanning(f.ctx, "job-1"); err != nil || !j.Planned || j.Counts != want {
		t.Fatalf("FinishPlanning: %+v %v", j, err)
	}
	j, err = f.s.SetJobStatus(f.ctx, "job-1", []store.JobStatus{store.JobSending}, store.JobCompleted, f.clock.Now())
	if err != nil || j.CompletedAt == nil || j.Counts != want || !j.Planned {
		t.Fatalf("sending → completed: %+v %v", j, err)
	}
}

func testCheckpoints(t *testing.T, open Factory) {
	f := setup(t, open, 0)
	if cp, err := f.s.GetCheckpoint(f.ctx, "job", 3); err != nil || cp != (store.Checkpoint{}) {
		t.Fatalf("no checkpoint yet: %+v %v", cp, err)
	}
	if err := f.s.SaveCheckpoint(f.ctx, "job", 3, 0, store.Checkpoint{Cursor: "u500", NextBatch: 10}); err != nil {
		t.Fatal(err)
	}
	if err := f.s.SaveCheckpoint(f.ctx, "job", 3, 0, store.Checkpoint{Cursor: "x", NextBatch: 10}); !errors.Is(err, store.ErrConflict) {
		t.Fatalf("a stale planner's save: %v, want ErrConflict", err)
	}
	if err := f.s.SaveCheckpoint(f.ctx, "job", 3, 10, store.Checkpoint{NextBatch: 12, Done: true}); err != nil {
		t.Fatal(err)
	}
	if cp, _ := f.s.GetCheckpoint(f.ctx, "job", 3); cp != (store.Checkpoint{NextBatch: 12, Done: true}) {
		t.Fatalf("checkpoint %+v", cp)
	}
	if cp, _ := f.s.GetCheckpoint(f.ctx, "job", 4); cp != (store.Checkpoint{}) {
		t.Fatalf("another segment's checkpoint: %+v", cp)
	}
	users := []string{"a", "b", "c"}
	if err := f.s.PutJobUsers(f.ctx, "job", 0, users); err != nil {
		t.Fatal(err)
	}
	if got, err := f.s.GetJobUsers(f.ctx, "job", 0); err != nil || fmt.Sprint(got) != fmt.Sprint(users) {
		t.Fatalf("chunk 0: %v %v", got, err)
	}
	if got, err := f.s.GetJobUsers(f.ctx, "job", 1); err != nil || got != nil {
		t.Fatalf("past the last chunk: %v %v", got, err)
	}
}

func testTags(t *testing.T, open Factory) {
	f := setup(t, open, 0)
	f.mustUpload(upload("alice", "d1", fcmCert, fcmToken(1)))
	tags, err := f.s.UpdateTags(f.ctx, "alice", []string{"vip", "beta", "trial"}, nil)
	if err != nil || fmt.Sprint(tags) != "[beta trial vip]" {
		t.Fatalf("add: %v %v", tags, err)
	}
	tags, err = f.s.UpdateTags(f.ctx, "alice", []string{"vip"}, []string{"trial", "never-had"})
	if err != nil || fmt.Sprint(tags) != "[beta vip]" {
		t.Fatalf("add and remove: %v %v", tags, err)
	}
	// A user without devices can be tagged; their devices are untouched.
	if _, err := f.s.UpdateTags(f.ctx, "bob", []string{"vip", "a#b c"}, nil); err != nil {
		t.Fatal(err)
	}
	if len(f.devices("alice")) != 1 {
		t.Fatal("tagging lost alice's device")
	}
	u, err := f.s.GetUser(f.ctx, "alice")
	if err != nil || fmt.Sprint(u.Tags) != "[beta vip]" {
		t.Fatalf("GetUser tags: %v %v", u.Tags, err)
	}
	ids, next, err := f.s.IndexUserIDs(f.ctx, store.TagKey("vip"), "", 10)
	if err != nil || fmt.Sprint(ids) != "[alice bob]" || next != "" {
		t.Fatalf("vip members: %v %q %v", ids, next, err)
	}
	if ids, _, _ := f.s.IndexUserIDs(f.ctx, store.TagKey("trial"), "", 10); len(ids) != 0 {
		t.Fatalf("removed tag still indexed: %v", ids)
	}
	if ids, _, _ := f.s.IndexUserIDs(f.ctx, store.TagKey("a#b c"), "", 10); fmt.Sprint(ids) != "[bob]" {
		t.Fatalf("tag with separators: %v", ids)
	}
	// Paging in ascending order.
	for i := 0; i < 7; i++ {
		if _, err := f.s.UpdateTags(f.ctx, fmt.Sprintf("u%d", i), []string{"many"}, nil); err != nil {
			t.Fatal(err)
		}
	}
	var all []string
	after := ""
	for {
		ids, next, err := f.s.IndexUserIDs(f.ctx, store.TagKey("many"), after, 3)
		if err != nil {
			t.Fatal(err)
		}
		all = append(all, ids...)
		if next == "" {
			break
		}
		after = next
	}
	if fmt.Sprint(all) != "[u0 u1 u2 u3 u4 u5 u6]" {
		t.Fatalf("paged index: %v", all)
	}
	// The cap.
	var many []string
	for i := 0; i < store.MaxTags; i++ {
		many = append(many, fmt.Sprintf("t%03d", i))
	}
	if _, err := f.s.UpdateTags(f.ctx, "carol", many, nil); err != nil {
		t.Fatal(err)
	}
	if _, err := f.s.UpdateTags(f.ctx, "carol", []string{"one-more"}, nil); !errors.Is(err, store.ErrLimit) {
		t.Fatalf("101st tag: %v, want ErrLimit", err)
	}
	if u, _ := f.s.GetUser(f.ctx, "carol"); len(u.Tags) != store.MaxTags {
		t.Fatalf("a refused update changed the tags: %d", len(u.Tags))
	}
	if ids, _, _ := f.s.IndexUserIDs(f.ctx, store.TagKey("one-more"), "", 10); len(ids) != 0 {
		t.Fatalf("a refused tag was indexed: %v", ids)
	}
}

func testAttributes(t *testing.T, open Factory) {
	f := setup(t, open, 0)
	sh, bj, gold := "sh", "bj", "gold"
	attrs, err := f.s.UpdateAttributes(f.ctx, "alice", map[string]*string{"city": &sh, "level": &gold})
	if err != nil || attrs["city"] != "sh" || attrs["level"] != "gold" {
		t.Fatalf("set: %v %v", attrs, err)
	}
	if _, err := f.s.UpdateAttributes(f.ctx, "bob", map[string]*string{"city": &sh}); err != nil {
		t.Fatal(err)
	}
	attrs, err = f.s.UpdateAttributes(f.ctx, "alice", map[string]*string{"city": &bj, "level": nil})
	if err != nil || fmt.Sprint(attrs) != "map[city:bj]" {
		t.Fatalf("change and delete: %v %v", attrs, err)
	}
	if ids, _, _ := f.s.IndexUserIDs(f.ctx, store.AttributeKey("city", "sh"), "", 10); fmt.Sprint(ids) != "[bob]" {
		t.Fatalf("city=sh: %v", ids)
	}
	if ids, _, _ := f.s.IndexUserIDs(f.ctx, store.AttributeKey("city", "bj"), "", 10); fmt.Sprint(ids) != "[alice]" {
		t.Fatalf("city=bj: %v", ids)
	}
	if ids, _, _ := f.s.IndexUserIDs(f.ctx, store.AttributeKey("level", "gold"), "", 10); len(ids) != 0 {
		t.Fatalf("deleted attribute still indexed: %v", ids)
	}
	if u, _ := f.s.GetUser(f.ctx, "alice"); fmt.Sprint(u.Attributes) != "map[city:bj]" {
		t.Fatalf("GetUser attributes: %v", u.Attributes)
	}
	// At most MaxAttributeNames names in the deployment (city and level so far).
	v := "x"
	for i := 0; i < store.MaxAttributeNames-2; i++ {
		if _, err := f.s.UpdateAttributes(f.ctx, "carol", map[string]*string{fmt.Sprintf("n%d", i): &v}); err != nil {
			t.Fatalf("name %d: %v", i, err)
		}
	}
	if _, err := f.s.UpdateAttributes(f.ctx, "dave", map[string]*string{"eleventh": &v}); !errors.Is(err, store.ErrLimit) {
		t.Fatalf("11th attribute name: %v, want ErrLimit", err)
	}
	if _, err := f.s.UpdateAttributes(f.ctx, "dave", map[string]*string{"city": &v}); err != nil {
		t.Fatalf("a known name on another user: %v", err)
	}
}

func testScanUserIDs(t *testing.T, open Factory) {
	f := setup(t, open, 0)
	want := map[string]bool{}
	for i := 0; i < 57; i++ {
		id := fmt.Sprintf("user-%02d", i)
		want[id] = true
		if i%2 == 0 {
			f.mustUpload(upload(id, "d", fcmCert, fcmToken(i)))
		} else if _, err := f.s.UpdateTags(f.ctx, id, []string{"t"}, nil); err != nil {
			t.Fatal(err)
		}
	}
	got := map[string]int{}
	const segments = 4
	for seg := 0; seg < segments; seg++ {
		cursor := ""
		for pages := 0; ; pages++ {
			ids, next, err := f.s.ScanUserIDs(f.ctx, seg, segments, cursor, 5)
			if err != nil {
				t.Fatal(err)
			}
			if len(ids) > 5 {
				t.Fatalf("page of %d over the limit", len(ids))
			}
			for _, id := range ids {
				got[id]++
			}
			if next == "" {
				break
			}
			if pages > 100 {
				t.Fatal("scan does not end")
			}
			cursor = next
		}
	}
	if len(got) != len(want) {
		t.Fatalf("scanned %d users, want %d", len(got), len(want))
	}
	for id, n := range got {
		if n != 1 || !want[id] {
			t.Fatalf("%s scanned %d times", id, n)
		}
	}
}
