package delivery

import (
	"context"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/offpush/offpush/shared/cert"
	"github.com/offpush/offpush/shared/device"
	"github.com/offpush/offpush/shared/push"
	"github.com/offpush/offpush/shared/store"
	"github.com/offpush/offpush/shared/store/embedded"
	"github.com/offpush/offpush/shared/store/storetest"
)

// fakeClient answers by token prefix: dead-, busy<N>- (retryable N times),
// quota-, auth-; anything else is sent. It records every target it got.
type fakeClient struct {
	mu     sync.Mutex
	sent   []push.Target
	calls  int
	busy   map[string]int
	before func(token string) // runs before answering a token
}

func (f *fakeClient) Requests(m *push.Message, targets []push.Target) ([]push.Request, []push.Result) {
	results := make([]push.Result, len(targets))
	for i, t := range targets {
		if strings.HasPrefix(t.Token, "huge-") && len(m.Info.Desc) > 10 {
			results[i] = push.Result{Outcome: push.InvalidArgument, Reason: "payload over 4096 bytes"}
		}
	}
	return nil, results
}

func (f *fakeClient) Send(ctx context.Context, m *push.Message, targets []push.Target) []push.Result {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.calls++
	if f.busy == nil {
		f.busy = map[string]int{}
	}
	out := make([]push.Result, len(targets))
	for i, t := range targets {
		if f.before != nil {
			f.before(t.Token)
		}
		f.sent = append(f.sent, t)
		switch {
		case strings.HasPrefix(t.Token, "dead-"):
			out[i] = push.Result{Outcome: push.InvalidToken, Reason: "Unregistered"}
		case strings.HasPrefix(t.Token, "quota-"):
			out[i] = push.Result{Outcome: push.Quota, Reason: "daily limit"}
		case strings.HasPrefix(t.Token, "auth-"):
			out[i] = push.Result{Outcome: push.Auth, Reason: "bad key"}
		case strings.HasPrefix(t.Token, "busy"):
			var n int
			fmt.Sscanf(t.Token, "busy%d-", &n)
			if f.busy[t.Token] < n {
				f.busy[t.Token]++
				out[i] = push.Result{Outcome: push.Retryable, Reason: "503", RetryAfter: 10 * time.Millisecond}
				continue
			}
			fallthrough
		default:
			out[i] = push.Result{Outcome: push.Sent, MessageID: "msg-" + t.Token}
		}
	}
	return out
}

type fakeClients struct{ byCert map[int64]*fakeClient }

func (f fakeClients) For(c cert.Certificate) (push.Client, error) {
	if fc, ok := f.byCert[c.ID]; ok {
		return fc, nil
	}
	return nil, fmt.Errorf("no client for %d", c.ID)
}

type harness struct {
	t       *testing.T
	st      *embedded.Store
	clock   *storetest.Clock
	apns    *fakeClient
	huawei  *fakeClient
	dl      *Deliverer
	slept   []time.Duration
	sleepMu sync.Mutex
}

func newHarness(t *testing.T) *harness {
	h := &harness{t: t, clock: storetest.NewClock(), apns: &fakeClient{}, huawei: &fakeClient{}}
	h.st = embedded.OpenMemory(store.Options{Now: h.clock.Now})
	ctx := context.Background()
	for _, c := range []cert.Certificate{
		{ID: 1, Vendor: device.APNs, Name: "ios", APNs: &cert.APNs{}},
		{ID: 2, Vendor: device.Huawei, Name: "hw", Huawei: &cert.Huawei{}},
	} {
		if _, err := h.st.CreateCertificate(ctx, c); err != nil {
			t.Fatal(err)
		}
	}
	h.dl = New(Config{Store: h.st, Clients: fakeClients{map[int64]*fakeClient{1: h.apns, 2: h.huawei}}, Now: h.clock.Now,
		Retry: Retry{Base: 100 * time.Millisecond}, Log: slog.New(slog.DiscardHandler)})
	h.dl.sleep = func(ctx context.Context, d time.Duration) error {
		h.sleepMu.Lock()
		h.slept = append(h.slept, d)
		h.sleepMu.Unlock()
		return nil
	}
	return h
}

