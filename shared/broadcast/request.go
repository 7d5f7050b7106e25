// Package broadcast pushes to any audience — everyone, tags, attributes, or
// a list of any length — now, at a time, or on a cron schedule. It stores the
// message once in a job, plans the audience into queue batches of at most
// 500 users that message-push works off, checkpointing as it goes so a
// planner that stops (a deadline, a crash) resumes without enqueueing any
// batch twice, and keeps the job's status and counters.
package broadcast

import (
	"sort"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/offpush/offpush/shared/delivery"
	"github.com/offpush/offpush/shared/device"
	"github.com/offpush/offpush/shared/push"
	"github.com/offpush/offpush/shared/store"
)

// Limits of an audience.
const (
	MaxTags       = 10
	MaxAttributes = 10
	// MaxListUsers bounds an explicit list in one request (the request body
	// limit allows about this many IDs).
	MaxListUsers = 200000
)

// Audience is who a broadcast reaches: exactly one of its fields is set.
type Audience struct {
	All           bool              `json:"all,omitempty"`
	TagsAnd       []string          `json:"tagsAnd,omitempty"`
	TagsOr        []string          `json:"tagsOr,omitempty"`
	AttributesAnd map[string]string `json:"attributesAnd,omitempty"`
	AttributesOr  map[string]string `json:"attributesOr,omitempty"`
	Users         []string          `json:"users,omitempty"`
}

// Request is the body of POST /v1/broadcasts.
type Request struct {
	From            string               `json:"from"`
	FromNickname    string               `json:"fromNickname"`
	Audience        Audience             `json:"audience"`
	MsgType         push.MsgType         `json:"msgType"`
	MsgLifeTime     *int                 `json:"msgLifeTime"`
	MsgRandom       *uint32              `json:"msgRandom"`
	OfflinePushInfo push.OfflinePushInfo `json:"offlinePushInfo"`
	// SendAt sends once at that time; Cron sends on each firing (EventBridge
	// Scheduler syntax: cron(...) or rate(...)), in Timezone.
	SendAt   *time.Time `json:"sendAt"`
	Cron     string     `json:"cron"`
	Timezone string     `json:"timezone"`
}

// Spec is what a job keeps of its broadcast besides the message.
type Spec struct {
	Audience Audience   `json:"audience"`
	SendAt   *time.Time `json:"sendAt,omitempty"`
	Cron     string     `json:"cron,omitempty"`
	Timezone string     `json:"timezone,omitempty"`
	// CampaignID is the recurring broadcast a run belongs to.
	CampaignID string `json:"campaignId,omitempty"`
	// ListChunks is how many stored chunks an explicit list has; the
	// users themselves are stored apart from the spec.
	ListChunks int `json:"listChunks,omitempty"`
	// ListUsers is how many users an explicit list has.
	ListUsers int `json:"listUsers,omitempty"`
}

// Validate checks r and returns the message and the spec.
func (r Request) Validate(now time.Time) (*push.Message, Spec, error) {
	m, err := delivery.Request{From: r.From, FromNickname: r.FromNickname, MsgType: r.MsgType, MsgLifeTime: r.MsgLifeTime,
		OfflinePushInfo: r.OfflinePushInfo}.Message()
	if err != nil {
		return nil, Spec{}, err
	}
	a, err := r.Audience.normalize()
	if err != nil {
		return nil, Spec{}, err
	}
	spec := Spec{Audience: a, Timezone: r.Timezone}
	if r.SendAt != nil && r.Cron != "" {
		return nil, Spec{}, device.Invalid("cron", "give sendAt or cron, not both")
	}
	if spec.Timezone == "" {
		spec.Timezone = "UTC"
	}
	if _, err := time.LoadLocation(spec.Timezone); err != nil {
		return nil, Spec{}, device.Invalid("timezone", "must be an IANA time zone such as UTC or Asia/Shanghai")
	}
	if r.SendAt != nil {
		at := r.SendAt.UTC().Truncate(time.Second)
		if !at.After(now) {
			return nil, Spec{}, device.Invalid("sendAt", "must be in the future")
		}
		if at.After(now.AddDate(1, 0, 0)) {
			return nil, Spec{}, device.Invalid("sendAt", "must be within a year")
		}
		spec.SendAt = &at
	}
	if r.Cron != "" {
		if _, err := ParseSchedule(r.Cron); err != nil {
			return nil, Spec{}, device.Invalid("cron", "%s", err.Error())
		}
		spec.Cron = r.Cron
	}
	return m, spec, nil
}

