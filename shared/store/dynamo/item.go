package dynamo

import (
	"fmt"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/offpush/offpush/shared/device"
	"github.com/offpush/offpush/shared/store"
)

// Attribute names of the tables' items. The layout is fixed: the SAM
// template and the other functions read the same tables.
const (
	attrUserID    = "userId"
	attrVer       = "ver"
	attrLabelVer  = "labelVer"
	attrExpiresAt = "expiresAt"
	attrTags      = "tags"
	attrAttrs     = "attrs"
	attrPK        = "pk"
	attrSK        = "sk"
	attrDeviceID  = "deviceId"
	attrData      = "data"
	attrCounter   = "n"

	// devicePrefix starts the name of each device's top-level map attribute
	// in a user item: dev#<deviceId>.
	devicePrefix = "dev#"

	// Fields of a device map.
	fCertificateID = "certificateId"
	fVendor        = "vendor"
	fPlatform      = "platform"
	fToken         = "token"
	fState         = "state"
	fStatus        = "status"
	fUnread        = "unread"
	fAppVersion    = "appVersion"
	fLocale        = "locale"
	fTimezone      = "timezone"
	fCreatedAt     = "createdAt"
	fUpdatedAt     = "updatedAt"
	fTokenAt       = "tokenAt"
	fLastResult    = "lastResult"

	// Fields of a device's lastResult map.
	fOutcome   = "outcome"
	fReason    = "reason"
	fDetail    = "detail"
	fMessageID = "messageId"
	fAt        = "at"

	// Key values of index and jobs items.
	tokenPrefix = "tok#"
	singleSK    = "-"
	certPK      = "cert"
	counterPK   = "counter"
	counterSK   = "cert"
)

func deviceAttr(deviceID string) string { return devicePrefix + deviceID }

func str(s string) types.AttributeValue { return &types.AttributeValueMemberS{Value: s} }

func num(n int64) types.AttributeValue {
	return &types.AttributeValueMemberN{Value: strconv.FormatInt(n, 10)}
}

func millis(t time.Time) types.AttributeValue { return num(t.UnixMilli()) }

// expirySeconds is the TTL of a device uploaded at tokenAt, in Unix seconds,
// rounded up so that DynamoDB never deletes a device before it expires.
func expirySeconds(tokenAt time.Time) int64 { return ttlSeconds(tokenAt.Add(device.TokenLifetime)) }

// ttlSeconds is a TTL attribute for an item that expires at t, in Unix
// seconds, rounded up.
func ttlSeconds(t time.Time) int64 { return (t.UnixMilli() + 999) / 1000 }

func certSK(id int64) string { return fmt.Sprintf("%020d", id) }

func userKey(userID string) map[string]types.AttributeValue {
	return map[string]types.AttributeValue{attrUserID: str(userID)}
}

func indexKey(tokenKey string) map[string]types.AttributeValue {
	return map[string]types.AttributeValue{attrPK: str(tokenPrefix + tokenKey), attrSK: str(singleSK)}
}

func certKey(id int64) map[string]types.AttributeValue {
	return map[string]types.AttributeValue{attrPK: str(certPK), attrSK: str(certSK(id))}
}

// deviceMap is a device as stored: the whole dev#<id> map.
func deviceMap(d device.Device) types.AttributeValue {
	m := map[string]types.AttributeValue{
		fCertificateID: num(d.CertificateID),
		fVendor:        str(string(d.Vendor)),
		fPlatform:      str(string(d.Platform)),
		fState:         str(string(d.State)),
		fStatus:        str(string(d.Status)),
		fUnread:        num(int64(d.UnreadCount)),
		fAppVersion:    str(d.AppVersion),
		fLocale:        str(d.Locale),
		fTimezone:      str(d.Timezone),
		fCreatedAt:     millis(d.CreatedAt),
		fUpdatedAt:     millis(d.UpdatedAt),
		fTokenAt:       millis(d.TokenAt),
	}
	if d.Token != "" {
		m[fToken] = str(d.Token)
	}
	if d.LastResult != nil {
		m[fLastResult] = lastResultMap(*d.LastResult)
	}
	return &types.AttributeValueMemberM{Value: m}
}

