package meizu

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
	testAppID  = "100999"
	testSecret = "mz-app-secret"
)

func testCert() cert.Certificate {
	return cert.Certificate{
		ID:          10002,
		Vendor:      device.Meizu,
		Name:        "meizu-prod",
		Meizu:       &cert.Meizu{AppID: testAppID, AppSecret: testSecret},
		ClickAction: cert.ClickAction{Type: cert.ClickOpenApp},
	}
}

func testMessage() *push.Message {
	return &push.Message{
		ID:           "msg-0001",
		Type:         push.Text,
		From:         "alice",
		FromNickname: "Alice",
		Info: push.OfflinePushInfo{
			Desc:        "You have a new message",
			Ext:         `{"conversationID":"c2c_alice"}`,
			AndroidInfo: push.AndroidInfo{MeizuNoticeMsgType: NoticePrivate},
		},
		TTL: 24 * time.Hour,
	}
}

// base is what Build makes of testMessage and testCert.
func base() MessageJSON {
	return MessageJSON{
		NoticeBarInfo: NoticeBarInfo{NoticeMsgType: NoticePrivate, Title: "Alice", Content: "You have a new message"},
		ClickTypeInfo: ClickTypeInfo{ClickType: ClickApp, Parameters: map[string]string{"ext": `{"conversationID":"c2c_alice"}`}},
		PushTimeInfo:  PushTimeInfo{OffLine: 1, ValidTime: 24},
		AdvanceInfo: AdvanceInfo{
			Suspend:          1,
			ClearNoticeBar:   1,
			NotificationType: NotificationType{Vibrate: 1, Lights: 1, Sound: 1},
			NotifyKey:        NotifyKey("msg-0001"),
		},
	}
}

// TestSignDocumentExample checks Sign against the worked example in Meizu's
// API document.
func TestSignDocumentExample(t *testing.T) {
	params := map[string]string{
		"appId":       "10000",
		"pushIds":     "RA50c6348036344485d01776773577c64740465480a6b",
		"messageJson": `{"title":"title","content":"content","pushTimeInfo":{"offLine":1,"validTime":24}}`,
		"sign":        "ignored",
	}
	if got, want := Sign(params, "<APP_SECRET>"), "ac076ff25d9900015a681cb5172aa53b"; got != want {
		t.Errorf("Sign = %s, want %s", got, want)
	}
}

