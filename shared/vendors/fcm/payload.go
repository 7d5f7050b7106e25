package fcm

import (
	"encoding/json"
	"fmt"
	"net/url"
	"strconv"
	"strings"
	"time"

	"firebase.google.com/go/v4/messaging"

	"github.com/offpush/offpush/shared/cert"
	"github.com/offpush/offpush/shared/push"
)

// Limits FCM enforces, checked before anything is sent.
const (
	// MaxPayloadBytes is FCM's message size limit for messages to tokens:
	// "4096 bytes for most messages, or 2048 bytes in the case of messages
	// to topics. This includes both the keys and the values" (ErrorCode
	// reference, INVALID_ARGUMENT). offpush counts the JSON of the message
	// object without its token field, which is never less than what FCM
	// counts, so a message that passes here is not refused as too big.
	MaxPayloadBytes = 4096
	// MaxTTL is the longest android.ttl FCM accepts: "a duration from 0 to
	// 2,419,200 seconds (28 days)" (Set the lifespan of a message).
	MaxTTL = 28 * 24 * time.Hour
)

// Android message priorities (android.priority).
const (
	PriorityHigh   = "high"
	PriorityNormal = "normal"
)

// ExtKey is the data key that carries OfflinePushInfo.ext. The app's FCM
// handler (and Tencent's push plugin) reads it from the notification tap
// intent's extras, where FCM puts the data payload.
const ExtKey = "ext"

// LimitError is a message that breaks an FCM limit or field rule; the
// targets it concerns get push.InvalidArgument and are never sent.
type LimitError struct{ Reason string }

func (e *LimitError) Error() string { return e.Reason }

func limitf(format string, args ...any) *LimitError {
	return &LimitError{Reason: fmt.Sprintf(format, args...)}
}

// Build maps one push to one target onto the FCM message Send would send,
// applying offpush's rules (design §4):
//
//   - notification title is m.Title(), body is m.Info.Desc, image is
//     androidInfo.googleImage;
//   - data carries {"ext": ext} when ext is set (data values are strings,
//     and "ext" is none of FCM's reserved keys: from, gcm, google*);
//   - android.priority is androidInfo.googlePriority, high by default (chat
//     messages are time-sensitive), and always high for call invitations;
//   - android.ttl is m.TTL in whole seconds, clamped to 0..28 days;
//   - android.notification.channel_id is androidInfo.googleChannelId, else
//     the certificate's default channel; sound is androidInfo.sound,
//     "default" when empty, and none for push.no_sound; click_action comes
//     from the certificate's click action (see clickAction);
//     notification_count is the target's badge when it has one.
//
// The message is Android-focused: it has no apns or webpush block. An iOS
// app registered with FCM still gets the title and body from the common
// notification block, but badge and sound are only set for Android; iOS
// devices are meant to use the APNs certificate.
//
// FCM takes no message or request ID, so m.ID is not sent: FCM v1 has no
// idempotency key, and collapse_key would merge distinct chat messages.
//
// A *LimitError is returned for a message that breaks a limit.
func Build(m *push.Message, t push.Target, c cert.Certificate) (*messaging.Message, error) {
	tpl, err := newTemplate(m, c)
	if err != nil {
		return nil, err
	}
	msg, _, err := tpl.forTarget(t)
	return msg, err
}

// template is what every target of one push shares: the message without a
// token and badge, built and measured once per Send.
type template struct {
	msg     messaging.Message
	android messaging.AndroidConfig
	notif   messaging.AndroidNotification
	ttl     time.Duration
	// size is the payload bytes of msg (no token, no notification_count).
	size int
	// notifEmpty reports whether android.notification marshals as {}; a
	// notification_count is then added without a leading comma.
	notifEmpty bool
}

func newTemplate(m *push.Message, c cert.Certificate) (*template, error) {
	info := m.Info
	a := info.AndroidInfo
	t := &template{}

	t.msg.Notification = &messaging.Notification{Title: m.Title(), Body: info.Desc}
	if a.GoogleImage != "" {
		if err := checkImageURL(a.GoogleImage); err != nil {
			return nil, err
		}
		t.msg.Notification.ImageURL = a.GoogleImage
	}
	if info.Ext != "" {
		t.msg.Data = map[string]string{ExtKey: info.Ext}
	}

	priority, err := androidPriority(m)
	if err != nil {
		return nil, err
	}
	t.android.Priority = priority
	t.ttl = ttl(m.TTL)
	t.android.TTL = &t.ttl

	t.notif.ChannelID = a.GoogleChannelID
	if t.notif.ChannelID == "" {
		t.notif.ChannelID = c.DefaultChannelID
	}
	t.notif.Sound = androidSound(a.Sound)
	t.notif.ClickAction = clickAction(c.ClickAction)
	t.android.Notification = &t.notif
	t.msg.Android = &t.android

	b, err := json.Marshal(&t.msg)
	if err != nil {
		return nil, limitf("encode message: %v", err)
	}
	t.size = len(b)
	// The only android.notification fields set here; TestPayloadSize
	// checks this against the encoding.
	t.notifEmpty = t.notif.ChannelID == "" && t.notif.Sound == "" && t.notif.ClickAction == ""
	return t, nil
}

