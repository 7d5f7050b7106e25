package vivo

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

const testAppID = 10004

func testCert() cert.Certificate {
	return cert.Certificate{
		ID: 10002, Vendor: device.Vivo, Name: "vivo-prod",
		Vivo:        &cert.Vivo{AppID: "10004", AppKey: "25509283-3767-4b9e-83fe-b6e55ac6243e", AppSecret: "appsecret1"},
		ClickAction: cert.ClickAction{Type: cert.ClickOpenApp},
	}
}

func testMessage() *push.Message {
	return &push.Message{
		ID: "alice-3674128", Type: push.Text, From: "alice", FromNickname: "Alice",
		Info: push.OfflinePushInfo{Desc: "You have a new message", Ext: `{"conversationID":"c2c_alice"}`},
		TTL:  24 * time.Hour,
	}
}

func intp(i int) *int { return &i }

func TestBuild(t *testing.T) {
	base := Message{
		AppID: testAppID, NotifyType: NotifyRingVibrate, Title: "Alice", Content: "You have a new message",
		TimeToLive: 86400, SkipType: SkipOpenApp, Classification: ClassSystem, Category: "IM",
		ClientCustomMap: map[string]string{"ext": `{"conversationID":"c2c_alice"}`},
		NotifyID:        NotifyID("alice-3674128"),
	}
	tests := []struct {
		name    string
		msg     func(m *push.Message)
		cert    func(c *cert.Certificate)
		want    func(v *Message)
		wantErr string
	}{
		{name: "defaults", want: func(v *Message) {}},
		{name: "title given", msg: func(m *push.Message) { m.Info.Title = "Group" }, want: func(v *Message) { v.Title = "Group" }},
		{name: "title falls back to sender ID", msg: func(m *push.Message) { m.FromNickname = "" }, want: func(v *Message) { v.Title = "alice" }},
		{name: "no title", msg: func(m *push.Message) { m.FromNickname, m.From = "", "" }, wantErr: "title is empty"},
		{name: "title of 40 characters", msg: func(m *push.Message) { m.Info.Title = strings.Repeat("标", 40) },
			want: func(v *Message) { v.Title = strings.Repeat("标", 40) }},
		{name: "title of 41 characters", msg: func(m *push.Message) { m.Info.Title = strings.Repeat("标", 41) }, wantErr: "title is 41 characters; vivo allows at most 40"},
		{name: "content of 100 characters", msg: func(m *push.Message) { m.Info.Desc = strings.Repeat("😀", 100) },
			want: func(v *Message) { v.Content = strings.Repeat("😀", 100) }},
		{name: "content of 101 characters", msg: func(m *push.Message) { m.Info.Desc = strings.Repeat("a", 101) }, wantErr: "desc is 101 characters; vivo allows at most 100"},
		{name: "empty content", msg: func(m *push.Message) { m.Info.Desc = "" }, wantErr: "desc is empty"},
		{name: "notify type from androidInfo", msg: func(m *push.Message) { m.Info.AndroidInfo.VivoNotifyType = 1 }, want: func(v *Message) { v.NotifyType = NotifyNone }},
		{name: "bad notify type", msg: func(m *push.Message) { m.Info.AndroidInfo.VivoNotifyType = 5 }, wantErr: "vivoNotifyType is 5"},
		{name: "system classification and category given", msg: func(m *push.Message) {
			m.Info.AndroidInfo.VivoClassification, m.Info.AndroidInfo.VivoCategory = intp(1), "ACCOUNT"
		}, want: func(v *Message) { v.Category = "ACCOUNT" }},
		{name: "operations without category names none", msg: func(m *push.Message) { m.Info.AndroidInfo.VivoClassification = intp(0) },
			want: func(v *Message) { v.Classification, v.Category = ClassOperations, "" }},
		{name: "operations with category", msg: func(m *push.Message) {
			m.Info.AndroidInfo.VivoClassification, m.Info.AndroidInfo.VivoCategory = intp(0), "MARKETING"
		}, want: func(v *Message) { v.Classification, v.Category = ClassOperations, "MARKETING" }},
		{name: "bad classification", msg: func(m *push.Message) { m.Info.AndroidInfo.VivoClassification = intp(2) }, wantErr: "vivoClassification is 2"},
		{name: "no ext", msg: func(m *push.Message) { m.Info.Ext = "" }, want: func(v *Message) { v.ClientCustomMap = nil }},
		{name: "ext at the limit", msg: func(m *push.Message) { m.Info.Ext = strings.Repeat("e", 1021) },
			want: func(v *Message) { v.ClientCustomMap = map[string]string{"ext": strings.Repeat("e", 1021)} }},
		{name: "ext over the limit", msg: func(m *push.Message) { m.Info.Ext = strings.Repeat("e", 1022) }, wantErr: "clientCustomMap takes at most 1024"},
		{name: "open URL", cert: func(c *cert.Certificate) {
			c.ClickAction = cert.ClickAction{Type: cert.ClickOpenURL, URL: "https://example.com/c"}
		},
			want: func(v *Message) { v.SkipType, v.SkipContent = SkipURL, "https://example.com/c" }},
		{name: "open page by intent", cert: func(c *cert.Certificate) {
			c.ClickAction = cert.ClickAction{Type: cert.ClickOpenPage, Intent: "intent://chat#Intent;end", Activity: "com.example.Chat"}
		}, want: func(v *Message) { v.SkipType, v.SkipContent = SkipPage, "intent://chat#Intent;end" }},
		{name: "open page by activity only opens the app", cert: func(c *cert.Certificate) {
			c.ClickAction = cert.ClickAction{Type: cert.ClickOpenPage, Activity: "com.example.Chat"}
		}, want: func(v *Message) {}},
		{name: "seven-day TTL cut to one day", msg: func(m *push.Message) { m.TTL = push.MaxTTL }, want: func(v *Message) {}},
		{name: "TTL in seconds", msg: func(m *push.Message) { m.TTL = 3600 * time.Second }, want: func(v *Message) { v.TimeToLive = 3600 }},
		{name: "short TTL raised to a minute", msg: func(m *push.Message) { m.TTL = 1500 * time.Millisecond }, want: func(v *Message) { v.TimeToLive = 60 }},
		{name: "no TTL is online only", msg: func(m *push.Message) { m.TTL = 0 }, want: func(v *Message) { v.TimeToLive, v.SendOnline = 0, true }},
		{name: "call", msg: func(m *push.Message) { m.Type = push.Call }, want: func(v *Message) {}},
		{name: "no message ID", msg: func(m *push.Message) { m.ID = "" }, want: func(v *Message) { v.NotifyID = 0 }},
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
			got, err := Build(m, c, testAppID)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("err = %v, want one containing %q", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			want := base
			tt.want(&want)
			if !reflect.DeepEqual(*got, want) {
				t.Errorf("got  %+v\nwant %+v", *got, want)
			}
		})
	}
}

