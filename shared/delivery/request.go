// Package delivery is offpush's one "push to these users" path: for every
// device of up to 500 users it decides whether and what to push, sends
// through the vendor clients, records each outcome, cleans up dead tokens,
// and retries passing failures. POST /v1/push and the SQS bulk jobs of
// broadcasts both run it.
package delivery

import (
	"encoding/json"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/offpush/offpush/shared/device"
	"github.com/offpush/offpush/shared/push"
)

// Limits of a push request.
const (
	MaxUsers       = 500
	MaxTitleBytes  = 512
	MaxDescBytes   = 4096
	MaxExtBytes    = 4096
	MaxFieldBytes  = 512 // other text fields (channel ids, categories, image URLs, sounds)
	DefaultLife    = 7 * 24 * 60 * 60
	maxMsgLifeTime = DefaultLife
)

// Request is the body of POST /v1/push.
type Request struct {
	From            string               `json:"from"`
	FromNickname    string               `json:"fromNickname"`
	To              []string             `json:"to"`
	MsgType         push.MsgType         `json:"msgType"`
	MsgRandom       *uint32              `json:"msgRandom"`
	MsgLifeTime     *int                 `json:"msgLifeTime"`
	DryRun          bool                 `json:"dryRun"`
	OfflinePushInfo push.OfflinePushInfo `json:"offlinePushInfo"`
}

// Validate checks the request and returns the message it sends and the
// distinct recipients in request order.
func (r Request) Validate() (*push.Message, []string, error) {
	if len(r.To) == 0 || len(r.To) > MaxUsers {
		return nil, nil, device.Invalid("to", "must list 1 to %d user IDs", MaxUsers)
	}
	seen := make(map[string]bool, len(r.To))
	users := make([]string, 0, len(r.To))
	for i, u := range r.To {
		if err := device.ValidateUserID("to["+strconv.Itoa(i)+"]", u); err != nil {
			return nil, nil, err
		}
		if !seen[u] {
			seen[u] = true
			users = append(users, u)
		}
	}
	m, err := r.Message()
	if err != nil {
		return nil, nil, err
	}
	return m, users, nil
}

// Message checks and builds the message of r, leaving the recipients
// aside (a broadcast names an audience instead).
func (r Request) Message() (*push.Message, error) {
	if err := device.ValidateUserID("from", r.From); err != nil {
		return nil, err
	}
	if err := text("fromNickname", r.FromNickname, MaxTitleBytes); err != nil {
		return nil, err
	}
	switch r.MsgType {
	case "":
		r.MsgType = push.Text
	case push.Text, push.Custom, push.Call:
	default:
		return nil, device.Invalid("msgType", "must be text, custom or call")
	}
	life := DefaultLife
	if r.MsgLifeTime != nil {
		life = *r.MsgLifeTime
		if life < 0 || life > maxMsgLifeTime {
			return nil, device.Invalid("msgLifeTime", "must be from 0 to %d seconds", maxMsgLifeTime)
		}
	}
	if err := ValidateInfo(r.OfflinePushInfo); err != nil {
		return nil, err
	}
	m := &push.Message{Type: r.MsgType, From: r.From, FromNickname: r.FromNickname, Info: r.OfflinePushInfo,
		TTL: time.Duration(life) * time.Second, DryRun: r.DryRun}
	return m, nil
}