// device uploads a device; iOS tokens are made hex by the store's rules, so
// APNs devices use hex tokens with the behaviour in a side table.
func (h *harness) upload(user, dev string, certID int64, token string) {
	h.t.Helper()
	p := device.Android
	if certID == 1 {
		p = device.IOS
	}
	if _, err := h.st.UpsertDevice(context.Background(), device.Upload{UserID: user, DeviceID: dev, CertificateID: certID, Token: token, Platform: p}); err != nil {
		h.t.Fatal(err)
	}
}

func (h *harness) dev(user, id string) device.Device {
	h.t.Helper()
	devs, _ := h.st.ListDevices(context.Background(), user)
	for _, d := range devs {
		if d.DeviceID == id {
			return d
		}
	}
	h.t.Fatalf("no device %s/%s", user, id)
	return device.Device{}
}

func textMsg() *push.Message {
	return &push.Message{ID: "m1", Type: push.Text, From: "admin", TTL: time.Hour, Info: push.OfflinePushInfo{Desc: "hello"}}
}

func outcomes(resp *Response) map[string]string {
	out := map[string]string{}
	for _, u := range resp.Results {
		for _, d := range u.Devices {
			out[u.UserID+"/"+d.DeviceID] = string(d.Outcome) + ":" + d.Reason
		}
	}
	return out
}

const hexTok = "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"

func TestDeliverDecidesEveryDevice(t *testing.T) {
	h := newHarness(t)
	ctx := context.Background()
	h.upload("alice", "iphone", 1, hexTok)
	h.upload("alice", "huawei", 2, "hw-alice")
	h.upload("bob", "fg", 2, "hw-bob-fg")
	h.st.SetDeviceState(ctx, "bob", "fg", device.StateChange{State: device.Foreground})
	h.upload("bob", "out", 2, "hw-bob-out")
	h.st.ClearDevice(ctx, "bob", "out")
	h.upload("carol", "kicked", 2, "hw-carol")
	h.st.KickDevices(ctx, "carol", "")
	h.upload("dave", "dead", 2, "dead-dave")

	resp, err := h.dl.Deliver(ctx, textMsg(), []string{"alice", "bob", "carol", "dave", "nobody"}, Options{})
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]string{
		"alice/iphone": "sent:", "alice/huawei": "sent:", "bob/fg": "skipped:foreground", "bob/out": "skipped:logged_out",
		"carol/kicked": "skipped:kicked", "dave/dead": "failed:invalid_token",
	}
	if got := outcomes(resp); fmt.Sprint(got) != fmt.Sprint(want) {
		t.Fatalf("outcomes\n got %v\nwant %v", got, want)
	}
	if len(resp.Results) != 5 || resp.Results[4].UserID != "nobody" || len(resp.Results[4].Devices) != 0 {
		t.Fatalf("unknown user not listed with no devices: %+v", resp.Results)
	}
	if s := resp.Summary; s != (Summary{Users: 5, Devices: 6, Sent: 2, Skipped: 3, Failed: 1}) {
		t.Fatalf("summary %+v", s)
	}
	// Exactly one request per pushed device reached the vendors.
	if len(h.apns.sent) != 1 || len(h.huawei.sent) != 2 {
		t.Fatalf("vendor sends: apns %d huawei %d", len(h.apns.sent), len(h.huawei.sent))
	}
	// The dead token is gone, the device stays, invalid, with its last result.
	d := h.dev("dave", "dead")
	if d.Status != device.InvalidToken || d.Token != "" || d.LastResult == nil || d.LastResult.Reason != ReasonInvalidToken {
		t.Fatalf("dead device after the push: %+v", d)
	}
	// And the next push skips it.
	resp, _ = h.dl.Deliver(ctx, textMsg(), []string{"dave"}, Options{})
	if got := outcomes(resp)["dave/dead"]; got != "skipped:invalid_token" {
		t.Fatalf("next push to the dead device: %s", got)
	}
	if r := h.dev("bob", "fg").LastResult; r == nil || r.Outcome != "skipped" || r.Reason != "foreground" {
		t.Fatalf("skipped device's last result: %+v", r)
	}
}

