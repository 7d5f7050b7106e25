package huawei

import (
	"bytes"
	"encoding/json"
	"fmt"
	"hash/fnv"
	"strconv"
	"strings"
	"time"

	"github.com/offpush/offpush/shared/cert"
	"github.com/offpush/offpush/shared/push"
)

// Limits of the v1 send API (vendor-apis.md §4, "使用约束").
const (
	// MaxTokens is the most tokens one send request may carry.
	MaxTokens = 1000
	// MaxBodyBytes bounds the request body, not counting the tokens.
	MaxBodyBytes = 4096
	// MaxTTL is the longest time Huawei keeps a message for an offline
	// device (15 days).
	MaxTTL = 1296000 * time.Second
)

// Click action types of android.notification.click_action.
const (
	ClickIntent  = 1 // open an app page by intent URI (or action)
	ClickURL     = 2 // open a web page
	ClickOpenApp = 3 // open the app's launcher page
)

// Values of the classification fields.
const (
	ImportanceNormal = "NORMAL"
	ImportanceLow    = "LOW"
	CategoryIM       = "IM"
	CategoryVoIP     = "VOIP"
	UrgencyHigh      = "HIGH"
)

// categories are the android.category values the send API documents.
var categories = map[string]bool{
	"IM": true, "VOIP": true, "SUBSCRIPTION": true, "TRAVEL": true, "HEALTH": true, "WORK": true,
	"ACCOUNT": true, "EXPRESS": true, "FINANCE": true, "DEVICE_REMINDER": true, "MAIL": true,
	"PLAY_VOICE": true, "MARKETING": true,
}

// SendRequest is the body of POST /v1/{appId}/messages:send.
type SendRequest struct {
	// ValidateOnly asks Huawei to check the message and deliver nothing
	// (dry runs).
	ValidateOnly bool    `json:"validate_only"`
	Message      Message `json:"message"`
}

// Message is the message object. Token comes last so that a request's
// bytes differ between batches only at their end.
type Message struct {
	// Data is a JSON object as a string. On a notification message Huawei
	// hands its keys to the app as intent extras when the user taps the
	// notification (Push NC 9.1.1 and later); see BuildRequest for ext.
	Data    string         `json:"data,omitempty"`
	Android *AndroidConfig `json:"android"`
	Token   []string       `json:"token"`
}

// AndroidConfig is message.android.
type AndroidConfig struct {
	// Urgency HIGH needs Huawei's permission; offpush uses it for calls.
	Urgency  string `json:"urgency,omitempty"`
	Category string `json:"category,omitempty"`
	// TTL is seconds with an "s" suffix, such as "86400s".
	TTL string `json:"ttl,omitempty"`
	// BiTag comes back in Huawei's delivery receipts: the message ID.
	BiTag        string              `json:"bi_tag,omitempty"`
	Notification AndroidNotification `json:"notification"`
}

// AndroidNotification is message.android.notification (snake_case, as the
// v1 API spells it).
type AndroidNotification struct {
	Title     string `json:"title"`
	Body      string `json:"body"`
	ChannelID string `json:"channel_id,omitempty"`
	Image     string `json:"image,omitempty"`
	// Sound is a file under the app's res/raw, such as "/raw/ring"; it
	// applies when the channel is first created.
	Sound        string      `json:"sound,omitempty"`
	DefaultSound bool        `json:"default_sound"`
	Importance   string      `json:"importance"`
	ClickAction  ClickAction `json:"click_action"`
	Badge        *Badge      `json:"badge,omitempty"`
	// NotifyID is derived from the message ID, so a retried message replaces
	// its earlier notification instead of showing twice.
	NotifyID int `json:"notify_id,omitempty"`
}

// ClickAction is android.notification.click_action; Huawei requires it on
// every notification.
type ClickAction struct {
	Type   int    `json:"type"`
	Intent string `json:"intent,omitempty"`
	URL    string `json:"url,omitempty"`
}

// Badge is android.notification.badge. The class key is "class" on the v1
// API (not badge_class); Huawei needs it to badge the app icon.
type Badge struct {
	AddNum int    `json:"add_num"`
	Class  string `json:"class"`
}

// LimitError is a message that breaks one of Huawei's limits or field
// rules; it becomes an InvalidArgument result and is never sent.
type LimitError struct{ Reason string }

func (e *LimitError) Error() string { return e.Reason }

