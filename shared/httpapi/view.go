package httpapi

import (
	"time"

	"github.com/offpush/offpush/shared/device"
)

// Device is the API's view of a device: never the full token.
type Device struct {
	DeviceID      string          `json:"deviceId"`
	UserID        string          `json:"userId"`
	CertificateID int64           `json:"certificateId"`
	Vendor        device.Vendor   `json:"vendor"`
	Platform      device.Platform `json:"platform"`
	State         device.State    `json:"state"`
	Status        device.Status   `json:"status"`
	UnreadCount   int             `json:"unreadCount"`
	TokenSuffix   string          `json:"tokenSuffix"`
	AppVersion    string          `json:"appVersion"`
	Locale        string          `json:"locale"`
	Timezone      string          `json:"timezone"`
	CreatedAt     time.Time       `json:"createdAt"`
	UpdatedAt     time.Time       `json:"updatedAt"`
	// ExpiresAt is when the device expires unless its token is uploaded again.
	ExpiresAt time.Time `json:"expiresAt"`
}

// DeviceView renders d for the API.
func DeviceView(d device.Device) Device {
	return Device{
		DeviceID:      d.DeviceID,
		UserID:        d.UserID,
		CertificateID: d.CertificateID,
		Vendor:        d.Vendor,
		Platform:      d.Platform,
		State:         d.State,
		Status:        d.Status,
		UnreadCount:   d.UnreadCount,
		TokenSuffix:   d.TokenSuffix(),
		AppVersion:    d.AppVersion,
		Locale:        d.Locale,
		Timezone:      d.Timezone,
		CreatedAt:     d.CreatedAt.UTC(),
		UpdatedAt:     d.UpdatedAt.UTC(),
		ExpiresAt:     d.ExpiresAt().UTC(),
	}
}

// DeviceViews renders a list of devices, never nil.
func DeviceViews(ds []device.Device) []Device {
	out := make([]Device, 0, len(ds))
	for _, d := range ds {
		out = append(out, DeviceView(d))
	}
	return out
}
