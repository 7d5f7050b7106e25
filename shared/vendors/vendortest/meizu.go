package vendortest

import (
	"bytes"
	"crypto/md5"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"mime"
	"net/http"
	"net/http/httptest"
	"net/url"
	"regexp"
	"sort"
	"strings"
	"sync"
	"testing"
	"unicode/utf8"
)

// Meizu answer codes the mock uses, from Meizu's API document. Codes are
// strings on the wire.
const (
	MeizuCodeOK       = "200"
	MeizuCodeParam    = "1005"
	MeizuCodeSign     = "1006"
	MeizuCodeAppID    = "110000"
	MeizuCodeEmpty    = "110004"
	MeizuValueInvalid = "110002"
	MeizuValueBusy    = "513"
	MeizuValueQuota   = "110011"
)

// MeizuSendPath is the notification-by-pushId path the mock serves, under
// any prefix.
const MeizuSendPath = "/garcia/api/server/push/varnished/pushByPushId"

// MeizuMock is a strict mock of Meizu Flyme Push's pushByPushId over plain
// HTTP, as Meizu's document shows it. It recomputes the md5 sign over the
// exact parameters received (refusing a mismatch with code "1006"), checks
// appId, the pushId count (at most 100), and that messageJson is valid JSON
// of the documented shape with the required fields, lengths and a clickType
// other than the deprecated 3. It answers by the script in the value map of
// a "200" answer:
//
//	invalid-…  "110002" (pushId not subscribed)
//	busy<N>-…  "513" (push failed), N times
//	quota-…    "110011" (daily public-message limit)
type MeizuMock struct {
	Log    *Log
	Script *Script
	srv    *httptest.Server
	opts   Options
	appID  string
	secret string

	mu  sync.Mutex
	ids int
}

// NewMeizu starts a Meizu mock for appID signed with appSecret.
func NewMeizu(tb testing.TB, opts Options, appID, appSecret string) *MeizuMock {
	tb.Helper()
	m := &MeizuMock{Log: &Log{}, Script: &Script{}, opts: opts, appID: appID, secret: appSecret}
	m.srv = httptest.NewServer(m)
	tb.Cleanup(m.srv.Close)
	return m
}

// URL is the mock's base URL (http), for OFFPUSH_MEIZU_URL.
func (m *MeizuMock) URL() string { return m.srv.URL }

// Server is the underlying test server.
func (m *MeizuMock) Server() *httptest.Server { return m.srv }

// meizuMessage is messageJson as documented, every field a pointer so that
// missing fields show; unknown fields are refused.
type meizuMessage struct {
	NoticeBarInfo *struct {
		NoticeMsgType *int    `json:"noticeMsgType"`
		NoticeBarType *int    `json:"noticeBarType"`
		Title         *string `json:"title"`
		Content       *string `json:"content"`
	} `json:"noticeBarInfo"`
	NoticeExpandInfo *struct {
		NoticeExpandType    *int    `json:"noticeExpandType"`
		NoticeExpandContent *string `json:"noticeExpandContent"`
		NoticeExpandImgURL  *string `json:"noticeExpandImgUrl"`
	} `json:"noticeExpandInfo"`
	ClickTypeInfo *struct {
		ClickType       *int           `json:"clickType"`
		URL             *string        `json:"url"`
		Parameters      map[string]any `json:"parameters"`
		Activity        *string        `json:"activity"`
		CustomAttribute *string        `json:"customAttribute"`
	} `json:"clickTypeInfo"`
	PushTimeInfo *struct {
		OffLine   *int `json:"offLine"`
		ValidTime *int `json:"validTime"`
	} `json:"pushTimeInfo"`
	AdvanceInfo *struct {
		Suspend             *int    `json:"suspend"`
		ClearNoticeBar      *int    `json:"clearNoticeBar"`
		FixDisplay          *int    `json:"fixDisplay"`
		FixStartDisplayTime *string `json:"fixStartDisplayTime"`
		FixEndDisplayTime   *string `json:"fixEndDisplayTime"`
		NotificationType    *struct {
			Vibrate *int `json:"vibrate"`
			Lights  *int `json:"lights"`
			Sound   *int `json:"sound"`
		} `json:"notificationType"`
		NotifyKey *string `json:"notifyKey"`
	} `json:"advanceInfo"`
	VipInfo map[string]any `json:"vipInfo"`
	Extra   map[string]any `json:"extra"`
}

var meizuNotifyKey = regexp.MustCompile(`^[0-9a-zA-Z_-]{0,8}$`)