// normalize checks the audience and sorts and deduplicates its lists.
func (a Audience) normalize() (Audience, error) {
	kinds := 0
	for _, set := range []bool{a.All, a.TagsAnd != nil, a.TagsOr != nil, a.AttributesAnd != nil, a.AttributesOr != nil, a.Users != nil} {
		if set {
			kinds++
		}
	}
	if kinds != 1 {
		return a, device.Invalid("audience", "must have exactly one of all, tagsAnd, tagsOr, attributesAnd, attributesOr, users (tags and attributes cannot be mixed)")
	}
	var err error
	switch {
	case a.TagsAnd != nil:
		a.TagsAnd, err = tags("audience.tagsAnd", a.TagsAnd)
	case a.TagsOr != nil:
		a.TagsOr, err = tags("audience.tagsOr", a.TagsOr)
	case a.AttributesAnd != nil:
		err = attributes("audience.attributesAnd", a.AttributesAnd)
	case a.AttributesOr != nil:
		err = attributes("audience.attributesOr", a.AttributesOr)
	case a.Users != nil:
		a.Users, err = users(a.Users)
	}
	return a, err
}

func tags(field string, list []string) ([]string, error) {
	if len(list) == 0 || len(list) > MaxTags {
		return nil, device.Invalid(field, "must list 1 to %d tags", MaxTags)
	}
	out := make([]string, 0, len(list))
	for i, t := range list {
		if err := ValidateTag(field+"["+strconv.Itoa(i)+"]", t); err != nil {
			return nil, err
		}
		out = append(out, t)
	}
	return dedupe(out), nil
}

func attributes(field string, m map[string]string) error {
	if len(m) == 0 || len(m) > MaxAttributes {
		return device.Invalid(field, "must hold 1 to %d attributes", MaxAttributes)
	}
	for k, v := range m {
		if err := ValidateAttribute(field+"."+k, k, v); err != nil {
			return err
		}
	}
	return nil
}

func users(list []string) ([]string, error) {
	if len(list) == 0 || len(list) > MaxListUsers {
		return nil, device.Invalid("audience.users", "must list 1 to %d user IDs", MaxListUsers)
	}
	seen := make(map[string]bool, len(list))
	out := make([]string, 0, len(list))
	for i, u := range list {
		if err := device.ValidateUserID("audience.users["+strconv.Itoa(i)+"]", u); err != nil {
			return nil, err
		}
		if !seen[u] {
			seen[u] = true
			out = append(out, u)
		}
	}
	return out, nil
}

func dedupe(list []string) []string {
	sort.Strings(list)
	out := list[:0]
	for i, s := range list {
		if i == 0 || s != list[i-1] {
			out = append(out, s)
		}
	}
	return out
}

// ValidateTag checks a tag: 1–50 bytes of UTF-8 without control characters.
func ValidateTag(field, t string) error {
	if t == "" || len(t) > store.MaxTagBytes || !printable(t) {
		return device.Invalid(field, "must be 1 to %d bytes of UTF-8 without control characters", store.MaxTagBytes)
	}
	return nil
}

// ValidateAttribute checks an attribute name (1–50 bytes of letters, digits,
// '_', '-' and '.') and value (1–50 bytes of UTF-8).
func ValidateAttribute(field, name, value string) error {
	if name == "" || len(name) > store.MaxAttributeBytes || strings.ContainsFunc(name, func(r rune) bool {
		return !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '_' || r == '-' || r == '.')
	}) {
		return device.Invalid(field, "name must be 1 to %d of A-Z a-z 0-9 _ - .", store.MaxAttributeBytes)
	}
	if value == "" || len(value) > store.MaxAttributeBytes || !printable(value) {
		return device.Invalid(field, "value must be 1 to %d bytes of UTF-8 without control characters", store.MaxAttributeBytes)
	}
	return nil
}

func printable(s string) bool {
	if !utf8.ValidString(s) {
		return false
	}
	for _, r := range s {
		if r < 0x20 || r == 0x7f || (r >= 0x80 && r < 0xa0) {
			return false
		}
	}
	return true
}
