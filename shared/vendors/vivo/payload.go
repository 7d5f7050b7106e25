// Package vivo delivers notifications through vivo Push (Funtouch OS and
// OriginOS devices): an authToken from /message/auth, then /message/send
// for one regId, or /message/saveListPayload once and /message/pushToList
// for 2 to 1000 regIds at a time, with answers mapped onto push outcomes.
// The wire format follows vivo's server API doc (vendor-apis.md §7).
package vivo

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"hash/fnv"
	"time"
	"unicode/utf8"

	"github.com/offpush/offpush/shared/cert"
	"github.com/offpush/offpush/shared/push"
)

// Limits vivo documents. Lengths count characters: vivo's current doc
// counts a Chinese character or an emoji as one (an older copy counted a
// Chinese character as two [?]).
const (
	MaxTitle   = 40
	MaxContent = 100
	// MinTTL and MaxTTL bound timeToLive. offpush's msgLifeTime goes up to
	// seven days, longer than vivo keeps a message: it is cut to one day.
	MinTTL = time.Minute
	MaxTTL = 24 * time.Hour
	// MaxSkipContent bounds the click target (skipContent).
	MaxSkipContent = 1024
	// MaxCustomMap bounds clientCustomMap: keys and values together.
	MaxCustomMap = 1024
	// MaxRequestID bounds requestId.
	MaxRequestID = 64
	// MinBatch and MaxBatch bound the regIds of one pushToList call.
	MinBatch = 2
	MaxBatch = 1000
)

// Notify types (notifyType): how the notification alerts.
const (
	NotifyNone        = 1
	NotifyRing        = 2
	NotifyVibrate     = 3
	NotifyRingVibrate = 4
)

// Skip types (skipType): what a tap does.
const (
	SkipOpenApp = 1
	SkipURL     = 2
	SkipCustom  = 3
	SkipPage    = 4
)

// Classifications: operations messages are capped per user and day and
// held at night; system messages (chat among them) are not.
const (
	ClassOperations = 0
	ClassSystem     = 1
)

// DefaultCategory is the second-level class of chat pushes.
const DefaultCategory = "IM"

// ExtKey is the clientCustomMap key that carries ext: the app reads it from
// the map vivo's client SDK hands over on click.
const ExtKey = "ext"

// Message is the body of /message/send (with RegID) and of
// /message/saveListPayload (without). AppID is a JSON number, as vivo's
// doc types it ("int") and both Go clients in the vendor notes send it;
// whether a string is accepted too is unconfirmed [?].
type Message struct {
	AppID           int64             `json:"appId"`
	RegID           string            `json:"regId,omitempty"`
	NotifyType      int               `json:"notifyType"`
	Title           string            `json:"title"`
	Content         string            `json:"content"`
	TimeToLive      int               `json:"timeToLive,omitempty"`
	SkipType        int               `json:"skipType"`
	SkipContent     string            `json:"skipContent,omitempty"`
	Classification  int               `json:"classification"`
	Category        string            `json:"category,omitempty"`
	RequestID       string            `json:"requestId"`
	ClientCustomMap map[string]string `json:"clientCustomMap,omitempty"`
	// PushMode 0 is a formal push; 1 (test) reaches registered test
	// devices only.
	PushMode int `json:"pushMode"`
	// NotifyID lets a message replace its own earlier display (a retry)
	// but not other messages.
	NotifyID int `json:"notifyId,omitempty"`
	// SendOnline delivers only to a device online now: msgLifeTime 0.
	SendOnline bool `json:"sendOnline,omitempty"`
}

// PushToList is the body of /message/pushToList.
type PushToList struct {
	AppID     int64    `json:"appId"`
	RegIDs    []string `json:"regIds"`
	TaskID    string   `json:"taskId"`
	RequestID string   `json:"requestId"`
	PushMode  int      `json:"pushMode"`
}

