package dynamo

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/offpush/offpush/shared/cert"
	"github.com/offpush/offpush/shared/device"
	"github.com/offpush/offpush/shared/store"
)

// errContended: a write kept losing races with other writers of the same items.
var errContended = errors.New("too much contention")

// upsertRetry carries what a cancelled upload transaction learned into the
// next attempt.
type upsertRetry struct {
	// foreign holds index keys the upload meant to delete that name another
	// device by now; they are left alone while the user item's ver is
	// foreignVer.
	foreign    map[string]bool
	foreignVer int64
	// staleOwner is an index owner whose device did not hold the token when
	// the upload tried to strip it.
	staleOwner *store.TokenOwner
}

// UpsertDevice stores a token upload: one BatchGetItem reads the user, the
// certificate and the token's index entry; store.PlanUpsert works out the
// change; one TransactWriteItems applies it. A transaction that loses a race
// (the user item or the index entry changed since the read) is planned again
// from a fresh read.
func (s *Store) UpsertDevice(ctx context.Context, up device.Upload) (device.Device, error) {
	var r upsertRetry
	for attempt := 1; ; attempt++ {
		d, retry, err := s.upsertOnce(ctx, up, &r)
		if err == nil {
			return d, nil
		}
		if !retry {
			return device.Device{}, fmt.Errorf("upsert device %s/%s: %w", up.UserID, up.DeviceID, err)
		}
		if attempt == maxAttempts {
			return device.Device{}, fmt.Errorf("upsert device %s/%s: %w after %d attempts: %w", up.UserID, up.DeviceID, errContended, attempt, err)
		}
		if err := pause(ctx, attempt); err != nil {
			return device.Device{}, fmt.Errorf("upsert device %s/%s: %w", up.UserID, up.DeviceID, err)
		}
	}
}

// upsertOnce makes one attempt at an upload; retry reports an error that a
// fresh read may cure.
func (s *Store) upsertOnce(ctx context.Context, up device.Upload, r *upsertRetry) (d device.Device, retry bool, err error) {
	now := s.now()
	rd, err := s.readUpload(ctx, up)
	if err != nil {
		return d, false, err
	}
	if rd.cert == nil {
		return d, false, fmt.Errorf("certificate %d: %w", up.CertificateID, store.ErrUnknownCertificate)
	}
	c := *rd.cert
	entry := rd.index

	var owner *store.TokenOwner // the index entry's owner as read
	if entry != nil {
		owner = &entry.owner
	}
	planOwner := owner
	var stale *userItem
	if owner != nil && r.staleOwner != nil && *owner == *r.staleOwner {
		// The last attempt found this owner's device without the token. Look
		// again: if it still lacks it, the entry is stale (its device was
		// cleared or expired), nobody is stripped, and the owner's item is
		// checked unchanged instead.
		other, err := s.getUser(ctx, owner.UserID)
		if err != nil {
			return d, false, fmt.Errorf("read token owner %s: %w", owner.UserID, err)
		}
		if od, ok := other.device(owner.DeviceID); !ok || od.Token != up.Token || od.Vendor != c.Vendor {
			stale, planOwner = &other, nil
		}
	}
	u := rd.user
	if u.ver != r.foreignVer {
		r.foreign = nil
	}
	plan, err := store.PlanUpsert(u.devices, planOwner, up, c, s.opts.MaxDevices, now)
	if err != nil {
		return d, false, err
	}

	items, roles := s.upsertWrites(u, owner, plan, stale, r.foreign, now)
	_, err = s.db.TransactWriteItems(ctx, &dynamodb.TransactWriteItemsInput{TransactItems: items})
	if err == nil {
		return plan.Device, false, nil
	}
	reasons, retry := cancelled(err)
	if !retry {
		return d, false, fmt.Errorf("write device: %w", err)
	}
	for i, role := range roles {
		if !failedCondition(reasons, i) {
			continue
		}
		switch role.kind {
		case writeUnindex:
			if r.foreign == nil {
				r.foreign = map[string]bool{}
			}
			r.foreign[role.key] = true
			r.foreignVer = u.ver
		case writeStrip:
			r.staleOwner = plan.Strip
		}
	}
	return d, true, fmt.Errorf("write device: %w", err)
}

