package device

import (
	"fmt"
	"unicode"
	"unicode/utf8"
)

// FieldError is a validation failure of one request field. The HTTP layer
// turns it into a 400 naming the field.
type FieldError struct {
	Field   string
	Message string
}

func (e *FieldError) Error() string { return e.Field + ": " + e.Message }

// Invalid returns a *FieldError for field.
func Invalid(field, format string, args ...any) error {
	return &FieldError{Field: field, Message: fmt.Sprintf(format, args...)}
}

// Limits on identifiers and values.
const (
	MaxDeviceIDLen    = 128
	MaxUserIDLen      = 128
	MinAPNsTokenLen   = 64
	MaxAPNsTokenLen   = 200
	MaxTokenLen       = 4096
	MaxUnreadCount    = 99999
	MaxAppVersionLen  = 64
	MaxLocaleLen      = 35 // BCP 47 tags are rarely longer.
	MaxTimezoneLen    = 64
	MaxCertificateID  = 1<<53 - 1 // stays exact in JSON numbers
	minCertificateID  = 1
	maxPrintableASCII = 0x7e
)

// ValidateDeviceID checks a device ID: 1–128 of [A-Za-z0-9._:-].
func ValidateDeviceID(field, id string) error {
	if id == "" || len(id) > MaxDeviceIDLen {
		return Invalid(field, "must be 1 to %d characters of A-Z a-z 0-9 . _ : -", MaxDeviceIDLen)
	}
	for i := 0; i < len(id); i++ {
		c := id[i]
		switch {
		case c >= 'a' && c <= 'z', c >= 'A' && c <= 'Z', c >= '0' && c <= '9', c == '.', c == '_', c == ':', c == '-':
		default:
			return Invalid(field, "must be 1 to %d characters of A-Z a-z 0-9 . _ : -", MaxDeviceIDLen)
		}
	}
	return nil
}

// ValidateUserID checks a user ID: 1–128 bytes of valid UTF-8 without
// control characters, slashes or the '#' that the store uses as a separator.
func ValidateUserID(field, id string) error {
	if id == "" || len(id) > MaxUserIDLen || !utf8.ValidString(id) {
		return Invalid(field, "must be 1 to %d bytes of UTF-8", MaxUserIDLen)
	}
	for _, r := range id {
		if unicode.IsControl(r) || r == '/' || r == '#' {
			return Invalid(field, "must not contain control characters, '/' or '#'")
		}
	}
	return nil
}

// ValidateToken checks a vendor token's format: APNs tokens are 64 to 200 hex
// characters; the other vendors' are 1 to 4096 printable ASCII characters.
func ValidateToken(v Vendor, token string) error {
	if v == APNs {
		if len(token) < MinAPNsTokenLen || len(token) > MaxAPNsTokenLen || !isHex(token) {
			return Invalid("token", "must be %d to %d hex characters", MinAPNsTokenLen, MaxAPNsTokenLen)
		}
		return nil
	}
	if token == "" || len(token) > MaxTokenLen {
		return Invalid("token", "must be 1 to %d printable ASCII characters", MaxTokenLen)
	}
	for i := 0; i < len(token); i++ {
		if token[i] < 0x21 || token[i] > maxPrintableASCII {
			return Invalid("token", "must be 1 to %d printable ASCII characters", MaxTokenLen)
		}
	}
	return nil
}

func isHex(s string) bool {
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !(c >= '0' && c <= '9' || c >= 'a' && c <= 'f' || c >= 'A' && c <= 'F') {
			return false
		}
	}
	return true
}

// ValidatePlatform checks the platform and that it suits the vendor: APNs
// serves iOS only, the Android vendors serve Android and HarmonyOS.
func ValidatePlatform(v Vendor, p Platform) error {
	switch p {
	case IOS, Android, Harmony:
	default:
		return Invalid("platform", "must be ios, android or harmony")
	}
	if v == APNs && p != IOS {
		return Invalid("platform", "must be ios for an apns certificate")
	}
	if v != APNs && p == IOS {
		return Invalid("platform", "ios devices need an apns certificate, not %s", v)
	}
	return nil
}

// ValidateCertificateID checks that id is a positive integer that stays exact
// in JSON.
func ValidateCertificateID(field string, id int64) error {
	if id < minCertificateID || id > MaxCertificateID {
		return Invalid(field, "must be an integer from 1 to %d", int64(MaxCertificateID))
	}
	return nil
}

// Validate checks an upload's fields, except the token, which is checked
// against the certificate's vendor once the certificate is known.
func (u Upload) Validate() error {
	if err := ValidateUserID("sub", u.UserID); err != nil {
		return err
	}
	if err := ValidateDeviceID("deviceId", u.DeviceID); err != nil {
		return err
	}
	if err := ValidateCertificateID("certificateId", u.CertificateID); err != nil {
		return err
	}
	if u.Token == "" {
		return Invalid("token", "is required")
	}
	if u.Platform == "" {
		return Invalid("platform", "is required")
	}
	if err := checkText("appVersion", u.AppVersion, MaxAppVersionLen); err != nil {
		return err
	}
	if err := checkText("locale", u.Locale, MaxLocaleLen); err != nil {
		return err
	}
	return checkText("timezone", u.Timezone, MaxTimezoneLen)
}

// Validate checks a state change.
func (s StateChange) Validate() error {
	if s.State != Foreground && s.State != Background {
		return Invalid("state", "must be foreground or background")
	}
	if s.UnreadCount != nil && (*s.UnreadCount < 0 || *s.UnreadCount > MaxUnreadCount) {
		return Invalid("unreadCount", "must be from 0 to %d", MaxUnreadCount)
	}
	return nil
}

func checkText(field, s string, max int) error {
	if len(s) > max || !utf8.ValidString(s) {
		return Invalid(field, "must be at most %d bytes of UTF-8", max)
	}
	for _, r := range s {
		if r < 0x20 || r == 0x7f {
			return Invalid(field, "must not contain control characters")
		}
	}
	return nil
}
