package xiaomi

import (
	"bytes"
	"flag"
	"net/url"
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

var update = flag.Bool("update", false, "rewrite the golden files in testdata")

const (
	testSecret  = "xm-app-secret"
	testPackage = "com.example.chat"
)

func testCert() cert.Certificate {
	return cert.Certificate{
		ID:               10001,
		Vendor:           device.Xiaomi,
		Name:             "xiaomi-prod",
		Xiaomi:           &cert.Xiaomi{AppSecret: testSecret, PackageName: testPackage, Region: cert.RegionChina},
		ClickAction:      cert.ClickAction{Type: cert.ClickOpenApp},
		DefaultChannelID: "chat_default",
	}
}

func testMessage() *push.Message {
	return &push.Message{
		ID:           "msg-0001",
		Type:         push.Text,
		From:         "alice",
		FromNickname: "Alice",
		Info: push.OfflinePushInfo{
			Desc: "You have a new message",
			Ext:  `{"conversationID":"c2c_alice"}`,
		},
		TTL: 24 * time.Hour,
	}
}

// base is what Build makes of testMessage and testCert.
func base() Message {
	return Message{
		RestrictedPackageName: testPackage,
		Title:                 "Alice",
		Description:           "You have a new message",
		Payload:               `{"conversationID":"c2c_alice"}`,
		NotifyType:            NotifyDefaultAll,
		NotifyID:              NotifyID("msg-0001"),
		TimeToLive:            86400000,
		Extra: Extra{
			ChannelID:    "chat_default",
			NotifyEffect: EffectLauncher,
			Ext:          `{"conversationID":"c2c_alice"}`,
		},
	}
}

func TestBuild(t *testing.T) {
	tests := []struct {
		name string
		msg  func(*push.Message)
		cert func(*cert.Certificate)
		want func(*Message)
	}{
		{name: "defaults"},
		{
			name: "given title wins over nickname",
			msg:  func(m *push.Message) { m.Info.Title = "Team chat" },
			want: func(w *Message) { w.Title = "Team chat" },
		},
		{
			name: "sender ID when no title and no nickname",
			msg:  func(m *push.Message) { m.FromNickname = "" },
			want: func(w *Message) { w.Title = "alice" },
		},
		{
			name: "no ext: no payload, no extra.ext",
			msg:  func(m *push.Message) { m.Info.Ext = "" },
			want: func(w *Message) { w.Payload, w.Extra.Ext = "", "" },
		},
		{
			name: "androidInfo channel wins over the certificate default",
			msg:  func(m *push.Message) { m.Info.AndroidInfo.XiaomiChannelID = "im_high" },
			want: func(w *Message) { w.Extra.ChannelID = "im_high" },
		},
		{
			name: "no channel anywhere: extra.channel_id left out",
			cert: func(c *cert.Certificate) { c.DefaultChannelID = "" },
			want: func(w *Message) { w.Extra.ChannelID = "" },
		},
		{
			name: "sound default",
			msg:  func(m *push.Message) { m.Info.AndroidInfo.Sound = "default" },
		},
		{
			name: "sound none keeps vibration and lights",
			msg:  func(m *push.Message) { m.Info.AndroidInfo.Sound = push.SoundNone },
			want: func(w *Message) { w.NotifyType = NotifyVibrate | NotifyLights },
		},
		{
			name: "custom sound from res/raw, extension dropped",
			msg:  func(m *push.Message) { m.Info.AndroidInfo.Sound = "ring.mp3" },
			want: func(w *Message) {
				w.NotifyType = NotifyVibrate | NotifyLights
				w.Extra.SoundURI = "android.resource://com.example.chat/raw/ring"
			},
		},
		{
			name: "TTL in milliseconds",
			msg:  func(m *push.Message) { m.TTL = 90 * time.Second },
			want: func(w *Message) { w.TimeToLive = 90000 },
		},
		{
			name: "TTL clamped to two weeks",
			msg:  func(m *push.Message) { m.TTL = 30 * 24 * time.Hour },
			want: func(w *Message) { w.TimeToLive = 1209600000 },
		},
		{
			name: "TTL seven days",
			msg:  func(m *push.Message) { m.TTL = push.MaxTTL },
			want: func(w *Message) { w.TimeToLive = 604800000 },
		},
		{
			name: "no TTL leaves Xiaomi's default",
			msg:  func(m *push.Message) { m.TTL = 0 },
			want: func(w *Message) { w.TimeToLive = 0 },
		},
		{
			name: "no message ID: no notify_id",
			msg:  func(m *push.Message) { m.ID = "" },
			want: func(w *Message) { w.NotifyID = -1 },
		},
		{
			name: "openUrl opens the web page",
			cert: func(c *cert.Certificate) {
				c.ClickAction = cert.ClickAction{Type: cert.ClickOpenURL, URL: "https://example.com/chat"}
			},
			want: func(w *Message) { w.Extra.NotifyEffect, w.Extra.WebURI = EffectWeb, "https://example.com/chat" },
		},
		{
			name: "openPage with an intent",
			cert: func(c *cert.Certificate) {
				c.ClickAction = cert.ClickAction{Type: cert.ClickOpenPage, Intent: "intent://chat/open#Intent;scheme=example;end"}
			},
			want: func(w *Message) {
				w.Extra.NotifyEffect, w.Extra.IntentURI = EffectActivity, "intent://chat/open#Intent;scheme=example;end"
			},
		},
		{
			name: "openPage with only an activity",
			cert: func(c *cert.Certificate) {
				c.ClickAction = cert.ClickAction{Type: cert.ClickOpenPage, Activity: "com.example.chat.ChatActivity"}
			},
			want: func(w *Message) {
				w.Extra.NotifyEffect = EffectActivity
				w.Extra.IntentURI = "intent:#Intent;component=com.example.chat/com.example.chat.ChatActivity;end"
			},
		},
		{
			name: "empty click action opens the app",
			cert: func(c *cert.Certificate) { c.ClickAction = cert.ClickAction{} },
		},
		{
			name: "call is sent like any message",
			msg:  func(m *push.Message) { m.Type = push.Call },
		},
		{
			name: "title of 49 characters fits",
			msg:  func(m *push.Message) { m.Info.Title = strings.Repeat("标", 49) },
			want: func(w *Message) { w.Title = strings.Repeat("标", 49) },
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			m, c := testMessage(), testCert()
			if tt.msg != nil {
				tt.msg(m)
			}
			if tt.cert != nil {
				tt.cert(&c)
			}
			want := base()
			if tt.want != nil {
				tt.want(&want)
			}
			got, err := Build(m, c)
			if err != nil {
				t.Fatalf("Build: %v", err)
			}
			if !reflect.DeepEqual(got, want) {
				t.Errorf("Build:\n got %+v\nwant %+v", got, want)
			}
		})
	}
}

