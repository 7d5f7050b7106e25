package apns

import (
	"bytes"
	"encoding/json"
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

var update = flag.Bool("update", false, "rewrite the golden files in testdata")

func TestNewPayload(t *testing.T) {
	tests := []struct {
		name string
		edit func(m *push.Message)
		tgt  push.Target
		want Payload
	}{
		{
			name: "title, desc, ext, default sound",
			want: Payload{APS: APS{Alert: Alert{Title: "Hi", Body: "You have a new message"}, Sound: "default"}, Ext: `{"conversationID":"c2c_alice"}`},
		},
		{
			name: "apnsInfo title overrides the title",
			edit: func(m *push.Message) { m.Info.APNsInfo.Title = "iOS title" },
			want: Payload{APS: APS{Alert: Alert{Title: "iOS title", Body: "You have a new message"}, Sound: "default"}, Ext: `{"conversationID":"c2c_alice"}`},
		},
		{
			name: "empty title falls back to the nickname",
			edit: func(m *push.Message) { m.Info.Title = "" },
			want: Payload{APS: APS{Alert: Alert{Title: "Alice", Body: "You have a new message"}, Sound: "default"}, Ext: `{"conversationID":"c2c_alice"}`},
		},
		{
			name: "then to the sender ID",
			edit: func(m *push.Message) { m.Info.Title, m.FromNickname, m.Info.Ext = "", "", "" },
			want: Payload{APS: APS{Alert: Alert{Title: "alice", Body: "You have a new message"}, Sound: "default"}},
		},
		{
			name: "subtitle",
			edit: func(m *push.Message) { m.Info.APNsInfo.SubTitle = "in Group" },
			want: Payload{APS: APS{Alert: Alert{Title: "Hi", Subtitle: "in Group", Body: "You have a new message"}, Sound: "default"}, Ext: `{"conversationID":"c2c_alice"}`},
		},
		{
			name: "sound default spelled out",
			edit: func(m *push.Message) { m.Info.APNsInfo.Sound = "default"; m.Info.Ext = "" },
			want: Payload{APS: APS{Alert: Alert{Title: "Hi", Body: "You have a new message"}, Sound: "default"}},
		},
		{
			name: "push.no_sound is silent",
			edit: func(m *push.Message) { m.Info.APNsInfo.Sound = push.SoundNone; m.Info.Ext = "" },
			want: Payload{APS: APS{Alert: Alert{Title: "Hi", Body: "You have a new message"}}},
		},
		{
			name: "a sound file",
			edit: func(m *push.Message) { m.Info.APNsInfo.Sound = "ring.caf"; m.Info.Ext = "" },
			want: Payload{APS: APS{Alert: Alert{Title: "Hi", Body: "You have a new message"}, Sound: "ring.caf"}},
		},
		{
			name: "badge from the target",
			edit: func(m *push.Message) { m.Info.Ext = "" },
			tgt:  push.Target{Token: "ab", Badge: intp(7)},
			want: Payload{APS: APS{Alert: Alert{Title: "Hi", Body: "You have a new message"}, Badge: intp(7), Sound: "default"}},
		},
		{
			name: "badge zero clears",
			edit: func(m *push.Message) { m.Info.Ext = "" },
			tgt:  push.Target{Token: "ab", Badge: intp(0)},
			want: Payload{APS: APS{Alert: Alert{Title: "Hi", Body: "You have a new message"}, Badge: intp(0), Sound: "default"}},
		},
		{
			name: "image sets mutable-content and the image key",
			edit: func(m *push.Message) { m.Info.APNsInfo.Image = "https://img.example.com/a.png"; m.Info.Ext = "" },
			want: Payload{APS: APS{Alert: Alert{Title: "Hi", Body: "You have a new message"}, Sound: "default", MutableContent: 1}, Image: "https://img.example.com/a.png"},
		},
		{
			name: "mutableContent without image",
			edit: func(m *push.Message) { m.Info.APNsInfo.MutableContent = 1; m.Info.Ext = "" },
			want: Payload{APS: APS{Alert: Alert{Title: "Hi", Body: "You have a new message"}, Sound: "default", MutableContent: 1}},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			m := message()
			if tt.edit != nil {
				tt.edit(m)
			}
			got := NewPayload(m, tt.tgt)
			if !reflect.DeepEqual(got, tt.want) {
				t.Errorf("NewPayload =\n%+v\nwant\n%+v", got, tt.want)
			}
			// The hand-written encoder must equal encoding/json, and the
			// per-push template must equal the encoder.
			type plain Payload
			std, err := json.Marshal(plain(got))
			if err != nil {
				t.Fatal(err)
			}
			if enc := got.AppendJSON(nil); !bytes.Equal(enc, std) {
				t.Errorf("AppendJSON =\n%s\nencoding/json =\n%s", enc, std)
			}
			tpl := newTemplate(m, &cert.APNs{BundleID: testBundle})
			if b := tpl.appendPayload(nil, tt.tgt.Badge); !bytes.Equal(b, std) {
				t.Errorf("template =\n%s\nwant\n%s", b, std)
			}
			if n := tpl.size(tt.tgt.Badge); n != len(std) {
				t.Errorf("template size %d, payload is %d bytes", n, len(std))
			}
		})
	}
}

