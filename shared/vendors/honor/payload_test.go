package honor

import (
	"bytes"
	"encoding/json"
	"errors"
	"flag"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/offpush/offpush/shared/cert"
	"github.com/offpush/offpush/shared/device"
	"github.com/offpush/offpush/shared/push"
)

var update = flag.Bool("update", false, "rewrite testdata/golden-*.json")

const (
	testAppID    = "104412345"
	testClientID = "client-abc"
	testSecret   = "s3cr3t/+="
	badgeClass   = "com.example.chat.MainActivity"
	pageIntent   = "intent://com.example.chat/honorMessage?#Intent;scheme=tencent_im_push;launchFlags=0x4000000;end"
)

func testCert() cert.Certificate {
	return cert.Certificate{
		ID: 10002, Vendor: device.Honor, Name: "honor-prod",
		Honor:       &cert.Honor{AppID: testAppID, ClientID: testClientID, ClientSecret: testSecret},
		ClickAction: cert.ClickAction{Type: cert.ClickOpenApp},
		BadgeClass:  badgeClass,
	}
}

func testMessage() *push.Message {
	return &push.Message{
		ID: "msg-1", Type: push.Text, From: "alice", FromNickname: "Alice",
		Info: push.OfflinePushInfo{Desc: "Hello", Ext: `{"conversationID":"c2c_alice"}`},
		TTL:  24 * time.Hour,
	}
}