func TestBuild(t *testing.T) {
	tests := []struct {
		name string
		msg  func(*push.Message)
		cert func(*cert.Certificate)
		want func(*MessageJSON)
	}{
		{name: "defaults"},
		{
			name: "given title",
			msg:  func(m *push.Message) { m.Info.Title = "Team chat" },
			want: func(w *MessageJSON) { w.NoticeBarInfo.Title = "Team chat" },
		},
		{
			name: "sender ID when no title and no nickname",
			msg:  func(m *push.Message) { m.FromNickname = "" },
			want: func(w *MessageJSON) { w.NoticeBarInfo.Title = "alice" },
		},
		{
			name: "public notice type from androidInfo",
			msg:  func(m *push.Message) { m.Info.AndroidInfo.MeizuNoticeMsgType = NoticePublic },
			want: func(w *MessageJSON) { w.NoticeBarInfo.NoticeMsgType = NoticePublic },
		},
		{
			name: "no ext: no parameters",
			msg:  func(m *push.Message) { m.Info.Ext = "" },
			want: func(w *MessageJSON) { w.ClickTypeInfo.Parameters = nil },
		},
		{
			name: "sound off",
			msg:  func(m *push.Message) { m.Info.AndroidInfo.Sound = push.SoundNone },
			want: func(w *MessageJSON) { w.AdvanceInfo.NotificationType.Sound = 0 },
		},
		{
			name: "custom sound keeps the default sound",
			msg:  func(m *push.Message) { m.Info.AndroidInfo.Sound = "ring" },
		},
		{
			name: "validTime rounds up to whole hours",
			msg:  func(m *push.Message) { m.TTL = 90 * time.Minute },
			want: func(w *MessageJSON) { w.PushTimeInfo.ValidTime = 2 },
		},
		{
			name: "validTime at least one hour",
			msg:  func(m *push.Message) { m.TTL = time.Second },
			want: func(w *MessageJSON) { w.PushTimeInfo.ValidTime = 1 },
		},
		{
			name: "validTime clamped to 72 hours",
			msg:  func(m *push.Message) { m.TTL = push.MaxTTL },
			want: func(w *MessageJSON) { w.PushTimeInfo.ValidTime = 72 },
		},
		{
			name: "no TTL gives Meizu's default",
			msg:  func(m *push.Message) { m.TTL = 0 },
			want: func(w *MessageJSON) { w.PushTimeInfo.ValidTime = 24 },
		},
		{
			name: "no message ID: no notifyKey",
			msg:  func(m *push.Message) { m.ID = "" },
			want: func(w *MessageJSON) { w.AdvanceInfo.NotifyKey = "" },
		},
		{
			name: "openUrl",
			cert: func(c *cert.Certificate) {
				c.ClickAction = cert.ClickAction{Type: cert.ClickOpenURL, URL: "https://example.com/chat"}
			},
			want: func(w *MessageJSON) {
				w.ClickTypeInfo.ClickType, w.ClickTypeInfo.URL = ClickURI, "https://example.com/chat"
			},
		},
		{
			name: "openPage with an activity",
			cert: func(c *cert.Certificate) {
				c.ClickAction = cert.ClickAction{Type: cert.ClickOpenPage, Activity: "com.example.chat.ChatActivity"}
			},
			want: func(w *MessageJSON) {
				w.ClickTypeInfo.ClickType, w.ClickTypeInfo.Activity = ClickActivity, "com.example.chat.ChatActivity"
			},
		},
		{
			name: "openPage with only an intent",
			cert: func(c *cert.Certificate) {
				c.ClickAction = cert.ClickAction{Type: cert.ClickOpenPage, Intent: "example://chat/open"}
			},
			want: func(w *MessageJSON) { w.ClickTypeInfo.ClickType, w.ClickTypeInfo.URL = ClickURI, "example://chat/open" },
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
			name: "title of 32 characters fits",
			msg:  func(m *push.Message) { m.Info.Title = strings.Repeat("标", 32) },
			want: func(w *MessageJSON) { w.NoticeBarInfo.Title = strings.Repeat("标", 32) },
		},
		{
			name: "content of 100 characters fits",
			msg:  func(m *push.Message) { m.Info.Desc = strings.Repeat("内", 100) },
			want: func(w *MessageJSON) { w.NoticeBarInfo.Content = strings.Repeat("内", 100) },
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
			if got.ClickTypeInfo.ClickType == 3 {
				t.Error("clickType 3 is deprecated and must never be sent")
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
		{"title of 33 characters", func(m *push.Message) { m.Info.Title = strings.Repeat("标", 33) }, "title: 33 characters"},
		{"no title source", func(m *push.Message) { m.FromNickname, m.From = "", "" }, "title: required"},
		{"content of 101 characters", func(m *push.Message) { m.Info.Desc = strings.Repeat("c", 101) }, "content: 101 characters"},
		{"empty content", func(m *push.Message) { m.Info.Desc = "" }, "content: required"},
		{"blank content", func(m *push.Message) { m.Info.Desc = "  " }, "content: required"},
		{"unknown notice type", func(m *push.Message) { m.Info.AndroidInfo.MeizuNoticeMsgType = 2 }, "meizuNoticeMsgType"},
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
	t.Run("unknown click action", func(t *testing.T) {
		c := testCert()
		c.ClickAction.Type = "openSomething"
		if _, err := Build(testMessage(), c); err == nil {
			t.Fatal("Build accepted an unknown click action")
		}
	})
}

func TestNotifyKey(t *testing.T) {
	k := NotifyKey("msg-0001")
	if len(k) != 8 || k != NotifyKey("msg-0001") || k == NotifyKey("msg-0002") {
		t.Errorf("NotifyKey %q: want 8 deterministic characters, different per message", k)
	}
	if NotifyKey("") != "" {
		t.Error("empty ID should give no notifyKey")
	}
}

func TestEncode(t *testing.T) {
	c := testCert()
	c.ClickAction = cert.ClickAction{Type: cert.ClickOpenURL, URL: "https://example.com/chat?a=1&b=2"}
	msg, err := Build(testMessage(), c)
	if err != nil {
		t.Fatal(err)
	}
	js, err := msg.Encode()
	if err != nil {
		t.Fatal(err)
	}
	want := `{"noticeBarInfo":{"noticeMsgType":1,"noticeBarType":0,"title":"Alice","content":"You have a new message"},` +
		`"clickTypeInfo":{"clickType":2,"url":"https://example.com/chat?a=1&b=2","parameters":{"ext":"{\"conversationID\":\"c2c_alice\"}"}},` +
		`"pushTimeInfo":{"offLine":1,"validTime":24},` +
		`"advanceInfo":{"suspend":1,"clearNoticeBar":1,"notificationType":{"vibrate":1,"lights":1,"sound":1},"notifyKey":"` + NotifyKey("msg-0001") + `"}}`
	if string(js) != want {
		t.Errorf("messageJson:\n got %s\nwant %s", js, want)
	}
}

// TestBody checks the form: four parameters, the sign over the exact
// messageJson bytes that are sent.
func TestBody(t *testing.T) {
	js := []byte(`{"noticeBarInfo":{"title":"标题 & more","content":"c"}}`)
	f, err := url.ParseQuery(string(Body(testAppID, testSecret, []string{"p1", "p2"}, js)))
	if err != nil {
		t.Fatal(err)
	}
	if len(f) != 4 || f.Get("appId") != testAppID || f.Get("pushIds") != "p1,p2" || f.Get("messageJson") != string(js) {
		t.Fatalf("form %v", f)
	}
	want := Sign(map[string]string{"appId": testAppID, "pushIds": "p1,p2", "messageJson": string(js)}, testSecret)
	if f.Get("sign") != want {
		t.Errorf("sign %s, want %s", f.Get("sign"), want)
	}
}

// TestGolden pins one whole request body byte for byte. Run with -update to
// rewrite testdata/golden-request.txt after a deliberate change.
func TestGolden(t *testing.T) {
	m := testMessage()
	c := testCert()
	c.ClickAction = cert.ClickAction{Type: cert.ClickOpenPage, Activity: "com.example.chat.ChatActivity"}
	cl := newTestClient(t, c, "")
	reqs, results := cl.Requests(m, []push.Target{{Token: "J0476035d625e6c64567f71487e040e7d017f0558675b"}, {Token: "RA50c6348036344485d01776773577c64740465480a6b"}})
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

// BenchmarkBuild measures building one request's body: the mapping, the
// messageJson encoding, the sign and the form, for one pushId and for a full
// batch.
func BenchmarkBuild(b *testing.B) {
	m, c := testMessage(), testCert()
	run := func(b *testing.B, ids []string) {
		b.ReportAllocs()
		for b.Loop() {
			msg, err := Build(m, c)
			if err != nil {
				b.Fatal(err)
			}
			js, err := msg.Encode()
			if err != nil {
				b.Fatal(err)
			}
			_ = Body(testAppID, testSecret, ids, js)
		}
	}
	b.Run("1-target", func(b *testing.B) { run(b, []string{"J0476035d625e6c64567f71487e040e7d017f0558675b"}) })
	b.Run("100-targets", func(b *testing.B) {
		ids := make([]string, MaxPushIDs)
		for i := range ids {
			ids[i] = "J0476035d625e6c64567f71487e040e7d017f0558" + strings.Repeat("x", i%7)
		}
		run(b, ids)
	})
}