func TestBadge(t *testing.T) {
	h := newHarness(t)
	ctx := context.Background()
	h.upload("alice", "iphone", 1, hexTok)
	three := 3
	h.st.SetDeviceState(ctx, "alice", "iphone", device.StateChange{State: device.Background, UnreadCount: &three})

	if _, err := h.dl.Deliver(ctx, textMsg(), []string{"alice"}, Options{}); err != nil {
		t.Fatal(err)
	}
	if b := h.apns.sent[0].Badge; b == nil || *b != 4 {
		t.Fatalf("badge %v, want 4", b)
	}
	if n := h.dev("alice", "iphone").UnreadCount; n != 4 {
		t.Fatalf("unread %d, want 4", n)
	}
	m := textMsg()
	m.Info.APNsInfo.BadgeMode = 1
	h.dl.Deliver(ctx, m, []string{"alice"}, Options{})
	if b := h.apns.sent[1].Badge; b != nil {
		t.Fatalf("badgeMode 1 set badge %d", *b)
	}
	if n := h.dev("alice", "iphone").UnreadCount; n != 4 {
		t.Fatalf("badgeMode 1 counted: unread %d", n)
	}
}

func TestRetries(t *testing.T) {
	h := newHarness(t)
	ctx, cancel := context.WithTimeout(context.Background(), time.Hour)
	defer cancel()
	h.upload("alice", "p", 2, "busy1-alice")
	h.upload("bob", "p", 2, "busy9-bob")
	resp, err := h.dl.Deliver(ctx, textMsg(), []string{"alice", "bob"}, Options{})
	if err != nil {
		t.Fatal(err)
	}
	got := outcomes(resp)
	if got["alice/p"] != "sent:" || got["bob/p"] != "failed:unavailable" {
		t.Fatalf("outcomes %v", got)
	}
	if users, devices := resp.Retryable(); fmt.Sprint(users) != "[bob]" || fmt.Sprint(devices) != "[bob/p]" {
		t.Fatalf("retryable users %v devices %v, want [bob] [bob/p]", users, devices)
	}
	// Three attempts, two backoffs, each at least the vendor's Retry-After
	// and growing.
	if h.huawei.calls != 3 || len(h.slept) != 2 {
		t.Fatalf("%d sends, %d sleeps", h.huawei.calls, len(h.slept))
	}
	for i, d := range h.slept {
		if d < 10*time.Millisecond || d > 5*time.Second {
			t.Fatalf("backoff %d = %v", i, d)
		}
	}
	// Only the failing device was sent again.
	if n := len(h.huawei.sent); n != 5 {
		t.Fatalf("%d device sends, want 5 (alice twice, bob three times)", n)
	}
}

func TestNoRetryPastTheDeadline(t *testing.T) {
	h := newHarness(t)
	h.upload("bob", "p", 2, "busy9-bob")
	ctx, cancel := context.WithDeadline(context.Background(), h.clock.Now().Add(time.Second)) // under the 2 s reserve
	defer cancel()
	resp, _ := h.dl.Deliver(ctx, textMsg(), []string{"bob"}, Options{})
	if h.huawei.calls != 1 || len(h.slept) != 0 || outcomes(resp)["bob/p"] != "failed:unavailable" {
		t.Fatalf("%d sends and %d sleeps with no time left: %v", h.huawei.calls, len(h.slept), outcomes(resp))
	}
}

func TestCleanupRace(t *testing.T) {
	h := newHarness(t)
	ctx := context.Background()
	h.upload("alice", "p", 2, "dead-old")
	// The app uploads a fresh token while the push to the old one is in flight.
	h.huawei.before = func(token string) {
		if token == "dead-old" {
			h.upload("alice", "p", 2, "fresh-token")
		}
	}
	resp, err := h.dl.Deliver(ctx, textMsg(), []string{"alice"}, Options{})
	if err != nil {
		t.Fatal(err)
	}
	if outcomes(resp)["alice/p"] != "failed:invalid_token" {
		t.Fatalf("outcome %v", outcomes(resp))
	}
	if d := h.dev("alice", "p"); d.Status != device.Active || d.Token != "fresh-token" {
		t.Fatalf("the cleanup removed the fresh token: %+v", d)
	}
}

