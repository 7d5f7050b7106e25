package oppo

import (
	"bytes"
	"encoding/json"
	"flag"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/offpush/offpush/shared/cert"
	"github.com/offpush/offpush/shared/device"
	"github.com/offpush/offpush/shared/push"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata")

func testCert() cert.Certificate {
	return cert.Certificate{
		ID: 10001, Vendor: device.OPPO, Name: "oppo-prod",
		OPPO:             &cert.OPPO{AppKey: "appkey1", MasterSecret: "mastersecret1"},
		ClickAction:      cert.ClickAction{Type: cert.ClickOpenApp},
		DefaultChannelID: "chat_messages",
	}
}

func testMessage() *push.Message {
	return &push.Message{
		ID: "alice-3674128", Type: push.Text, From: "alice", FromNickname: "Alice",
		Info: push.OfflinePushInfo{Desc: "You have a new message", Ext: `{"conversationID":"c2c_alice"}`},
		TTL:  24 * time.Hour,
	}
}

func TestBuild(t *testing.T) {
	base := Notification{
		AppMessageID: "alice-3674128", Style: StyleStandard, Title: "Alice", Content: "You have a new message",
		ClickActionType: ClickLaunchApp, ActionParameters: `{"conversationID":"c2c_alice"}`,
		OffLine: true, OffLineTTL: 86400, ChannelID: "chat_messages", Category: "IM", NotifyLevel: LevelBarLockScreen,
	}
	long := strings.Repeat("字", 51)
	tests := []struct {
		name    string
		msg     func(m *push.Message)
		cert    func(c *cert.Certificate)
		want    func(n *Notification)
		wantErr string
	}{
		{name: "defaults", want: func(n *Notification) {}},
		{name: "title given", msg: func(m *push.Message) { m.Info.Title = "Group chat" }, want: func(n *Notification) { n.Title = "Group chat" }},
		{name: "title falls back to sender ID", msg: func(m *push.Message) { m.FromNickname = "" }, want: func(n *Notification) { n.Title = "alice" }},
		{name: "no title at all", msg: func(m *push.Message) { m.FromNickname, m.From = "", "" }, wantErr: "title is empty"},
		{name: "title of 50 characters", msg: func(m *push.Message) { m.Info.Title = strings.Repeat("字", 50) },
			want: func(n *Notification) { n.Title = strings.Repeat("字", 50) }},
		{name: "title of 51 characters", msg: func(m *push.Message) { m.Info.Title = long }, wantErr: "title is 51 characters; OPPO allows at most 50"},
		{name: "content of 50 characters is standard style", msg: func(m *push.Message) { m.Info.Desc = strings.Repeat("a", 50) },
			want: func(n *Notification) { n.Content = strings.Repeat("a", 50) }},
		{name: "content of 51 characters is long-text style", msg: func(m *push.Message) { m.Info.Desc = long },
			want: func(n *Notification) { n.Content, n.Style = long, StyleLongText }},
		{name: "content of 129 characters", msg: func(m *push.Message) { m.Info.Desc = strings.Repeat("😀", 129) }, wantErr: "desc is 129 characters"},
		{name: "empty content", msg: func(m *push.Message) { m.Info.Desc = "" }, wantErr: "desc is empty"},
		{name: "channel from androidInfo", msg: func(m *push.Message) { m.Info.AndroidInfo.OPPOChannelID = "calls" },
			want: func(n *Notification) { n.ChannelID = "calls" }},
		{name: "channel from androidInfo without certificate default", msg: func(m *push.Message) { m.Info.AndroidInfo.OPPOChannelID = "calls" },
			cert: func(c *cert.Certificate) { c.DefaultChannelID = "" }, want: func(n *Notification) { n.ChannelID = "calls" }},
		{name: "no channel anywhere", cert: func(c *cert.Certificate) { c.DefaultChannelID = "" }, wantErr: "Android 8 and later"},
		{name: "category and level from androidInfo", msg: func(m *push.Message) {
			m.Info.AndroidInfo.OPPOCategory, m.Info.AndroidInfo.OPPONotifyLevel = "ACCOUNT", 1
		}, want: func(n *Notification) { n.Category, n.NotifyLevel = "ACCOUNT", LevelBar }},
		{name: "call is heads-up", msg: func(m *push.Message) { m.Type = push.Call }, want: func(n *Notification) { n.NotifyLevel = LevelHeadsUp }},
		{name: "call keeps an explicit level", msg: func(m *push.Message) { m.Type, m.Info.AndroidInfo.OPPONotifyLevel = push.Call, 2 },
			want: func(n *Notification) {}},
		{name: "bad notify level", msg: func(m *push.Message) { m.Info.AndroidInfo.OPPONotifyLevel = 3 }, wantErr: "oppoNotifyLevel is 3"},
		{name: "no ext", msg: func(m *push.Message) { m.Info.Ext = "" }, want: func(n *Notification) { n.ActionParameters = "" }},
		{name: "ext not JSON", msg: func(m *push.Message) { m.Info.Ext = "conv=1" }, wantErr: "not a JSON object"},
		{name: "ext a JSON array", msg: func(m *push.Message) { m.Info.Ext = `[1]` }, wantErr: "not a JSON object"},
		{name: "ext over 4000 characters", msg: func(m *push.Message) { m.Info.Ext = `{"k":"` + strings.Repeat("x", 4000) + `"}` }, wantErr: "at most 4000"},
		{name: "open URL", cert: func(c *cert.Certificate) {
			c.ClickAction = cert.ClickAction{Type: cert.ClickOpenURL, URL: "https://example.com/c"}
		},
			want: func(n *Notification) { n.ClickActionType, n.ClickActionURL = ClickURL, "https://example.com/c" }},
		{name: "open activity", cert: func(c *cert.Certificate) {
			c.ClickAction = cert.ClickAction{Type: cert.ClickOpenPage, Activity: "com.example.chat.ChatActivity", Intent: "intent://chat#Intent;end"}
		}, want: func(n *Notification) {
			n.ClickActionType, n.ClickActionActivity = ClickActivityClass, "com.example.chat.ChatActivity"
		}},
		{name: "open intent", cert: func(c *cert.Certificate) {
			c.ClickAction = cert.ClickAction{Type: cert.ClickOpenPage, Intent: "intent://chat#Intent;end"}
		},
			want: func(n *Notification) {
				n.ClickActionType, n.ClickActionURL = ClickIntentScheme, "intent://chat#Intent;end"
			}},
		{name: "TTL in seconds, rounded up", msg: func(m *push.Message) { m.TTL = 1500 * time.Millisecond }, want: func(n *Notification) { n.OffLineTTL = 2 }},
		{name: "TTL of seven days", msg: func(m *push.Message) { m.TTL = push.MaxTTL }, want: func(n *Notification) { n.OffLineTTL = 604800 }},
		{name: "TTL cut to ten days", msg: func(m *push.Message) { m.TTL = 30 * 24 * time.Hour }, want: func(n *Notification) { n.OffLineTTL = 864000 }},
		{name: "no TTL is online only", msg: func(m *push.Message) { m.TTL = 0 }, want: func(n *Notification) { n.OffLine, n.OffLineTTL = false, 0 }},
		{name: "long message ID is hashed", msg: func(m *push.Message) { m.ID = strings.Repeat("m", 65) },
			want: func(n *Notification) { n.AppMessageID = AppMessageID(strings.Repeat("m", 65)) }},
		{name: "no message ID", msg: func(m *push.Message) { m.ID = "" }, want: func(n *Notification) { n.AppMessageID = "" }},
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
			got, err := Build(m, c)
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
			if *got != want {
				t.Errorf("got  %+v\nwant %+v", *got, want)
			}
		})
	}
}