func TestIDs(t *testing.T) {
	if a, b := NotifyID("m1"), NotifyID("m1"); a != b || a < 1 || a > 2147483647 {
		t.Errorf("NotifyID %d %d", a, b)
	}
	if NotifyID("m1") == NotifyID("m2") {
		t.Error("two messages share a notifyId")
	}
	m := testMessage()
	r1, r2 := RequestID(m, SendPath, "a"), RequestID(m, SendPath, "b")
	if r1 == r2 || len(r1) != 32 || RequestID(m, SendPath, "a") != r1 {
		t.Errorf("RequestID %q %q", r1, r2)
	}
	noID := testMessage()
	noID.ID = ""
	other := testMessage()
	other.ID, other.Info.Desc = "", "another"
	if RequestID(noID, SendPath, "a") == RequestID(other, SendPath, "a") {
		t.Error("messages without IDs but different content share a requestId")
	}
}

// TestGolden compares one /message/send body with the golden file: the
// shape of vendor-apis.md §7.
func TestGolden(t *testing.T) {
	c, err := New(testCert(), testEnv(t, nil, nil))
	if err != nil {
		t.Fatal(err)
	}
	reqs, results := c.Requests(testMessage(), []push.Target{{Token: "12345678901234567890123"}})
	if len(reqs) != 1 || results[0] != (push.Result{}) {
		t.Fatalf("requests %d, results %+v", len(reqs), results)
	}
	if reqs[0].URL != DefaultBaseURL+SendPath || reqs[0].Header["Content-Type"] != "application/json" {
		t.Errorf("URL %s header %v", reqs[0].URL, reqs[0].Header)
	}
	compareGolden(t, "golden-send.json", reqs[0].Payload)
}

