package device

import (
	"errors"
	"strings"
	"testing"
)

func field(err error) string {
	var fe *FieldError
	if errors.As(err, &fe) {
		return fe.Field
	}
	return ""
}

func TestValidateToken(t *testing.T) {
	hex64 := strings.Repeat("a1", 32)
	for _, c := range []struct {
		v     Vendor
		token string
		ok    bool
	}{
		{APNs, hex64, true},
		{APNs, strings.ToUpper(hex64), true},
		{APNs, strings.Repeat("f", 200), true},
		{APNs, hex64[:63], false},
		{APNs, strings.Repeat("f", 201), false},
		{APNs, "zz" + hex64[2:], false},
		{FCM, "fcm:APA91b-_x", true},
		{Huawei, strings.Repeat("x", MaxTokenLen), true},
		{Huawei, strings.Repeat("x", MaxTokenLen+1), false},
		{Vivo, "", false},
		{OPPO, "has space", false},
		{Meizu, "tab\t", false},
		{Xiaomi, "ünïcode", false},
	} {
		err := ValidateToken(c.v, c.token)
		if (err == nil) != c.ok || (err != nil && field(err) != "token") {
			t.Errorf("ValidateToken(%s, %.20q) = %v, want ok=%v", c.v, c.token, err, c.ok)
		}
	}
}

func TestValidateIDs(t *testing.T) {
	for id, ok := range map[string]bool{"d1": true, "A.b_c:d-9": true, strings.Repeat("a", 128): true, "": false,
		strings.Repeat("a", 129): false, "a b": false, "a/b": false, "é": false} {
		if err := ValidateDeviceID("deviceId", id); (err == nil) != ok {
			t.Errorf("ValidateDeviceID(%q) = %v, want ok=%v", id, err, ok)
		}
	}
	for id, ok := range map[string]bool{"alice": true, "用户1": true, "a@b.c": true, "": false, "a/b": false, "a#b": false,
		"a\x00": false, "a\u0085": false, strings.Repeat("a", 129): false, "\xff": false} {
		if err := ValidateUserID("sub", id); (err == nil) != ok {
			t.Errorf("ValidateUserID(%q) = %v, want ok=%v", id, err, ok)
		}
	}
}

func TestValidatePlatform(t *testing.T) {
	for _, c := range []struct {
		v  Vendor
		p  Platform
		ok bool
	}{
		{APNs, IOS, true}, {APNs, Android, false}, {FCM, Android, true}, {FCM, IOS, false},
		{Huawei, Harmony, true}, {Honor, "", false}, {Xiaomi, "windows", false},
	} {
		if err := ValidatePlatform(c.v, c.p); (err == nil) != c.ok || (err != nil && field(err) != "platform") {
			t.Errorf("ValidatePlatform(%s, %q) = %v, want ok=%v", c.v, c.p, err, c.ok)
		}
	}
}

func TestUploadAndStateValidate(t *testing.T) {
	good := Upload{UserID: "alice", DeviceID: "d1", CertificateID: 10001, Token: "t", Platform: Android}
	if err := good.Validate(); err != nil {
		t.Fatal(err)
	}
	for want, mutate := range map[string]func(*Upload){
		"sub":           func(u *Upload) { u.UserID = "" },
		"deviceId":      func(u *Upload) { u.DeviceID = "bad id" },
		"certificateId": func(u *Upload) { u.CertificateID = 0 },
		"token":         func(u *Upload) { u.Token = "" },
		"platform":      func(u *Upload) { u.Platform = "" },
		"appVersion":    func(u *Upload) { u.AppVersion = strings.Repeat("1", 65) },
		"locale":        func(u *Upload) { u.Locale = "x\x01" },
		"timezone":      func(u *Upload) { u.Timezone = strings.Repeat("z", 65) },
	} {
		u := good
		mutate(&u)
		if got := field(u.Validate()); got != want {
			t.Errorf("invalid %s: error field %q", want, got)
		}
	}
	n := -1
	if field(StateChange{State: "sleeping"}.Validate()) != "state" || field(StateChange{State: Background, UnreadCount: &n}.Validate()) != "unreadCount" {
		t.Error("state change validation")
	}
}

func TestMask(t *testing.T) {
	d := Device{Token: "abcdef123456"}
	if d.TokenSuffix() != "3456" || Mask("abcdef123456") != "…3456" || Mask("") != "" || MaskSuffix("ab") != "ab" {
		t.Fatal("masking")
	}
}