// uploadRead is what an upload reads in its one BatchGetItem.
type uploadRead struct {
	user userItem
	cert *cert.Certificate
	// index is the token's index entry, nil if there is none.
	index *indexEntry
}

// readUpload reads the user item, the certificate and the token's index
// entry in one BatchGetItem.
func (s *Store) readUpload(ctx context.Context, up device.Upload) (uploadRead, error) {
	req := map[string]types.KeysAndAttributes{
		s.users: {Keys: []map[string]types.AttributeValue{userKey(up.UserID)}, ConsistentRead: ptr(true)},
		s.jobs:  {Keys: []map[string]types.AttributeValue{certKey(up.CertificateID)}, ConsistentRead: ptr(true)},
		s.index: {Keys: []map[string]types.AttributeValue{indexKey(store.TokenKey(up.Token))}, ConsistentRead: ptr(true)},
	}
	got, err := s.batchGet(ctx, req)
	if err != nil {
		return uploadRead{}, fmt.Errorf("read user, certificate and token owner: %w", err)
	}
	var res uploadRead
	var userAttrs map[string]types.AttributeValue
	if items := got[s.users]; len(items) > 0 {
		userAttrs = items[0]
	}
	if res.user, err = parseUser(up.UserID, userAttrs); err != nil {
		return uploadRead{}, err
	}
	if items := got[s.jobs]; len(items) > 0 {
		c, err := parseCert(items[0])
		if err != nil {
			return uploadRead{}, err
		}
		res.cert = &c
	}
	if items := got[s.index]; len(items) > 0 {
		if res.index, err = parseIndex(items[0]); err != nil {
			return uploadRead{}, err
		}
	}
	return res, nil
}

// batchGet runs a BatchGetItem to the end, reading again the keys DynamoDB
// left unprocessed (throttling, size limits).
func (s *Store) batchGet(ctx context.Context, req map[string]types.KeysAndAttributes) (map[string][]map[string]types.AttributeValue, error) {
	got := map[string][]map[string]types.AttributeValue{}
	for attempt := 1; ; attempt++ {
		out, err := s.db.BatchGetItem(ctx, &dynamodb.BatchGetItemInput{RequestItems: req})
		if err != nil {
			return nil, err
		}
		for table, items := range out.Responses {
			got[table] = append(got[table], items...)
		}
		req = out.UnprocessedKeys
		if len(req) == 0 {
			return got, nil
		}
		if attempt == maxAttempts {
			return nil, fmt.Errorf("keys still unprocessed after %d attempts", attempt)
		}
		if err := pause(ctx, attempt); err != nil {
			return nil, err
		}
	}
}

// writeKind names the part of an upload each transaction item plays, to
// read the cancellation reasons by.
type writeKind int

const (
	writeUser writeKind = iota
	writeUnindex
	writeIndex
	writeStrip
	writeStaleCheck
)

type writeRole struct {
	kind writeKind
	key  string // the index key of a writeUnindex
}

