package fcm

import (
	"bytes"
	"encoding/json"
	"errors"
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"firebase.google.com/go/v4/messaging"

	"github.com/offpush/offpush/shared/cert"
	"github.com/offpush/offpush/shared/device"
	"github.com/offpush/offpush/shared/push"
)

var update = flag.Bool("update", false, "rewrite testdata/golden-*.json")

func testCert() cert.Certificate {
	return cert.Certificate{
		ID: 10001, Vendor: device.FCM, Name: "android",
		FCM:              &cert.FCM{ServiceAccountJSON: "{}"},
		ClickAction:      cert.ClickAction{Type: cert.ClickOpenApp},
		DefaultChannelID: "chat_default",
	}
}

func testMessage() *push.Message {
	return &push.Message{
		ID: "m1", Type: push.Text, From: "alice", FromNickname: "Alice",
		TTL: 24 * time.Hour,
		Info: push.OfflinePushInfo{
			Desc: "You have a new message",
			Ext:  `{"conversationID":"c2c_alice"}`,
		},
	}
}

func intp(n int) *int { return &n }

// wire is the JSON the SDK sends for a message, decoded for comparison.
func wire(t *testing.T, msg *messaging.Message) map[string]any {
	t.Helper()
	b, err := json.Marshal(msg)
	if err != nil {
		t.Fatal(err)
	}
	var v map[string]any
	if err := json.Unmarshal(b, &v); err != nil {
		t.Fatal(err)
	}
	return v
}

func get(v map[string]any, path string) any {
	var cur any = v
	for _, k := range strings.Split(path, ".") {
		m, ok := cur.(map[string]any)
		if !ok {
			return nil
		}
		cur = m[k]
	}
	return cur
}

func TestBuild(t *testing.T) {
	type check map[string]any // JSON path → value; nil means absent
	tests := []struct {
		name   string
		msg    func(*push.Message)
		cert   func(*cert.Certificate)
		target push.Target
		want   check
	}{
		{
			name: "defaults",
			want: check{
				"token":                                   "tok-1",
				"notification.title":                      "Alice",
				"notification.body":                       "You have a new message",
				"notification.image":                      nil,
				"data.ext":                                `{"conversationID":"c2c_alice"}`,
				"android.priority":                        "high",
				"android.ttl":                             "86400s",
				"android.notification.channel_id":         "chat_default",
				"android.notification.sound":              "default",
				"android.notification.click_action":       nil,
				"android.notification.notification_count": nil,
				"apns":    nil,
				"webpush": nil,
			},
		},
		{
			name: "title given wins over nickname",
			msg:  func(m *push.Message) { m.Info.Title = "Team chat" },
			want: check{"notification.title": "Team chat"},
		},
		{
			name: "title falls back to sender ID",
			msg:  func(m *push.Message) { m.FromNickname = "" },
			want: check{"notification.title": "alice"},
		},
		{
			name: "no ext, no data",
			msg:  func(m *push.Message) { m.Info.Ext = "" },
			want: check{"data": nil},
		},
		{
			name: "androidInfo channel wins over certificate default",
			msg:  func(m *push.Message) { m.Info.AndroidInfo.GoogleChannelID = "im" },
			want: check{"android.notification.channel_id": "im"},
		},
		{
			name: "no channel anywhere",
			cert: func(c *cert.Certificate) { c.DefaultChannelID = "" },
			want: check{"android.notification.channel_id": nil},
		},
		{
			name: "normal priority",
			msg:  func(m *push.Message) { m.Info.AndroidInfo.GooglePriority = "NORMAL" },
			want: check{"android.priority": "normal"},
		},
		{
			name: "call is high priority whatever androidInfo says",
			msg: func(m *push.Message) {
				m.Type = push.Call
				m.Info.AndroidInfo.GooglePriority = "normal"
			},
			want: check{"android.priority": "high"},
		},
		{
			name: "custom sound",
			msg:  func(m *push.Message) { m.Info.AndroidInfo.Sound = "ring" },
			want: check{"android.notification.sound": "ring"},
		},
		{
			name: "no sound",
			msg:  func(m *push.Message) { m.Info.AndroidInfo.Sound = push.SoundNone },
			want: check{"android.notification.sound": nil},
		},
		{
			name: "image",
			msg:  func(m *push.Message) { m.Info.AndroidInfo.GoogleImage = "https://cdn.example.com/a.png" },
			want: check{"notification.image": "https://cdn.example.com/a.png"},
		},
		{
			name: "ttl in whole seconds",
			msg:  func(m *push.Message) { m.TTL = 90*time.Second + 500*time.Millisecond },
			want: check{"android.ttl": "90s"},
		},
		{
			name: "ttl 0 is online only",
			msg:  func(m *push.Message) { m.TTL = 0 },
			want: check{"android.ttl": "0s"},
		},
		{
			name: "ttl clamped to 28 days",
			msg:  func(m *push.Message) { m.TTL = 40 * 24 * time.Hour },
			want: check{"android.ttl": "2419200s"},
		},
		{
			name:   "badge",
			target: push.Target{Token: "tok-1", Badge: intp(7)},
			want:   check{"android.notification.notification_count": float64(7)},
		},
		{
			name:   "badge zero is sent",
			target: push.Target{Token: "tok-1", Badge: intp(0)},
			want:   check{"android.notification.notification_count": float64(0)},
		},
		{
			name: "openPage with an intent action",
			cert: func(c *cert.Certificate) {
				c.ClickAction = cert.ClickAction{Type: cert.ClickOpenPage, Intent: "com.example.chat.OPEN_CHAT"}
			},
			want: check{"android.notification.click_action": "com.example.chat.OPEN_CHAT"},
		},
		{
			name: "openPage with an intent URI opens the app",
			cert: func(c *cert.Certificate) {
				c.ClickAction = cert.ClickAction{Type: cert.ClickOpenPage, Intent: "intent://chat/detail#Intent;scheme=pushscheme;end"}
			},
			want: check{"android.notification.click_action": nil},
		},
		{
			name: "openPage with an activity opens the app",
			cert: func(c *cert.Certificate) {
				c.ClickAction = cert.ClickAction{Type: cert.ClickOpenPage, Activity: "com.example.chat.ChatActivity"}
			},
			want: check{"android.notification.click_action": nil},
		},
		{
			name: "openUrl opens the app",
			cert: func(c *cert.Certificate) {
				c.ClickAction = cert.ClickAction{Type: cert.ClickOpenURL, URL: "https://example.com"}
			},
			want: check{"android.notification.click_action": nil},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			m := testMessage()
			if tt.msg != nil {
				tt.msg(m)
			}
			c := testCert()
			if tt.cert != nil {
				tt.cert(&c)
			}
			target := tt.target
			if target.Token == "" {
				target.Token = "tok-1"
			}
			msg, err := Build(m, target, c)
			if err != nil {
				t.Fatal(err)
			}
			got := wire(t, msg)
			for path, want := range tt.want {
				if g := get(got, path); g != want {
					t.Errorf("%s = %#v, want %#v", path, g, want)
				}
			}
		})
	}
}