// Build maps a push message and its certificate onto the body every target
// shares (RegID and RequestID are set per request), applying offpush's
// rules: title fallback, desc as content, ext in clientCustomMap, notify
// type, classification and category from androidInfo else ring and
// vibrate, system and IM, TTL in seconds within vivo's 60 s to 1 day, the
// certificate's click action, and a notifyId from the message ID. An error
// says which vivo limit the message breaks; nothing of it can be sent.
func Build(m *push.Message, c cert.Certificate, appID int64) (*Message, error) {
	a := m.Info.AndroidInfo
	v := &Message{
		AppID:          appID,
		NotifyType:     a.VivoNotifyType,
		Title:          m.Title(),
		Content:        m.Info.Desc,
		Classification: ClassSystem,
		Category:       a.VivoCategory,
		NotifyID:       NotifyID(m.ID),
	}
	switch t := utf8.RuneCountInString(v.Title); {
	case t == 0:
		return nil, errors.New("title is empty (no title, sender nickname or sender ID)")
	case t > MaxTitle:
		return nil, fmt.Errorf("title is %d characters; vivo allows at most %d", t, MaxTitle)
	}
	switch l := utf8.RuneCountInString(v.Content); {
	case l == 0:
		return nil, errors.New("desc is empty; vivo needs notification content")
	case l > MaxContent:
		return nil, fmt.Errorf("desc is %d characters; vivo allows at most %d", l, MaxContent)
	}
	switch {
	case v.NotifyType == 0:
		v.NotifyType = NotifyRingVibrate
	case v.NotifyType < NotifyNone || v.NotifyType > NotifyRingVibrate:
		return nil, fmt.Errorf("androidInfo.vivoNotifyType is %d; vivo takes 1 to 4", v.NotifyType)
	}
	if a.VivoClassification != nil {
		v.Classification = *a.VivoClassification
		if v.Classification != ClassOperations && v.Classification != ClassSystem {
			return nil, fmt.Errorf("androidInfo.vivoClassification is %d; vivo takes 0 (operations) or 1 (system)", v.Classification)
		}
	}
	// IM is a system category: under an operations classification vivo
	// would refuse it (10097), so operations messages without a category
	// name none.
	if v.Category == "" && v.Classification == ClassSystem {
		v.Category = DefaultCategory
	}
	if ext := m.Info.Ext; ext != "" {
		if l := len(ExtKey) + utf8.RuneCountInString(ext); l > MaxCustomMap {
			return nil, fmt.Errorf("ext is %d characters; vivo's clientCustomMap takes at most %d with its key", l-len(ExtKey), MaxCustomMap)
		}
		v.ClientCustomMap = map[string]string{ExtKey: ext}
	}
	if err := skip(v, c.ClickAction); err != nil {
		return nil, err
	}
	if m.TTL > 0 {
		ttl := min(max(m.TTL, MinTTL), MaxTTL)
		v.TimeToLive = int((ttl + time.Second - 1) / time.Second)
	} else {
		v.SendOnline = true
	}
	return v, nil
}

// skip sets what a tap does: open the app, a web page, or an in-app page by
// intent URI. vivo opens pages by intent only: an openPage action with an
// activity class and no intent opens the app.
func skip(v *Message, a cert.ClickAction) error {
	switch a.Type {
	case "", cert.ClickOpenApp:
		v.SkipType = SkipOpenApp
	case cert.ClickOpenURL:
		v.SkipType, v.SkipContent = SkipURL, a.URL
	case cert.ClickOpenPage:
		if a.Intent == "" {
			v.SkipType = SkipOpenApp
			break
		}
		v.SkipType, v.SkipContent = SkipPage, a.Intent
	default:
		return fmt.Errorf("certificate clickAction type %q is not one vivo can map", a.Type)
	}
	if l := utf8.RuneCountInString(v.SkipContent); l > MaxSkipContent {
		return fmt.Errorf("certificate click target is %d characters; vivo allows at most %d", l, MaxSkipContent)
	}
	return nil
}

// NotifyID derives notifyId (1 to 2147483647) from the message ID, so each
// message shows apart and a resent one replaces itself. An empty ID gives
// none: vivo then assigns one.
func NotifyID(id string) int {
	if id == "" {
		return 0
	}
	h := fnv.New32a()
	_, _ = h.Write([]byte(id))
	return int(h.Sum32()%2147483647) + 1
}

// RequestID derives a requestId from the message ID (or, without one, its
// content) and the parts that make the request unique, such as the
// endpoint and the regIds: 32 hex characters, the same for a resent
// request. Whether vivo treats a repeated requestId as a duplicate to drop
// is not documented [?]; deriving it keeps that on the safe side.
func RequestID(m *push.Message, parts ...string) string {
	h := sha256.New()
	if m.ID != "" {
		_, _ = h.Write([]byte(m.ID))
	} else {
		for _, s := range []string{m.From, m.Title(), m.Info.Desc, m.Info.Ext} {
			_, _ = h.Write([]byte(s))
			_, _ = h.Write([]byte{0})
		}
	}
	for _, p := range parts {
		_, _ = h.Write([]byte{0})
		_, _ = h.Write([]byte(p))
	}
	return hex.EncodeToString(h.Sum(nil)[:16])
}

// SendJSON is the /message/send body for one regId.
func SendJSON(v *Message, regID, requestID string) ([]byte, error) {
	body := *v
	body.RegID, body.RequestID = regID, requestID
	b, err := json.Marshal(&body)
	if err != nil {
		return nil, fmt.Errorf("encode vivo send: %w", err)
	}
	return b, nil
}

// SaveListPayloadJSON is the /message/saveListPayload body: the message
// without a regId.
func SaveListPayloadJSON(v *Message, requestID string) ([]byte, error) {
	return SendJSON(v, "", requestID)
}

// PushToListJSON is the /message/pushToList body.
func PushToListJSON(appID int64, regIDs []string, taskID, requestID string) ([]byte, error) {
	b, err := json.Marshal(PushToList{AppID: appID, RegIDs: regIDs, TaskID: taskID, RequestID: requestID})
	if err != nil {
		return nil, fmt.Errorf("encode vivo pushToList: %w", err)
	}
	return b, nil
}
