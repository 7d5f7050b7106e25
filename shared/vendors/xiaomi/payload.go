// Package xiaomi delivers offpush notifications through Xiaomi MiPush's
// server API: one form-encoded POST to {host}/v3/message/regid per batch of
// regIds, authenticated by the header "Authorization: key=<AppSecret>".
//
// The form follows Xiaomi's parameter list (dev.mi.com pId=1559, as copied
// into modood/pushapi's xiaomipush package): flat keys, with the extra.*
// options such as extra.channel_id written as keys of their own, never as a
// JSON object, exactly as modood's StructToUrlValues flattens them.
package xiaomi

import (
	"errors"
	"fmt"
	"hash/fnv"
	"net/url"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/offpush/offpush/shared/cert"
	"github.com/offpush/offpush/shared/push"
)

// Production hosts, picked by the certificate's region. OFFPUSH_XIAOMI_URL
// replaces both.
const (
	HostChina  = "https://api.xmpush.xiaomi.com"
	HostGlobal = "https://api.xmpush.global.xiaomi.com"
	// SendPath is the send-by-regId path, appended to the host or override.
	SendPath = "/v3/message/regid"
)

// Limits of a Xiaomi notification message.
const (
	// MaxRegIDs is the most regIds one request carries. 1000 is the figure
	// SDKs and summaries cite; Xiaomi's own page could not be read to confirm
	// it [?], and a smaller real limit would show as a parameter error.
	MaxRegIDs = 1000
	// MaxTitleChars and MaxDescriptionChars: Xiaomi wants the title shorter
	// than 50 characters and the description shorter than 128, counting every
	// Chinese or Latin character as one, and neither may be all blank.
	MaxTitleChars       = 49
	MaxDescriptionChars = 127
	// MaxTTL is the longest Xiaomi keeps a message for an offline device
	// (two weeks); time_to_live is sent in milliseconds.
	MaxTTL = 14 * 24 * time.Hour
	// MaxExtraChars bounds every custom extra key and value; Xiaomi allows at
	// most 10 custom pairs, of which offpush uses one (extra.ext).
	MaxExtraChars = 1024
	// MaxNotifyID is the largest notify_id Xiaomi takes.
	MaxNotifyID = 2147483647
)

// Notify types (notify_type): NotifyDefaultAll, or an OR of the others.
const (
	NotifyDefaultAll = -1
	NotifySound      = 1
	NotifyVibrate    = 2
	NotifyLights     = 4
)

// Notify effects (extra.notify_effect): what a tap on the notification opens.
const (
	EffectLauncher = "1" // the app's launcher activity
	EffectActivity = "2" // the activity named by extra.intent_uri
	EffectWeb      = "3" // the web page in extra.web_uri
)

// Message is the form of one send request, field by field; the comments name
// Xiaomi's parameters.
type Message struct {
	// RegistrationID is registration_id: the batch's regIds joined by ",".
	RegistrationID string
	// RestrictedPackageName is restricted_package_name: the app package.
	RestrictedPackageName string
	// PassThrough is pass_through: 0, a notification shown by the system.
	PassThrough int
	// Title is title.
	Title string
	// Description is description: the notification body.
	Description string
	// Payload is payload, what MiPushMessage.getContent() returns: offpush's
	// ext, so that apps reading the content get it too.
	Payload string
	// NotifyType is notify_type: NotifyDefaultAll or an OR of the others.
	NotifyType int
	// NotifyID is notify_id, 0..MaxNotifyID; a negative value leaves it out.
	// Two notifications with one notify_id replace each other, so each
	// message gets its own, derived from its ID.
	NotifyID int64
	// TimeToLive is time_to_live in milliseconds; 0 leaves Xiaomi's default.
	TimeToLive int64
	// Extra holds the extra.* keys.
	Extra Extra
}

// Extra holds the extra.* form keys offpush sends.
type Extra struct {
	// ChannelID is extra.channel_id, the Android notification channel
	// (MIUI files a message without one under its default, rate-limited
	// class; the channel must be registered in Xiaomi's console).
	ChannelID string
	// NotifyEffect is extra.notify_effect, one of the Effect constants.
	NotifyEffect string
	// IntentURI is extra.intent_uri, the activity EffectActivity opens.
	IntentURI string
	// WebURI is extra.web_uri, the page EffectWeb opens.
	WebURI string
	// SoundURI is extra.sound_uri, a custom sound in the app's res/raw.
	SoundURI string
	// Ext is extra.ext, the custom key the app reads on a tap with
	// MiPushMessage.getExtra().get("ext"), as Tencent's TUIOfflinePush
	// XiaomiMsgReceiver does.
	Ext string
}

// Build maps a message onto the form Xiaomi takes, without the regIds
// (set RegistrationID per batch). It is pure: the same message and
// certificate always give the same form. It fails when the message breaks a
// Xiaomi limit; every target of the message then gets push.InvalidArgument
// with the error as the reason.
//
// msgType call has no Xiaomi counterpart on this API (it has no priority
// field), so a call is sent like any other message.
func Build(m *push.Message, c cert.Certificate) (Message, error) {
	x := c.Xiaomi
	if x == nil {
		return Message{}, errors.New("certificate has no xiaomi credential")
	}
	title := m.Title()
	if err := checkText("title", title, MaxTitleChars); err != nil {
		return Message{}, err
	}
	if err := checkText("description", m.Info.Desc, MaxDescriptionChars); err != nil {
		return Message{}, err
	}
	ext := m.Info.Ext
	if n := utf8.RuneCountInString(ext); n > MaxExtraChars {
		return Message{}, fmt.Errorf("ext: %d characters, Xiaomi allows at most %d in an extra value", n, MaxExtraChars)
	}
	out := Message{
		RestrictedPackageName: x.PackageName,
		Title:                 title,
		Description:           m.Info.Desc,
		Payload:               ext,
		NotifyID:              NotifyID(m.ID),
		TimeToLive:            ttlMillis(m.TTL),
		Extra: Extra{
			ChannelID: m.Info.AndroidInfo.XiaomiChannelID,
			Ext:       ext,
		},
	}
	if out.Extra.ChannelID == "" {
		out.Extra.ChannelID = c.DefaultChannelID
	}
	out.NotifyType, out.Extra.SoundURI = sound(m.Info.AndroidInfo.Sound, x.PackageName)
	if err := click(&out.Extra, c.ClickAction, x.PackageName); err != nil {
		return Message{}, err
	}
	return out, nil
}

