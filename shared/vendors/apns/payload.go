package apns

import (
	"crypto/sha1"
	"fmt"
	"strconv"
	"time"
	"unicode/utf8"

	"github.com/offpush/offpush/shared/cert"
	"github.com/offpush/offpush/shared/push"
)

// Payload size limits in bytes: APNs answers 413 PayloadTooLarge above them
// (vendor-apis.md §2, Apple's "Generating a remote notification").
const (
	MaxPayload     = 4096
	MaxVoIPPayload = 5120
)

// maxTTL is the longest apns-expiration offpush asks for. APNs keeps a
// notification for an offline device for a limited time whatever the header
// says; 30 days is the figure third-party summaries give [?: not in the
// Apple text the vendor notes quote]. Messages live at most push.MaxTTL
// (7 days), so the clamp only guards against a caller passing more.
const maxTTL = 30 * 24 * time.Hour

// Push types and the priority offpush sends (the apns-push-type and
// apns-priority headers).
const (
	PushTypeAlert = "alert"
	PushTypeVoIP  = "voip"
	// PriorityHigh (10) delivers at once. Chat notifications and call
	// invitations both need it; 5 may be delayed or grouped by the device's
	// power management.
	PriorityHigh = 10
)

// voipTopicSuffix is appended to the bundle ID in apns-topic for VoIP pushes
// [?: the vendor notes mark the suffix as from third-party pages; apns2's
// PushTypeVOIP doc comment states it too].
const voipTopicSuffix = ".voip"

// Payload is the JSON body of one APNs request: Apple's aps dictionary plus
// offpush's custom keys, which iOS hands to the app in userInfo.
type Payload struct {
	APS APS `json:"aps"`
	// Ext is the message's ext string (a JSON object in a string), where
	// Tencent's iOS SDK looks for it: userInfo["ext"] when the user taps the
	// notification.
	Ext string `json:"ext,omitempty"`
	// Image is apnsInfo.image, the URL of a picture to attach. APNs does not
	// download it: the app's Notification Service Extension reads
	// userInfo["image"], downloads the picture and attaches it, which is why
	// an image also sets mutable-content. The key name is offpush's own
	// contract with the app's extension.
	Image string `json:"image,omitempty"`
}

// APS is the aps dictionary.
type APS struct {
	Alert Alert `json:"alert"`
	// Badge is the number shown on the app icon; absent leaves it alone.
	Badge *int `json:"badge,omitempty"`
	// Sound is "default", a sound file in the app bundle, or absent for a
	// silent notification.
	Sound string `json:"sound,omitempty"`
	// MutableContent 1 lets the Notification Service Extension change the
	// notification before it is shown (images, decryption).
	MutableContent int `json:"mutable-content,omitempty"`
	// ThreadID groups notifications. offpush's API has no field for it, so
	// it stays empty and iOS groups by app.
	ThreadID string `json:"thread-id,omitempty"`
}

// Alert is the visible text.
type Alert struct {
	Title    string `json:"title,omitempty"`
	Subtitle string `json:"subtitle,omitempty"`
	Body     string `json:"body,omitempty"`
}

// NewPayload maps a message and one device onto the APNs payload
// (design.md §4): apnsInfo.title overrides the title for iOS, else the
// message title (title, sender nickname, sender ID); desc is the body; ext
// travels as the custom key "ext"; "" or "default" is the default sound,
// "push.no_sound" none, anything else a sound file; the badge is the
// target's; an image or apnsInfo.mutableContent sets mutable-content.
func NewPayload(m *push.Message, t push.Target) Payload {
	info := &m.Info.APNsInfo
	p := Payload{
		APS: APS{
			Alert: Alert{Title: info.Title, Subtitle: info.SubTitle, Body: m.Info.Desc},
			Badge: t.Badge,
		},
		Ext:   m.Info.Ext,
		Image: info.Image,
	}
	if p.APS.Alert.Title == "" {
		p.APS.Alert.Title = m.Title()
	}
	switch info.Sound {
	case "", push.SoundDefault:
		p.APS.Sound = push.SoundDefault
	case push.SoundNone:
	default:
		p.APS.Sound = info.Sound
	}
	if info.Image != "" || info.MutableContent == 1 {
		p.APS.MutableContent = 1
	}
	return p
}

// AppendJSON appends p's JSON to dst. The bytes equal encoding/json's
// Marshal of p (the tests check it), built without reflection: the payload
// is encoded for every device of every push.
func (p *Payload) AppendJSON(dst []byte) []byte {
	dst = p.appendHead(dst)
	dst = appendBadge(dst, p.APS.Badge)
	return p.appendTail(dst)
}