func TestBuildLimits(t *testing.T) {
	tests := []struct {
		name   string
		msg    func(*push.Message)
		reason string
	}{
		{"title of 50 characters", func(m *push.Message) { m.Info.Title = strings.Repeat("a", 50) }, "title: 50 characters"},
		{"title counts characters, not bytes", func(m *push.Message) { m.Info.Title = strings.Repeat("标", 50) }, "title: 50 characters"},
		{"blank title", func(m *push.Message) { m.Info.Title, m.FromNickname, m.From = " ", "", "" }, "title: required"},
		{"no title source", func(m *push.Message) { m.FromNickname, m.From = "", "" }, "title: required"},
		{"description of 128 characters", func(m *push.Message) { m.Info.Desc = strings.Repeat("d", 128) }, "description: 128 characters"},
		{"empty description", func(m *push.Message) { m.Info.Desc = "" }, "description: required"},
		{"blank description", func(m *push.Message) { m.Info.Desc = "\t " }, "description: required"},
		{"ext over 1024 characters", func(m *push.Message) { m.Info.Ext = `{"k":"` + strings.Repeat("x", 1020) + `"}` }, "ext: 1028 characters"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			m := testMessage()
			tt.msg(m)
			_, err := Build(m, testCert())
			if err == nil || !strings.Contains(err.Error(), tt.reason) {
				t.Fatalf("Build error = %v, want one containing %q", err, tt.reason)
			}
		})
	}
	t.Run("description of 127 characters fits", func(t *testing.T) {
		m := testMessage()
		m.Info.Desc = strings.Repeat("描", 127)
		if _, err := Build(m, testCert()); err != nil {
			t.Fatal(err)
		}
	})
	t.Run("unknown click action", func(t *testing.T) {
		c := testCert()
		c.ClickAction.Type = "openSomething"
		if _, err := Build(testMessage(), c); err == nil {
			t.Fatal("Build accepted an unknown click action")
		}
	})
	t.Run("no xiaomi credential", func(t *testing.T) {
		c := testCert()
		c.Xiaomi = nil
		if _, err := Build(testMessage(), c); err == nil {
			t.Fatal("Build accepted a certificate without a xiaomi credential")
		}
	})
}

