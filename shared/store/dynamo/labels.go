package dynamo

import (
	"context"
	"fmt"
	"maps"
	"slices"

	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/offpush/offpush/shared/store"
)

// Tags and attributes ("labels" here) live in the user item (tags, a string
// set; attrs, a map of name to value; both absent when empty) and in the
// index table, one item per membership: pk store.TagKey or
// store.AttributeKey, sk the user ID, so an audience is one Query per key.
// The deployment's attribute names are a string set in one jobs-table item.
const (
	attrNamesPK = "attrnames"
	attrNames   = "names"
)

func membershipKey(key, userID string) map[string]types.AttributeValue {
	return map[string]types.AttributeValue{attrPK: str(key), attrSK: str(userID)}
}

func attrNamesKey() map[string]types.AttributeValue {
	return map[string]types.AttributeValue{attrPK: str(attrNamesPK), attrSK: str(singleSK)}
}

// labelPlan is one change of a user's tags or attributes, planned from one
// read of the user item.
type labelPlan struct {
	user  userItem // as read
	after userItem // the user with the new tags and attributes
	// keys are the index keys to write, each put if after names it and
	// deleted if not. Besides those whose membership changes, they hold
	// the keys the request names (tags added or removed, attribute values
	// set), so repeating a request that failed half-way repairs the index.
	keys []string
	// extra is another write of the first transaction: the registration of
	// new attribute names.
	extra *types.TransactWriteItem
}

// changed reports whether the user item's tags or attributes change.
func (p *labelPlan) changed() bool {
	return !slices.Equal(p.user.tags, p.after.tags) || !maps.Equal(p.user.attrs, p.after.attrs)
}

func (p *labelPlan) addKey(seen map[string]bool, k string) {
	if !seen[k] {
		seen[k] = true
		p.keys = append(p.keys, k)
	}
}

// UpdateTags reads the user item (one GetItem) and writes the change with
// one TransactWriteItems: the user item's tags and the tag index entries
// together, conditioned on the tags and attributes being as read (labelVer).
// A change of more than 99 index entries (up to 100 tags added and 100
// removed) does not fit one transaction: the user item and the first
// entries go first, the rest in further transactions, each conditioned on
// the user's labels and writing the entries as those labels say. A write
// that loses a race is planned again from a fresh read.
func (s *Store) UpdateTags(ctx context.Context, userID string, add, remove []string) ([]string, error) {
	if slices.Contains(add, "") || slices.Contains(remove, "") {
		return nil, fmt.Errorf("update tags of %s: empty tag", userID)
	}
	for attempt := 1; ; attempt++ {
		u, err := s.getUser(ctx, userID)
		if err != nil {
			return nil, fmt.Errorf("update tags of %s: %w", userID, err)
		}
		p, err := planTags(u, add, remove)
		if err != nil {
			return nil, fmt.Errorf("update tags of %s: %w", userID, err)
		}
		out := append([]string{}, p.after.tags...)
		if !p.changed() && len(p.keys) == 0 {
			return out, nil
		}
		retry, err := s.commitLabels(ctx, p)
		if err == nil {
			return out, nil
		}
		if !retry {
			return nil, fmt.Errorf("update tags of %s: %w", userID, err)
		}
		if attempt == maxAttempts {
			return nil, fmt.Errorf("update tags of %s: %w after %d attempts: %w", userID, errContended, attempt, err)
		}
		if err := pause(ctx, attempt); err != nil {
			return nil, fmt.Errorf("update tags of %s: %w", userID, err)
		}
	}
}

// planTags applies removals, then additions (a tag in both is added), as
// the embedded store does.
func planTags(u userItem, add, remove []string) (labelPlan, error) {
	set := make(map[string]bool, len(u.tags)+len(add))
	for _, t := range u.tags {
		set[t] = true
	}
	for _, t := range remove {
		delete(set, t)
	}
	for _, t := range add {
		set[t] = true
	}
	if len(set) > store.MaxTags {
		return labelPlan{}, fmt.Errorf("%d tags: %w", len(set), store.ErrLimit)
	}
	p := labelPlan{user: u, after: u}
	p.after.tags = slices.Sorted(maps.Keys(set))
	if len(p.after.tags) == 0 {
		p.after.tags = nil
	}
	seen := map[string]bool{}
	for _, t := range add {
		p.addKey(seen, store.TagKey(t))
	}
	if u.exists { // a user the store never had is in no index
		for _, t := range remove {
			if !set[t] {
				p.addKey(seen, store.TagKey(t))
			}
		}
	}
	return p, nil
}