func TestAppMessageID(t *testing.T) {
	if got := AppMessageID("alice-1"); got != "alice-1" {
		t.Errorf("short ID: %q", got)
	}
	a, b := AppMessageID(strings.Repeat("x", 80)), AppMessageID(strings.Repeat("x", 80))
	if a != b || len(a) != 32 {
		t.Errorf("long ID: %q, %q: want the same 32-character hash", a, b)
	}
	if got := AppMessageID("with space"); got == "with space" || len(got) != 32 {
		t.Errorf("ID with a space: %q", got)
	}
}

func TestOverseas(t *testing.T) {
	for _, tt := range []struct {
		regID string
		want  bool
	}{
		{"b6bbd94b59cdb5df8391642c1509b7fe", false},
		{"CN_b6bbd94b59cdb5df8391642c1509b7fe", false},
		{"OPPO_CN_b6bbd94b59cdb5df8391642c1509b7fe", false},
		{"IN_b6bbd94b59cdb5df8391642c1509b7fe", true},
		{"OPPO_SG_b6bbd94b59cdb5df8391642c1509b7fe", true},
		{"a_b_c_d", false},
	} {
		t.Run(tt.regID, func(t *testing.T) {
			if got := Overseas(tt.regID); got != tt.want {
				t.Errorf("Overseas = %v, want %v", got, tt.want)
			}
		})
	}
}