// upsertWrites turns a plan into the items of one transaction.
func (s *Store) upsertWrites(u userItem, owner *store.TokenOwner, plan store.UpsertPlan, stale *userItem, foreign map[string]bool, now time.Time) ([]types.TransactWriteItem, []writeRole) {
	var items []types.TransactWriteItem
	var roles []writeRole

	// The uploading user's item: the device, devices that lost the token,
	// removed devices, ver and TTL.
	e := newExpr()
	var upd update
	cond, next := u.guard(e)
	for _, d := range plan.Put {
		old, had := u.device(d.DeviceID)
		if !had || (d.DeviceID == plan.Device.DeviceID && old.Expired(now)) {
			upd.Set(e.name(deviceAttr(d.DeviceID)), e.value(deviceMap(d)))
			continue
		}
		setChanged(e, &upd, old, d)
	}
	for _, id := range plan.Remove {
		upd.Remove(e.name(deviceAttr(id)))
	}
	upd.Set(e.name(attrVer), e.value(num(next)))
	// The TTL follows the latest upload, unless the user has tags or
	// attributes: those outlive devices. labelVer makes the upload plan
	// again if a tag or attribute write got in between.
	if u.labeled() {
		upd.Remove(e.name(attrExpiresAt))
	} else {
		upd.Set(e.name(attrExpiresAt), e.value(num(userExpiry(devicesAfter(u.devices, plan.Remove, plan.Put)))))
	}
	cond += " AND " + u.labelCond(e)
	items = append(items, types.TransactWriteItem{Update: &types.Update{
		TableName:                 &s.users,
		Key:                       userKey(u.userID),
		UpdateExpression:          ptr(upd.String()),
		ConditionExpression:       &cond,
		ExpressionAttributeNames:  e.Names(),
		ExpressionAttributeValues: e.Values(),
	}})
	roles = append(roles, writeRole{kind: writeUser})

	// Index entries of tokens the user's devices no longer hold, each
	// deleted only while it still names the device it was read for.
	seen := map[string]bool{plan.Index: true}
	for _, x := range plan.Unindex {
		if seen[x.Key] || foreign[x.Key] {
			continue
		}
		seen[x.Key] = true
		e := newExpr()
		items = append(items, types.TransactWriteItem{Delete: &types.Delete{
			TableName:                 &s.index,
			Key:                       indexKey(x.Key),
			ConditionExpression:       ptr(ownerCond(e, &x.Owner)),
			ExpressionAttributeNames:  e.Names(),
			ExpressionAttributeValues: e.Values(),
		}})
		roles = append(roles, writeRole{kind: writeUnindex, key: x.Key})
	}

	// The token's entry now names the device, if it still names the owner read.
	ie := newExpr()
	entry := indexKey(plan.Index)
	entry[attrUserID] = str(plan.Device.UserID)
	entry[attrDeviceID] = str(plan.Device.DeviceID)
	entry[attrExpiresAt] = num(expirySeconds(plan.Device.TokenAt))
	items = append(items, types.TransactWriteItem{Put: &types.Put{
		TableName:                 &s.index,
		Item:                      entry,
		ConditionExpression:       ptr(ownerCond(ie, owner)),
		ExpressionAttributeNames:  ie.Names(),
		ExpressionAttributeValues: ie.Values(),
	}})
	roles = append(roles, writeRole{kind: writeIndex})

	// Another user's device that held the token loses it.
	if plan.Strip != nil {
		e := newExpr()
		attr := deviceAttr(plan.Strip.DeviceID)
		var upd update
		upd.Set(e.path(attr, fStatus), e.value(str(string(device.LoggedOut))))
		upd.Set(e.path(attr, fUpdatedAt), e.value(millis(now)))
		upd.Set(e.name(attrVer), "if_not_exists("+e.name(attrVer)+", "+e.value(num(0))+") + "+e.value(num(1)))
		upd.Remove(e.path(attr, fToken))
		cond := e.path(attr, fToken) + " = " + e.value(str(plan.Device.Token)) + " AND " +
			e.path(attr, fVendor) + " = " + e.value(str(string(plan.Device.Vendor)))
		items = append(items, types.TransactWriteItem{Update: &types.Update{
			TableName:                 &s.users,
			Key:                       userKey(plan.Strip.UserID),
			UpdateExpression:          ptr(upd.String()),
			ConditionExpression:       &cond,
			ExpressionAttributeNames:  e.Names(),
			ExpressionAttributeValues: e.Values(),
		}})
		roles = append(roles, writeRole{kind: writeStrip})
	}

	// A stale entry's owner must still be as last read: had its device taken
	// the token back meanwhile, it would have to be stripped after all.
	if stale != nil {
		e := newExpr()
		cond, _ := stale.guard(e)
		items = append(items, types.TransactWriteItem{ConditionCheck: &types.ConditionCheck{
			TableName:                 &s.users,
			Key:                       userKey(stale.userID),
			ConditionExpression:       &cond,
			ExpressionAttributeNames:  e.Names(),
			ExpressionAttributeValues: e.Values(),
		}})
		roles = append(roles, writeRole{kind: writeStaleCheck})
	}
	return items, roles
}

// ownerCond is the condition that an index entry is absent or names owner
// (absent only, for a nil owner).
func ownerCond(e *expr, owner *store.TokenOwner) string {
	absent := "attribute_not_exists(" + e.name(attrPK) + ")"
	if owner == nil {
		return absent
	}
	return absent + " OR (" + e.name(attrUserID) + " = " + e.value(str(owner.UserID)) +
		" AND " + e.name(attrDeviceID) + " = " + e.value(str(owner.DeviceID)) + ")"
}

