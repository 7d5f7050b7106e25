package honor

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

// Limits of the send API.
const (
	// MaxTokens is the most tokens one request carries. Honor's limit is
	// not documented in the sources [?]; Honor Push descends from Huawei's,
	// whose limit is 1000.
	MaxTokens = 1000
	// MaxBodyBytes bounds the body without the tokens. Also undocumented
	// for Honor [?]: Huawei's 4096 is assumed.
	MaxBodyBytes = 4096
	// MaxTTL is the longest time Honor keeps a message (15 days).
	MaxTTL = 1296000 * time.Second
)

// Click action types of android.notification.clickAction.
const (
	ClickIntent  = 1 // open an app page by intent URI (or action)
	ClickURL     = 2 // open a web page
	ClickOpenApp = 3 // open the app
)

// Importance values: LOW is news and marketing, NORMAL service and
// communication (chat).
const (
	ImportanceNormal = "NORMAL"
	ImportanceLow    = "LOW"
)

// SendRequest is the body of POST /api/v1/{appId}/sendMessage. Honor
// spells its keys in camelCase, unlike Huawei's v1 API. Token comes last.
type SendRequest struct {
	// Data is a JSON object as a string; see BuildRequest for ext.
	Data    string         `json:"data,omitempty"`
	Android *AndroidConfig `json:"android"`
	Token   []string       `json:"token"`
}

// AndroidConfig is android.
type AndroidConfig struct {
	// TTL is seconds with an "s" suffix, such as "86400s".
	TTL string `json:"ttl,omitempty"`
	// BiTag comes back in delivery receipts: the message ID.
	BiTag        string              `json:"biTag,omitempty"`
	Notification AndroidNotification `json:"notification"`
}

// AndroidNotification is android.notification.
type AndroidNotification struct {
	Title       string      `json:"title"`
	Body        string      `json:"body"`
	Image       string      `json:"image,omitempty"`
	ClickAction ClickAction `json:"clickAction"`
	Importance  string      `json:"importance"`
	Badge       *Badge      `json:"badge,omitempty"`
	// NotifyID is derived from the message ID, so a retried message replaces
	// its earlier notification. The sources disagree on its type (number in
	// one SDK and the vendor notes, string in another) [?]; a number is sent.
	NotifyID int `json:"notifyId,omitempty"`
}

// ClickAction is android.notification.clickAction; Honor requires it.
type ClickAction struct {
	Type   int    `json:"type"`
	Intent string `json:"intent,omitempty"`
	URL    string `json:"url,omitempty"`
}

// Badge is android.notification.badge, with Honor's camelCase keys.
type Badge struct {
	AddNum     int    `json:"addNum"`
	BadgeClass string `json:"badgeClass"`
}

// LimitError is a message that breaks a limit or field rule; it becomes an
// InvalidArgument result and is never sent.
type LimitError struct{ Reason string }

func (e *LimitError) Error() string { return e.Reason }

func limitf(format string, args ...any) error {
	return &LimitError{Reason: fmt.Sprintf(format, args...)}
}

// BuildRequest maps a message to Honor's send request for tokens, applying
// design.md §4. It is pure.
//
//   - title is m.Title(), body m.Info.Desc; both are required.
//   - importance is androidInfo.honorImportance, else NORMAL (chat is a
//     communication message); image is androidInfo.honorImage.
//   - badge {addNum: 1, badgeClass} when the message counts towards the
//     badge and the certificate names its badge class.
//   - ttl is m.TTL in whole seconds, at most 15 days.
//   - clickAction follows the certificate: an intent for openPage (type 1),
//     the URL for openUrl (type 2), else open the app (type 3; also for an
//     openPage with only an activity class, which Honor cannot address).
//   - A call invitation has no field of its own on Honor's API (no VoIP
//     category or urgency in the sources); it is sent as a NORMAL message.
//   - Honor has no sound or channel field in the sources; androidInfo.sound
//     is not sent.
//
// ext goes into data as {"ext": ext}. Honor, like Huawei whose API it
// follows, hands the keys of a notification's JSON data to the opened
// activity as intent extras, where Tencent's client SDKs read "ext"
// (getIntent().getExtras().getString("ext")).
func BuildRequest(m *push.Message, tokens []string, c cert.Certificate) (*SendRequest, error) {
	info := &m.Info.AndroidInfo
	n := AndroidNotification{
		Title:       m.Title(),
		Body:        m.Info.Desc,
		Image:       info.HonorImage,
		Importance:  info.HonorImportance,
		ClickAction: clickAction(c.ClickAction),
		NotifyID:    notifyID(m.ID),
	}
	if n.Title == "" {
		return nil, limitf("title: Honor requires a notification title (title, fromNickname or from)")
	}
	if n.Body == "" {
		return nil, limitf("desc: Honor requires a notification body")
	}
	if n.Importance == "" {
		n.Importance = ImportanceNormal
	}
	if n.Importance != ImportanceNormal && n.Importance != ImportanceLow {
		return nil, limitf("honorImportance: must be %s or %s, not %q", ImportanceNormal, ImportanceLow, n.Importance)
	}
	if n.Image != "" && !strings.HasPrefix(n.Image, "https://") {
		return nil, limitf("honorImage: Honor takes only https URLs")
	}
	if m.CountsBadge() && c.BadgeClass != "" {
		n.Badge = &Badge{AddNum: 1, BadgeClass: c.BadgeClass}
	}
	a := &AndroidConfig{BiTag: m.ID, Notification: n}
	if m.TTL > 0 {
		a.TTL = ttl(m.TTL)
	}
	req := &SendRequest{Android: a, Token: tokens}
	if m.Info.Ext != "" {
		b, _ := json.Marshal(map[string]string{"ext": m.Info.Ext}) // a map of strings always encodes
		req.Data = string(b)
	}
	if req.Token == nil {
		req.Token = []string{}
	}
	return req, nil
}

// Encode renders the request as sent: compact JSON without HTML escaping.
func (r *SendRequest) Encode() ([]byte, error) {
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(r); err != nil {
		return nil, fmt.Errorf("encode honor request: %w", err)
	}
	return bytes.TrimSuffix(buf.Bytes(), []byte("\n")), nil
}

// checkSize enforces MaxBodyBytes on the body with an empty token list.
func (r *SendRequest) checkSize() error {
	tokens := r.Token
	r.Token = []string{}
	b, err := r.Encode()
	r.Token = tokens
	if err != nil {
		return err
	}
	if len(b) > MaxBodyBytes {
		return limitf("payload: %d bytes without tokens, limit %d", len(b), MaxBodyBytes)
	}
	return nil
}

func clickAction(a cert.ClickAction) ClickAction {
	switch {
	case a.Type == cert.ClickOpenURL && a.URL != "":
		return ClickAction{Type: ClickURL, URL: a.URL}
	case a.Type == cert.ClickOpenPage && a.Intent != "":
		return ClickAction{Type: ClickIntent, Intent: a.Intent}
	}
	return ClickAction{Type: ClickOpenApp}
}

// ttl renders d as "<seconds>s", rounding up and clamping to MaxTTL.
func ttl(d time.Duration) string {
	d = min(d, MaxTTL)
	secs := int64((d + time.Second - 1) / time.Second)
	return strconv.FormatInt(secs, 10) + "s"
}

// notifyID derives a positive notifyId from the message ID, or 0 (Honor
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
