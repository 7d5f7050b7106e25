// Package push is offpush's portable push API: the message an app backend
// sends (Tencent's OfflinePushInfo), the per-device target, the portable
// outcome every vendor's answer maps onto, and the one small interface every
// vendor client implements. Vendor clients live under shared/vendors, one
// package each; callers write `r.Outcome == push.InvalidToken` whatever the
// vendor.
package push

import (
	"context"
	"time"

	"github.com/offpush/offpush/shared/cert"
)

// MsgType is the kind of chat message being notified.
type MsgType string

// Message types.
const (
	// Text is an ordinary message.
	Text MsgType = "text"
	// Custom is a custom message; it is pushed only when desc is set.
	Custom MsgType = "custom"
	// Call is a one-to-one call invitation: APNs VoIP where the certificate
	// allows it, high priority elsewhere.
	Call MsgType = "call"
)

// MaxTTL is the longest message lifetime (msgLifeTime), seven days.
const MaxTTL = 7 * 24 * time.Hour

// OfflinePushInfo is how a message is to be shown offline, as Tencent Cloud
// Chat's REST API and console define it.
type OfflinePushInfo struct {
	// PushFlag 1 disables the offline push.
	PushFlag    int         `json:"pushFlag"`
	Title       string      `json:"title"`
	Desc        string      `json:"desc"`
	Ext         string      `json:"ext"`
	AndroidInfo AndroidInfo `json:"androidInfo"`
	APNsInfo    APNsInfo    `json:"apnsInfo"`
}

// AndroidInfo holds the Android vendors' fields.
type AndroidInfo struct {
	Sound                  string `json:"sound"`
	HuaweiChannelID        string `json:"huaweiChannelId"`
	HuaweiCategory         string `json:"huaweiCategory"`
	HuaweiImportance       string `json:"huaweiImportance"`
	HuaweiImage            string `json:"huaweiImage"`
	ExtAsHuaweiIntentParam int    `json:"extAsHuaweiIntentParam"`
	XiaomiChannelID        string `json:"xiaomiChannelId"`
	OPPOChannelID          string `json:"oppoChannelId"`
	OPPOCategory           string `json:"oppoCategory"`
	OPPONotifyLevel        int    `json:"oppoNotifyLevel"`
	// VivoClassification is 0 (operations) or 1 (system); nil means system
	// for chat messages.
	VivoClassification *int   `json:"vivoClassification"`
	VivoCategory       string `json:"vivoCategory"`
	VivoNotifyType     int    `json:"vivoNotifyType"`
	HonorImportance    string `json:"honorImportance"`
	HonorImage         string `json:"honorImage"`
	GoogleChannelID    string `json:"googleChannelId"`
	GoogleImage        string `json:"googleImage"`
	GooglePriority     string `json:"googlePriority"`
	MeizuNoticeMsgType int    `json:"meizuNoticeMsgType"`
}

// APNsInfo holds Apple's fields.
type APNsInfo struct {
	// Sound: "" or "default" is the default sound, "push.no_sound" is
	// silent, anything else a sound file in the app bundle.
	Sound string `json:"sound"`
	// BadgeMode 0 counts the message in the badge, 1 does not.
	BadgeMode      int    `json:"badgeMode"`
	Title          string `json:"title"`
	SubTitle       string `json:"subTitle"`
	Image          string `json:"image"`
	MutableContent int    `json:"mutableContent"`
}

// Sound values with a meaning of their own.
const (
	SoundDefault = "default"
	SoundNone    = "push.no_sound"
)

// Message is one notification to deliver: the content every targeted device
// gets. What differs per device is in Target.
type Message struct {
	// ID identifies the message across retries; vendors that take a request
	// or notify ID get one derived from it.
	ID           string          `json:"id"`
	Type         MsgType         `json:"msgType"`
	From         string          `json:"from"`
	FromNickname string          `json:"fromNickname,omitempty"`
	Info         OfflinePushInfo `json:"offlinePushInfo"`
	// TTL is how long the vendor keeps the message for an offline device.
	TTL time.Duration `json:"ttl"`
	// DryRun builds and validates every payload (with the vendor's
	// validate-only mode where it has one) and delivers nothing.
	DryRun bool `json:"dryRun,omitempty"`
}

// Title is the notification title: the given title, else the sender's
// nickname, else the sender's ID, as Tencent does.
func (m *Message) Title() string {
	switch {
	case m.Info.Title != "":
		return m.Info.Title
	case m.FromNickname != "":
		return m.FromNickname
	}
	return m.From
}

// CountsBadge reports whether the message counts towards the app badge
// (apnsInfo.badgeMode 0).
func (m *Message) CountsBadge() bool { return m.Info.APNsInfo.BadgeMode == 0 }

// Target is one device to deliver to.
type Target struct {
	Token string
	// Badge is the app badge to show (the device's unread count after this
	// message), or nil to leave the badge alone.
	Badge *int
}

// Outcome is the portable result of a delivery to one device.
type Outcome string

// Outcomes.
const (
	// Sent: the vendor accepted the message for the device.
	Sent Outcome = "sent"
	// InvalidToken: the vendor says the token is dead; remove it.
	InvalidToken Outcome = "invalid_token"
	// Retryable: a passing failure (rate limit, overload, 5xx, timeout);
	// retry later, after RetryAfter if set.
	Retryable Outcome = "retryable"
	// Quota: a daily or per-device quota is spent; do not retry today.
	Quota Outcome = "quota"
	// Auth: the certificate's credentials were refused; tokens are fine.
	Auth Outcome = "auth"
	// Rejected: the vendor refused the request as it is (content, size,
	// permission); retrying it unchanged will not help.
	Rejected Outcome = "rejected"
	// InvalidArgument: offpush refused the message before sending: it
	// breaks a vendor limit (payload size, title length).
	InvalidArgument Outcome = "invalid_argument"
)

// Result is the outcome for one target.
type Result struct {
	Outcome Outcome
	// Reason is the vendor's own reason or code, or offpush's, for the push
	// check and logs.
	Reason string
	// MessageID is the vendor's message or request ID, when sent.
	MessageID string
	// RetryAfter is the vendor's requested delay, for Retryable.
	RetryAfter time.Duration
}

// Request is one vendor request exactly as it would be sent: what capture
// mode records and dry runs show.
type Request struct {
	// Targets are the indexes, into the targets given, this request carries.
	Targets []int
	// Target is what the request addresses: a token, or tokens joined by ",".
	Target string
	// URL is the request URL.
	URL string
	// Header holds the request headers that carry meaning (APNs push type,
	// topic, priority, expiration); never credentials.
	Header map[string]string
	// Payload is the body: JSON, or the form for form-encoded vendors.
	Payload []byte
}

// Client is a vendor client for one certificate. Every vendor package
// provides one, built with New(cert, *Env).
type Client interface {
	// Requests builds the requests Send would make, in order, without
	// sending. Targets whose payload breaks a vendor limit get an
	// InvalidArgument result and are in no request; results has one entry
	// per target, the zero Result for those in a request.
	Requests(m *Message, targets []Target) (reqs []Request, results []Result)
	// Send delivers m to targets, batching to the vendor's limit, and
	// returns one result per target in input order. It does not retry
	// Retryable outcomes: the caller decides with the remaining deadline.
	Send(ctx context.Context, m *Message, targets []Target) []Result
}

// Factory builds a vendor client for a certificate.
type Factory func(c cert.Certificate, env *Env) (Client, error)
