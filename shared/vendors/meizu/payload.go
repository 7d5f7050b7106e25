// Package meizu delivers offpush notifications through Meizu Flyme Push's
// server API: one form-encoded POST to
// {host}/garcia/api/server/push/varnished/pushByPushId per batch of up to 100
// pushIds, signed with an md5 "sign" parameter over the other parameters and
// the app secret.
//
// Everything here follows Meizu's own API document (github.com/MEIZUPUSH/
// PushAPI, README.md): the messageJson shape, the signature, the string
// "code" of every answer and the map of failed pushIds in its "value".
package meizu

import (
	"bytes"
	"crypto/md5"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"hash/fnv"
	"net/url"
	"sort"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/offpush/offpush/shared/cert"
	"github.com/offpush/offpush/shared/push"
)

// Host is Meizu's production API host. The document's examples use plain
// http; whether https is served too is unconfirmed [?], so the default stays
// http and OFFPUSH_MEIZU_URL can name an https host where it works.
const Host = "http://server-api-push.meizu.com"

// SendPath is the notification-by-pushId path, appended to the host or
// override.
const SendPath = "/garcia/api/server/push/varnished/pushByPushId"

// Limits of a Meizu notification.
const (
	// MaxPushIDs is the most pushIds one request carries (not 1000).
	MaxPushIDs = 100
	// MaxTitleChars and MaxContentChars: the title is 1 to 32 characters,
	// the content 1 to 100.
	MaxTitleChars   = 32
	MaxContentChars = 100
	// MinValidHours and MaxValidHours bound validTime, the hours Meizu keeps
	// a message for an offline device; DefaultValidHours is Meizu's default.
	MinValidHours     = 1
	MaxValidHours     = 72
	DefaultValidHours = 24
)

// Click types (clickTypeInfo.clickType). Type 3, client-defined, is never
// used: Meizu deprecated it for Android 12 compatibility.
const (
	ClickApp      = 0 // open the app
	ClickActivity = 1 // open the activity in clickTypeInfo.activity
	ClickURI      = 2 // open the URI in clickTypeInfo.url
)

// Notice message types (noticeBarInfo.noticeMsgType).
const (
	NoticePublic  = 0 // 公信: operations messages, daily limits apply
	NoticePrivate = 1 // 私信: messages to one user, such as chat
)

// MessageJSON is the messageJson parameter of a notification.
type MessageJSON struct {
	NoticeBarInfo NoticeBarInfo `json:"noticeBarInfo"`
	ClickTypeInfo ClickTypeInfo `json:"clickTypeInfo"`
	PushTimeInfo  PushTimeInfo  `json:"pushTimeInfo"`
	AdvanceInfo   AdvanceInfo   `json:"advanceInfo"`
}

// NoticeBarInfo is what the notification shows.
type NoticeBarInfo struct {
	// NoticeMsgType is NoticePublic or NoticePrivate, from
	// androidInfo.meizuNoticeMsgType.
	NoticeMsgType int `json:"noticeMsgType"`
	// NoticeBarType 0 is the standard style.
	NoticeBarType int    `json:"noticeBarType"`
	Title         string `json:"title"`
	Content       string `json:"content"`
}

// ClickTypeInfo is what a tap does.
type ClickTypeInfo struct {
	ClickType int    `json:"clickType"`
	URL       string `json:"url,omitempty"`
	// Parameters reach the opened app on a tap; offpush puts its ext here
	// under "ext".
	Parameters map[string]string `json:"parameters,omitempty"`
	Activity   string            `json:"activity,omitempty"`
}

// PushTimeInfo says how long the message waits for an offline device.
type PushTimeInfo struct {
	// OffLine 1 keeps the message for offline devices for ValidTime hours.
	OffLine   int `json:"offLine"`
	ValidTime int `json:"validTime"`
}

// AdvanceInfo holds display options.
type AdvanceInfo struct {
	// Suspend 1 shows the notification as a heads-up banner.
	Suspend int `json:"suspend"`
	// ClearNoticeBar 1 lets the user swipe the notification away.
	ClearNoticeBar   int              `json:"clearNoticeBar"`
	NotificationType NotificationType `json:"notificationType"`
	// NotifyKey groups notifications: of those with one key only the last
	// is shown. It is derived from the message ID, so a retried message
	// replaces itself instead of showing twice.
	NotifyKey string `json:"notifyKey,omitempty"`
}

// NotificationType switches vibration, lights and sound (1 on, 0 off).
type NotificationType struct {
	Vibrate int `json:"vibrate"`
	Lights  int `json:"lights"`
	Sound   int `json:"sound"`
}