// forTarget returns the message for one target and its payload bytes. The
// template's parts are shared read-only; a target with a badge gets its own
// copy of the android block.
func (t *template) forTarget(tg push.Target) (*messaging.Message, int, error) {
	if tg.Token == "" {
		return nil, 0, limitf("empty FCM registration token")
	}
	size := t.size
	badge := tg.Badge != nil && *tg.Badge >= 0
	if badge {
		size += badgeBytes(*tg.Badge, t.notifEmpty)
	}
	if size > MaxPayloadBytes {
		return nil, size, limitf("FCM payload is %d bytes; the limit is %d (title, body, ext and android fields count)", size, MaxPayloadBytes)
	}
	msg := new(messaging.Message)
	*msg = t.msg
	msg.Token = tg.Token
	if badge {
		android := t.android
		notif := t.notif
		n := *tg.Badge
		notif.NotificationCount = &n
		android.Notification = &notif
		msg.Android = &android
	}
	return msg, size, nil
}

// badgeBytes is what `"notification_count":N` adds to the android
// notification object.
func badgeBytes(n int, notifEmpty bool) int {
	b := len(`"notification_count":`) + len(strconv.Itoa(n))
	if !notifEmpty {
		b++ // the comma before it
	}
	return b
}

// payloadSize measures msg as FCM's size limit is checked here: the JSON of
// the message object without its token.
func payloadSize(msg *messaging.Message) (int, error) {
	m := *msg
	m.Token = ""
	b, err := json.Marshal(&m)
	return len(b), err
}

func androidPriority(m *push.Message) (string, error) {
	if m.Type == push.Call {
		return PriorityHigh, nil
	}
	switch p := strings.ToLower(strings.TrimSpace(m.Info.AndroidInfo.GooglePriority)); p {
	case "":
		return PriorityHigh, nil
	case PriorityHigh, PriorityNormal:
		return p, nil
	default:
		return "", limitf("androidInfo.googlePriority must be %s or %s, not %q", PriorityHigh, PriorityNormal, m.Info.AndroidInfo.GooglePriority)
	}
}

// ttl is the android.ttl for a message lifetime: whole seconds (the SDK
// writes "Ns"), 0..28 days.
func ttl(d time.Duration) time.Duration {
	d = d.Truncate(time.Second)
	return min(max(d, 0), MaxTTL)
}

// androidSound maps androidInfo.sound: empty or "default" plays the default
// sound, push.no_sound plays none (no sound field: on Android 8+ the channel
// decides anyway), anything else names a sound resource in the app's
// res/raw.
func androidSound(s string) string {
	switch s {
	case "", push.SoundDefault:
		return push.SoundDefault
	case push.SoundNone:
		return ""
	}
	return s
}

// clickAction maps the certificate's click action onto
// android.notification.click_action, which names an intent action that an
// activity of the app filters for. Only openPage with an intent given as an
// action name (com.example.chat.OPEN_CHAT) maps onto it. FCM has no field
// that opens a URL or an intent URI (intent://…#Intent;…;end) from an
// Android notification, and an activity class is not an action, so openUrl,
// intent URIs and activities leave click_action unset: the tap opens the app,
// which reads ext.
func clickAction(a cert.ClickAction) string {
	if a.Type != cert.ClickOpenPage || !isActionName(a.Intent) {
		return ""
	}
	return a.Intent
}

// isActionName reports whether s looks like an Android intent action: dot-
// separated Java identifiers.
func isActionName(s string) bool {
	if s == "" {
		return false
	}
	for _, part := range strings.Split(s, ".") {
		if part == "" || part[0] >= '0' && part[0] <= '9' {
			return false
		}
		for i := 0; i < len(part); i++ {
			c := part[i]
			if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '_' || c == '$') {
				return false
			}
		}
	}
	return true
}

// checkImageURL accepts what the SDK's own check (url.ParseRequestURI)
// accepts, limited to http and https: the device downloads the image.
func checkImageURL(s string) error {
	u, err := url.ParseRequestURI(s)
	if err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" {
		return limitf("androidInfo.googleImage must be an absolute http or https URL")
	}
	return nil
}