// lastResultMap is a device's last push result as stored: the lastResult
// map inside its dev#<id> map, at in Unix milliseconds.
func lastResultMap(r device.LastResult) types.AttributeValue {
	return &types.AttributeValueMemberM{Value: map[string]types.AttributeValue{
		fOutcome:   str(r.Outcome),
		fReason:    str(r.Reason),
		fDetail:    str(r.Detail),
		fMessageID: str(r.MessageID),
		fAt:        millis(r.At),
	}}
}

// parseDevice reads a dev#<id> map.
func parseDevice(userID, deviceID string, av types.AttributeValue) (device.Device, error) {
	m, ok := av.(*types.AttributeValueMemberM)
	if !ok {
		return device.Device{}, fmt.Errorf("device %s/%s: attribute is %T, not a map", userID, deviceID, av)
	}
	r := reader{m: m.Value}
	d := device.Device{
		UserID:        userID,
		DeviceID:      deviceID,
		CertificateID: r.int(fCertificateID),
		Vendor:        device.Vendor(r.str(fVendor)),
		Platform:      device.Platform(r.str(fPlatform)),
		Token:         r.str(fToken),
		State:         device.State(r.str(fState)),
		Status:        device.Status(r.str(fStatus)),
		UnreadCount:   int(r.int(fUnread)),
		AppVersion:    r.str(fAppVersion),
		Locale:        r.str(fLocale),
		Timezone:      r.str(fTimezone),
		CreatedAt:     r.time(fCreatedAt),
		UpdatedAt:     r.time(fUpdatedAt),
		TokenAt:       r.time(fTokenAt),
		LastResult:    r.lastResult(fLastResult),
	}
	if r.err != nil {
		return device.Device{}, fmt.Errorf("device %s/%s: %w", userID, deviceID, r.err)
	}
	return d, nil
}

// reader reads typed attributes from an item, keeping the first error.
type reader struct {
	m   map[string]types.AttributeValue
	err error
}

func (r *reader) str(name string) string {
	switch v := r.m[name].(type) {
	case nil:
		return ""
	case *types.AttributeValueMemberS:
		return v.Value
	default:
		r.fail(name, v)
		return ""
	}
}

func (r *reader) int(name string) int64 {
	switch v := r.m[name].(type) {
	case nil:
		return 0
	case *types.AttributeValueMemberN:
		n, err := strconv.ParseInt(v.Value, 10, 64)
		if err != nil && r.err == nil {
			r.err = fmt.Errorf("attribute %s: %w", name, err)
		}
		return n
	default:
		r.fail(name, v)
		return 0
	}
}

func (r *reader) bool(name string) bool {
	switch v := r.m[name].(type) {
	case nil:
		return false
	case *types.AttributeValueMemberBOOL:
		return v.Value
	default:
		r.fail(name, v)
		return false
	}
}

func (r *reader) bytes(name string) []byte {
	switch v := r.m[name].(type) {
	case nil:
		return nil
	case *types.AttributeValueMemberB:
		return v.Value
	default:
		r.fail(name, v)
		return nil
	}
}

// lastResult reads a lastResult map; nil if there is none.
func (r *reader) lastResult(name string) *device.LastResult {
	switch v := r.m[name].(type) {
	case nil:
		return nil
	case *types.AttributeValueMemberM:
		lr := reader{m: v.Value}
		res := &device.LastResult{
			Outcome:   lr.str(fOutcome),
			Reason:    lr.str(fReason),
			Detail:    lr.str(fDetail),
			MessageID: lr.str(fMessageID),
			At:        lr.time(fAt),
		}
		if lr.err != nil && r.err == nil {
			r.err = fmt.Errorf("attribute %s: %w", name, lr.err)
		}
		return res
	default:
		r.fail(name, v)
		return nil
	}
}

func (r *reader) has(name string) bool { _, ok := r.m[name]; return ok }

func (r *reader) time(name string) time.Time {
	if !r.has(name) {
		return time.Time{}
	}
	return time.UnixMilli(r.int(name)).UTC()
}

func (r *reader) fail(name string, v types.AttributeValue) {
	if r.err == nil {
		r.err = fmt.Errorf("attribute %s has type %T", name, v)
	}
}