// ServeHTTP checks one pushByPushId request and answers it.
func (m *MeizuMock) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	m.opts.Delay(r)
	if r.Method != http.MethodPost {
		m.Log.Fail("meizu: method %s, want POST", r.Method)
		http.Error(w, "method not allowed", http.StatusMethodNotAllowed)
		return
	}
	if !strings.HasSuffix(r.URL.Path, MeizuSendPath) {
		m.Log.Fail("meizu: path %s, want …%s", r.URL.Path, MeizuSendPath)
		http.NotFound(w, r)
		return
	}
	mt, params, err := mime.ParseMediaType(r.Header.Get("Content-Type"))
	if err != nil || mt != "application/x-www-form-urlencoded" || (params["charset"] != "" && !strings.EqualFold(params["charset"], "UTF-8")) {
		m.Log.Fail("meizu: Content-Type %q, want application/x-www-form-urlencoded;charset=UTF-8", r.Header.Get("Content-Type"))
		m.answer(w, MeizuCodeParam, "Content-Type must be a URL-encoded form", "")
		return
	}
	body, err := io.ReadAll(io.LimitReader(r.Body, 1<<20))
	if err != nil {
		m.Log.Fail("meizu: read body: %v", err)
		http.Error(w, "bad body", http.StatusBadRequest)
		return
	}
	form, err := url.ParseQuery(string(body))
	if err != nil {
		m.Log.Fail("meizu: body is not a URL-encoded form: %v", err)
		m.answer(w, MeizuCodeParam, "unreadable form", "")
		return
	}
	flat := map[string]string{}
	for k, v := range form {
		if len(v) != 1 {
			m.Log.Fail("meizu: parameter %s given %d times", k, len(v))
			m.answer(w, MeizuCodeParam, "参数错误", "")
			return
		}
		switch k {
		case "appId", "pushIds", "messageJson", "sign":
		default:
			m.Log.Fail("meizu: unknown parameter %s", k)
			m.answer(w, MeizuCodeParam, "参数错误", "")
			return
		}
		flat[k] = v[0]
	}
	for _, k := range []string{"appId", "pushIds", "messageJson", "sign"} {
		if flat[k] == "" {
			m.Log.Fail("meizu: missing %s", k)
			m.answer(w, MeizuCodeEmpty, "参数不能为空", "")
			return
		}
	}
	if want := meizuSign(flat, m.secret); flat["sign"] != want {
		m.Log.Fail("meizu: sign %s, want %s (md5 of the sorted raw parameters and the appSecret)", flat["sign"], want)
		m.answer(w, MeizuCodeSign, "签名认证失败", "")
		return
	}
	if flat["appId"] != m.appID {
		m.Log.Fail("meizu: appId %q, want %q", flat["appId"], m.appID)
		m.answer(w, MeizuCodeAppID, "appId不合法", "")
		return
	}
	pushIDs := strings.Split(flat["pushIds"], ",")
	if len(pushIDs) > 100 {
		m.Log.Fail("meizu: %d pushIds in one request, at most 100", len(pushIDs))
		m.answer(w, MeizuCodeParam, "pushIds一批最多不能超过100个", "")
		return
	}
	for _, id := range pushIDs {
		if id == "" || strings.TrimSpace(id) != id {
			m.Log.Fail("meizu: empty or padded pushId in pushIds")
			m.answer(w, MeizuCodeParam, "参数错误", "")
			return
		}
	}
	if msg := meizuCheckMessage(flat["messageJson"]); msg != "" {
		m.Log.Fail("meizu: messageJson: %s", msg)
		m.answer(w, MeizuCodeParam, "参数错误: "+msg, "")
		return
	}
	m.Log.Add(Received{Path: r.URL.Path, Header: r.Header.Clone(), Body: body, Targets: pushIDs})

	value := map[string][]string{}
	for _, id := range pushIDs {
		switch m.Script.For(id) {
		case Invalid:
			value[MeizuValueInvalid] = append(value[MeizuValueInvalid], id)
		case Busy:
			value[MeizuValueBusy] = append(value[MeizuValueBusy], id)
		case Quota:
			value[MeizuValueQuota] = append(value[MeizuValueQuota], id)
		}
	}
	m.mu.Lock()
	m.ids++
	msgID := fmt.Sprintf("%032x", m.ids)
	m.mu.Unlock()
	m.answerValue(w, value, msgID)
}

