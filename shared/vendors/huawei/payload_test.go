package huawei

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
	testAppID  = "10086"
	testSecret = "s3cr3t/+="
	badgeClass = "com.example.chat.MainActivity"
	pageIntent = "intent://com.example.chat/message?#Intent;scheme=tencent_im_push;launchFlags=0x4000000;end"
)

func testCert() cert.Certificate {
	return cert.Certificate{
		ID: 10001, Vendor: device.Huawei, Name: "huawei-prod",
		Huawei:      &cert.Huawei{AppID: testAppID, AppSecret: testSecret},
		ClickAction: cert.ClickAction{Type: cert.ClickOpenApp},
		BadgeClass:  badgeClass, DefaultChannelID: "chat",
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
	tests := []struct {
		name  string
		edit  func(m *push.Message, c *cert.Certificate)
		check func(t *testing.T, r *SendRequest)
		err   string
	}{
		{name: "defaults", check: func(t *testing.T, r *SendRequest) {
			a := r.Message.Android
			n := a.Notification
			want := AndroidNotification{
				Title: "Alice", Body: "Hello", ChannelID: "chat", DefaultSound: true, Importance: "NORMAL",
				ClickAction: ClickAction{Type: ClickOpenApp}, Badge: &Badge{AddNum: 1, Class: badgeClass},
				NotifyID: notifyID("msg-1"),
			}
			if !reflect.DeepEqual(n, want) {
				t.Errorf("notification = %+v, want %+v", n, want)
			}
			if a.Category != "IM" || a.Urgency != "" || a.TTL != "86400s" || a.BiTag != "msg-1" {
				t.Errorf("android = %+v", a)
			}
			if r.Message.Data != `{"ext":"{\"conversationID\":\"c2c_alice\"}"}` {
				t.Errorf("data = %s", r.Message.Data)
			}
			if r.ValidateOnly {
				t.Error("validate_only set")
			}
		}},
		{name: "title falls back to the sender ID", edit: func(m *push.Message, _ *cert.Certificate) { m.FromNickname = "" },
			check: func(t *testing.T, r *SendRequest) { eq(t, r.Message.Android.Notification.Title, "alice") }},
		{name: "title given", edit: func(m *push.Message, _ *cert.Certificate) { m.Info.Title = "News" },
			check: func(t *testing.T, r *SendRequest) { eq(t, r.Message.Android.Notification.Title, "News") }},
		{name: "no title at all", edit: func(m *push.Message, _ *cert.Certificate) { m.From, m.FromNickname = "", "" }, err: "title"},
		{name: "no body", edit: func(m *push.Message, _ *cert.Certificate) { m.Info.Desc = "" }, err: "desc"},
		{name: "channel from androidInfo", edit: func(m *push.Message, _ *cert.Certificate) { m.Info.AndroidInfo.HuaweiChannelID = "vip" },
			check: func(t *testing.T, r *SendRequest) { eq(t, r.Message.Android.Notification.ChannelID, "vip") }},
		{name: "no channel anywhere", edit: func(_ *push.Message, c *cert.Certificate) { c.DefaultChannelID = "" },
			check: func(t *testing.T, r *SendRequest) { eq(t, r.Message.Android.Notification.ChannelID, "") }},
		{name: "category from androidInfo", edit: func(m *push.Message, _ *cert.Certificate) { m.Info.AndroidInfo.HuaweiCategory = "WORK" },
			check: func(t *testing.T, r *SendRequest) { eq(t, r.Message.Android.Category, "WORK") }},
		{name: "unknown category", edit: func(m *push.Message, _ *cert.Certificate) { m.Info.AndroidInfo.HuaweiCategory = "CHAT" }, err: "huaweiCategory"},
		{name: "call is VOIP and urgent", edit: func(m *push.Message, _ *cert.Certificate) {
			m.Type = push.Call
			m.Info.AndroidInfo.HuaweiCategory = "WORK"
		}, check: func(t *testing.T, r *SendRequest) {
			eq(t, r.Message.Android.Category, "VOIP")
			eq(t, r.Message.Android.Urgency, "HIGH")
		}},
		{name: "importance LOW", edit: func(m *push.Message, _ *cert.Certificate) { m.Info.AndroidInfo.HuaweiImportance = "LOW" },
			check: func(t *testing.T, r *SendRequest) { eq(t, r.Message.Android.Notification.Importance, "LOW") }},
		{name: "bad importance", edit: func(m *push.Message, _ *cert.Certificate) { m.Info.AndroidInfo.HuaweiImportance = "URGENT" }, err: "huaweiImportance"},
		{name: "no badge when not counted", edit: func(m *push.Message, _ *cert.Certificate) { m.Info.APNsInfo.BadgeMode = 1 },
			check: func(t *testing.T, r *SendRequest) { isNil(t, r.Message.Android.Notification.Badge) }},
		{name: "no badge without a badge class", edit: func(_ *push.Message, c *cert.Certificate) { c.BadgeClass = "" },
			check: func(t *testing.T, r *SendRequest) { isNil(t, r.Message.Android.Notification.Badge) }},
		{name: "ttl clamped to 15 days", edit: func(m *push.Message, _ *cert.Certificate) { m.TTL = 30 * 24 * time.Hour },
			check: func(t *testing.T, r *SendRequest) { eq(t, r.Message.Android.TTL, "1296000s") }},
		{name: "ttl rounded up", edit: func(m *push.Message, _ *cert.Certificate) { m.TTL = 1500 * time.Millisecond },
			check: func(t *testing.T, r *SendRequest) { eq(t, r.Message.Android.TTL, "2s") }},
		{name: "no ttl", edit: func(m *push.Message, _ *cert.Certificate) { m.TTL = 0 },
			check: func(t *testing.T, r *SendRequest) { eq(t, r.Message.Android.TTL, "") }},
		{name: "open url", edit: func(_ *push.Message, c *cert.Certificate) {
			c.ClickAction = cert.ClickAction{Type: cert.ClickOpenURL, URL: "https://example.com/a"}
		}, check: func(t *testing.T, r *SendRequest) {
			want := ClickAction{Type: ClickURL, URL: "https://example.com/a"}
			if got := r.Message.Android.Notification.ClickAction; got != want {
				t.Errorf("click_action = %+v, want %+v", got, want)
			}
		}},
		{name: "open page by intent, ext as data", edit: func(_ *push.Message, c *cert.Certificate) {
			c.ClickAction = cert.ClickAction{Type: cert.ClickOpenPage, Intent: pageIntent}
		}, check: func(t *testing.T, r *SendRequest) {
			eq(t, r.Message.Android.Notification.ClickAction.Intent, pageIntent)
			eq(t, r.Message.Data, `{"ext":"{\"conversationID\":\"c2c_alice\"}"}`)
		}},
		{name: "ext as intent parameter", edit: func(m *push.Message, c *cert.Certificate) {
			c.ClickAction = cert.ClickAction{Type: cert.ClickOpenPage, Intent: pageIntent}
			m.Info.AndroidInfo.ExtAsHuaweiIntentParam = 1
		}, check: func(t *testing.T, r *SendRequest) {
			want := strings.TrimSuffix(pageIntent, "end") + "S.ext=%7B%22conversationID%22%3A%22c2c_alice%22%7D;end"
			eq(t, r.Message.Android.Notification.ClickAction.Intent, want)
			eq(t, r.Message.Data, "")
		}},
		{name: "ext as intent parameter without an intent falls back to data", edit: func(m *push.Message, _ *cert.Certificate) {
			m.Info.AndroidInfo.ExtAsHuaweiIntentParam = 1
		}, check: func(t *testing.T, r *SendRequest) {
			eq(t, r.Message.Data, `{"ext":"{\"conversationID\":\"c2c_alice\"}"}`)
		}},
		{name: "open page by activity only opens the app", edit: func(_ *push.Message, c *cert.Certificate) {
			c.ClickAction = cert.ClickAction{Type: cert.ClickOpenPage, Activity: "com.example.chat.ChatActivity"}
		}, check: func(t *testing.T, r *SendRequest) {
			eq(t, r.Message.Android.Notification.ClickAction.Type, ClickOpenApp)
		}},
		{name: "no ext, no data", edit: func(m *push.Message, _ *cert.Certificate) { m.Info.Ext = "" },
			check: func(t *testing.T, r *SendRequest) { eq(t, r.Message.Data, "") }},
		{name: "custom sound", edit: func(m *push.Message, _ *cert.Certificate) { m.Info.AndroidInfo.Sound = "ring.mp3" },
			check: func(t *testing.T, r *SendRequest) {
				eq(t, r.Message.Android.Notification.Sound, "/raw/ring")
				eq(t, r.Message.Android.Notification.DefaultSound, false)
			}},
		{name: "silent is the default sound", edit: func(m *push.Message, _ *cert.Certificate) { m.Info.AndroidInfo.Sound = push.SoundNone },
			check: func(t *testing.T, r *SendRequest) { eq(t, r.Message.Android.Notification.DefaultSound, true) }},
		{name: "image", edit: func(m *push.Message, _ *cert.Certificate) {
			m.Info.AndroidInfo.HuaweiImage = "https://example.com/i.png"
		},
			check: func(t *testing.T, r *SendRequest) {
				eq(t, r.Message.Android.Notification.Image, "https://example.com/i.png")
			}},
		{name: "image must be https", edit: func(m *push.Message, _ *cert.Certificate) {
			m.Info.AndroidInfo.HuaweiImage = "http://example.com/i.png"
		}, err: "huaweiImage"},
		{name: "dry run validates only", edit: func(m *push.Message, _ *cert.Certificate) { m.DryRun = true },
			check: func(t *testing.T, r *SendRequest) { eq(t, r.ValidateOnly, true) }},
		{name: "no message ID", edit: func(m *push.Message, _ *cert.Certificate) { m.ID = "" },
			check: func(t *testing.T, r *SendRequest) {
				eq(t, r.Message.Android.Notification.NotifyID, 0)
				eq(t, r.Message.Android.BiTag, "")
			}},
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

func TestBuildRequestIsDeterministic(t *testing.T) {
	a, _ := BuildRequest(testMessage(), []string{"t1"}, testCert())
	b, _ := BuildRequest(testMessage(), []string{"t1"}, testCert())
	ab, _ := a.Encode()
	bb, _ := b.Encode()
	if !bytes.Equal(ab, bb) {
		t.Fatalf("two builds differ:\n%s\n%s", ab, bb)
	}
}

func TestURIEncodeMatchesAndroid(t *testing.T) {
	// Values as android.net.Uri.encode renders them.
	for in, want := range map[string]string{
		`{"a":1}`:   "%7B%22a%22%3A1%7D",
		"a b;c=d":   "a%20b%3Bc%3Dd",
		"_-!.~'()*": "_-!.~'()*",
		"会话":        "%E4%BC%9A%E8%AF%9D",
	} {
		if got := uriEncode(in); got != want {
			t.Errorf("uriEncode(%q) = %q, want %q", in, got, want)
		}
	}
	if _, ok := withIntentExtra("https://example.com", "ext", "x"); ok {
		t.Error("a non-intent URI took an extra")
	}
}

func TestSizeLimit(t *testing.T) {
	m := testMessage()
	base, _ := BuildRequest(m, nil, testCert())
	b, _ := base.Encode()
	m.Info.Desc += strings.Repeat("x", MaxBodyBytes-len(b)) // exactly at the limit
	r, _ := BuildRequest(m, nil, testCert())
	if err := r.checkSize(); err != nil {
		t.Fatalf("body of exactly %d bytes refused: %v", MaxBodyBytes, err)
	}
	m.Info.Desc += "x"
	r, _ = BuildRequest(m, []string{strings.Repeat("t", 5000)}, testCert())
	if err := r.checkSize(); err == nil || !strings.Contains(err.Error(), "4097 bytes") {
		t.Fatalf("err = %v, want the 4097-byte body refused", err)
	}
	if len(r.Message.Token) != 1 {
		t.Fatal("checkSize lost the tokens")
	}
}

// TestGolden compares one request byte for byte with
// testdata/golden-send.json (go test -update rewrites it).
func TestGolden(t *testing.T) {
	c := testCert()
	c.ClickAction = cert.ClickAction{Type: cert.ClickOpenPage, Intent: pageIntent}
	m := testMessage()
	m.Info.AndroidInfo.HuaweiImage = "https://example.com/avatar.png"
	cl, err := New(c, &push.Env{})
	if err != nil {
		t.Fatal(err)
	}
	reqs, _ := cl.Requests(m, []push.Target{{Token: "IQAAAACy0hj3AAA4bnhnxBVmXI0xDUDm1"}, {Token: "IQAAAACy0hj3AAA4bnhnxBVmXI0xDUDm2"}})
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
	eq(t, reqs[0].URL, DefaultBaseURL+"/v1/"+testAppID+"/messages:send")
}

// BenchmarkBuild measures building one request's payload (mapping and
// encoding) for one token and for a full batch.
func BenchmarkBuild(b *testing.B) {
	c := testCert()
	m := testMessage()
	for _, n := range []int{1, MaxTokens} {
		tokens := make([]string, n)
		for i := range tokens {
			tokens[i] = strings.Repeat("A", 130) + string(rune('a'+i%26))
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