// appendHead appends the JSON up to the badge: {"aps":{"alert":{…}
func (p *Payload) appendHead(dst []byte) []byte {
	a := &p.APS.Alert
	dst = append(dst, `{"aps":{"alert":{`...)
	sep := false
	field := func(name, v string) {
		if v == "" {
			return
		}
		if sep {
			dst = append(dst, ',')
		}
		sep = true
		dst = append(dst, name...)
		dst = appendString(dst, v)
	}
	field(`"title":`, a.Title)
	field(`"subtitle":`, a.Subtitle)
	field(`"body":`, a.Body)
	return append(dst, '}')
}

func appendBadge(dst []byte, badge *int) []byte {
	if badge == nil {
		return dst
	}
	dst = append(dst, `,"badge":`...)
	return strconv.AppendInt(dst, int64(*badge), 10)
}

// appendTail appends the JSON after the badge, to the end.
func (p *Payload) appendTail(dst []byte) []byte {
	s := &p.APS
	if s.Sound != "" {
		dst = append(dst, `,"sound":`...)
		dst = appendString(dst, s.Sound)
	}
	if s.MutableContent != 0 {
		dst = append(dst, `,"mutable-content":`...)
		dst = strconv.AppendInt(dst, int64(s.MutableContent), 10)
	}
	if s.ThreadID != "" {
		dst = append(dst, `,"thread-id":`...)
		dst = appendString(dst, s.ThreadID)
	}
	dst = append(dst, '}')
	if p.Ext != "" {
		dst = append(dst, `,"ext":`...)
		dst = appendString(dst, p.Ext)
	}
	if p.Image != "" {
		dst = append(dst, `,"image":`...)
		dst = appendString(dst, p.Image)
	}
	return append(dst, '}')
}

const hexDigits = "0123456789abcdef"

// appendString appends s as a JSON string exactly as encoding/json does with
// HTML escaping on: apns2 passes the body through json.Marshal, which
// compacts and HTML-escapes it, so any other escaping would make the bytes
// sent differ from the bytes Requests reports.
func appendString(dst []byte, s string) []byte {
	dst = append(dst, '"')
	start := 0
	for i := 0; i < len(s); {
		if b := s[i]; b < utf8.RuneSelf {
			if b >= 0x20 && b != '"' && b != '\\' && b != '<' && b != '>' && b != '&' {
				i++
				continue
			}
			dst = append(dst, s[start:i]...)
			switch b {
			case '\\', '"':
				dst = append(dst, '\\', b)
			case '\b':
				dst = append(dst, '\\', 'b')
			case '\f':
				dst = append(dst, '\\', 'f')
			case '\n':
				dst = append(dst, '\\', 'n')
			case '\r':
				dst = append(dst, '\\', 'r')
			case '\t':
				dst = append(dst, '\\', 't')
			default:
				dst = append(dst, '\\', 'u', '0', '0', hexDigits[b>>4], hexDigits[b&0xF])
			}
			i++
			start = i
			continue
		}
		c, size := utf8.DecodeRuneInString(s[i:])
		if c == utf8.RuneError && size == 1 {
			dst = append(dst, s[start:i]...)
			dst = append(dst, `\ufffd`...)
			i += size
			start = i
			continue
		}
		if c == '\u2028' || c == '\u2029' {
			dst = append(dst, s[start:i]...)
			dst = append(dst, '\\', 'u', '2', '0', '2', hexDigits[c&0xF])
			i += size
			start = i
			continue
		}
		i += size
	}
	dst = append(dst, s[start:]...)
	return append(dst, '"')
}

// Header holds the request headers that carry meaning, as apns2 sends them.
type Header struct {
	// Topic is the bundle ID, with ".voip" for VoIP pushes.
	Topic string
	// PushType is alert, or voip for a call invitation on a VoIP
	// certificate.
	PushType string
	Priority int
	// Expiration is when APNs may drop the message if the device stayed
	// offline: now + the message TTL.
	Expiration time.Time
	// ID is the apns-id; empty lets APNs choose one.
	ID string
}

// IsVoIP reports whether m goes out as a VoIP push: a call invitation on a
// certificate registered for VoIP. Other call invitations are ordinary
// alerts at priority 10, which every push already uses.
func IsVoIP(m *push.Message, a *cert.APNs) bool {
	return m.Type == push.Call && a != nil && a.VoIP
}