// FuzzAppendString checks the string encoder against encoding/json on any
// input; the seeds run with every go test.
func FuzzAppendString(f *testing.F) {
	for _, s := range []string{"", "plain", `quote " backslash \ slash /`, "<b>&amp;</b>", "line\nbreak\ttab\r\b\f\x00\x1f\x7f",
		"中文 emoji 🎉", "\u2028\u2029", "bad \xff utf8 \xc3", `{"conversationID":"c2c_a"}`} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		want, err := json.Marshal(s)
		if err != nil {
			t.Fatal(err)
		}
		if got := appendString(nil, s); !bytes.Equal(got, want) {
			t.Errorf("appendString(%q) = %s, encoding/json %s", s, got, want)
		}
	})
}

func TestNewHeader(t *testing.T) {
	now := time.Date(2026, 11, 21, 10, 0, 0, 0, time.UTC)
	plain := &cert.APNs{BundleID: testBundle}
	voip := &cert.APNs{BundleID: testBundle, VoIP: true}
	tests := []struct {
		name string
		edit func(m *push.Message)
		a    *cert.APNs
		want Header
	}{
		{"text message", nil, plain,
			Header{Topic: testBundle, PushType: "alert", Priority: 10, Expiration: now.Add(24 * time.Hour)}},
		{"call on a VoIP certificate", func(m *push.Message) { m.Type = push.Call }, voip,
			Header{Topic: testBundle + ".voip", PushType: "voip", Priority: 10, Expiration: now.Add(24 * time.Hour)}},
		{"call without VoIP is an alert at priority 10", func(m *push.Message) { m.Type = push.Call }, plain,
			Header{Topic: testBundle, PushType: "alert", Priority: 10, Expiration: now.Add(24 * time.Hour)}},
		{"text on a VoIP certificate stays an alert", nil, voip,
			Header{Topic: testBundle, PushType: "alert", Priority: 10, Expiration: now.Add(24 * time.Hour)}},
		{"TTL zero: deliver once, do not store", func(m *push.Message) { m.TTL = 0 }, plain,
			Header{Topic: testBundle, PushType: "alert", Priority: 10, Expiration: time.Unix(0, 1)}},
		{"TTL clamped", func(m *push.Message) { m.TTL = 90 * 24 * time.Hour }, plain,
			Header{Topic: testBundle, PushType: "alert", Priority: 10, Expiration: now.Add(30 * 24 * time.Hour)}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			m := message()
			m.ID = ""
			if tt.edit != nil {
				tt.edit(m)
			}
			got := NewHeader(m, tt.a, "ab12", now)
			if !reflect.DeepEqual(got, tt.want) {
				t.Errorf("NewHeader = %+v, want %+v", got, tt.want)
			}
		})
	}
	if exp := expiration(0, now).Unix(); exp != 0 {
		t.Errorf("TTL 0 gives apns-expiration %d, want 0", exp)
	}
	if lim := PayloadLimit(&push.Message{Type: push.Call}, voip); lim != 5120 {
		t.Errorf("VoIP payload limit %d, want 5120", lim)
	}
	if lim := PayloadLimit(&push.Message{Type: push.Call}, plain); lim != 4096 {
		t.Errorf("alert payload limit %d, want 4096", lim)
	}
}

func TestNotificationID(t *testing.T) {
	a := NotificationID("msg-1", "ab12")
	if a != NotificationID("msg-1", "ab12") {
		t.Error("apns-id is not deterministic")
	}
	if a == NotificationID("msg-1", "ab13") || a == NotificationID("msg-2", "ab12") {
		t.Error("apns-id does not depend on both message and token")
	}
	if len(a) != 36 || strings.Count(a, "-") != 4 || a[14] != '5' || !strings.ContainsRune("89ab", rune(a[19])) || strings.ToLower(a) != a {
		t.Errorf("apns-id %q is not a lowercase version 5 UUID", a)
	}
}