func limitf(format string, args ...any) error {
	return &LimitError{Reason: fmt.Sprintf(format, args...)}
}

// BuildRequest maps a message to Huawei's send request for tokens, applying
// design.md §4. It is pure: the same input gives the same request.
//
//   - title is m.Title(), body m.Info.Desc; both are required.
//   - channel_id is androidInfo.huaweiChannelId, else the certificate's
//     default channel.
//   - category is androidInfo.huaweiCategory, else IM; a call is VOIP with
//     urgency HIGH. importance is androidInfo.huaweiImportance, else NORMAL.
//   - badge {add_num: 1, class} when the message counts towards the badge
//     and the certificate names its badge class.
//   - ttl is m.TTL in whole seconds, at most 15 days.
//   - click_action follows the certificate (see clickAction).
//
// Where ext goes. Tencent's client SDKs read ext on a tap from the opened
// activity's intent extras, key "ext" (TUIKit's OfflineMessageDispatcher:
// intent.getExtras().getString("ext")). Huawei puts an extra there in two
// ways (HMS guide "自定义点击消息动作"): the keys of message.data, as a JSON
// object, become extras of the launched activity (Push NC 9.1.1 and later);
// and the S.<key>=<value> extras of a click_action intent URI are set
// whatever the NC version. Tencent's REST API names the choice
// AndroidInfo.ExtAsHuaweiIntentParam: 0 (default) carries ext as data, 1 as
// a parameter of the "open page" intent. offpush does the same: ext goes
// into data as {"ext": ext}, or, with extAsHuaweiIntentParam=1 and a
// certificate whose click action is an intent, into that intent as
// S.ext=<ext> and not into data. With 1 but no intent to extend (open app,
// open URL) it falls back to data, so ext is never dropped.
func BuildRequest(m *push.Message, tokens []string, c cert.Certificate) (*SendRequest, error) {
	info := &m.Info.AndroidInfo
	n := AndroidNotification{
		Title:      m.Title(),
		Body:       m.Info.Desc,
		ChannelID:  info.HuaweiChannelID,
		Image:      info.HuaweiImage,
		Importance: info.HuaweiImportance,
		NotifyID:   notifyID(m.ID),
	}
	if n.Title == "" {
		return nil, limitf("title: Huawei requires a notification title (title, fromNickname or from)")
	}
	if n.Body == "" {
		return nil, limitf("desc: Huawei requires a notification body")
	}
	if n.ChannelID == "" {
		n.ChannelID = c.DefaultChannelID
	}
	if n.Importance == "" {
		n.Importance = ImportanceNormal
	}
	if n.Importance != ImportanceNormal && n.Importance != ImportanceLow {
		return nil, limitf("huaweiImportance: must be %s or %s, not %q", ImportanceNormal, ImportanceLow, n.Importance)
	}
	if n.Image != "" && !strings.HasPrefix(n.Image, "https://") {
		return nil, limitf("huaweiImage: Huawei takes only https URLs")
	}
	n.Sound, n.DefaultSound = sound(info.Sound)

	data := ""
	n.ClickAction = clickAction(c.ClickAction)
	if ext := m.Info.Ext; ext != "" {
		intent, ok := "", false
		if info.ExtAsHuaweiIntentParam == 1 && n.ClickAction.Type == ClickIntent {
			intent, ok = withIntentExtra(n.ClickAction.Intent, "ext", ext)
		}
		if ok {
			n.ClickAction.Intent = intent
		} else {
			data = extData(ext)
		}
	}

	if m.CountsBadge() && c.BadgeClass != "" {
		n.Badge = &Badge{AddNum: 1, Class: c.BadgeClass}
	}

	a := &AndroidConfig{Category: info.HuaweiCategory, BiTag: m.ID, Notification: n}
	if a.Category == "" {
		a.Category = CategoryIM
	}
	if m.Type == push.Call {
		a.Category, a.Urgency = CategoryVoIP, UrgencyHigh
	}
	if !categories[a.Category] {
		return nil, limitf("huaweiCategory: %q is not a Huawei message category", a.Category)
	}
	if m.TTL > 0 {
		a.TTL = ttl(m.TTL)
	}

	req := &SendRequest{ValidateOnly: m.DryRun, Message: Message{Data: data, Android: a, Token: tokens}}
	if req.Message.Token == nil {
		req.Message.Token = []string{}
	}
	return req, nil
}