func TestBuildLimits(t *testing.T) {
	tests := []struct {
		name   string
		msg    func(*push.Message)
		target push.Target
		want   string
	}{
		{"payload over 4096 bytes", func(m *push.Message) { m.Info.Ext = strings.Repeat("x", 4000) }, push.Target{Token: "t"}, "limit is 4096"},
		{"bad priority", func(m *push.Message) { m.Info.AndroidInfo.GooglePriority = "urgent" }, push.Target{Token: "t"}, "googlePriority"},
		{"bad image", func(m *push.Message) { m.Info.AndroidInfo.GoogleImage = "cdn/a.png" }, push.Target{Token: "t"}, "googleImage"},
		{"ftp image", func(m *push.Message) { m.Info.AndroidInfo.GoogleImage = "ftp://cdn/a.png" }, push.Target{Token: "t"}, "googleImage"},
		{"empty token", nil, push.Target{}, "empty"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			m := testMessage()
			if tt.msg != nil {
				tt.msg(m)
			}
			_, err := Build(m, tt.target, testCert())
			var le *LimitError
			if !errors.As(err, &le) || !strings.Contains(le.Reason, tt.want) {
				t.Fatalf("Build error = %v, want a LimitError with %q", err, tt.want)
			}
		})
	}
}

// TestPayloadSize checks the per-target size arithmetic against the real
// encoding, around the limit and with and without a badge.
func TestPayloadSize(t *testing.T) {
	for _, ext := range []int{0, 10, 3700} {
		for _, sound := range []string{"", push.SoundNone} {
			for _, channel := range []string{"", "c"} {
				for _, badge := range []*int{nil, intp(0), intp(12345)} {
					m := testMessage()
					m.Info.Ext = strings.Repeat("e", ext)
					m.Info.AndroidInfo.Sound = sound
					c := testCert()
					c.DefaultChannelID = channel
					tpl, err := newTemplate(m, c)
					if err != nil {
						t.Fatal(err)
					}
					msg, size, err := tpl.forTarget(push.Target{Token: "tok", Badge: badge})
					if err != nil {
						t.Fatal(err)
					}
					want, err := payloadSize(msg)
					if err != nil {
						t.Fatal(err)
					}
					if size != want {
						t.Errorf("ext %d sound %q channel %q badge %v: size %d, encoded %d", ext, sound, channel, badge, size, want)
					}
				}
			}
		}
	}
}