func TestCheckToken(t *testing.T) {
	for tok, ok := range map[string]bool{hexToken(1): true, "invalid-ab12": true, "": false, "ab/../cd": false, "ab?x=1": false, "ab%2f": false, "ab cd": false, "..": false} {
		if got := checkToken(tok) == ""; got != ok {
			t.Errorf("checkToken(%q) ok = %v, want %v", tok, got, ok)
		}
	}
}

// TestGolden compares one request, body byte for byte, with
// testdata/golden-request.json; go test -update rewrites it.
func TestGolden(t *testing.T) {
	_, keyPEM := newKey(t)
	now := time.Date(2026, 11, 21, 10, 0, 0, 0, time.UTC)
	env := &push.Env{Now: func() time.Time { return now }}
	c, err := New(tokenCert(keyPEM, false), env)
	if err != nil {
		t.Fatal(err)
	}
	m := message()
	m.Info.APNsInfo = push.APNsInfo{Title: "Alice", SubTitle: "Team <chat> & friends", Image: "https://img.example.com/a.png"}
	tok := "9f3a5c0e7d1b2a4f6e8c0b1d3f5a7c9e2b4d6f8a0c1e3b5d7f9a2c4e6b8d0f1a"
	reqs, results := c.Requests(m, []push.Target{{Token: tok, Badge: intp(3)}})
	if len(reqs) != 1 || results[0] != (push.Result{}) {
		t.Fatalf("Requests = %d requests, results %+v", len(reqs), results)
	}
	r := reqs[0]
	if want := HostSandbox + "/3/device/" + tok; r.URL != want {
		t.Errorf("URL %s, want %s", r.URL, want)
	}
	wantHeader := map[string]string{
		"apns-topic": testBundle, "apns-push-type": "alert", "apns-priority": "10",
		"apns-expiration": "1795341600", "apns-id": NotificationID("msg-1", tok),
	}
	if !reflect.DeepEqual(r.Header, wantHeader) {
		t.Errorf("header %v, want %v", r.Header, wantHeader)
	}
	path := filepath.Join("testdata", "golden-request.json")
	if *update {
		if err := os.WriteFile(path, r.Payload, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(r.Payload, want) {
		t.Errorf("payload\n%s\nwant (%s)\n%s", r.Payload, path, want)
	}
}

func TestNewErrors(t *testing.T) {
	_, keyPEM := newKey(t)
	env := &push.Env{}
	if _, err := New(cert.Certificate{ID: 1, Vendor: device.FCM, FCM: &cert.FCM{}}, env); err == nil || !strings.Contains(err.Error(), push.ErrNoCredential.Error()) {
		t.Errorf("no APNs credential: err %v, want ErrNoCredential", err)
	}
	c := tokenCert(keyPEM, false)
	c.APNs.Environment = "staging"
	if _, err := New(c, env); err == nil {
		t.Error("unknown environment accepted")
	}
	c = tokenCert("not a key", false)
	if _, err := New(c, env); err == nil {
		t.Error("unreadable key accepted")
	}
}

func TestHosts(t *testing.T) {
	_, keyPEM := newKey(t)
	for envName, host := range map[string]string{cert.Production: HostProduction, cert.Sandbox: HostSandbox} {
		c := tokenCert(keyPEM, false)
		c.APNs.Environment = envName
		cl, err := New(c, &push.Env{})
		if err != nil {
			t.Fatal(err)
		}
		reqs, _ := cl.Requests(message(), []push.Target{{Token: "ab12"}})
		if want := host + "/3/device/ab12"; reqs[0].URL != want {
			t.Errorf("%s: URL %s, want %s", envName, reqs[0].URL, want)
		}
	}
}

// BenchmarkBuild measures building one request's body and headers as Send
// does per device: the shared template once per push is amortised over
// many devices, so it is built once outside the loop, as in Send.
func BenchmarkBuild(b *testing.B) {
	m := message()
	m.Info.APNsInfo = push.APNsInfo{SubTitle: "in Team", Image: "https://img.example.com/a.png"}
	a := &cert.APNs{BundleID: testBundle}
	tpl := newTemplate(m, a)
	tok := hexToken(1)
	badge := intp(42)
	buf := make([]byte, 0, 1024)
	b.ReportAllocs()
	b.ResetTimer()
	for range b.N {
		buf = tpl.appendPayload(buf[:0], badge)
		_ = NotificationID(m.ID, tok)
	}
}

// BenchmarkNewPayload measures the pure builder and encoder from scratch.
func BenchmarkNewPayload(b *testing.B) {
	m := message()
	t := push.Target{Token: hexToken(1), Badge: intp(42)}
	buf := make([]byte, 0, 1024)
	b.ReportAllocs()
	for range b.N {
		p := NewPayload(m, t)
		buf = p.AppendJSON(buf[:0])
	}
}