// setChanged sets the fields of a stored device that differ in d, field by
// field, except state and unread count: those change without bumping ver,
// and a state change or increment running meanwhile must not be lost.
func setChanged(e *expr, upd *update, old, d device.Device) {
	attr := deviceAttr(d.DeviceID)
	set := func(field string, v types.AttributeValue) { upd.Set(e.path(attr, field), e.value(v)) }
	if d.CertificateID != old.CertificateID {
		set(fCertificateID, num(d.CertificateID))
	}
	if d.Vendor != old.Vendor {
		set(fVendor, str(string(d.Vendor)))
	}
	if d.Platform != old.Platform {
		set(fPlatform, str(string(d.Platform)))
	}
	switch {
	case d.Token == "" && old.Token != "":
		upd.Remove(e.path(attr, fToken))
	case d.Token != old.Token:
		set(fToken, str(d.Token))
	}
	if d.Status != old.Status {
		set(fStatus, str(string(d.Status)))
	}
	if d.AppVersion != old.AppVersion {
		set(fAppVersion, str(d.AppVersion))
	}
	if d.Locale != old.Locale {
		set(fLocale, str(d.Locale))
	}
	if d.Timezone != old.Timezone {
		set(fTimezone, str(d.Timezone))
	}
	if !d.CreatedAt.Equal(old.CreatedAt) {
		set(fCreatedAt, millis(d.CreatedAt))
	}
	if !d.UpdatedAt.Equal(old.UpdatedAt) {
		set(fUpdatedAt, millis(d.UpdatedAt))
	}
	if !d.TokenAt.Equal(old.TokenAt) {
		set(fTokenAt, millis(d.TokenAt))
	}
}

// ClearDevice removes the device's token and its index entry in one
// transaction; the device stays, logged out.
func (s *Store) ClearDevice(ctx context.Context, userID, deviceID string) error {
	foreignVer := int64(-1) // ver at which the token's entry named another device
	for attempt := 1; ; attempt++ {
		u, err := s.getUser(ctx, userID)
		if err != nil {
			return fmt.Errorf("clear device %s/%s: %w", userID, deviceID, err)
		}
		d, ok := u.device(deviceID)
		if !ok || (d.Token == "" && d.Status == device.LoggedOut) {
			return nil
		}
		e := newExpr()
		var upd update
		cond, next := u.guard(e)
		attr := deviceAttr(deviceID)
		upd.Set(e.path(attr, fStatus), e.value(str(string(device.LoggedOut))))
		upd.Set(e.path(attr, fUpdatedAt), e.value(millis(s.now())))
		upd.Set(e.name(attrVer), e.value(num(next)))
		if d.Token != "" {
			upd.Remove(e.path(attr, fToken))
		}
		if d.Token == "" || foreignVer == u.ver {
			err = retryConflicts(ctx, func() error {
				_, err := s.db.UpdateItem(ctx, &dynamodb.UpdateItemInput{
					TableName:                 &s.users,
					Key:                       userKey(userID),
					UpdateExpression:          ptr(upd.String()),
					ConditionExpression:       &cond,
					ExpressionAttributeNames:  e.Names(),
					ExpressionAttributeValues: e.Values(),
				})
				return err
			})
			if err == nil {
				return nil
			}
			if !conditionFailed(err) {
				return fmt.Errorf("clear device %s/%s: %w", userID, deviceID, err)
			}
		} else {
			ie := newExpr()
			_, err = s.db.TransactWriteItems(ctx, &dynamodb.TransactWriteItemsInput{TransactItems: []types.TransactWriteItem{
				{Update: &types.Update{
					TableName:                 &s.users,
					Key:                       userKey(userID),
					UpdateExpression:          ptr(upd.String()),
					ConditionExpression:       &cond,
					ExpressionAttributeNames:  e.Names(),
					ExpressionAttributeValues: e.Values(),
				}},
				{Delete: &types.Delete{
					TableName:                 &s.index,
					Key:                       indexKey(store.TokenKey(d.Token)),
					ConditionExpression:       ptr(ownerCond(ie, &store.TokenOwner{UserID: userID, DeviceID: deviceID})),
					ExpressionAttributeNames:  ie.Names(),
					ExpressionAttributeValues: ie.Values(),
				}},
			}})
			if err == nil {
				return nil
			}
			reasons, retry := cancelled(err)
			if !retry {
				return fmt.Errorf("clear device %s/%s: %w", userID, deviceID, err)
			}
			if failedCondition(reasons, 1) {
				foreignVer = u.ver
			}
		}
		if attempt == maxAttempts {
			return fmt.Errorf("clear device %s/%s: %w after %d attempts: %w", userID, deviceID, errContended, attempt, err)
		}
		if err := pause(ctx, attempt); err != nil {
			return fmt.Errorf("clear device %s/%s: %w", userID, deviceID, err)
		}
	}
}

