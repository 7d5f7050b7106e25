package dynamo

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/offpush/offpush/shared/device"
	"github.com/offpush/offpush/shared/store"
)

// DynamoDB's per-request limits the batch operations split by.
const (
	// batchGetKeys is the most keys one BatchGetItem takes.
	batchGetKeys = 100
	// transactItems is the most actions one TransactWriteItems takes.
	transactItems = 100
)

// maxParallel bounds the requests one batch operation has in flight: a
// 500-user push batch sends its five requests at once.
const maxParallel = 8

// inParallel calls fn on the chunks [lo, hi) of n items, size items each, at
// most maxParallel at once, and returns their errors joined.
func inParallel(n, size int, fn func(lo, hi int) error) error {
	if n <= size {
		if n == 0 {
			return nil
		}
		return fn(0, n)
	}
	errs := make([]error, (n+size-1)/size)
	sem := make(chan struct{}, maxParallel)
	var wg sync.WaitGroup
	for c := range errs {
		sem <- struct{}{}
		wg.Go(func() {
			defer func() { <-sem }()
			lo := c * size
			errs[c] = fn(lo, min(lo+size, n))
		})
	}
	wg.Wait()
	return errors.Join(errs...)
}

// GetUsers reads the users' items with BatchGetItem, 100 keys a request
// (the requests run in parallel), and returns them in the order asked, each
// user once.
func (s *Store) GetUsers(ctx context.Context, userIDs []string) ([]device.User, error) {
	// BatchGetItem rejects a request that names a key twice, and an empty
	// key; an empty ID is no user.
	ids := make([]string, 0, len(userIDs))
	seen := make(map[string]bool, len(userIDs))
	for _, id := range userIDs {
		if id != "" && !seen[id] {
			seen[id] = true
			ids = append(ids, id)
		}
	}
	var mu sync.Mutex
	found := make(map[string]map[string]types.AttributeValue, len(ids))
	err := inParallel(len(ids), batchGetKeys, func(lo, hi int) error {
		keys := make([]map[string]types.AttributeValue, 0, hi-lo)
		for _, id := range ids[lo:hi] {
			keys = append(keys, userKey(id))
		}
		got, err := s.batchGet(ctx, map[string]types.KeysAndAttributes{s.users: {Keys: keys, ConsistentRead: ptr(true)}})
		if err != nil {
			return err
		}
		mu.Lock()
		defer mu.Unlock()
		for _, item := range got[s.users] {
			if id, ok := item[attrUserID].(*types.AttributeValueMemberS); ok {
				found[id.Value] = item
			}
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("get %d users: %w", len(ids), err)
	}
	now := s.now()
	out := make([]device.User, 0, len(found))
	for _, id := range ids {
		item, ok := found[id]
		if !ok {
			continue
		}
		u, err := parseUser(id, item)
		if err != nil {
			return nil, fmt.Errorf("get %d users: %w", len(ids), err)
		}
		out = append(out, u.user(now))
	}
	return out, nil
}

// userResults is what RecordResults writes to one user item.
type userResults struct {
	userID  string
	devices []deviceResults
}

// deviceResults is one device's share: the last result, and how much to add
// to its unread count.
type deviceResults struct {
	deviceID string
	result   device.LastResult
	unread   int
}

// mergeResults gives one entry per user and per device, in the order first
// named: a transaction may not touch an item twice, nor an update set a
// path twice. A device named twice keeps its later result and counts both.
func mergeResults(updates []store.ResultUpdate) []userResults {
	var out []userResults
	at := map[string]int{}
	for _, up := range updates {
		i, ok := at[up.UserID]
		if !ok {
			i = len(out)
			at[up.UserID] = i
			out = append(out, userResults{userID: up.UserID})
		}
		u := &out[i]
	devices:
		for _, r := range up.Devices {
			n := 0
			if r.CountUnread {
				n = 1
			}
			for j := range u.devices {
				if d := &u.devices[j]; d.deviceID == r.DeviceID {
					d.result, d.unread = r.Result, d.unread+n
					continue devices
				}
			}
			u.devices = append(u.devices, deviceResults{deviceID: r.DeviceID, result: r.Result, unread: n})
		}
	}
	kept := out[:0]
	for _, u := range out {
		if u.userID != "" && len(u.devices) > 0 {
			kept = append(kept, u)
		}
	}
	return kept
}

// RecordResults writes each user's results with one Update: the devices'
// lastResult maps, and atomic additions to their unread counts. It does not
// bump ver: results change no device set or token, so they never make an
// upload retry. The updates go in TransactWriteItems of up to 100 users
// (run in parallel), so a 500-user batch is five requests.
//
// Each Update requires its user and every device it names to exist, so it
// never creates an item or a device. A transaction cancelled because a
// device was removed since it was read (or by a conflict with another
// transaction) applied nothing: it is sent again without the devices that
// no longer exist, which the cancellation reason's copy of the item shows.
// The SDK gives each call a client request token, so its own retries of a
// transaction whose response was lost do not count twice.
func (s *Store) RecordResults(ctx context.Context, updates []store.ResultUpdate) error {
	users := mergeResults(updates)
	err := inParallel(len(users), transactItems, func(lo, hi int) error {
		return s.recordResults(ctx, users[lo:hi])
	})
	if err != nil {
		return fmt.Errorf("record push results of %d users: %w", len(users), err)
	}
	return nil
}

// recordResults writes the results of up to 100 users in one transaction,
// again while it is cancelled by what a retry can cure.
func (s *Store) recordResults(ctx context.Context, pending []userResults) error {
	for attempt := 1; ; attempt++ {
		items := make([]types.TransactWriteItem, len(pending))
		for i, u := range pending {
			items[i] = s.resultWrite(u)
		}
		_, err := s.db.TransactWriteItems(ctx, &dynamodb.TransactWriteItemsInput{TransactItems: items})
		if err == nil {
			return nil
		}
		var tc *types.TransactionCanceledException
		if !errors.As(err, &tc) || len(tc.CancellationReasons) != len(pending) {
			return err
		}
		// Nothing was applied. Keep every user, minus the devices (or the
		// whole user) that made its condition fail.
		next := make([]userResults, 0, len(pending))
		contended := false
		for i, u := range pending {
			r := tc.CancellationReasons[i]
			switch code := reasonCode(r); code {
			case "", "None":
				next = append(next, u)
			case "TransactionConflict", "ThrottlingError", "ProvisionedThroughputExceeded", "RequestLimitExceeded":
				contended = true
				next = append(next, u)
			case "ConditionalCheckFailed":
				u, ok, err := s.existingDevices(ctx, u, r.Item)
				if err != nil {
					return err
				}
				if ok {
					next = append(next, u)
				}
			default:
				return fmt.Errorf("user %s: %s: %w", u.userID, code, err)
			}
		}
		pending = next
		if len(pending) == 0 {
			return nil
		}
		if attempt == maxAttempts {
			return fmt.Errorf("%w after %d attempts: %w", errContended, attempt, err)
		}
		if contended {
			if err := pause(ctx, attempt); err != nil {
				return err
			}
		}
	}
}

// resultWrite is the Update of one user's results.
func (s *Store) resultWrite(u userResults) types.TransactWriteItem {
	e := newExpr()
	var upd update
	cond := "attribute_exists(" + e.name(attrUserID) + ")"
	zero := ""
	for _, d := range u.devices {
		attr := deviceAttr(d.deviceID)
		cond += " AND attribute_exists(" + e.name(attr) + ")"
		upd.Set(e.path(attr, fLastResult), e.value(lastResultMap(d.result)))
		if d.unread > 0 {
			if zero == "" {
				zero = e.value(num(0))
			}
			unread := e.path(attr, fUnread)
			upd.Set(unread, "if_not_exists("+unread+", "+zero+") + "+e.value(num(int64(d.unread))))
		}
	}
	return types.TransactWriteItem{Update: &types.Update{
		TableName:                 &s.users,
		Key:                       userKey(u.userID),
		UpdateExpression:          ptr(upd.String()),
		ConditionExpression:       &cond,
		ExpressionAttributeNames:  e.Names(),
		ExpressionAttributeValues: e.Values(),
		// The item comes back with the cancellation reason when the
		// condition fails, so the retry needs no read.
		ReturnValuesOnConditionCheckFailure: types.ReturnValuesOnConditionCheckFailureAllOld,
	}}
}

// existingDevices keeps the devices of u that the user item still has; ok
// is false if none remain or the user is gone. item is the user item
// returned with a failed condition; without it (the user does not exist, or
// a DynamoDB that does not return it) the item is read.
func (s *Store) existingDevices(ctx context.Context, u userResults, item map[string]types.AttributeValue) (_ userResults, ok bool, err error) {
	var cur userItem
	if item != nil {
		cur, err = parseUser(u.userID, item)
	} else {
		cur, err = s.getUser(ctx, u.userID)
	}
	if err != nil {
		return u, false, fmt.Errorf("read user %s: %w", u.userID, err)
	}
	if !cur.exists {
		return u, false, nil
	}
	kept := make([]deviceResults, 0, len(u.devices))
	for _, d := range u.devices {
		if _, ok := cur.device(d.deviceID); ok {
			kept = append(kept, d)
		}
	}
	u.devices = kept
	return u, len(kept) > 0, nil
}

// InvalidateToken reads the user; if the device still holds token, one
// transaction removes it (status invalid, ver bumped) on condition the
// device still holds it, and deletes the token's index entry if it still
// names the device. A device that lost the token meanwhile has nothing left
// to clean up.
func (s *Store) InvalidateToken(ctx context.Context, userID, deviceID, token string) error {
	if token == "" {
		return nil
	}
	foreignIndex := false // the token's index entry names another device: leave it
	for attempt := 1; ; attempt++ {
		u, err := s.getUser(ctx, userID)
		if err != nil {
			return fmt.Errorf("invalidate token of device %s/%s: %w", userID, deviceID, err)
		}
		if d, ok := u.device(deviceID); !ok || d.Token != token {
			return nil
		}
		e := newExpr()
		attr := deviceAttr(deviceID)
		var upd update
		upd.Set(e.path(attr, fStatus), e.value(str(string(device.InvalidToken))))
		upd.Set(e.path(attr, fUpdatedAt), e.value(millis(s.now())))
		upd.Set(e.name(attrVer), "if_not_exists("+e.name(attrVer)+", "+e.value(num(0))+") + "+e.value(num(1)))
		upd.Remove(e.path(attr, fToken))
		cond := e.path(attr, fToken) + " = " + e.value(str(token))

		if foreignIndex {
			err := retryConflicts(ctx, func() error {
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
			if err != nil && !conditionFailed(err) {
				return fmt.Errorf("invalidate token of device %s/%s: %w", userID, deviceID, err)
			}
			return nil
		}

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
				Key:                       indexKey(store.TokenKey(token)),
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
			return fmt.Errorf("invalidate token of device %s/%s: %w", userID, deviceID, err)
		}
		switch {
		case failedCondition(reasons, 0):
			// The device no longer holds the token: a fresh upload or a
			// logout got there first.
			return nil
		case failedCondition(reasons, 1):
			foreignIndex = true
		}
		if attempt == maxAttempts {
			return fmt.Errorf("invalidate token of device %s/%s: %w after %d attempts: %w", userID, deviceID, errContended, attempt, err)
		}
		if err := pause(ctx, attempt); err != nil {
			return fmt.Errorf("invalidate token of device %s/%s: %w", userID, deviceID, err)
		}
	}
}

// Jobs-table items of once-only records.
const (
	claimPrefix = "claim#"
	attrDone    = "done"
	attrValue   = "value"
	// attrUntil is a claim's exact expiry in Unix milliseconds; expiresAt,
	// in seconds, is only for the TTL, which deletes items late.
	attrUntil = "until"
)

func claimKey(key string) map[string]types.AttributeValue {
	return map[string]types.AttributeValue{attrPK: str(claimPrefix + key), attrSK: str(singleSK)}
}

// claimItem is a once-only record as stored.
func claimItem(key string, done bool, value []byte, expiresAt time.Time) map[string]types.AttributeValue {
	item := claimKey(key)
	item[attrDone] = &types.AttributeValueMemberBOOL{Value: done}
	if len(value) > 0 {
		item[attrValue] = &types.AttributeValueMemberB{Value: value}
	}
	item[attrUntil] = millis(expiresAt)
	item[attrExpiresAt] = num(ttlSeconds(expiresAt))
	return item
}

// Claim creates the record, or takes over an expired one, with one
// conditional PutItem. When the record is held, the failed condition returns
// it (ReturnValuesOnConditionCheckFailure), so losing costs no more calls
// than winning.
func (s *Store) Claim(ctx context.Context, key string, expiresAt time.Time) (store.Claim, error) {
	item := claimItem(key, false, nil, expiresAt)
	for attempt := 1; ; attempt++ {
		now := s.now()
		e := newExpr()
		cond := "attribute_not_exists(" + e.name(attrPK) + ") OR " + e.name(attrUntil) + " <= " + e.value(millis(now))
		_, err := s.db.PutItem(ctx, &dynamodb.PutItemInput{
			TableName:                           &s.jobs,
			Item:                                item,
			ConditionExpression:                 &cond,
			ExpressionAttributeNames:            e.Names(),
			ExpressionAttributeValues:           e.Values(),
			ReturnValuesOnConditionCheckFailure: types.ReturnValuesOnConditionCheckFailureAllOld,
		})
		if err == nil {
			return store.Claim{Claimed: true}, nil
		}
		var failed *types.ConditionalCheckFailedException
		if !errors.As(err, &failed) {
			return store.Claim{}, fmt.Errorf("claim %s: %w", key, err)
		}
		old := failed.Item
		if old == nil {
			// A DynamoDB that does not return the item: read it.
			out, err := s.db.GetItem(ctx, &dynamodb.GetItemInput{TableName: &s.jobs, Key: claimKey(key), ConsistentRead: ptr(true)})
			if err != nil {
				return store.Claim{}, fmt.Errorf("claim %s: read the record: %w", key, err)
			}
			old = out.Item
		}
		r := reader{m: old}
		c := store.Claim{Done: r.bool(attrDone), Value: r.bytes(attrValue)}
		until := r.int(attrUntil)
		if r.err != nil {
			return store.Claim{}, fmt.Errorf("claim %s: %w", key, r.err)
		}
		if old != nil && until > s.now().UnixMilli() {
			return c, nil
		}
		// Read back, the record had expired or gone: claim again.
		if attempt == maxAttempts {
			return store.Claim{}, fmt.Errorf("claim %s: %w after %d attempts", key, errContended, attempt)
		}
	}
}

// Complete overwrites the record with its value, done.
func (s *Store) Complete(ctx context.Context, key string, value []byte, expiresAt time.Time) error {
	if len(value) > store.MaxClaimValue {
		return fmt.Errorf("complete %s: value of %d bytes is over %d", key, len(value), store.MaxClaimValue)
	}
	_, err := s.db.PutItem(ctx, &dynamodb.PutItemInput{TableName: &s.jobs, Item: claimItem(key, true, value, expiresAt)})
	if err != nil {
		return fmt.Errorf("complete %s: %w", key, err)
	}
	return nil
}
