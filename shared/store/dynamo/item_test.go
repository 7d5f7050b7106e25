package dynamo

import (
	"reflect"
	"testing"
	"time"

	"github.com/offpush/offpush/shared/device"
	"github.com/offpush/offpush/shared/store"
)

func TestExpirySecondsRoundsUp(t *testing.T) {
	base := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	life := int64(device.TokenLifetime / time.Second)
	tests := []struct {
		tokenAt time.Time
		want    int64
	}{
		{base, base.Unix() + life},
		{base.Add(time.Millisecond), base.Unix() + life + 1},
		{base.Add(999 * time.Millisecond), base.Unix() + life + 1},
	}
	for _, tt := range tests {
		if got := expirySeconds(tt.tokenAt); got != tt.want {
			t.Errorf("expirySeconds(%v) = %d, want %d", tt.tokenAt, got, tt.want)
		}
	}
}

func TestDeviceMapRoundTrip(t *testing.T) {
	now := time.Date(2026, 1, 2, 3, 4, 5, 6e6, time.UTC)
	for _, d := range []device.Device{
		{UserID: "u", DeviceID: "a.b:c-d", CertificateID: 10001, Vendor: device.APNs, Platform: device.IOS, Token: "ab12",
			State: device.Foreground, Status: device.Active, UnreadCount: 7, AppVersion: "1.2", Locale: "zh-CN", Timezone: "Asia/Shanghai",
			CreatedAt: now, UpdatedAt: now.Add(time.Second), TokenAt: now.Add(2 * time.Second)},
		{UserID: "u", DeviceID: "x", CertificateID: 3, Vendor: device.FCM, Platform: device.Android,
			State: device.Background, Status: device.LoggedOut, CreatedAt: now, UpdatedAt: now, TokenAt: now},
		{UserID: "u", DeviceID: "y", CertificateID: 3, Vendor: device.FCM, Platform: device.Android, Token: "t",
			State: device.Background, Status: device.Active, UnreadCount: 2, CreatedAt: now, UpdatedAt: now, TokenAt: now,
			LastResult: &device.LastResult{Outcome: "failed", Reason: "vendor_error", Detail: "QUOTA_EXCEEDED", At: now}},
		{UserID: "u", DeviceID: "z", CertificateID: 3, Vendor: device.FCM, Platform: device.Android, Token: "t",
			State: device.Background, Status: device.Active, CreatedAt: now, UpdatedAt: now, TokenAt: now,
			LastResult: &device.LastResult{Outcome: "sent", MessageID: "projects/p/messages/1", At: now.Add(time.Minute)}},
	} {
		got, err := parseDevice(d.UserID, d.DeviceID, deviceMap(d))
		if err != nil {
			t.Fatal(err)
		}
		if !reflect.DeepEqual(got, d) {
			t.Errorf("round trip\n got %+v (last result %+v)\nwant %+v (last result %+v)", got, got.LastResult, d, d.LastResult)
		}
	}
}

func TestMergeResults(t *testing.T) {
	at := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	sent := func(id string) device.LastResult { return device.LastResult{Outcome: "sent", MessageID: id, At: at} }
	tests := []struct {
		name string
		in   []store.ResultUpdate
		want []userResults
	}{
		{"none", nil, nil},
		{"one user", []store.ResultUpdate{
			{UserID: "a", Devices: []store.DeviceResult{{DeviceID: "d1", Result: sent("m1"), CountUnread: true}, {DeviceID: "d2", Result: sent("m2")}}},
		}, []userResults{{"a", []deviceResults{{"d1", sent("m1"), 1}, {"d2", sent("m2"), 0}}}}},
		{"a user and a device named twice", []store.ResultUpdate{
			{UserID: "a", Devices: []store.DeviceResult{{DeviceID: "d1", Result: sent("m1"), CountUnread: true}}},
			{UserID: "b", Devices: []store.DeviceResult{{DeviceID: "d1", Result: sent("m2")}}},
			{UserID: "a", Devices: []store.DeviceResult{{DeviceID: "d1", Result: sent("m3"), CountUnread: true}, {DeviceID: "d2", Result: sent("m4")}}},
		}, []userResults{
			{"a", []deviceResults{{"d1", sent("m3"), 2}, {"d2", sent("m4"), 0}}},
			{"b", []deviceResults{{"d1", sent("m2"), 0}}},
		}},
		{"users with nothing to record are dropped", []store.ResultUpdate{
			{UserID: "a"},
			{UserID: "", Devices: []store.DeviceResult{{DeviceID: "d1", Result: sent("m1")}}},
			{UserID: "b", Devices: []store.DeviceResult{{DeviceID: "d1", Result: sent("m2")}}},
		}, []userResults{{"b", []deviceResults{{"d1", sent("m2"), 0}}}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := mergeResults(tt.in)
			if len(got) == 0 && len(tt.want) == 0 {
				return
			}
			if !reflect.DeepEqual(got, tt.want) {
				t.Errorf("mergeResults\n got %+v\nwant %+v", got, tt.want)
			}
		})
	}
}

func TestExprPlaceholders(t *testing.T) {
	e := newExpr()
	var upd update
	upd.Set(e.path("dev#a.b", "state"), e.value(str("foreground")))
	upd.Set(e.path("dev#a.b", "updatedAt"), e.value(num(1)))
	upd.Remove(e.path("dev#a.b", "token"))
	if got, want := upd.String(), "SET #n0.#n1 = :v0, #n0.#n2 = :v1 REMOVE #n0.#n3"; got != want {
		t.Errorf("update = %q, want %q", got, want)
	}
	if len(e.Names()) != 4 || e.Names()["#n0"] != "dev#a.b" || len(e.Values()) != 2 {
		t.Errorf("names %v, values %v", e.Names(), e.Values())
	}
	if empty := newExpr(); empty.Names() != nil || empty.Values() != nil {
		t.Error("an unused expression must give nil maps (DynamoDB rejects empty ones)")
	}
}