// Encode renders the request as it goes on the wire: compact JSON without
// HTML escaping (intent URIs keep their '&' and '<'), which is also what
// the 4096-byte limit is measured on.
func (r *SendRequest) Encode() ([]byte, error) {
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(r); err != nil {
		return nil, fmt.Errorf("encode huawei request: %w", err)
	}
	return bytes.TrimSuffix(buf.Bytes(), []byte("\n")), nil
}

// checkSize enforces the body limit, which Huawei counts without the
// tokens: the size of the body with an empty token list.
func (r *SendRequest) checkSize() error {
	tokens := r.Message.Token
	r.Message.Token = []string{}
	b, err := r.Encode()
	r.Message.Token = tokens
	if err != nil {
		return err
	}
	if len(b) > MaxBodyBytes {
		return limitf("payload: %d bytes without tokens, Huawei allows %d", len(b), MaxBodyBytes)
	}
	return nil
}

// clickAction maps the certificate's click action. Huawei requires one: an
// intent for openPage (type 1), the URL for openUrl (type 2), otherwise the
// app's launcher page (type 3). An openPage certificate with only an
// activity class (an OPPO and Meizu notion) cannot become a Huawei intent
// without the package name, so it opens the app.
func clickAction(a cert.ClickAction) ClickAction {
	switch {
	case a.Type == cert.ClickOpenURL && a.URL != "":
		return ClickAction{Type: ClickURL, URL: a.URL}
	case a.Type == cert.ClickOpenPage && a.Intent != "":
		return ClickAction{Type: ClickIntent, Intent: a.Intent}
	}
	return ClickAction{Type: ClickOpenApp}
}

// sound maps androidInfo.sound. Empty, "default" and the iOS-only
// "push.no_sound" (Huawei has no silent switch short of reclassifying the
// message LOW, which would change its quota) keep the default sound. A
// name is a file in the app's res/raw: "ring", "ring.mp3" and "/raw/ring"
// all become "/raw/ring".
func sound(s string) (file string, def bool) {
	if s == "" || s == push.SoundDefault || s == push.SoundNone {
		return "", true
	}
	s = strings.TrimPrefix(s, "/raw/")
	if i := strings.LastIndexByte(s, '.'); i > 0 {
		s = s[:i]
	}
	return "/raw/" + s, false
}

// ttl renders d as Huawei's "<seconds>s", rounding up and clamping to
// MaxTTL.
func ttl(d time.Duration) string {
	d = min(d, MaxTTL)
	secs := int64((d + time.Second - 1) / time.Second)
	return strconv.FormatInt(secs, 10) + "s"
}

// notifyID derives a positive notify_id from the message ID, or 0 (Huawei
// picks one) without an ID.
func notifyID(id string) int {
	if id == "" {
		return 0
	}
	h := fnv.New32a()
	h.Write([]byte(id))
	if v := int(h.Sum32() & 0x7fffffff); v != 0 {
		return v
	}
	return 1
}

// extData is message.data carrying ext under the key the client reads.
func extData(ext string) string {
	b, _ := json.Marshal(map[string]string{"ext": ext}) // a map of strings always encodes
	return string(b)
}

// withIntentExtra adds the string extra key=value to an Android intent URI
// (Intent.toUri(URI_INTENT_SCHEME) form, "…#Intent;…;end"), encoding value
// as Android's Uri.encode does, which Intent.parseUri decodes. It reports
// false for a URI that is not of that form.
func withIntentExtra(uri, key, value string) (string, bool) {
	const end = ";end"
	if !strings.Contains(uri, "#Intent;") || !strings.HasSuffix(uri, end) {
		return uri, false
	}
	return uri[:len(uri)-len(end)] + ";S." + key + "=" + uriEncode(value) + end, true
}

// uriEncode is android.net.Uri.encode: every byte of the UTF-8 form except
// letters, digits and _-!.~'()* is percent-encoded.
func uriEncode(s string) string {
	const hex = "0123456789ABCDEF"
	var b strings.Builder
	b.Grow(len(s) * 3)
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c >= 'a' && c <= 'z', c >= 'A' && c <= 'Z', c >= '0' && c <= '9',
			strings.IndexByte("_-!.~'()*", c) >= 0:
			b.WriteByte(c)
		default:
			b.WriteByte('%')
			b.WriteByte(hex[c>>4])
			b.WriteByte(hex[c&15])
		}
	}
	return b.String()
}