// userItem is a user item as read.
type userItem struct {
	userID  string
	exists  bool
	hasVer  bool
	ver     int64
	devices []device.Device // every stored device, expired ones too
	tags    []string
	attrs   map[string]string
	// labelVer counts the writes of tags and attributes (see labelGuard).
	hasLabelVer bool
	labelVer    int64
}

func parseUser(userID string, item map[string]types.AttributeValue) (userItem, error) {
	u := userItem{userID: userID, exists: item != nil}
	if item == nil {
		return u, nil
	}
	r := reader{m: item}
	u.hasVer = r.has(attrVer)
	u.ver = r.int(attrVer)
	u.hasLabelVer = r.has(attrLabelVer)
	u.labelVer = r.int(attrLabelVer)
	if r.err != nil {
		return u, fmt.Errorf("user %s: %w", userID, r.err)
	}
	for name, av := range item {
		switch {
		case strings.HasPrefix(name, devicePrefix):
			d, err := parseDevice(userID, strings.TrimPrefix(name, devicePrefix), av)
			if err != nil {
				return u, err
			}
			u.devices = append(u.devices, d)
		case name == attrTags:
			if ss, ok := av.(*types.AttributeValueMemberSS); ok {
				u.tags = append([]string(nil), ss.Value...)
				sort.Strings(u.tags)
			}
		case name == attrAttrs:
			if m, ok := av.(*types.AttributeValueMemberM); ok {
				u.attrs = make(map[string]string, len(m.Value))
				for k, v := range m.Value {
					if s, ok := v.(*types.AttributeValueMemberS); ok {
						u.attrs[k] = s.Value
					}
				}
			}
		}
	}
	sort.Slice(u.devices, func(i, j int) bool { return u.devices[i].DeviceID < u.devices[j].DeviceID })
	return u, nil
}

// user is the user as GetUser returns it: tags, attributes (never nil) and
// the devices live at now.
func (u userItem) user(now time.Time) device.User {
	out := device.User{UserID: u.userID, Tags: u.tags, Attributes: u.attrs, Devices: store.LiveDevices(u.devices, now)}
	if out.Tags == nil {
		out.Tags = []string{}
	}
	if out.Attributes == nil {
		out.Attributes = map[string]string{}
	}
	return out
}

func (u userItem) device(id string) (device.Device, bool) { return findDevice(u.devices, id) }

func findDevice(devs []device.Device, id string) (device.Device, bool) {
	for _, d := range devs {
		if d.DeviceID == id {
			return d, true
		}
	}
	return device.Device{}, false
}

// guard is the condition that the user item is still as read, and the ver
// the write sets. Every write that adds or removes devices, moves or clears
// a token, or kicks, bumps ver; state changes and unread counts do not, so
// they never make an upload retry.
func (u userItem) guard(e *expr) (cond string, next int64) {
	switch {
	case !u.exists:
		return "attribute_not_exists(" + e.name(attrUserID) + ")", 1
	case !u.hasVer: // an item another writer created (tags, attributes) before any device
		return "attribute_exists(" + e.name(attrUserID) + ") AND attribute_not_exists(" + e.name(attrVer) + ")", 1
	default:
		return e.name(attrVer) + " = " + e.value(num(u.ver)), u.ver + 1
	}
}

// labeled reports whether the user has tags or attributes. Such an item has
// no expiresAt: tags and attributes are the admin's and outlive devices.
func (u userItem) labeled() bool { return len(u.tags) > 0 || len(u.attrs) > 0 }

// labelCond is the condition that the item's tags and attributes are still
// as read, whether or not the item exists.
func (u userItem) labelCond(e *expr) string {
	if !u.hasLabelVer {
		return "attribute_not_exists(" + e.name(attrLabelVer) + ")"
	}
	return e.name(attrLabelVer) + " = " + e.value(num(u.labelVer))
}

