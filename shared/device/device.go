// Package device holds offpush's core domain types — devices, users, vendors —
// and the pure validation rules for them. It imports only the standard library
// so that every function, including token-upload, can use it without linking
// any vendor SDK.
package device

import (
	"time"
)

// Vendor names a push channel.
type Vendor string

// The eight supported push channels.
const (
	APNs   Vendor = "apns"
	FCM    Vendor = "fcm"
	Huawei Vendor = "huawei"
	Honor  Vendor = "honor"
	Xiaomi Vendor = "xiaomi"
	OPPO   Vendor = "oppo"
	Vivo   Vendor = "vivo"
	Meizu  Vendor = "meizu"
)

// Vendors lists every supported vendor in a stable order.
var Vendors = []Vendor{APNs, FCM, Huawei, Honor, Xiaomi, OPPO, Vivo, Meizu}

// Valid reports whether v is one of the supported vendors.
func (v Vendor) Valid() bool {
	for _, k := range Vendors {
		if v == k {
			return true
		}
	}
	return false
}

// State is what the app last reported about itself.
type State string

// App states. A foreground app shows its own notifications, so the backend
// does not push to it; a background (or killed) app gets offline pushes.
const (
	Foreground State = "foreground"
	Background State = "background"
)

// Status is the device's push eligibility as the server sees it.
type Status string

// Device statuses.
const (
	// Active devices hold a token and may be pushed to.
	Active Status = "active"
	// LoggedOut devices cleared their token (logout, clearToken) or lost it to
	// another user who uploaded the same token.
	LoggedOut Status = "logged_out"
	// Kicked devices were logged out by an admin (multi-device login) and get
	// nothing until they upload a token again.
	Kicked Status = "kicked"
	// InvalidToken devices had their token rejected by the vendor as dead;
	// they get nothing until the app uploads a new token.
	InvalidToken Status = "invalid"
)

// Platform is the device's operating system.
type Platform string

// Supported platforms.
const (
	IOS     Platform = "ios"
	Android Platform = "android"
	Harmony Platform = "harmony"
)

// TokenLifetime is how long a device lives without a fresh token upload.
// FCM tokens go stale after 270 days of inactivity; offpush expires devices
// on the same schedule.
const TokenLifetime = 270 * 24 * time.Hour

// DefaultMaxDevices is the default cap on devices per user.
const DefaultMaxDevices = 20

// Device is one app installation of one user. Token is the full vendor token:
// it never leaves the server (see TokenSuffix).
type Device struct {
	UserID        string    `json:"userId"`
	DeviceID      string    `json:"deviceId"`
	CertificateID int64     `json:"certificateId"`
	Vendor        Vendor    `json:"vendor"`
	Platform      Platform  `json:"platform"`
	Token         string    `json:"token,omitempty"`
	State         State     `json:"state"`
	Status        Status    `json:"status"`
	UnreadCount   int       `json:"unreadCount"`
	AppVersion    string    `json:"appVersion,omitempty"`
	Locale        string    `json:"locale,omitempty"`
	Timezone      string    `json:"timezone,omitempty"`
	CreatedAt     time.Time `json:"createdAt"`
	// UpdatedAt is the last activity: upload, state change, kick, logout.
	// The least recently updated device is evicted when a user is over the cap.
	UpdatedAt time.Time `json:"updatedAt"`
	// TokenAt is the last token upload; the device expires TokenLifetime after it.
	TokenAt time.Time `json:"tokenAt"`
	// LastResult is the device's last push result, nil until one is recorded.
	LastResult *LastResult `json:"lastResult,omitempty"`
}

// LastResult is a device's last push result, shown by the push check.
type LastResult struct {
	// Outcome is sent, skipped or failed.
	Outcome string `json:"outcome"`
	// Reason says why it was skipped or failed.
	Reason string `json:"reason,omitempty"`
	// Detail is the vendor's own reason or code.
	Detail string `json:"detail,omitempty"`
	// MessageID is the vendor's message ID of a sent push.
	MessageID string    `json:"messageId,omitempty"`
	At        time.Time `json:"at"`
}

// ExpiresAt is when the device expires unless its token is uploaded again.
func (d Device) ExpiresAt() time.Time { return d.TokenAt.Add(TokenLifetime) }

// Expired reports whether the device has gone TokenLifetime without an upload.
func (d Device) Expired(now time.Time) bool { return !now.Before(d.ExpiresAt()) }

// TokenSuffix is the last four characters of the token, the only part of it
// any route or log line shows.
func (d Device) TokenSuffix() string { return MaskSuffix(d.Token) }

// MaskSuffix returns the last four bytes of a token, or "" for an empty one.
func MaskSuffix(token string) string {
	if len(token) <= 4 {
		return token
	}
	return token[len(token)-4:]
}

// Mask renders a token for logs: its length and last four characters.
func Mask(token string) string {
	if token == "" {
		return ""
	}
	return "…" + MaskSuffix(token)
}

// User is what the store knows about one user.
type User struct {
	UserID     string            `json:"userId"`
	Tags       []string          `json:"tags"`
	Attributes map[string]string `json:"attributes"`
	Devices    []Device          `json:"devices"`
}

// Upload is a token upload: create the device or replace its token and certificate.
type Upload struct {
	UserID        string
	DeviceID      string
	CertificateID int64
	Token         string
	Platform      Platform
	AppVersion    string
	Locale        string
	Timezone      string
}

// StateChange is a foreground/background report. A nil UnreadCount leaves the
// stored count as it is.
type StateChange struct {
	State       State
	UnreadCount *int
}
