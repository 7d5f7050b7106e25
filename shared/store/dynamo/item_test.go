package dynamo

import (
	"testing"
	"time"

	"github.com/offpush/offpush/shared/device"
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
	} {
		got, err := parseDevice(d.UserID, d.DeviceID, deviceMap(d))
		if err != nil {
			t.Fatal(err)
		}
		if got != d {
			t.Errorf("round trip\n got %+v\nwant %+v", got, d)
		}
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
