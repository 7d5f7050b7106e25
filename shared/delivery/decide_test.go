package delivery

import (
	"strings"
	"testing"
	"time"

	"github.com/offpush/offpush/shared/device"
	"github.com/offpush/offpush/shared/push"
)

func TestSkipReason(t *testing.T) {
	active := device.Device{Token: "tok", Status: device.Active, State: device.Background}
	with := func(f func(*device.Device)) device.Device { d := active; f(&d); return d }
	msg := func(f func(*push.Message)) *push.Message {
		m := &push.Message{Type: push.Text, From: "admin", TTL: time.Hour, Info: push.OfflinePushInfo{Desc: "hi"}}
		if f != nil {
			f(m)
		}
		return m
	}
	for _, c := range []struct {
		name     string
		m        *push.Message
		d        device.Device
		testPush bool
		want     string
	}{
		{"background active", msg(nil), active, false, ""},
		{"foreground", msg(nil), with(func(d *device.Device) { d.State = device.Foreground }), false, ReasonForeground},
		{"test push ignores foreground", msg(nil), with(func(d *device.Device) { d.State = device.Foreground }), true, ""},
		{"logged out", msg(nil), with(func(d *device.Device) { d.Status, d.Token = device.LoggedOut, "" }), false, ReasonLoggedOut},
		{"kicked", msg(nil), with(func(d *device.Device) { d.Status = device.Kicked }), false, ReasonKicked},
		{"invalid token", msg(nil), with(func(d *device.Device) { d.Status, d.Token = device.InvalidToken, "" }), false, ReasonInvalidToken},
		{"kicked beats foreground", msg(nil), with(func(d *device.Device) { d.Status, d.State = device.Kicked, device.Foreground }), false, ReasonKicked},
		{"push flag 1", msg(func(m *push.Message) { m.Info.PushFlag = 1 }), active, false, ReasonPushDisabled},
		{"push flag beats status", msg(func(m *push.Message) { m.Info.PushFlag = 1 }), with(func(d *device.Device) { d.Status = device.Kicked }), false, ReasonPushDisabled},
		{"custom without desc", msg(func(m *push.Message) { m.Type, m.Info.Desc = push.Custom, "" }), active, false, ReasonNoDesc},
		{"custom with desc", msg(func(m *push.Message) { m.Type = push.Custom }), active, false, ""},
		{"text without desc is pushed", msg(func(m *push.Message) { m.Info.Desc = "" }), active, false, ""},
		{"online only", msg(func(m *push.Message) { m.TTL = 0 }), active, false, ReasonOnlineOnly},
		{"call", msg(func(m *push.Message) { m.Type = push.Call }), active, false, ""},
	} {
		t.Run(c.name, func(t *testing.T) {
			if got := SkipReason(c.m, c.d, c.testPush); got != c.want {
				t.Fatalf("SkipReason = %q, want %q", got, c.want)
			}
		})
	}
}

func TestFailure(t *testing.T) {
	for o, want := range map[push.Outcome]string{push.InvalidToken: ReasonInvalidToken, push.Auth: ReasonAuth, push.Quota: ReasonQuota,
		push.Retryable: ReasonUnavailable, push.Rejected: ReasonRejected, push.InvalidArgument: ReasonRejected} {
		if got := failure(o); got != want {
			t.Errorf("failure(%s) = %q, want %q", o, got, want)
		}
	}
}

func TestTitleFallback(t *testing.T) {
	for _, c := range []struct{ title, nick, from, want string }{
		{"Hello", "Support", "admin", "Hello"}, {"", "Support", "admin", "Support"}, {"", "", "admin", "admin"},
	} {
		m := &push.Message{From: c.from, FromNickname: c.nick, Info: push.OfflinePushInfo{Title: c.title}}
		if got := m.Title(); got != c.want {
			t.Errorf("Title(%q, %q, %q) = %q, want %q", c.title, c.nick, c.from, got, c.want)
		}
	}
}

func TestRequestValidate(t *testing.T) {
	life := func(n int) *int { return &n }
	good := Request{From: "admin", To: []string{"alice", "bob", "alice"}, OfflinePushInfo: push.OfflinePushInfo{Desc: "hi", Ext: `{"conversationID":"c2c_admin"}`}}
	m, users, err := good.Validate()
	if err != nil {
		t.Fatal(err)
	}
	if strings.Join(users, ",") != "alice,bob" || m.Type != push.Text || m.TTL != 7*24*time.Hour {
		t.Fatalf("users %v, message %+v", users, m)
	}
	zero := good
	zero.MsgLifeTime = life(0)
	if m, _, _ := zero.Validate(); m.TTL != 0 {
		t.Fatalf("msgLifeTime 0 gave TTL %v", m.TTL)
	}
	many := make([]string, MaxUsers+1)
	for i := range many {
		many[i] = "u" + strings.Repeat("x", i%5)
	}
	for field, mutate := range map[string]func(*Request){
		"from":                               func(r *Request) { r.From = "" },
		"to":                                 func(r *Request) { r.To = nil },
		"to ":                                func(r *Request) { r.To = many },
		"to[1]":                              func(r *Request) { r.To = []string{"a", "b/c"} },
		"msgType":                            func(r *Request) { r.MsgType = "voice" },
		"msgLifeTime":                        func(r *Request) { r.MsgLifeTime = life(604801) },
		"offlinePushInfo.ext":                func(r *Request) { r.OfflinePushInfo.Ext = "not json" },
		"offlinePushInfo.ext ":               func(r *Request) { r.OfflinePushInfo.Ext = `["array"]` },
		"offlinePushInfo.pushFlag":           func(r *Request) { r.OfflinePushInfo.PushFlag = 2 },
		"offlinePushInfo.apnsInfo.badgeMode": func(r *Request) { r.OfflinePushInfo.APNsInfo.BadgeMode = 3 },
		"offlinePushInfo.androidInfo.googlePriority": func(r *Request) {
			r.OfflinePushInfo.AndroidInfo.GooglePriority = "urgent"
		},
		"offlinePushInfo.androidInfo.vivoClassification": func(r *Request) {
			n := 5
			r.OfflinePushInfo.AndroidInfo.VivoClassification = &n
		},
		"offlinePushInfo.desc": func(r *Request) { r.OfflinePushInfo.Desc = strings.Repeat("x", MaxDescBytes+1) },
	} {
		r := good
		mutate(&r)
		_, _, err := r.Validate()
		fe, ok := err.(*device.FieldError)
		if !ok || fe.Field != strings.TrimSpace(field) {
			t.Errorf("%s: error %v", field, err)
		}
	}
}