// Build maps a message onto messageJson. It is pure: the same message and
// certificate always give the same value. It fails when the message breaks a
// Meizu limit; every target then gets push.InvalidArgument with the error as
// the reason.
//
// Meizu has no priority field, so msgType call is sent like any other
// message (suspend 1 already shows it as a banner). Meizu plays no custom
// sounds through this API: androidInfo.sound "push.no_sound" turns the sound
// off, anything else keeps the default.
func Build(m *push.Message, c cert.Certificate) (MessageJSON, error) {
	title := m.Title()
	if err := checkText("title", title, MaxTitleChars); err != nil {
		return MessageJSON{}, err
	}
	if err := checkText("content", m.Info.Desc, MaxContentChars); err != nil {
		return MessageJSON{}, err
	}
	msgType := m.Info.AndroidInfo.MeizuNoticeMsgType
	if msgType != NoticePublic && msgType != NoticePrivate {
		return MessageJSON{}, fmt.Errorf("androidInfo.meizuNoticeMsgType: %d, Meizu takes 0 (public) or 1 (private)", msgType)
	}
	out := MessageJSON{
		NoticeBarInfo: NoticeBarInfo{NoticeMsgType: msgType, Title: title, Content: m.Info.Desc},
		PushTimeInfo:  PushTimeInfo{OffLine: 1, ValidTime: validHours(m.TTL)},
		AdvanceInfo: AdvanceInfo{
			Suspend:          1,
			ClearNoticeBar:   1,
			NotificationType: NotificationType{Vibrate: 1, Lights: 1, Sound: 1},
			NotifyKey:        NotifyKey(m.ID),
		},
	}
	if m.Info.AndroidInfo.Sound == push.SoundNone {
		out.AdvanceInfo.NotificationType.Sound = 0
	}
	if err := click(&out.ClickTypeInfo, c.ClickAction); err != nil {
		return MessageJSON{}, err
	}
	if m.Info.Ext != "" {
		out.ClickTypeInfo.Parameters = map[string]string{"ext": m.Info.Ext}
	}
	return out, nil
}

// checkText enforces Meizu's 1..max characters.
func checkText(field, s string, max int) error {
	if strings.TrimSpace(s) == "" {
		return fmt.Errorf("%s: required, Meizu takes 1 to %d characters", field, max)
	}
	if n := utf8.RuneCountInString(s); n > max {
		return fmt.Errorf("%s: %d characters, Meizu allows at most %d", field, n, max)
	}
	return nil
}

// click maps the certificate's click action. openPage with an activity class
// opens that activity; openPage with only an intent URI opens it as a URI
// page (clickType 2) [?: the document describes url as an app-local URI, not
// an intent URI specifically].
func click(ci *ClickTypeInfo, a cert.ClickAction) error {
	switch a.Type {
	case "", cert.ClickOpenApp:
		ci.ClickType = ClickApp
	case cert.ClickOpenURL:
		ci.ClickType, ci.URL = ClickURI, a.URL
	case cert.ClickOpenPage:
		if a.Activity != "" {
			ci.ClickType, ci.Activity = ClickActivity, a.Activity
		} else {
			ci.ClickType, ci.URL = ClickURI, a.Intent
		}
	default:
		return fmt.Errorf("clickAction.type: %q is not one Meizu can carry", a.Type)
	}
	return nil
}

// validHours is m.TTL in whole hours, rounded up and clamped to Meizu's
// 1..72. A zero TTL gives Meizu's default of 24: callers skip online-only
// messages (msgLifeTime 0) before any vendor is asked.
func validHours(ttl time.Duration) int {
	if ttl <= 0 {
		return DefaultValidHours
	}
	h := int((ttl + time.Hour - 1) / time.Hour)
	return max(MinValidHours, min(h, MaxValidHours))
}

// NotifyKey derives notifyKey from a message ID: 8 hex characters of its
// FNV-1a hash, within Meizu's 8 characters of [0-9a-zA-Z_-]. An empty ID
// gives no key.
func NotifyKey(id string) string {
	if id == "" {
		return ""
	}
	h := fnv.New32a()
	h.Write([]byte(id))
	return fmt.Sprintf("%08x", h.Sum32())
}

// Encode is messageJson's bytes, exactly as sent and signed. HTML characters
// are left unescaped so that URLs read as given.
func (m *MessageJSON) Encode() ([]byte, error) {
	var b bytes.Buffer
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(m); err != nil {
		return nil, fmt.Errorf("encode messageJson: %w", err)
	}
	return bytes.TrimSuffix(b.Bytes(), []byte("\n")), nil
}

// Sign is Meizu's signature of a request: the parameters sorted by name,
// written as name=value with raw (not URL-encoded) values and no
// separators, followed by the app secret, hashed with md5 as 32 lowercase
// hex characters. The sign parameter itself is never signed.
func Sign(params map[string]string, appSecret string) string {
	keys := make([]string, 0, len(params))
	n := len(appSecret)
	for k, v := range params {
		if k == "sign" {
			continue
		}
		keys = append(keys, k)
		n += len(k) + 1 + len(v)
	}
	sort.Strings(keys)
	var b strings.Builder
	b.Grow(n)
	for _, k := range keys {
		b.WriteString(k)
		b.WriteByte('=')
		b.WriteString(params[k])
	}
	b.WriteString(appSecret)
	sum := md5.Sum([]byte(b.String()))
	return hex.EncodeToString(sum[:])
}

// Body is the URL-encoded form of one request: appId, messageJson, pushIds
// and their sign.
func Body(appID, appSecret string, pushIDs []string, messageJSON []byte) []byte {
	params := map[string]string{
		"appId":       appID,
		"messageJson": string(messageJSON),
		"pushIds":     strings.Join(pushIDs, ","),
	}
	v := make(url.Values, 4)
	for k, s := range params {
		v[k] = []string{s}
	}
	v["sign"] = []string{Sign(params, appSecret)}
	return []byte(v.Encode())
}

// checkToken refuses a pushId that cannot be sent in a comma-separated list.
func checkToken(tok string) error {
	if tok == "" {
		return errors.New("token: empty pushId")
	}
	if strings.ContainsAny(tok, ", \t\r\n") {
		return errors.New("token: a Meizu pushId cannot contain commas or spaces")
	}
	return nil
}