// NewHeader maps a message onto the request headers for one device token.
// apns-collapse-id is never set: every chat message is its own notification.
func NewHeader(m *push.Message, a *cert.APNs, token string, now time.Time) Header {
	h := Header{Topic: a.BundleID, PushType: PushTypeAlert, Priority: PriorityHigh, Expiration: expiration(m.TTL, now)}
	if IsVoIP(m, a) {
		h.Topic += voipTopicSuffix
		h.PushType = PushTypeVoIP
	}
	if m.ID != "" {
		h.ID = NotificationID(m.ID, token)
	}
	return h
}

// expiration turns a TTL into apns-expiration. A TTL of zero or less means
// "deliver now or never": apns-expiration 0, which apns2 writes for any time
// within the first second after the epoch (it omits the header only for the
// epoch itself or earlier).
func expiration(ttl time.Duration, now time.Time) time.Time {
	if ttl <= 0 {
		return time.Unix(0, 1)
	}
	return now.Add(min(ttl, maxTTL)).Truncate(time.Second)
}

// PayloadLimit is the body size APNs accepts for m.
func PayloadLimit(m *push.Message, a *cert.APNs) int {
	if IsVoIP(m, a) {
		return MaxVoIPPayload
	}
	return MaxPayload
}

// uuidNamespace is offpush's namespace for name-based (version 5) UUIDs.
var uuidNamespace = [16]byte{0x6f, 0x66, 0x66, 0x70, 0x75, 0x73, 0x68, 0x2d, 0xa7, 0x5e, 0x4a, 0x1c, 0x9b, 0x31, 0x0e, 0x52}

// NotificationID derives the apns-id from the message ID and the device
// token: a version 5 UUID, lowercase 8-4-4-4-12. The same message to the
// same device always gets the same ID, so a retry carries the ID of the
// first attempt and APNs sees one notification, not two unrelated ones.
// (Apple documents apns-id as the notification's identifier in responses and
// delivery logs; that APNs drops a second request with an ID it has already
// accepted is not stated in the sources the vendor notes cite [?].)
func NotificationID(messageID, token string) string {
	var buf [256]byte // on the stack for the usual ID and token lengths
	name := append(append(append(append(buf[:0], uuidNamespace[:]...), messageID...), 0), token...)
	u := sha1.Sum(name)
	u[6] = u[6]&0x0f | 0x50 // version 5
	u[8] = u[8]&0x3f | 0x80 // RFC 4122 variant
	var b [36]byte
	j := 0
	for i := 0; i < 16; i++ {
		if i == 4 || i == 6 || i == 8 || i == 10 {
			b[j] = '-'
			j++
		}
		b[j], b[j+1] = hexDigits[u[i]>>4], hexDigits[u[i]&0xf]
		j += 2
	}
	return string(b[:])
}

// template is the part of the payload shared by every device of one push:
// the JSON around the badge, which alone differs per device.
type template struct {
	head, tail []byte
	limit      int
}

func newTemplate(m *push.Message, a *cert.APNs) template {
	p := NewPayload(m, push.Target{})
	return template{head: p.appendHead(nil), tail: p.appendTail(nil), limit: PayloadLimit(m, a)}
}

// size is the payload's length for a badge without building it.
func (t *template) size(badge *int) int {
	n := len(t.head) + len(t.tail)
	if badge != nil {
		n += len(`,"badge":`) + len(strconv.Itoa(*badge))
	}
	return n
}

// check reports why a target's payload cannot be sent, or "".
func (t *template) check(badge *int) string {
	if n := t.size(badge); n > t.limit {
		return fmt.Sprintf("payload is %d bytes; APNs allows %d", n, t.limit)
	}
	return ""
}

// appendPayload appends the payload for one badge: equal to
// NewPayload(m, target).AppendJSON.
func (t *template) appendPayload(dst []byte, badge *int) []byte {
	dst = append(dst, t.head...)
	dst = appendBadge(dst, badge)
	return append(dst, t.tail...)
}

// checkToken reports why a device token cannot go into the request path, or
// "". Tokens are checked as hex when uploaded; this only keeps a damaged one
// from changing the URL (path separators, queries, escapes).
func checkToken(tok string) string {
	if tok == "" {
		return "MissingDeviceToken: empty device token"
	}
	for i := 0; i < len(tok); i++ {
		c := tok[i]
		if !(c >= '0' && c <= '9' || c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c == '-' || c == '_') {
			return "BadDeviceToken: device token has characters outside a URL path segment"
		}
	}
	return ""
}
