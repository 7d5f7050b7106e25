// Package oppo delivers notifications through OPPO Push (ColorOS devices of
// OPPO, OnePlus and realme): an auth token from /server/v1/auth, then
// form-encoded unicast (one registration ID) or unicast_batch (up to 1000)
// requests whose answers map onto push outcomes. The wire format follows
// OPPO's server API doc (vendor-apis.md §6).
package oppo

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"net/url"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/offpush/offpush/shared/cert"
	"github.com/offpush/offpush/shared/push"
)

// Limits OPPO documents for a notification. Lengths count characters
// (OPPO counts a Chinese character or an emoji as one).
const (
	MaxTitle = 50
	// MaxContent is the body limit of the standard style (1); MaxLongContent
	// that of the long-text style (2), which Build picks for longer bodies.
	MaxContent       = 50
	MaxLongContent   = 128
	MaxActionParams  = 4000
	MaxClickURL      = 2000
	MaxClickActivity = 500
	// MaxOffLineTTL is the longest offline lifetime; OPPO cuts longer ones
	// to it, and so does Build.
	MaxOffLineTTL = 10 * 24 * time.Hour
	// MaxBatch is the most messages one unicast_batch request carries.
	MaxBatch = 1000
	// maxAppMessageID bounds app_message_id. OPPO states no limit; 64 is a
	// conservative guess [?], longer message IDs are hashed.
	maxAppMessageID = 64
)

// Notification styles.
const (
	StyleStandard = 1
	StyleLongText = 2
)

// Click action types (click_action_type).
const (
	ClickLaunchApp     = 0
	ClickActionName    = 1
	ClickURL           = 2
	ClickActivityClass = 4
	ClickIntentScheme  = 5
)

// Notify levels (notify_level); each needs a category.
const (
	LevelBar           = 1
	LevelBarLockScreen = 2
	// LevelHeadsUp adds a banner, vibration and ring: calls use it.
	LevelHeadsUp = 16
)

// TargetRegistrationID is target_type 2: target_value is a registration ID.
const TargetRegistrationID = 2

// DefaultCategory is the message category of chat pushes: instant messages.
const DefaultCategory = "IM"

// Message is one message of a unicast request (the "message" form field) or
// of a unicast_batch request (an entry of "messages"), in OPPO's snake_case
// keys. OPPO's newer doc page shows camelCase keys in one example
// (clickActionType, offLineTtl); whether the server accepts those too is
// unconfirmed [?], so the field table's snake_case, which OPPO's own SDK
// and the Go clients use, is what is sent.
type Message struct {
	TargetType   int           `json:"target_type"`
	TargetValue  string        `json:"target_value"`
	Notification *Notification `json:"notification"`
}

// Notification is the notification OPPO shows: the part every target of
// one push shares.
type Notification struct {
	// AppMessageID makes a retried push show once: OPPO sends one message
	// ID to one target only once.
	AppMessageID        string `json:"app_message_id,omitempty"`
	Style               int    `json:"style"`
	Title               string `json:"title"`
	Content             string `json:"content"`
	ClickActionType     int    `json:"click_action_type"`
	ClickActionActivity string `json:"click_action_activity,omitempty"`
	ClickActionURL      string `json:"click_action_url,omitempty"`
	// ActionParameters carries ext: the app reads it from the launch
	// intent's extras on click. It must be a JSON object string.
	ActionParameters string `json:"action_parameters,omitempty"`
	OffLine          bool   `json:"off_line"`
	// OffLineTTL is in seconds.
	OffLineTTL int `json:"off_line_ttl,omitempty"`
	// ChannelID is required in practice: Android 8 and later show nothing
	// for a notification without a channel.
	ChannelID   string `json:"channel_id"`
	Category    string `json:"category"`
	NotifyLevel int    `json:"notify_level"`
}

// Build maps a push message and its certificate onto the notification every
// target shares, applying offpush's rules: title fallback, desc as content,
// ext as action parameters, the channel from androidInfo else the
// certificate, category and notify level from androidInfo else IM and
// lock-screen level (heads-up for calls), TTL in seconds cut to ten days,
// the certificate's click action, and app_message_id from the message ID.
// An error says which OPPO limit the message breaks; nothing of it can be
// sent.
func Build(m *push.Message, c cert.Certificate) (*Notification, error) {
	a := m.Info.AndroidInfo
	n := &Notification{
		AppMessageID: AppMessageID(m.ID),
		Style:        StyleStandard,
		Title:        m.Title(),
		Content:      m.Info.Desc,
		ChannelID:    a.OPPOChannelID,
		Category:     a.OPPOCategory,
		NotifyLevel:  a.OPPONotifyLevel,
	}
	switch t := utf8.RuneCountInString(n.Title); {
	case t == 0:
		return nil, errors.New("title is empty (no title, sender nickname or sender ID)")
	case t > MaxTitle:
		return nil, fmt.Errorf("title is %d characters; OPPO allows at most %d", t, MaxTitle)
	}
	switch l := utf8.RuneCountInString(n.Content); {
	case l == 0:
		return nil, errors.New("desc is empty; OPPO needs notification content")
	case l > MaxLongContent:
		return nil, fmt.Errorf("desc is %d characters; OPPO allows at most %d (long-text style)", l, MaxLongContent)
	case l > MaxContent:
		// The standard style takes 50 characters; the long-text style
		// (ColorOS 5 and later) takes 128 and shows them all.
		n.Style = StyleLongText
	}
	if n.ChannelID == "" {
		n.ChannelID = c.DefaultChannelID
	}
	if n.ChannelID == "" {
		return nil, errors.New("no notification channel: set androidInfo.oppoChannelId or the certificate's defaultChannelId " +
			"(OPPO shows nothing on Android 8 and later without a channel the app created)")
	}
	if n.Category == "" {
		n.Category = DefaultCategory
	}
	switch {
	case n.NotifyLevel == 0 && m.Type == push.Call:
		n.NotifyLevel = LevelHeadsUp
	case n.NotifyLevel == 0:
		n.NotifyLevel = LevelBarLockScreen
	case n.NotifyLevel != LevelBar && n.NotifyLevel != LevelBarLockScreen && n.NotifyLevel != LevelHeadsUp:
		return nil, fmt.Errorf("androidInfo.oppoNotifyLevel is %d; OPPO takes 1, 2 or 16", n.NotifyLevel)
	}
	if ext := m.Info.Ext; ext != "" {
		if !isJSONObject(ext) {
			return nil, errors.New("ext is not a JSON object string; OPPO drops action parameters that are not JSON")
		}
		if l := utf8.RuneCountInString(ext); l > MaxActionParams {
			return nil, fmt.Errorf("ext is %d characters; OPPO's action_parameters take at most %d", l, MaxActionParams)
		}
		n.ActionParameters = ext
	}
	if err := clickAction(n, c.ClickAction); err != nil {
		return nil, err
	}
	if m.TTL > 0 {
		n.OffLine = true
		n.OffLineTTL = int((min(m.TTL, MaxOffLineTTL) + time.Second - 1) / time.Second)
	}
	return n, nil
}