func TestQuotaSkipsUntilTomorrow(t *testing.T) {
	h := newHarness(t)
	ctx := context.Background()
	h.upload("alice", "p", 2, "quota-alice")
	h.upload("bob", "p", 2, "ok-bob")
	resp, _ := h.dl.Deliver(ctx, textMsg(), []string{"alice"}, Options{})
	if outcomes(resp)["alice/p"] != "failed:quota" {
		t.Fatalf("%v", outcomes(resp))
	}
	resp, _ = h.dl.Deliver(ctx, textMsg(), []string{"bob"}, Options{})
	if outcomes(resp)["bob/p"] != "skipped:quota" || len(h.huawei.sent) != 1 {
		t.Fatalf("after the quota was spent: %v, %d sends", outcomes(resp), len(h.huawei.sent))
	}
	h.clock.Advance(25 * time.Hour)
	fresh := New(Config{Store: h.st, Clients: fakeClients{map[int64]*fakeClient{2: h.huawei}}, Now: h.clock.Now, Log: slog.New(slog.DiscardHandler)})
	resp, _ = fresh.Deliver(ctx, textMsg(), []string{"bob"}, Options{})
	if outcomes(resp)["bob/p"] != "sent:" {
		t.Fatalf("the next day: %v", outcomes(resp))
	}
}

func TestUnknownCertificate(t *testing.T) {
	h := newHarness(t)
	ctx := context.Background()
	h.upload("alice", "p", 2, "hw")
	if err := h.st.DeleteCertificate(ctx, 2); err != nil {
		t.Fatal(err)
	}
	resp, _ := h.dl.Deliver(ctx, textMsg(), []string{"alice"}, Options{})
	if got := resp.Results[0].Devices[0]; got.Outcome != Failed || got.Reason != ReasonAuth || !strings.Contains(got.Detail, "not registered") {
		t.Fatalf("device of a deleted certificate: %+v", got)
	}
}

func TestOnlyLimitsTheDevices(t *testing.T) {
	h := newHarness(t)
	h.upload("alice", "p", 2, "hw-a")
	h.upload("alice", "q", 2, "hw-b")
	resp, _ := h.dl.Deliver(context.Background(), textMsg(), []string{"alice"}, Options{Only: map[string]bool{"alice/q": true}})
	if len(h.huawei.sent) != 1 || h.huawei.sent[0].Token != "hw-b" || fmt.Sprint(outcomes(resp)) != "map[alice/q:sent:]" {
		t.Fatalf("sent %v, outcomes %v", h.huawei.sent, outcomes(resp))
	}
}

func TestDryRunRecordsNothing(t *testing.T) {
	h := newHarness(t)
	h.upload("alice", "iphone", 1, hexTok)
	m := textMsg()
	m.DryRun = true
	if _, err := h.dl.Deliver(context.Background(), m, []string{"alice"}, Options{}); err != nil {
		t.Fatal(err)
	}
	if d := h.dev("alice", "iphone"); d.UnreadCount != 0 || d.LastResult != nil {
		t.Fatalf("a dry run changed the device: %+v", d)
	}
}

