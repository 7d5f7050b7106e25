package dynamo

import (
	"context"
	"encoding/json"
	"fmt"
	"sync/atomic"
	"time"

	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/offpush/offpush/shared/device"
	"github.com/offpush/offpush/shared/push"
	"github.com/offpush/offpush/shared/store"
)

// Jobs-table items of the vendor layer.
const (
	vendorTokenPrefix = "vtoken#"
	capturedPK        = "captured"
	attrToken         = "token"
	attrVendor        = "vendor"
)

func vendorTokenKey(key string) map[string]types.AttributeValue {
	return map[string]types.AttributeValue{attrPK: str(vendorTokenPrefix + key), attrSK: str(singleSK)}
}

// GetVendorToken implements store.Store.
func (s *Store) GetVendorToken(ctx context.Context, key string) (string, time.Time, error) {
	out, err := s.db.GetItem(ctx, &dynamodb.GetItemInput{TableName: &s.jobs, Key: vendorTokenKey(key), ConsistentRead: ptr(true)})
	if err != nil {
		return "", time.Time{}, fmt.Errorf("get vendor token %s: %w", key, err)
	}
	r := reader{m: out.Item}
	tok, exp := r.str(attrToken), r.time(fCreatedAt)
	if r.err != nil {
		return "", time.Time{}, fmt.Errorf("get vendor token %s: %w", key, r.err)
	}
	// The TTL attribute deletes the item eventually; expiry is checked here.
	if tok == "" || !s.opts.Now().Before(exp) {
		return "", time.Time{}, nil
	}
	return tok, exp, nil
}

// PutVendorToken implements store.Store.
func (s *Store) PutVendorToken(ctx context.Context, key, token string, expiresAt time.Time) error {
	item := vendorTokenKey(key)
	item[attrToken] = str(token)
	item[fCreatedAt] = millis(expiresAt) // the token's expiry, in milliseconds
	item[attrExpiresAt] = num(expiresAt.Unix() + 1)
	if _, err := s.db.PutItem(ctx, &dynamodb.PutItemInput{TableName: &s.jobs, Item: item}); err != nil {
		return fmt.Errorf("put vendor token %s: %w", key, err)
	}
	return nil
}

var capturedSeq atomic.Uint64

// SaveCaptured implements store.Store. Items expire after
// store.CapturedRetention through the table's TTL.
func (s *Store) SaveCaptured(ctx context.Context, reqs []push.Captured) error {
	for start := 0; start < len(reqs); start += 25 {
		batch := reqs[start:min(start+25, len(reqs))]
		writes := make([]types.WriteRequest, 0, len(batch))
		for _, r := range batch {
			data, err := json.Marshal(r)
			if err != nil {
				return fmt.Errorf("save captured request: %w", err)
			}
			sk := fmt.Sprintf("%020d#%08d", r.CapturedAt.UnixNano(), capturedSeq.Add(1)%100000000)
			writes = append(writes, types.WriteRequest{PutRequest: &types.PutRequest{Item: map[string]types.AttributeValue{
				attrPK: str(capturedPK), attrSK: str(sk), attrVendor: str(string(r.Vendor)), attrData: str(string(data)),
				attrExpiresAt: num(r.CapturedAt.Add(store.CapturedRetention).Unix()),
			}}})
		}
		pending := map[string][]types.WriteRequest{s.jobs: writes}
		for attempt := 1; len(pending) > 0; attempt++ {
			out, err := s.db.BatchWriteItem(ctx, &dynamodb.BatchWriteItemInput{RequestItems: pending})
			if err != nil {
				return fmt.Errorf("save captured requests: %w", err)
			}
			pending = out.UnprocessedItems
			if len(pending) > 0 {
				if attempt == maxAttempts {
					return fmt.Errorf("save captured requests: %d left unprocessed", len(pending[s.jobs]))
				}
				if err := pause(ctx, attempt); err != nil {
					return err
				}
			}
		}
	}
	return nil
}

// ListCaptured implements store.Store.
func (s *Store) ListCaptured(ctx context.Context, vendor device.Vendor, limit int) ([]push.Captured, error) {
	e := newExpr()
	in := &dynamodb.QueryInput{
		TableName:        &s.jobs,
		ScanIndexForward: ptr(false),
	}
	keyCond := e.name(attrPK) + " = " + e.value(str(capturedPK))
	in.KeyConditionExpression = &keyCond
	if vendor != "" {
		f := e.name(attrVendor) + " = " + e.value(str(string(vendor)))
		in.FilterExpression = &f
	}
	in.ExpressionAttributeNames, in.ExpressionAttributeValues = e.Names(), e.Values()
	out := []push.Captured{}
	for len(out) < limit {
		page, err := s.db.Query(ctx, in)
		if err != nil {
			return nil, fmt.Errorf("list captured requests: %w", err)
		}
		for _, item := range page.Items {
			r := reader{m: item}
			var c push.Captured
			if err := json.Unmarshal([]byte(r.str(attrData)), &c); err != nil {
				return nil, fmt.Errorf("decode captured request: %w", err)
			}
			if len(out) < limit {
				out = append(out, c)
			}
		}
		if len(page.LastEvaluatedKey) == 0 {
			break
		}
		in.ExclusiveStartKey = page.LastEvaluatedKey
	}
	return out, nil
}