func TestBuildRequest(t *testing.T) {
	const extData = `{"ext":"{\"conversationID\":\"c2c_alice\"}"}`
	tests := []struct {
		name  string
		edit  func(m *push.Message, c *cert.Certificate)
		check func(t *testing.T, r *SendRequest)
		err   string
	}{
		{name: "defaults", check: func(t *testing.T, r *SendRequest) {
			want := AndroidNotification{
				Title: "Alice", Body: "Hello", Importance: "NORMAL",
				ClickAction: ClickAction{Type: ClickOpenApp}, Badge: &Badge{AddNum: 1, BadgeClass: badgeClass},
				NotifyID: notifyID("msg-1"),
			}
			if n := r.Android.Notification; !reflect.DeepEqual(n, want) {
				t.Errorf("notification = %+v, want %+v", n, want)
			}
			eq(t, r.Android.TTL, "86400s")
			eq(t, r.Android.BiTag, "msg-1")
			eq(t, r.Data, extData)
		}},
		{name: "title falls back to the sender ID", edit: func(m *push.Message, _ *cert.Certificate) { m.FromNickname = "" },
			check: func(t *testing.T, r *SendRequest) { eq(t, r.Android.Notification.Title, "alice") }},
		{name: "no title at all", edit: func(m *push.Message, _ *cert.Certificate) { m.From, m.FromNickname = "", "" }, err: "title"},
		{name: "no body", edit: func(m *push.Message, _ *cert.Certificate) { m.Info.Desc = "" }, err: "desc"},
		{name: "importance LOW", edit: func(m *push.Message, _ *cert.Certificate) { m.Info.AndroidInfo.HonorImportance = "LOW" },
			check: func(t *testing.T, r *SendRequest) { eq(t, r.Android.Notification.Importance, "LOW") }},
		{name: "Huawei importance does not leak", edit: func(m *push.Message, _ *cert.Certificate) { m.Info.AndroidInfo.HuaweiImportance = "LOW" },
			check: func(t *testing.T, r *SendRequest) { eq(t, r.Android.Notification.Importance, "NORMAL") }},
		{name: "bad importance", edit: func(m *push.Message, _ *cert.Certificate) { m.Info.AndroidInfo.HonorImportance = "HIGH" }, err: "honorImportance"},
		{name: "image", edit: func(m *push.Message, _ *cert.Certificate) {
			m.Info.AndroidInfo.HonorImage = "https://example.com/i.png"
		},
			check: func(t *testing.T, r *SendRequest) { eq(t, r.Android.Notification.Image, "https://example.com/i.png") }},
		{name: "image must be https", edit: func(m *push.Message, _ *cert.Certificate) { m.Info.AndroidInfo.HonorImage = "http://x/i.png" }, err: "honorImage"},
		{name: "no badge when not counted", edit: func(m *push.Message, _ *cert.Certificate) { m.Info.APNsInfo.BadgeMode = 1 },
			check: func(t *testing.T, r *SendRequest) { isNil(t, r.Android.Notification.Badge) }},
		{name: "no badge without a badge class", edit: func(_ *push.Message, c *cert.Certificate) { c.BadgeClass = "" },
			check: func(t *testing.T, r *SendRequest) { isNil(t, r.Android.Notification.Badge) }},
		{name: "ttl clamped", edit: func(m *push.Message, _ *cert.Certificate) { m.TTL = push.MaxTTL * 3 },
			check: func(t *testing.T, r *SendRequest) { eq(t, r.Android.TTL, "1296000s") }},
		{name: "no ttl", edit: func(m *push.Message, _ *cert.Certificate) { m.TTL = 0 },
			check: func(t *testing.T, r *SendRequest) { eq(t, r.Android.TTL, "") }},
		{name: "open url", edit: func(_ *push.Message, c *cert.Certificate) {
			c.ClickAction = cert.ClickAction{Type: cert.ClickOpenURL, URL: "https://example.com/a"}
		}, check: func(t *testing.T, r *SendRequest) {
			eq(t, r.Android.Notification.ClickAction, ClickAction{Type: ClickURL, URL: "https://example.com/a"})
		}},
		{name: "open page", edit: func(_ *push.Message, c *cert.Certificate) {
			c.ClickAction = cert.ClickAction{Type: cert.ClickOpenPage, Intent: pageIntent}
		}, check: func(t *testing.T, r *SendRequest) {
			eq(t, r.Android.Notification.ClickAction, ClickAction{Type: ClickIntent, Intent: pageIntent})
			eq(t, r.Data, extData)
		}},
		{name: "open page by activity opens the app", edit: func(_ *push.Message, c *cert.Certificate) {
			c.ClickAction = cert.ClickAction{Type: cert.ClickOpenPage, Activity: "com.example.chat.ChatActivity"}
		}, check: func(t *testing.T, r *SendRequest) { eq(t, r.Android.Notification.ClickAction.Type, ClickOpenApp) }},
		{name: "no ext", edit: func(m *push.Message, _ *cert.Certificate) { m.Info.Ext = "" },
			check: func(t *testing.T, r *SendRequest) { eq(t, r.Data, "") }},
		{name: "call is a normal message", edit: func(m *push.Message, _ *cert.Certificate) { m.Type = push.Call },
			check: func(t *testing.T, r *SendRequest) { eq(t, r.Android.Notification.Importance, "NORMAL") }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			m, c := testMessage(), testCert()
			if tt.edit != nil {
				tt.edit(m, &c)
			}
			r, err := BuildRequest(m, []string{"t1"}, c)
			if tt.err != "" {
				var le *LimitError
				if err == nil || !errors.As(err, &le) || !strings.Contains(err.Error(), tt.err) {
					t.Fatalf("err = %v, want a LimitError about %s", err, tt.err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			tt.check(t, r)
		})
	}
}

func TestCamelCaseKeys(t *testing.T) {
	r, _ := BuildRequest(testMessage(), []string{"t1"}, testCert())
	b, _ := r.Encode()
	for _, key := range []string{`"clickAction"`, `"addNum"`, `"badgeClass"`, `"notifyId"`, `"biTag"`} {
		if !bytes.Contains(b, []byte(key)) {
			t.Errorf("body lacks %s: %s", key, b)
		}
	}
	for _, key := range []string{`"click_action"`, `"add_num"`, `"class"`, `"notify_id"`, `"bi_tag"`, `"validate_only"`} {
		if bytes.Contains(b, []byte(key)) {
			t.Errorf("body has Huawei key %s: %s", key, b)
		}
	}
}

func TestSizeLimit(t *testing.T) {
	m := testMessage()
	base, _ := BuildRequest(m, nil, testCert())
	b, _ := base.Encode()
	m.Info.Desc += strings.Repeat("x", MaxBodyBytes-len(b))
	r, _ := BuildRequest(m, nil, testCert())
	if err := r.checkSize(); err != nil {
		t.Fatalf("body of exactly %d bytes refused: %v", MaxBodyBytes, err)
	}
	m.Info.Desc += "x"
	r, _ = BuildRequest(m, []string{"t"}, testCert())
	if err := r.checkSize(); err == nil {
		t.Fatal("4097-byte body accepted")
	}
}

// TestGolden compares one request byte for byte with
// testdata/golden-send.json (go test -update rewrites it).
func TestGolden(t *testing.T) {
	c := testCert()
	c.ClickAction = cert.ClickAction{Type: cert.ClickOpenPage, Intent: pageIntent}
	m := testMessage()
	m.Info.AndroidInfo.HonorImage = "https://example.com/avatar.png"
	cl, err := New(c, &push.Env{})
	if err != nil {
		t.Fatal(err)
	}
	reqs, _ := cl.Requests(m, []push.Target{{Token: "BAEAAAAAB.jlyhonortoken1"}, {Token: "BAEAAAAAB.jlyhonortoken2"}})
	if len(reqs) != 1 {
		t.Fatalf("%d requests, want 1", len(reqs))
	}
	got := reqs[0].Payload
	path := filepath.Join("testdata", "golden-send.json")
	if *update {
		if err := os.MkdirAll("testdata", 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, append(got, '\n'), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run go test -update to create it)", err)
	}
	if !bytes.Equal(got, bytes.TrimSuffix(want, []byte("\n"))) {
		t.Errorf("request differs from %s:\n got %s\nwant %s", path, got, want)
	}
	if !json.Valid(got) {
		t.Error("golden request is not JSON")
	}
	eq(t, reqs[0].URL, DefaultBaseURL+"/api/v1/"+testAppID+"/sendMessage")
}

// BenchmarkBuild measures building one request's payload (mapping and
// encoding) for one token and for a full batch.
func BenchmarkBuild(b *testing.B) {
	c := testCert()
	m := testMessage()
	for _, n := range []int{1, MaxTokens} {
		tokens := make([]string, n)
		for i := range tokens {
			tokens[i] = strings.Repeat("B", 130) + string(rune('a'+i%26))
		}
		b.Run(map[int]string{1: "1token", MaxTokens: "1000tokens"}[n], func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				r, err := BuildRequest(m, tokens, c)
				if err != nil {
					b.Fatal(err)
				}
				if _, err := r.Encode(); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

func eq[T comparable](t *testing.T, got, want T) {
	t.Helper()
	if got != want {
		t.Errorf("got %v, want %v", got, want)
	}
}

func isNil(t *testing.T, b *Badge) {
	t.Helper()
	if b != nil {
		t.Errorf("badge = %+v, want none", b)
	}
}