// meizuCheckMessage returns what is wrong with messageJson, or "".
func meizuCheckMessage(s string) string {
	dec := json.NewDecoder(strings.NewReader(s))
	dec.DisallowUnknownFields()
	var msg meizuMessage
	if err := dec.Decode(&msg); err != nil {
		return "not the documented JSON: " + err.Error()
	}
	if dec.More() {
		return "trailing data after the JSON object"
	}
	nb := msg.NoticeBarInfo
	if nb == nil {
		return "noticeBarInfo is required"
	}
	if nb.Title == nil || !meizuChars(*nb.Title, 1, 32) {
		return "noticeBarInfo.title must be 1 to 32 characters"
	}
	if nb.Content == nil || !meizuChars(*nb.Content, 1, 100) {
		return "noticeBarInfo.content must be 1 to 100 characters"
	}
	if nb.NoticeMsgType != nil && *nb.NoticeMsgType != 0 && *nb.NoticeMsgType != 1 {
		return "noticeBarInfo.noticeMsgType must be 0 or 1"
	}
	if nb.NoticeBarType != nil && *nb.NoticeBarType != 0 && *nb.NoticeBarType != 2 {
		return "noticeBarInfo.noticeBarType must be 0 or 2"
	}
	if ci := msg.ClickTypeInfo; ci != nil && ci.ClickType != nil {
		switch *ci.ClickType {
		case 0:
		case 1:
			if ci.Activity == nil || *ci.Activity == "" {
				return "clickType 1 needs clickTypeInfo.activity"
			}
		case 2:
			if ci.URL == nil || *ci.URL == "" {
				return "clickType 2 needs clickTypeInfo.url"
			}
		case 3:
			return "clickType 3 (client-defined) is deprecated for Android 12; use 0, 1 or 2"
		default:
			return "clickType must be 0, 1 or 2"
		}
	}
	if pt := msg.PushTimeInfo; pt != nil {
		off := 1
		if pt.OffLine != nil {
			off = *pt.OffLine
		}
		switch off {
		case 0:
		case 1:
			if pt.ValidTime != nil && (*pt.ValidTime < 1 || *pt.ValidTime > 72) {
				return "pushTimeInfo.validTime must be 1 to 72 hours"
			}
		default:
			return "pushTimeInfo.offLine must be 0 or 1"
		}
	}
	if ai := msg.AdvanceInfo; ai != nil {
		for name, p := range map[string]*int{"suspend": ai.Suspend, "clearNoticeBar": ai.ClearNoticeBar, "fixDisplay": ai.FixDisplay} {
			if p != nil && *p != 0 && *p != 1 {
				return "advanceInfo." + name + " must be 0 or 1"
			}
		}
		if nt := ai.NotificationType; nt != nil {
			for name, p := range map[string]*int{"vibrate": nt.Vibrate, "lights": nt.Lights, "sound": nt.Sound} {
				if p != nil && *p != 0 && *p != 1 {
					return "advanceInfo.notificationType." + name + " must be 0 or 1"
				}
			}
		}
		if ai.NotifyKey != nil && !meizuNotifyKey.MatchString(*ai.NotifyKey) {
			return "advanceInfo.notifyKey must be at most 8 of [0-9a-zA-Z_-]"
		}
	}
	return ""
}

// meizuChars reports whether s has min to max characters and is not blank.
func meizuChars(s string, min, max int) bool {
	n := utf8.RuneCountInString(s)
	return strings.TrimSpace(s) != "" && n >= min && n <= max
}

// meizuSign recomputes Meizu's signature independently of the client: every
// parameter but sign, sorted by name, name=value raw, then the secret, md5.
func meizuSign(params map[string]string, secret string) string {
	keys := make([]string, 0, len(params))
	for k := range params {
		if k != "sign" {
			keys = append(keys, k)
		}
	}
	sort.Strings(keys)
	var b bytes.Buffer
	for _, k := range keys {
		fmt.Fprintf(&b, "%s=%s", k, params[k])
	}
	b.WriteString(secret)
	sum := md5.Sum(b.Bytes())
	return hex.EncodeToString(sum[:])
}

// answer writes a refused request: a top-level code and an empty value.
func (m *MeizuMock) answer(w http.ResponseWriter, code, message, msgID string) {
	meizuJSON(w, map[string]any{"code": code, "message": message, "value": "", "redirect": "", "msgId": msgID})
}

// answerValue writes an accepted request with the pushIds that failed.
func (m *MeizuMock) answerValue(w http.ResponseWriter, value map[string][]string, msgID string) {
	meizuJSON(w, map[string]any{"code": MeizuCodeOK, "message": "", "value": value, "redirect": "", "msgId": msgID})
}

// meizuJSON writes v as Meizu's JSON answer, always HTTP 200.
func meizuJSON(w http.ResponseWriter, v any) {
	w.Header().Set("Content-Type", "application/json; charset=UTF-8")
	w.WriteHeader(http.StatusOK)
	_ = json.NewEncoder(w).Encode(v)
}