// TestPayloadLimitBoundary: exactly 4096 bytes passes, one more fails.
func TestPayloadLimitBoundary(t *testing.T) {
	m := testMessage()
	m.Info.Ext = ""
	tpl, err := newTemplate(m, testCert())
	if err != nil {
		t.Fatal(err)
	}
	// {"data":{"ext":"…"},…} adds len(`"data":{"ext":""},`) plus the ext.
	room := MaxPayloadBytes - tpl.size - len(`"data":{"ext":""},`)
	for _, tc := range []struct {
		n  int
		ok bool
	}{{room, true}, {room + 1, false}} {
		m.Info.Ext = strings.Repeat("x", tc.n)
		_, err := Build(m, push.Target{Token: "t"}, testCert())
		if (err == nil) != tc.ok {
			t.Errorf("ext of %d bytes: err = %v, want ok=%v", tc.n, err, tc.ok)
		}
	}
}

// TestBuildSharesNothingMutable: targets with badges get their own android
// block, so concurrent sends never see another target's count.
func TestBuildSharesNothingMutable(t *testing.T) {
	tpl, err := newTemplate(testMessage(), testCert())
	if err != nil {
		t.Fatal(err)
	}
	a, _, _ := tpl.forTarget(push.Target{Token: "a", Badge: intp(1)})
	b, _, _ := tpl.forTarget(push.Target{Token: "b", Badge: intp(2)})
	c, _, _ := tpl.forTarget(push.Target{Token: "c"})
	if *a.Android.Notification.NotificationCount != 1 || *b.Android.Notification.NotificationCount != 2 || c.Android.Notification.NotificationCount != nil {
		t.Fatal("badge leaked between targets")
	}
	if tpl.notif.NotificationCount != nil {
		t.Fatal("template changed")
	}
}

// TestGoldenRequest compares one request body byte for byte with
// testdata/golden-send.json (go test -update rewrites it). Its shape is
// vendor-apis.md §3's: {"message":{"data","notification","android":{…},
// "token"}}.
func TestGoldenRequest(t *testing.T) {
	c := &Client{cert: testCert(), sendURL: "https://fcm.googleapis.com/v1/projects/p/messages:send", header: map[string]string{}}
	m := testMessage()
	m.Info.AndroidInfo.GoogleImage = "https://cdn.example.com/alice.png"
	m.Info.AndroidInfo.GoogleChannelID = "im_messages"
	reqs, results := c.Requests(m, []push.Target{{Token: "bk3RNwTe3H0:CI2k_HHwgIpoDKCIZvvDMExUdFQ3P1", Badge: intp(3)}})
	if len(reqs) != 1 || results[0].Outcome != "" {
		t.Fatalf("requests %d, results %+v", len(reqs), results)
	}
	got := append(reqs[0].Payload, '\n')
	path := filepath.Join("testdata", "golden-send.json")
	if *update {
		if err := os.WriteFile(path, got, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run go test -update to create it)", err)
	}
	if !bytes.Equal(got, want) {
		t.Errorf("request body differs from %s:\n got %s\nwant %s", path, got, want)
	}
}

// BenchmarkBuild measures building one request's payload: the message and
// the JSON body the SDK encodes for it. "message" builds a push from scratch
// (Build, then encode); "per-target" is what Send spends on each further
// device of the same push: the shared template is built once per Send.
func BenchmarkBuild(b *testing.B) {
	m := testMessage()
	c := testCert()
	target := push.Target{Token: strings.Repeat("t", 163), Badge: intp(3)}
	b.Run("message", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			msg, err := Build(m, target, c)
			if err != nil {
				b.Fatal(err)
			}
			if _, err := json.Marshal(&sendRequest{Message: msg}); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("per-target", func(b *testing.B) {
		tpl, err := newTemplate(m, c)
		if err != nil {
			b.Fatal(err)
		}
		b.ReportAllocs()
		for b.Loop() {
			msg, _, err := tpl.forTarget(target)
			if err != nil {
				b.Fatal(err)
			}
			if _, err := json.Marshal(&sendRequest{Message: msg}); err != nil {
				b.Fatal(err)
			}
		}
	})
}