func TestNotifyID(t *testing.T) {
	a, b := NotifyID("msg-0001"), NotifyID("msg-0002")
	if a != NotifyID("msg-0001") {
		t.Error("NotifyID is not deterministic")
	}
	if a == b {
		t.Error("different messages got one notify_id")
	}
	for _, id := range []int64{a, b, NotifyID("x"), NotifyID(strings.Repeat("z", 300))} {
		if id < 0 || id > MaxNotifyID {
			t.Errorf("NotifyID %d outside 0..%d", id, MaxNotifyID)
		}
	}
	if NotifyID("") != -1 {
		t.Error("empty ID should leave notify_id out")
	}
}

func TestForm(t *testing.T) {
	msg, err := Build(testMessage(), testCert())
	if err != nil {
		t.Fatal(err)
	}
	msg.RegistrationID = "r1,r2"
	f := msg.Form()
	want := url.Values{
		"registration_id":         {"r1,r2"},
		"restricted_package_name": {testPackage},
		"pass_through":            {"0"},
		"title":                   {"Alice"},
		"description":             {"You have a new message"},
		"payload":                 {`{"conversationID":"c2c_alice"}`},
		"notify_type":             {"-1"},
		"notify_id":               {"1237381498"},
		"time_to_live":            {"86400000"},
		"extra.channel_id":        {"chat_default"},
		"extra.notify_effect":     {"1"},
		"extra.ext":               {`{"conversationID":"c2c_alice"}`},
	}
	if want.Get("notify_id") != f.Get("notify_id") {
		// The hash is fixed by FNV-1a; keep the table honest if it changes.
		t.Fatalf("notify_id = %s, want %s", f.Get("notify_id"), want.Get("notify_id"))
	}
	if !reflect.DeepEqual(f, want) {
		t.Errorf("Form:\n got %v\nwant %v", f, want)
	}
	if _, ok := f["extra"]; ok {
		t.Error("extra must be flat keys, not one JSON value")
	}
}

// TestGolden pins one whole request body byte for byte. Run with -update to
// rewrite testdata/golden-request.txt after a deliberate change.
func TestGolden(t *testing.T) {
	m := testMessage()
	m.Info.AndroidInfo.XiaomiChannelID = "im_message"
	m.Info.AndroidInfo.Sound = "ring"
	c := testCert()
	c.ClickAction = cert.ClickAction{Type: cert.ClickOpenPage, Intent: "intent://chat/open?id=c2c_alice#Intent;scheme=example;launchFlags=0x4000000;end"}
	cl := newTestClient(t, c, "")
	reqs, results := cl.Requests(m, []push.Target{{Token: "regid-AAAA"}, {Token: "regid-BBBB"}})
	if len(reqs) != 1 || results[0].Outcome != "" || results[1].Outcome != "" {
		t.Fatalf("Requests = %d requests, results %+v", len(reqs), results)
	}
	path := filepath.Join("testdata", "golden-request.txt")
	if *update {
		if err := os.WriteFile(path, reqs[0].Payload, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run go test -update to create it)", err)
	}
	if !bytes.Equal(reqs[0].Payload, want) {
		t.Errorf("request body differs from %s:\n got %s\nwant %s", path, reqs[0].Payload, want)
	}
}

// BenchmarkBuild measures building one request's body: the mapping and the
// form encoding, for one regId and for a full batch.
func BenchmarkBuild(b *testing.B) {
	m, c := testMessage(), testCert()
	b.Run("1-target", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			msg, err := Build(m, c)
			if err != nil {
				b.Fatal(err)
			}
			msg.RegistrationID = "regid-AAAA"
			_ = msg.Body()
		}
	})
	b.Run("1000-targets", func(b *testing.B) {
		ids := make([]string, MaxRegIDs)
		for i := range ids {
			ids[i] = "d//igwEhgBGCI2TG6lWqlC8ZNeTG3VCVGdEJp7kSCJ2VC7J3iT0V0aTgyiKsPIStgUI4NZWSw1vy16BIyhWg" + strings.Repeat("x", i%7)
		}
		b.ReportAllocs()
		for b.Loop() {
			msg, err := Build(m, c)
			if err != nil {
				b.Fatal(err)
			}
			msg.RegistrationID = strings.Join(ids, ",")
			_ = msg.Body()
		}
	})
}