// liveCond is the condition that the device exists and has not expired.
func liveCond(e *expr, attr string, now time.Time) string {
	return "attribute_exists(" + e.name(attr) + ") AND " + e.path(attr, fTokenAt) + " > " +
		e.value(num(now.Add(-device.TokenLifetime).UnixMilli()))
}

// SetDeviceState records foreground/background (and the unread count) with
// one conditional UpdateItem.
func (s *Store) SetDeviceState(ctx context.Context, userID, deviceID string, sc device.StateChange) (device.Device, error) {
	now := s.now()
	attr := deviceAttr(deviceID)
	e := newExpr()
	var upd update
	upd.Set(e.path(attr, fState), e.value(str(string(sc.State))))
	upd.Set(e.path(attr, fUpdatedAt), e.value(millis(now)))
	if sc.UnreadCount != nil {
		upd.Set(e.path(attr, fUnread), e.value(num(int64(*sc.UnreadCount))))
	}
	cond := liveCond(e, attr, now)
	var out *dynamodb.UpdateItemOutput
	err := retryConflicts(ctx, func() (err error) {
		out, err = s.db.UpdateItem(ctx, &dynamodb.UpdateItemInput{
			TableName:                 &s.users,
			Key:                       userKey(userID),
			UpdateExpression:          ptr(upd.String()),
			ConditionExpression:       &cond,
			ExpressionAttributeNames:  e.Names(),
			ExpressionAttributeValues: e.Values(),
			ReturnValues:              types.ReturnValueAllNew,
		})
		return err
	})
	if conditionFailed(err) {
		return device.Device{}, fmt.Errorf("set state of device %s/%s: %w", userID, deviceID, store.ErrNotFound)
	}
	if err != nil {
		return device.Device{}, fmt.Errorf("set state of device %s/%s: %w", userID, deviceID, err)
	}
	return parseDevice(userID, deviceID, out.Attributes[attr])
}

// IncrementUnread adds one to the unread count with an atomic UpdateItem.
func (s *Store) IncrementUnread(ctx context.Context, userID, deviceID string) (int, error) {
	attr := deviceAttr(deviceID)
	e := newExpr()
	unread := e.path(attr, fUnread)
	update := "SET " + unread + " = if_not_exists(" + unread + ", " + e.value(num(0)) + ") + " + e.value(num(1))
	cond := liveCond(e, attr, s.now())
	var out *dynamodb.UpdateItemOutput
	err := retryConflicts(ctx, func() (err error) {
		out, err = s.db.UpdateItem(ctx, &dynamodb.UpdateItemInput{
			TableName:                 &s.users,
			Key:                       userKey(userID),
			UpdateExpression:          &update,
			ConditionExpression:       &cond,
			ExpressionAttributeNames:  e.Names(),
			ExpressionAttributeValues: e.Values(),
			ReturnValues:              types.ReturnValueUpdatedNew,
		})
		return err
	})
	if conditionFailed(err) {
		return 0, fmt.Errorf("increment unread of device %s/%s: %w", userID, deviceID, store.ErrNotFound)
	}
	if err != nil {
		return 0, fmt.Errorf("increment unread of device %s/%s: %w", userID, deviceID, err)
	}
	m, ok := out.Attributes[attr].(*types.AttributeValueMemberM)
	if !ok {
		return 0, fmt.Errorf("increment unread of device %s/%s: no count returned", userID, deviceID)
	}
	r := reader{m: m.Value}
	n := r.int(fUnread)
	if r.err != nil {
		return 0, fmt.Errorf("increment unread of device %s/%s: %w", userID, deviceID, r.err)
	}
	return int(n), nil
}