func compareGolden(t *testing.T, name string, got []byte) {
	t.Helper()
	path := filepath.Join("testdata", name)
	if *update {
		if err := os.MkdirAll("testdata", 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, got, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run go test -update to create it)", err)
	}
	if !bytes.Equal(got, want) {
		t.Errorf("%s differs:\n got %s\nwant %s", name, got, want)
	}
}

func TestResult(t *testing.T) {
	for _, tt := range []struct {
		code int
		want push.Outcome
	}{
		{0, push.Sent},
		{10070, push.Quota}, {10252, push.Quota}, {10254, push.Quota},
		{10094, push.Auth}, {10000, push.Auth},
		{10096, push.Rejected}, {10097, push.Rejected},
		{10072, push.Retryable},
		{10302, push.Rejected}, // a third party reads it as a dead regId; only invalidUser says so
		{12345, push.Rejected},
	} {
		r := Result(tt.code, "desc")
		if r.Outcome != tt.want {
			t.Errorf("code %d: %s, want %s", tt.code, r.Outcome, tt.want)
		}
	}
	if r := Result(10070, ""); !strings.Contains(r.Reason, "do not call send, saveListPayload or pushToList again today") {
		t.Errorf("10070 reason %q should say to stop for the day", r.Reason)
	}
}

func TestResults(t *testing.T) {
	sent := push.Result{Outcome: push.Sent, MessageID: "task"}
	got := Results([]string{"a", "b", "c", "d"}, sent, []InvalidUser{
		{Status: StatusUnknownUser, UserID: "a"}, {Status: StatusUninstalled, UserID: "c"}, {Status: StatusNotTestUser, UserID: "d"},
	})
	want := []push.Outcome{push.InvalidToken, push.Sent, push.InvalidToken, push.Sent}
	for i := range want {
		if got[i].Outcome != want[i] {
			t.Errorf("%d: %+v, want %s", i, got[i], want[i])
		}
	}
	// A refused call still marks the dead regIds it names.
	got = Results([]string{"a", "b"}, push.Result{Outcome: push.Retryable}, []InvalidUser{{Status: 2, UserID: "b"}})
	if got[0].Outcome != push.Retryable || got[1].Outcome != push.InvalidToken {
		t.Errorf("%+v", got)
	}
	// A single send's invalidUser with an unreadable userid is still its regId.
	got = Results([]string{"a"}, sent, []InvalidUser{{Status: 1, UserID: "12"}})
	if got[0].Outcome != push.InvalidToken {
		t.Errorf("%+v", got)
	}
}

func TestAnswerShapes(t *testing.T) {
	for _, body := range []string{
		`{"result":0,"desc":"ok","invalidUser":{"status":1,"userid":"a"}}`,
		`{"result":0,"desc":"ok","invalidUser":{"status":"1","userid":"a"}}`,
		`{"result":"0","desc":"ok","invalidUsers":[{"status":1,"userid":"a"}]}`,
		`{"result":0,"desc":"ok","invalidUsers":{"status":1,"userid":"a"}}`,
	} {
		var a answer
		if err := json.Unmarshal([]byte(body), &a); err != nil {
			t.Fatalf("%s: %v", body, err)
		}
		u := a.invalidUsers()
		if a.Result != 0 || len(u) != 1 || u[0].Status != 1 || u[0].UserID != "a" {
			t.Errorf("%s: %+v", body, u)
		}
	}
	var a answer
	if err := json.Unmarshal([]byte(`{"result":0,"invalidUsers":[{"status":2,"userid":123}]}`), &a); err != nil || a.invalidUsers()[0].UserID != "123" {
		t.Errorf("numeric userid: %v %+v", err, a.invalidUsers())
	}
}

func TestChunksNeverBelowTwo(t *testing.T) {
	for _, n := range []int{2, 999, 1000, 1001, 1999, 2001, 5000} {
		for _, ch := range chunks(n, MaxBatch) {
			if l := ch[1] - ch[0]; l < MinBatch || l > MaxBatch {
				t.Errorf("%d: chunk of %d", n, l)
			}
		}
	}
}

// BenchmarkBuild measures building one /message/send body.
func BenchmarkBuild(b *testing.B) {
	m, c := testMessage(), testCert()
	b.ReportAllocs()
	for b.Loop() {
		v, err := Build(m, c, testAppID)
		if err != nil {
			b.Fatal(err)
		}
		if _, err := SendJSON(v, "12345678901234567890123", RequestID(m, SendPath, "12345678901234567890123")); err != nil {
			b.Fatal(err)
		}
	}
}