// TestGolden compares one unicast request body with the golden file: the
// shape of vendor-apis.md §6 (form field message holding target_type 2,
// target_value and a snake_case notification).
func TestGolden(t *testing.T) {
	c, err := New(testCert(), testEnv(t, nil, nil))
	if err != nil {
		t.Fatal(err)
	}
	reqs, results := c.Requests(testMessage(), []push.Target{{Token: "CN_b6bbd94b59cdb5df8391642c1509b7fe"}})
	if len(reqs) != 1 || results[0] != (push.Result{}) {
		t.Fatalf("requests %d, results %+v", len(reqs), results)
	}
	if reqs[0].URL != DefaultBaseURL+UnicastPath {
		t.Errorf("URL %s", reqs[0].URL)
	}
	compareGolden(t, "golden-unicast.txt", reqs[0].Payload)

	// The form holds exactly the message JSON the golden file shows.
	form, err := url.ParseQuery(string(reqs[0].Payload))
	if err != nil {
		t.Fatal(err)
	}
	var msg map[string]any
	if err := json.Unmarshal([]byte(form.Get("message")), &msg); err != nil {
		t.Fatal(err)
	}
	if msg["target_type"] != float64(2) || msg["target_value"] != "CN_b6bbd94b59cdb5df8391642c1509b7fe" {
		t.Errorf("message %v", msg)
	}
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
		{10000, push.InvalidToken},
		{-1, push.Retryable}, {-2, push.Retryable}, {13, push.Retryable}, {55, push.Retryable},
		{33, push.Quota}, {34, push.Quota},
		{11, push.Auth},
		{14, push.Auth}, {15, push.Auth}, {16, push.Auth}, {17, push.Auth}, {18, push.Auth}, {19, push.Auth},
		{26, push.Rejected}, {27, push.Rejected}, {28, push.Rejected}, {29, push.Rejected}, {30, push.Rejected},
		{59, push.Rejected}, {12, push.Rejected}, {40, push.Rejected}, {41, push.Rejected}, {67, push.Rejected},
		{12345, push.Rejected},
	} {
		r := Result(tt.code, "msg")
		if r.Outcome != tt.want {
			t.Errorf("code %d: %s, want %s", tt.code, r.Outcome, tt.want)
		}
		if tt.code != 0 && !strings.HasPrefix(r.Reason, "oppo ") {
			t.Errorf("code %d: reason %q does not name OPPO and the code", tt.code, r.Reason)
		}
	}
	if r := Result(33, "x"); !strings.Contains(r.Reason, "until tomorrow") {
		t.Errorf("33 reason %q should say to stop for the day", r.Reason)
	}
	if r := Result(26, "x"); !strings.Contains(r.Reason, "blacklisted") {
		t.Errorf("26 reason %q should say what to fix", r.Reason)
	}
}

func TestMatchItems(t *testing.T) {
	ids := []string{"a", "b", "c", "d"}
	items := []Item{
		{RegistrationID: "c", ErrorCode: 10000, ErrorMessage: "Invalid"},
		{RegistrationID: "a", MessageID: "m-a"},
		{RegistrationID: "zzz", MessageID: "m-z"}, // not sent: ignored
		{RegistrationID: "b", ErrorCode: 33},
	}
	got := MatchItems(ids, items)
	want := []push.Outcome{push.Sent, push.Quota, push.InvalidToken, push.Retryable}
	for i := range want {
		if got[i].Outcome != want[i] {
			t.Errorf("%s: %s, want %s", ids[i], got[i].Outcome, want[i])
		}
	}
	if got[0].MessageID != "m-a" {
		t.Errorf("message ID %q", got[0].MessageID)
	}

	// A repeated registration ID takes its items in turn.
	got = MatchItems([]string{"x", "y", "x"}, []Item{{RegistrationID: "x", MessageID: "1"}, {RegistrationID: "x", ErrorCode: 10000}, {RegistrationID: "y", MessageID: "2"}})
	if got[0].MessageID != "1" || got[2].Outcome != push.InvalidToken || got[1].MessageID != "2" {
		t.Errorf("duplicates: %+v", got)
	}

	// Items without registrationId match by position.
	got = MatchItems([]string{"p", "q"}, []Item{{MessageID: "1"}, {ErrorCode: 10000}})
	if got[0].MessageID != "1" || got[1].Outcome != push.InvalidToken {
		t.Errorf("by position: %+v", got)
	}
}

func TestChunks(t *testing.T) {
	for _, tt := range []struct {
		n    int
		want [][2]int
	}{
		{0, nil},
		{1, [][2]int{{0, 1}}},
		{1000, [][2]int{{0, 1000}}},
		{1001, [][2]int{{0, 501}, {501, 1001}}},
		{2500, [][2]int{{0, 834}, {834, 1667}, {1667, 2500}}},
	} {
		got := chunks(tt.n, MaxBatch)
		if len(got) != len(tt.want) {
			t.Fatalf("%d: %v, want %v", tt.n, got, tt.want)
		}
		for i := range got {
			if got[i] != tt.want[i] {
				t.Errorf("%d: %v, want %v", tt.n, got, tt.want)
			}
		}
	}
}

// BenchmarkBuild measures building one unicast request body.
func BenchmarkBuild(b *testing.B) {
	m, c := testMessage(), testCert()
	b.ReportAllocs()
	for b.Loop() {
		n, err := Build(m, c)
		if err != nil {
			b.Fatal(err)
		}
		if _, err := UnicastForm(n, "CN_b6bbd94b59cdb5df8391642c1509b7fe"); err != nil {
			b.Fatal(err)
		}
	}
}
