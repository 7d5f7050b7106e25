// Package cert holds vendor credentials ("certificates", Tencent's business
// IDs): the registered APNs key or certificate, FCM service account, or
// vendor app secrets that an app names by integer ID when it uploads a token.
// It validates each vendor's credential at registration and redacts secrets
// for every response.
package cert

import (
	"time"

	"github.com/offpush/offpush/shared/device"
)

// Certificate is one registered vendor credential with its push defaults.
// Exactly one of the vendor objects is set, the one named by Vendor.
type Certificate struct {
	ID     int64         `json:"id"`
	Vendor device.Vendor `json:"vendor"`
	Name   string        `json:"name"`

	APNs   *APNs   `json:"apns,omitempty"`
	FCM    *FCM    `json:"fcm,omitempty"`
	Huawei *Huawei `json:"huawei,omitempty"`
	Honor  *Honor  `json:"honor,omitempty"`
	Xiaomi *Xiaomi `json:"xiaomi,omitempty"`
	OPPO   *OPPO   `json:"oppo,omitempty"`
	Vivo   *Vivo   `json:"vivo,omitempty"`
	Meizu  *Meizu  `json:"meizu,omitempty"`

	// ClickAction is what a notification tap does on Android vendors.
	ClickAction ClickAction `json:"clickAction"`
	// BadgeClass is the launcher activity class Huawei and Honor need to set
	// an app icon badge.
	BadgeClass string `json:"badgeClass"`
	// DefaultChannelID is the Android notification channel used when a push
	// names none (OPPO shows nothing on Android 8+ without one).
	DefaultChannelID string `json:"defaultChannelId"`

	CreatedAt time.Time `json:"createdAt"`
	UpdatedAt time.Time `json:"updatedAt"`
}

// ClickAction is what happens when the user taps a notification.
type ClickAction struct {
	// Type is openApp, openUrl or openPage.
	Type string `json:"type"`
	// URL is the page openUrl opens.
	URL string `json:"url,omitempty"`
	// Intent is the intent URI openPage opens (Huawei, Honor, OPPO, vivo, Xiaomi).
	Intent string `json:"intent,omitempty"`
	// Activity is the activity class openPage opens (OPPO, Meizu).
	Activity string `json:"activity,omitempty"`
}

// Click action types.
const (
	ClickOpenApp  = "openApp"
	ClickOpenURL  = "openUrl"
	ClickOpenPage = "openPage"
)

// APNs is an Apple Push Notification service credential: either a token
// signing key (.p8 with teamId and keyId) or a TLS certificate (.p12).
type APNs struct {
	// Environment is production or sandbox (development builds).
	Environment string `json:"environment"`
	BundleID    string `json:"bundleId"`
	TeamID      string `json:"teamId,omitempty"`
	KeyID       string `json:"keyId,omitempty"`
	PrivateKey  string `json:"privateKey,omitempty"` // secret: .p8 PEM
	P12         string `json:"p12,omitempty"`        // secret: base64 PKCS#12
	Password    string `json:"password,omitempty"`   // secret: .p12 password
	// VoIP marks a credential that may send VoIP pushes (call invitations).
	VoIP bool `json:"voip"`
	// CertificateExpiresAt is the .p12 certificate's NotAfter, filled in at
	// registration; nil for token auth.
	CertificateExpiresAt *time.Time `json:"certificateExpiresAt,omitempty"`
}

// APNs environments.
const (
	Production = "production"
	Sandbox    = "sandbox"
)

// FCM is a Firebase Cloud Messaging service account.
type FCM struct {
	ServiceAccountJSON string `json:"serviceAccountJson,omitempty"` // secret
	// ProjectID and ClientEmail are read from the service account at
	// registration and shown in place of it.
	ProjectID   string `json:"projectId,omitempty"`
	ClientEmail string `json:"clientEmail,omitempty"`
}

// Huawei is a Huawei Push Kit app credential.
type Huawei struct {
	AppID     string `json:"appId"`
	AppSecret string `json:"appSecret,omitempty"` // secret
}

// Honor is a Honor Push app credential.
type Honor struct {
	AppID        string `json:"appId"`
	ClientID     string `json:"clientId"`
	ClientSecret string `json:"clientSecret,omitempty"` // secret
}

// Xiaomi is a Xiaomi MiPush app credential.
type Xiaomi struct {
	AppSecret   string `json:"appSecret,omitempty"` // secret
	PackageName string `json:"packageName"`
	// Region is china or global; it picks the API host.
	Region string `json:"region"`
}

// Xiaomi regions.
const (
	RegionChina  = "china"
	RegionGlobal = "global"
)

// OPPO is an OPPO Push app credential.
type OPPO struct {
	AppKey       string `json:"appKey"`
	MasterSecret string `json:"masterSecret,omitempty"` // secret
}

// Vivo is a vivo Push app credential.
type Vivo struct {
	AppID     string `json:"appId"`
	AppKey    string `json:"appKey"`
	AppSecret string `json:"appSecret,omitempty"` // secret
}

// Meizu is a Meizu Flyme Push app credential.
type Meizu struct {
	AppID     string `json:"appId"`
	AppSecret string `json:"appSecret,omitempty"` // secret
}