// labelGuard is the condition that the user item is, as far as tags and
// attributes go, still as read, and the labelVer the write sets. Writes of
// tags and attributes bump labelVer, not ver, so clears, kicks and
// invalidations never retry for them. Uploads check labelVer (an item's TTL
// depends on whether it has labels), and label writes check ver only when
// they give the item a TTL again, computed from its devices.
func (u userItem) labelGuard(e *expr) (cond string, next int64) {
	if !u.exists {
		return "attribute_not_exists(" + e.name(attrUserID) + ")", 1
	}
	return "attribute_exists(" + e.name(attrUserID) + ") AND " + u.labelCond(e), u.labelVer + 1
}

// verCond is the condition that the devices are still as read (an
// existing item).
func (u userItem) verCond(e *expr) string {
	if !u.hasVer {
		return "attribute_not_exists(" + e.name(attrVer) + ")"
	}
	return e.name(attrVer) + " = " + e.value(num(u.ver))
}

// indexKeys is the set of index keys (store.TagKey, store.AttributeKey)
// whose entries name the user.
func (u userItem) indexKeys() map[string]bool {
	keys := make(map[string]bool, len(u.tags)+len(u.attrs))
	for _, t := range u.tags {
		keys[store.TagKey(t)] = true
	}
	for n, v := range u.attrs {
		keys[store.AttributeKey(n, v)] = true
	}
	return keys
}

// indexEntry is a token index item as read.
type indexEntry struct {
	owner     store.TokenOwner
	expiresAt int64
}

func parseIndex(item map[string]types.AttributeValue) (*indexEntry, error) {
	if item == nil {
		return nil, nil
	}
	r := reader{m: item}
	e := &indexEntry{owner: store.TokenOwner{UserID: r.str(attrUserID), DeviceID: r.str(attrDeviceID)}, expiresAt: r.int(attrExpiresAt)}
	if r.err != nil {
		return nil, fmt.Errorf("index entry: %w", r.err)
	}
	return e, nil
}

// expr builds the placeholders of one request's expressions. Device
// attribute names hold '#', '.', ':' and '-', and several field names are
// reserved words, so every name goes through a placeholder.
type expr struct {
	names  map[string]string // placeholder → attribute name
	byName map[string]string
	values map[string]types.AttributeValue
}

func newExpr() *expr {
	return &expr{names: map[string]string{}, byName: map[string]string{}, values: map[string]types.AttributeValue{}}
}

// name returns the placeholder of an attribute name.
func (e *expr) name(n string) string {
	if p, ok := e.byName[n]; ok {
		return p
	}
	p := "#n" + strconv.Itoa(len(e.byName))
	e.byName[n] = p
	e.names[p] = n
	return p
}

// path returns a document path of placeholders: path("dev#a", "state") is #n0.#n1.
func (e *expr) path(parts ...string) string {
	ps := make([]string, len(parts))
	for i, p := range parts {
		ps[i] = e.name(p)
	}
	return strings.Join(ps, ".")
}

// value returns the placeholder of a value.
func (e *expr) value(v types.AttributeValue) string {
	p := ":v" + strconv.Itoa(len(e.values))
	e.values[p] = v
	return p
}

// Names and Values are nil when empty: DynamoDB rejects empty maps.
func (e *expr) Names() map[string]string {
	if len(e.names) == 0 {
		return nil
	}
	return e.names
}

func (e *expr) Values() map[string]types.AttributeValue {
	if len(e.values) == 0 {
		return nil
	}
	return e.values
}

// update collects the clauses of an update expression.
type update struct {
	set, remove, add []string
}

func (u *update) Set(lhs, rhs string) { u.set = append(u.set, lhs+" = "+rhs) }
func (u *update) Remove(path string)  { u.remove = append(u.remove, path) }

// Add adds a number to an attribute (missing counts as 0) or elements to a
// set, atomically.
func (u *update) Add(path, value string) { u.add = append(u.add, path+" "+value) }

func (u *update) String() string {
	var b strings.Builder
	for _, c := range []struct {
		verb    string
		clauses []string
	}{{"SET", u.set}, {"REMOVE", u.remove}, {"ADD", u.add}} {
		if len(c.clauses) == 0 {
			continue
		}
		if b.Len() > 0 {
			b.WriteByte(' ')
		}
		b.WriteString(c.verb + " " + strings.Join(c.clauses, ", "))
	}
	return b.String()
}