// UpdateAttributes reads the user item and the attribute name registry
// (one BatchGetItem) and writes the change with one TransactWriteItems: the
// user item's attributes, the index entries, and, when a name is new to the
// deployment, the registry, on condition it still holds the names read (it
// only grows, so its size tells). New names are refused with ErrLimit
// before anything is written.
func (s *Store) UpdateAttributes(ctx context.Context, userID string, set map[string]*string) (map[string]string, error) {
	names := slices.Sorted(maps.Keys(set))
	if slices.Contains(names, "") {
		return nil, fmt.Errorf("update attributes of %s: empty name", userID)
	}
	for attempt := 1; ; attempt++ {
		// The registry is read consistently once a write found it changed.
		u, registry, err := s.readAttributes(ctx, userID, attempt > 1)
		if err != nil {
			return nil, fmt.Errorf("update attributes of %s: %w", userID, err)
		}
		p, err := s.planAttributes(u, registry, names, set)
		if err != nil {
			return nil, fmt.Errorf("update attributes of %s: %w", userID, err)
		}
		out := maps.Clone(p.after.attrs)
		if out == nil {
			out = map[string]string{}
		}
		if !p.changed() && len(p.keys) == 0 {
			return out, nil
		}
		retry, err := s.commitLabels(ctx, p)
		if err == nil {
			return out, nil
		}
		if !retry {
			return nil, fmt.Errorf("update attributes of %s: %w", userID, err)
		}
		if attempt == maxAttempts {
			return nil, fmt.Errorf("update attributes of %s: %w after %d attempts: %w", userID, errContended, attempt, err)
		}
		if err := pause(ctx, attempt); err != nil {
			return nil, fmt.Errorf("update attributes of %s: %w", userID, err)
		}
	}
}

// readAttributes reads the user item and the attribute names registered.
// An eventually consistent read of the registry may miss names recently
// added: they are then taken for new, and the registry's condition sends
// the write back for a consistent read.
func (s *Store) readAttributes(ctx context.Context, userID string, consistentNames bool) (userItem, map[string]bool, error) {
	got, err := s.batchGet(ctx, map[string]types.KeysAndAttributes{
		s.users: {Keys: []map[string]types.AttributeValue{userKey(userID)}, ConsistentRead: ptr(true)},
		s.jobs:  {Keys: []map[string]types.AttributeValue{attrNamesKey()}, ConsistentRead: ptr(consistentNames)},
	})
	if err != nil {
		return userItem{}, nil, fmt.Errorf("read user and attribute names: %w", err)
	}
	var item map[string]types.AttributeValue
	if items := got[s.users]; len(items) > 0 {
		item = items[0]
	}
	u, err := parseUser(userID, item)
	if err != nil {
		return userItem{}, nil, err
	}
	registry := map[string]bool{}
	if items := got[s.jobs]; len(items) > 0 {
		switch v := items[0][attrNames].(type) {
		case nil:
		case *types.AttributeValueMemberSS:
			for _, n := range v.Value {
				registry[n] = true
			}
		default:
			return userItem{}, nil, fmt.Errorf("attribute names: %s is %T, not a string set", attrNames, v)
		}
	}
	return u, registry, nil
}

// planAttributes sets and deletes attributes in name order.
func (s *Store) planAttributes(u userItem, registry map[string]bool, names []string, set map[string]*string) (labelPlan, error) {
	p := labelPlan{user: u, after: u}
	p.after.attrs = maps.Clone(u.attrs)
	if p.after.attrs == nil {
		p.after.attrs = map[string]string{}
	}
	seen := map[string]bool{}
	var fresh []string
	for _, n := range names {
		v := set[n]
		old, had := u.attrs[n]
		if had && (v == nil || *v != old) {
			p.addKey(seen, store.AttributeKey(n, old))
		}
		if v == nil {
			delete(p.after.attrs, n)
			continue
		}
		p.after.attrs[n] = *v
		p.addKey(seen, store.AttributeKey(n, *v))
		if !registry[n] {
			fresh = append(fresh, n)
		}
	}
	if len(p.after.attrs) == 0 {
		p.after.attrs = nil
	}
	if len(fresh) == 0 {
		return p, nil
	}
	if len(registry)+len(fresh) > store.MaxAttributeNames {
		return labelPlan{}, fmt.Errorf("%d attribute names: %w", len(registry)+len(fresh), store.ErrLimit)
	}
	e := newExpr()
	var upd update
	upd.Add(e.name(attrNames), e.value(&types.AttributeValueMemberSS{Value: fresh}))
	cond := "attribute_not_exists(" + e.name(attrNames) + ")"
	if len(registry) > 0 {
		cond = "size(" + e.name(attrNames) + ") = " + e.value(num(int64(len(registry))))
	}
	p.extra = &types.TransactWriteItem{Update: &types.Update{
		TableName:                 &s.jobs,
		Key:                       attrNamesKey(),
		UpdateExpression:          ptr(upd.String()),
		ConditionExpression:       &cond,
		ExpressionAttributeNames:  e.Names(),
		ExpressionAttributeValues: e.Values(),
	}}
	return p, nil
}