// ValidateInfo checks OfflinePushInfo's fields: types and ranges, and that
// ext, when set, is a JSON object (the app parses it on click, and OPPO
// drops anything else).
func ValidateInfo(info push.OfflinePushInfo) error {
	const p = "offlinePushInfo."
	if info.PushFlag != 0 && info.PushFlag != 1 {
		return device.Invalid(p+"pushFlag", "must be 0 (push) or 1 (no push)")
	}
	if err := text(p+"title", info.Title, MaxTitleBytes); err != nil {
		return err
	}
	if err := text(p+"desc", info.Desc, MaxDescBytes); err != nil {
		return err
	}
	if info.Ext != "" {
		if len(info.Ext) > MaxExtBytes {
			return device.Invalid(p+"ext", "must be at most %d bytes", MaxExtBytes)
		}
		var obj map[string]json.RawMessage
		if err := json.Unmarshal([]byte(info.Ext), &obj); err != nil || obj == nil {
			return device.Invalid(p+"ext", `must be a JSON object string, such as "{\"conversationID\":\"c2c_alice\"}"`)
		}
	}
	a := info.AndroidInfo
	const ap = p + "androidInfo."
	for field, v := range map[string]string{
		"sound": a.Sound, "huaweiChannelId": a.HuaweiChannelID, "huaweiCategory": a.HuaweiCategory,
		"huaweiImportance": a.HuaweiImportance, "huaweiImage": a.HuaweiImage, "xiaomiChannelId": a.XiaomiChannelID,
		"oppoChannelId": a.OPPOChannelID, "oppoCategory": a.OPPOCategory, "vivoCategory": a.VivoCategory,
		"honorImportance": a.HonorImportance, "honorImage": a.HonorImage, "googleChannelId": a.GoogleChannelID,
		"googleImage": a.GoogleImage, "googlePriority": a.GooglePriority,
	} {
		if err := text(ap+field, v, MaxFieldBytes); err != nil {
			return err
		}
	}
	if a.HuaweiImportance != "" && a.HuaweiImportance != "LOW" && a.HuaweiImportance != "NORMAL" {
		return device.Invalid(ap+"huaweiImportance", "must be LOW or NORMAL")
	}
	if a.HonorImportance != "" && a.HonorImportance != "LOW" && a.HonorImportance != "NORMAL" {
		return device.Invalid(ap+"honorImportance", "must be LOW or NORMAL")
	}
	if a.GooglePriority != "" && a.GooglePriority != "high" && a.GooglePriority != "normal" {
		return device.Invalid(ap+"googlePriority", "must be high or normal")
	}
	if a.ExtAsHuaweiIntentParam != 0 && a.ExtAsHuaweiIntentParam != 1 {
		return device.Invalid(ap+"extAsHuaweiIntentParam", "must be 0 or 1")
	}
	if a.VivoClassification != nil && *a.VivoClassification != 0 && *a.VivoClassification != 1 {
		return device.Invalid(ap+"vivoClassification", "must be 0 (operations) or 1 (system)")
	}
	if a.VivoNotifyType < 0 || a.VivoNotifyType > 4 {
		return device.Invalid(ap+"vivoNotifyType", "must be 1 to 4 (0 for the default)")
	}
	switch a.OPPONotifyLevel {
	case 0, 1, 2, 16:
	default:
		return device.Invalid(ap+"oppoNotifyLevel", "must be 1, 2 or 16 (0 for the default)")
	}
	if a.MeizuNoticeMsgType != 0 && a.MeizuNoticeMsgType != 1 {
		return device.Invalid(ap+"meizuNoticeMsgType", "must be 0 (public) or 1 (private)")
	}
	i := info.APNsInfo
	const ip = p + "apnsInfo."
	if i.BadgeMode != 0 && i.BadgeMode != 1 {
		return device.Invalid(ip+"badgeMode", "must be 0 (count the message) or 1 (do not)")
	}
	if i.MutableContent != 0 && i.MutableContent != 1 {
		return device.Invalid(ip+"mutableContent", "must be 0 or 1")
	}
	for field, v := range map[string]string{"sound": i.Sound, "title": i.Title, "subTitle": i.SubTitle, "image": i.Image} {
		if err := text(ip+field, v, MaxFieldBytes); err != nil {
			return err
		}
	}
	return nil
}

func text(field, s string, max int) error {
	if len(s) > max || !utf8.ValidString(s) {
		return device.Invalid(field, "must be at most %d bytes of UTF-8", max)
	}
	if strings.ContainsRune(s, 0) {
		return device.Invalid(field, "must not contain NUL")
	}
	return nil
}