// clickAction sets what a tap does: open the app, a web page, an activity
// by class name (preferred for openPage, as OPPO takes one) or an intent
// scheme URL.
func clickAction(n *Notification, a cert.ClickAction) error {
	switch a.Type {
	case "", cert.ClickOpenApp:
		n.ClickActionType = ClickLaunchApp
	case cert.ClickOpenURL:
		n.ClickActionType, n.ClickActionURL = ClickURL, a.URL
	case cert.ClickOpenPage:
		switch {
		case a.Activity != "":
			n.ClickActionType, n.ClickActionActivity = ClickActivityClass, a.Activity
		case a.Intent != "":
			n.ClickActionType, n.ClickActionURL = ClickIntentScheme, a.Intent
		default:
			return errors.New("certificate clickAction openPage has neither activity nor intent")
		}
	default:
		return fmt.Errorf("certificate clickAction type %q is not one OPPO can map", a.Type)
	}
	if l := utf8.RuneCountInString(n.ClickActionURL); l > MaxClickURL {
		return fmt.Errorf("certificate click URL is %d characters; OPPO allows at most %d", l, MaxClickURL)
	}
	if l := utf8.RuneCountInString(n.ClickActionActivity); l > MaxClickActivity {
		return fmt.Errorf("certificate click activity is %d characters; OPPO allows at most %d", l, MaxClickActivity)
	}
	return nil
}

// AppMessageID derives OPPO's app_message_id from the message ID: the ID
// itself when it is short printable ASCII, else a hash of it, so a retried
// push reaches each device once. An empty ID gives none.
func AppMessageID(id string) string {
	if id == "" {
		return ""
	}
	if len(id) <= maxAppMessageID && isPrintableASCII(id) {
		return id
	}
	sum := sha256.Sum256([]byte(id))
	return hex.EncodeToString(sum[:16])
}

// Overseas reports whether a registration ID belongs to a device outside
// mainland China, which OPPO serves from its international host. OPPO's
// rule: split on "_"; one part is China, two parts are China when the
// first is "CN", three parts when the second is "CN". Other shapes are not
// documented and go to the China host.
func Overseas(regID string) bool {
	parts := strings.Split(regID, "_")
	switch len(parts) {
	case 2:
		return parts[0] != "CN"
	case 3:
		return parts[1] != "CN"
	}
	return false
}

// MessageJSON is the JSON of one target's message.
func MessageJSON(n *Notification, regID string) ([]byte, error) {
	b, err := json.Marshal(Message{TargetType: TargetRegistrationID, TargetValue: regID, Notification: n})
	if err != nil {
		return nil, fmt.Errorf("encode oppo message: %w", err)
	}
	return b, nil
}

// UnicastForm is the body of a unicast request without the auth token:
// "message=<JSON>". Send puts "auth_token=<token>&" before it.
func UnicastForm(n *Notification, regID string) ([]byte, error) {
	msg, err := MessageJSON(n, regID)
	if err != nil {
		return nil, err
	}
	return []byte("message=" + url.QueryEscape(string(msg))), nil
}

// BatchForm is the body of a unicast_batch request without the auth
// token: "messages=<JSON array>", one message per registration ID.
func BatchForm(n *Notification, regIDs []string) ([]byte, error) {
	msgs := make([]Message, len(regIDs))
	for i, id := range regIDs {
		msgs[i] = Message{TargetType: TargetRegistrationID, TargetValue: id, Notification: n}
	}
	b, err := json.Marshal(msgs)
	if err != nil {
		return nil, fmt.Errorf("encode oppo messages: %w", err)
	}
	return []byte("messages=" + url.QueryEscape(string(b))), nil
}

// isJSONObject reports whether s is one JSON object, without decoding it.
func isJSONObject(s string) bool {
	t := strings.TrimLeft(s, " \t\r\n")
	return strings.HasPrefix(t, "{") && json.Valid([]byte(s))
}

func isPrintableASCII(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] < 0x21 || s[i] > 0x7e {
			return false
		}
	}
	return true
}