// commitLabels writes a plan. The first transaction updates the user item
// (or, when its labels do not change, checks them) together with the extra
// write and as many index entries as fit; retry reports a cancellation that
// a fresh read may cure. The entries left over follow in further
// transactions; an error there comes after the user item changed, and
// repeating the request repairs the index.
func (s *Store) commitLabels(ctx context.Context, p labelPlan) (retry bool, err error) {
	u := p.user
	state := p.after // the user as the later transactions expect it
	e := newExpr()
	var first []types.TransactWriteItem
	if p.changed() {
		cond, next := u.labelGuard(e)
		var upd update
		switch {
		case len(p.after.tags) > 0:
			upd.Set(e.name(attrTags), e.value(&types.AttributeValueMemberSS{Value: p.after.tags}))
		case len(u.tags) > 0:
			upd.Remove(e.name(attrTags))
		}
		switch {
		case len(p.after.attrs) > 0:
			m := make(map[string]types.AttributeValue, len(p.after.attrs))
			for n, v := range p.after.attrs {
				m[n] = str(v)
			}
			upd.Set(e.name(attrAttrs), e.value(&types.AttributeValueMemberM{Value: m}))
		case len(u.attrs) > 0:
			upd.Remove(e.name(attrAttrs))
		}
		upd.Set(e.name(attrLabelVer), e.value(num(next)))
		// A user with labels does not expire; one that loses its last
		// label expires with its devices again (at once, without any).
		switch {
		case p.after.labeled():
			upd.Remove(e.name(attrExpiresAt))
		case u.labeled():
			upd.Set(e.name(attrExpiresAt), e.value(num(s.userTTL(u))))
			cond += " AND " + u.verCond(e)
		}
		first = append(first, types.TransactWriteItem{Update: &types.Update{
			TableName:                 &s.users,
			Key:                       userKey(u.userID),
			UpdateExpression:          ptr(upd.String()),
			ConditionExpression:       &cond,
			ExpressionAttributeNames:  e.Names(),
			ExpressionAttributeValues: e.Values(),
		}})
		state.exists, state.hasLabelVer, state.labelVer = true, true, next
	} else {
		cond, _ := u.labelGuard(e)
		first = append(first, types.TransactWriteItem{ConditionCheck: &types.ConditionCheck{
			TableName:                 &s.users,
			Key:                       userKey(u.userID),
			ConditionExpression:       &cond,
			ExpressionAttributeNames:  e.Names(),
			ExpressionAttributeValues: e.Values(),
		}})
	}
	if p.extra != nil {
		first = append(first, *p.extra)
	}
	n := min(len(p.keys), transactItems-len(first))
	first = append(first, s.membershipWrites(p.after, p.keys[:n])...)
	if _, err := s.db.TransactWriteItems(ctx, &dynamodb.TransactWriteItemsInput{TransactItems: first}); err != nil {
		_, retry := cancelled(err)
		return retry, fmt.Errorf("write user and index: %w", err)
	}
	if err := s.finishIndex(ctx, state, p.keys[n:]); err != nil {
		return false, fmt.Errorf("write index: %w", err)
	}
	return false, nil
}

// userTTL is the expiresAt of a user item without labels: that of its
// latest upload, or now if it has no device.
func (s *Store) userTTL(u userItem) int64 {
	if len(u.devices) == 0 {
		return ttlSeconds(s.now())
	}
	return userExpiry(u.devices)
}

// membershipWrites are the index writes of keys for user u: a put for each
// key u's labels name, a delete for the others.
func (s *Store) membershipWrites(u userItem, keys []string) []types.TransactWriteItem {
	member := u.indexKeys()
	out := make([]types.TransactWriteItem, len(keys))
	for i, k := range keys {
		if member[k] {
			out[i] = types.TransactWriteItem{Put: &types.Put{TableName: &s.index, Item: membershipKey(k, u.userID)}}
		} else {
			out[i] = types.TransactWriteItem{Delete: &types.Delete{TableName: &s.index, Key: membershipKey(k, u.userID)}}
		}
	}
	return out
}

// finishIndex writes the index entries that did not fit the first
// transaction, 99 to a transaction with a check that the user's labels are
// still those of state. When they are not, another write changed them: the
// user is read again and the entries written as its labels now say.
func (s *Store) finishIndex(ctx context.Context, state userItem, keys []string) error {
	for len(keys) > 0 {
		chunk := keys[:min(len(keys), transactItems-1)]
		for attempt := 1; ; attempt++ {
			e := newExpr()
			cond, _ := state.labelGuard(e)
			items := append([]types.TransactWriteItem{{ConditionCheck: &types.ConditionCheck{
				TableName:                 &s.users,
				Key:                       userKey(state.userID),
				ConditionExpression:       &cond,
				ExpressionAttributeNames:  e.Names(),
				ExpressionAttributeValues: e.Values(),
			}}}, s.membershipWrites(state, chunk)...)
			_, err := s.db.TransactWriteItems(ctx, &dynamodb.TransactWriteItemsInput{TransactItems: items})
			if err == nil {
				break
			}
			reasons, retry := cancelled(err)
			if !retry {
				return err
			}
			if attempt == maxAttempts {
				return fmt.Errorf("%w after %d attempts: %w", errContended, attempt, err)
			}
			if failedCondition(reasons, 0) {
				if state, err = s.getUser(ctx, state.userID); err != nil {
					return err
				}
				continue
			}
			if err := pause(ctx, attempt); err != nil {
				return err
			}
		}
		keys = keys[len(chunk):]
	}
	return nil
}