// ListDevices reads the user's item and returns its live devices.
func (s *Store) ListDevices(ctx context.Context, userID string) ([]device.Device, error) {
	u, err := s.getUser(ctx, userID)
	if err != nil {
		return nil, fmt.Errorf("list devices of %s: %w", userID, err)
	}
	return store.LiveDevices(u.devices, s.now()), nil
}

// GetUser reads the user's item: tags, attributes and live devices.
func (s *Store) GetUser(ctx context.Context, userID string) (device.User, error) {
	u, err := s.getUser(ctx, userID)
	if err != nil {
		return device.User{}, fmt.Errorf("get user %s: %w", userID, err)
	}
	if !u.exists {
		return device.User{}, fmt.Errorf("get user %s: %w", userID, store.ErrNotFound)
	}
	return u.user(s.now()), nil
}

// KickDevices marks the user's devices kicked with one UpdateItem guarded by
// ver, planned again from a fresh read if another write got there first.
func (s *Store) KickDevices(ctx context.Context, userID, keepDeviceID string) ([]device.Device, error) {
	for attempt := 1; ; attempt++ {
		u, err := s.getUser(ctx, userID)
		if err != nil {
			return nil, fmt.Errorf("kick devices of %s: %w", userID, err)
		}
		if !u.exists {
			return nil, fmt.Errorf("kick devices of %s: %w", userID, store.ErrNotFound)
		}
		now := s.now()
		live := store.LiveDevices(u.devices, now)
		if keepDeviceID != "" {
			if _, ok := findDevice(live, keepDeviceID); !ok {
				return nil, fmt.Errorf("kick devices of %s: keep device %s: %w", userID, keepDeviceID, store.ErrNotFound)
			}
		}
		after := store.Kick(live, keepDeviceID, now)
		e := newExpr()
		var upd update
		for i, d := range after {
			if d.Status != live[i].Status {
				upd.Set(e.path(deviceAttr(d.DeviceID), fStatus), e.value(str(string(d.Status))))
				upd.Set(e.path(deviceAttr(d.DeviceID), fUpdatedAt), e.value(millis(d.UpdatedAt)))
			}
		}
		if len(upd.set) == 0 {
			return after, nil
		}
		cond, next := u.guard(e)
		upd.Set(e.name(attrVer), e.value(num(next)))
		err = retryConflicts(ctx, func() error {
			_, err := s.db.UpdateItem(ctx, &dynamodb.UpdateItemInput{
				TableName:                 &s.users,
				Key:                       userKey(userID),
				UpdateExpression:          ptr(upd.String()),
				ConditionExpression:       &cond,
				ExpressionAttributeNames:  e.Names(),
				ExpressionAttributeValues: e.Values(),
			})
			return err
		})
		if err == nil {
			return after, nil
		}
		if !conditionFailed(err) {
			return nil, fmt.Errorf("kick devices of %s: %w", userID, err)
		}
		if attempt == maxAttempts {
			return nil, fmt.Errorf("kick devices of %s: %w after %d attempts: %w", userID, errContended, attempt, err)
		}
		if err := pause(ctx, attempt); err != nil {
			return nil, fmt.Errorf("kick devices of %s: %w", userID, err)
		}
	}
}

// devicesAfter is the user's devices once current has had remove and put
// applied.
func devicesAfter(current []device.Device, remove []string, put []device.Device) []device.Device {
	byID := make(map[string]device.Device, len(current)+1)
	for _, d := range current {
		byID[d.DeviceID] = d
	}
	for _, id := range remove {
		delete(byID, id)
	}
	for _, d := range put {
		byID[d.DeviceID] = d
	}
	out := make([]device.Device, 0, len(byID))
	for _, d := range byID {
		out = append(out, d)
	}
	return out
}

// userExpiry is the TTL of a user item: that of its most recently uploaded device.
func userExpiry(devs []device.Device) int64 {
	var latest time.Time
	for _, d := range devs {
		if d.TokenAt.After(latest) {
			latest = d.TokenAt
		}
	}
	return expirySeconds(latest)
}
