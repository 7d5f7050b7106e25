package delivery

import (
	"github.com/offpush/offpush/shared/device"
	"github.com/offpush/offpush/shared/push"
)

// Status is a device's result in a push response.
type Status string

// Statuses.
const (
	Sent    Status = "sent"
	Skipped Status = "skipped"
	Failed  Status = "failed"
)

// Reasons a device was skipped or failed.
const (
	// Skipped.
	ReasonForeground   = "foreground"
	ReasonLoggedOut    = "logged_out"
	ReasonKicked       = "kicked"
	ReasonInvalidToken = "invalid_token"
	ReasonPushDisabled = "push_disabled"
	ReasonNoDesc       = "no_desc"
	ReasonOnlineOnly   = "online_only"
	ReasonQuota        = "quota"
	// Failed (besides invalid_token and quota).
	ReasonAuth        = "auth"
	ReasonRejected    = "rejected"
	ReasonUnavailable = "unavailable"
)

// SkipReason says why m is not pushed to d, or "" if it is. Message-level
// rules come first, so every device of a push that is not sent shows the
// same reason; then the device's status; then its state. testPush ignores
// the foreground state, as the push check's test push does.
func SkipReason(m *push.Message, d device.Device, testPush bool) string {
	switch {
	case m.Info.PushFlag == 1:
		return ReasonPushDisabled
	case m.Type == push.Custom && m.Info.Desc == "":
		return ReasonNoDesc
	case m.TTL <= 0:
		return ReasonOnlineOnly
	}
	switch d.Status {
	case device.LoggedOut:
		return ReasonLoggedOut
	case device.Kicked:
		return ReasonKicked
	case device.InvalidToken:
		return ReasonInvalidToken
	}
	if d.Token == "" {
		return ReasonLoggedOut
	}
	if d.State == device.Foreground && !testPush {
		return ReasonForeground
	}
	return ""
}

// failure maps a vendor outcome that is not Sent onto a failed reason.
func failure(o push.Outcome) string {
	switch o {
	case push.InvalidToken:
		return ReasonInvalidToken
	case push.Auth:
		return ReasonAuth
	case push.Quota:
		return ReasonQuota
	case push.Retryable:
		return ReasonUnavailable
	}
	return ReasonRejected // Rejected, InvalidArgument
}