func TestPushIsIdempotent(t *testing.T) {
	h := newHarness(t)
	ctx := context.Background()
	h.upload("alice", "p", 2, "hw-a")
	rnd := uint32(3674128)
	req := Request{From: "admin", To: []string{"alice"}, MsgRandom: &rnd, OfflinePushInfo: push.OfflinePushInfo{Desc: "hi"}}
	first, err := h.dl.Push(ctx, req)
	if err != nil || first.Duplicate {
		t.Fatalf("first: %+v %v", first, err)
	}
	second, err := h.dl.Push(ctx, req)
	if err != nil || !second.Duplicate || second.RequestID != first.RequestID || second.Summary != first.Summary || len(second.Results) != 1 {
		t.Fatalf("second: %+v %v", second, err)
	}
	if len(h.huawei.sent) != 1 {
		t.Fatalf("%d sends for two identical pushes", len(h.huawei.sent))
	}
	// Another msgRandom, or another sender, is a new push.
	other := uint32(1)
	req.MsgRandom = &other
	if r, _ := h.dl.Push(ctx, req); r.Duplicate {
		t.Fatal("another msgRandom was a duplicate")
	}
	// After the window, the same msgRandom sends again.
	h.clock.Advance(DedupWindow + time.Minute)
	req.MsgRandom = &rnd
	if r, _ := h.dl.Push(ctx, req); r.Duplicate {
		t.Fatal("a msgRandom older than the window was a duplicate")
	}
}

func TestConcurrentIdenticalPushesSendOnce(t *testing.T) {
	h := newHarness(t)
	h.dl.sleep = sleepCtx // really wait for the first push
	h.upload("alice", "p", 2, "hw-a")
	release := make(chan struct{})
	h.huawei.before = func(string) { <-release }
	rnd := uint32(7)
	req := Request{From: "admin", To: []string{"alice"}, MsgRandom: &rnd, OfflinePushInfo: push.OfflinePushInfo{Desc: "hi"}}
	var wg sync.WaitGroup
	results := make([]*Response, 2)
	for i := range results {
		wg.Add(1)
		go func() {
			defer wg.Done()
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			r, err := h.dl.Push(ctx, req)
			if err != nil {
				t.Error(err)
			}
			results[i] = r
		}()
	}
	time.Sleep(100 * time.Millisecond)
	close(release)
	wg.Wait()
	if results[0] == nil || results[1] == nil || results[0].Duplicate == results[1].Duplicate {
		t.Fatalf("want one original and one duplicate: %+v %+v", results[0], results[1])
	}
	if len(h.huawei.sent) != 1 {
		t.Fatalf("%d sends for two concurrent identical pushes", len(h.huawei.sent))
	}
}

func TestTestPushIgnoresForeground(t *testing.T) {
	h := newHarness(t)
	ctx := context.Background()
	h.upload("alice", "p", 2, "hw-a")
	h.st.SetDeviceState(ctx, "alice", "p", device.StateChange{State: device.Foreground})
	r, err := h.dl.TestPush(ctx, "alice", "Test", "Can you see this?")
	if err != nil || len(r.Devices) != 1 || r.Devices[0].Outcome != Sent {
		t.Fatalf("test push: %+v %v", r, err)
	}
	if h.dev("alice", "p").UnreadCount != 0 {
		t.Fatal("a test push counted towards the badge")
	}
}

func TestOversizeIsRejectedBeforeSending(t *testing.T) {
	h := newHarness(t)
	ctx := context.Background()
	h.upload("alice", "a", 2, "hw-a")
	h.upload("bob", "b", 2, "huge-b")
	rnd := uint32(42)
	req := Request{From: "admin", To: []string{"alice", "bob"}, MsgRandom: &rnd, OfflinePushInfo: push.OfflinePushInfo{Desc: "a very long description"}}
	_, err := h.dl.Push(ctx, req)
	fe, ok := err.(*device.FieldError)
	if !ok || fe.Field != "offlinePushInfo" || !strings.Contains(fe.Message, "4096") {
		t.Fatalf("error %v, want a field error naming offlinePushInfo", err)
	}
	if len(h.huawei.sent) != 0 {
		t.Fatalf("%d sends before the rejection", len(h.huawei.sent))
	}
	// The corrected request may reuse the msgRandom.
	req.OfflinePushInfo.Desc = "short"
	resp, err := h.dl.Push(ctx, req)
	if err != nil || resp.Duplicate || resp.Summary.Sent != 2 {
		t.Fatalf("corrected push: %+v %v", resp, err)
	}
}