// checkText enforces Xiaomi's title and description rules: required, not
// all blank, at most max characters.
func checkText(field, s string, max int) error {
	if strings.TrimSpace(s) == "" {
		return fmt.Errorf("%s: required, and Xiaomi refuses an all-blank %s", field, field)
	}
	if n := utf8.RuneCountInString(s); n > max {
		return fmt.Errorf("%s: %d characters, Xiaomi allows fewer than %d", field, n, max+1)
	}
	return nil
}

// sound maps androidInfo.sound: empty or "default" plays the default sound
// (with vibration and lights); "push.no_sound" keeps vibration and lights
// only; any other value names a sound file in the app's res/raw, played
// instead of the default sound. Android resource names carry no extension,
// so one given is dropped. Dropping DEFAULT_SOUND from notify_type when a
// custom sound is set keeps the default from overriding it [?: Xiaomi's
// page on sound_uri could not be read].
func sound(s, pkg string) (notifyType int, soundURI string) {
	switch s {
	case "", push.SoundDefault:
		return NotifyDefaultAll, ""
	case push.SoundNone:
		return NotifyVibrate | NotifyLights, ""
	}
	if i := strings.LastIndexByte(s, '.'); i > 0 {
		s = s[:i]
	}
	return NotifyVibrate | NotifyLights, "android.resource://" + pkg + "/raw/" + s
}

// click maps the certificate's click action onto notify_effect and its
// target. An openPage action with only an activity class becomes the intent
// URI Android's Intent.toUri would write for it.
func click(e *Extra, a cert.ClickAction, pkg string) error {
	switch a.Type {
	case "", cert.ClickOpenApp:
		e.NotifyEffect = EffectLauncher
	case cert.ClickOpenURL:
		e.NotifyEffect, e.WebURI = EffectWeb, a.URL
	case cert.ClickOpenPage:
		e.NotifyEffect, e.IntentURI = EffectActivity, a.Intent
		if e.IntentURI == "" {
			e.IntentURI = "intent:#Intent;component=" + pkg + "/" + a.Activity + ";end"
		}
	default:
		return fmt.Errorf("clickAction.type: %q is not one Xiaomi can carry", a.Type)
	}
	return nil
}

// NotifyID derives notify_id from a message ID: FNV-1a, folded into Xiaomi's
// 0..2147483647 range, so a retried message replaces its own notification
// and different messages stack. An empty ID gives -1 (no notify_id).
func NotifyID(id string) int64 {
	if id == "" {
		return -1
	}
	h := fnv.New32a()
	h.Write([]byte(id))
	return int64(h.Sum32() & MaxNotifyID)
}

// ttlMillis is m.TTL in milliseconds, clamped to MaxTTL. A zero TTL leaves
// Xiaomi's default: callers skip online-only messages (msgLifeTime 0) before
// any vendor is asked.
func ttlMillis(ttl time.Duration) int64 {
	if ttl <= 0 {
		return 0
	}
	return min(ttl, MaxTTL).Milliseconds()
}

// Form is the message as Xiaomi's form parameters: flat keys, extra options
// as extra.<name>, empty optional values left out.
func (m *Message) Form() url.Values {
	v := make(url.Values, 16)
	set := func(k, s string) {
		if s != "" {
			v[k] = []string{s}
		}
	}
	set("registration_id", m.RegistrationID)
	set("restricted_package_name", m.RestrictedPackageName)
	v["pass_through"] = []string{strconv.Itoa(m.PassThrough)}
	set("title", m.Title)
	set("description", m.Description)
	set("payload", m.Payload)
	v["notify_type"] = []string{strconv.Itoa(m.NotifyType)}
	if m.NotifyID >= 0 {
		v["notify_id"] = []string{strconv.FormatInt(m.NotifyID, 10)}
	}
	if m.TimeToLive > 0 {
		v["time_to_live"] = []string{strconv.FormatInt(m.TimeToLive, 10)}
	}
	set("extra.channel_id", m.Extra.ChannelID)
	set("extra.notify_effect", m.Extra.NotifyEffect)
	set("extra.intent_uri", m.Extra.IntentURI)
	set("extra.web_uri", m.Extra.WebURI)
	set("extra.sound_uri", m.Extra.SoundURI)
	set("extra.ext", m.Extra.Ext)
	return v
}

// Body is the URL-encoded request body, keys in sorted order.
func (m *Message) Body() []byte {
	return []byte(m.Form().Encode())
}

// checkToken refuses a regId that cannot be sent in a comma-separated list.
func checkToken(tok string) error {
	if tok == "" {
		return errors.New("token: empty regId")
	}
	if strings.ContainsAny(tok, ", \t\r\n") {
		return errors.New("token: a Xiaomi regId cannot contain commas or spaces")
	}
	return nil
}
