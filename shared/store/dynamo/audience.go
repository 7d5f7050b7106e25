package dynamo

import (
	"context"
	"fmt"

	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
)

// ScanUserIDs reads one page of one segment of the users table with a
// parallel Scan (Segment of TotalSegments), projecting userId only; the
// cursor is the user ID of the page's LastEvaluatedKey. The users table
// holds user items only, so broadcast-to-all reads nothing else.
//
// DynamoDB's segments are not store.Segment's hash: what the contract asks,
// each user in exactly one segment, holds all the same. A page may come
// back short, or empty with more to follow, when DynamoDB stops at 1 MB of
// items read; eventually consistent reads halve the cost of a scan that
// only needs the IDs that existed when it started.
func (s *Store) ScanUserIDs(ctx context.Context, segment, segments int, cursor string, limit int) ([]string, string, error) {
	if limit < 1 {
		return nil, "", fmt.Errorf("scan users: limit %d is below 1", limit)
	}
	e := newExpr()
	in := &dynamodb.ScanInput{
		TableName:                &s.users,
		Segment:                  ptr(int32(segment)),
		TotalSegments:            ptr(int32(segments)),
		Limit:                    ptr(int32(limit)),
		ProjectionExpression:     ptr(e.name(attrUserID)),
		ExpressionAttributeNames: e.Names(),
		ConsistentRead:           ptr(false),
	}
	if cursor != "" {
		in.ExclusiveStartKey = userKey(cursor)
	}
	out, err := s.db.Scan(ctx, in)
	if err != nil {
		return nil, "", fmt.Errorf("scan users, segment %d of %d: %w", segment, segments, err)
	}
	ids := make([]string, 0, len(out.Items))
	for _, item := range out.Items {
		if id, ok := item[attrUserID].(*types.AttributeValueMemberS); ok {
			ids = append(ids, id.Value)
		}
	}
	if len(out.LastEvaluatedKey) == 0 {
		return ids, "", nil
	}
	next, ok := out.LastEvaluatedKey[attrUserID].(*types.AttributeValueMemberS)
	if !ok || next.Value == "" {
		return nil, "", fmt.Errorf("scan users, segment %d of %d: last evaluated key %v has no user ID", segment, segments, out.LastEvaluatedKey)
	}
	return ids, next.Value, nil
}

// IndexUserIDs reads one page of an index key's members with one Query (sk
// after the cursor, ascending, consistently: an audience read just after
// the tags were set sees them). next is the last ID returned while
// DynamoDB reports more (its LastEvaluatedKey); a page that ends exactly at the last member is
// followed by an empty one.
func (s *Store) IndexUserIDs(ctx context.Context, key, after string, limit int) ([]string, string, error) {
	if limit < 1 {
		return nil, "", fmt.Errorf("read index %s: limit %d is below 1", key, limit)
	}
	e := newExpr()
	keyCond := e.name(attrPK) + " = " + e.value(str(key))
	if after != "" {
		keyCond += " AND " + e.name(attrSK) + " > " + e.value(str(after))
	}
	out, err := s.db.Query(ctx, &dynamodb.QueryInput{
		TableName:                 &s.index,
		KeyConditionExpression:    &keyCond,
		ExpressionAttributeNames:  e.Names(),
		ExpressionAttributeValues: e.Values(),
		Limit:                     ptr(int32(limit)),
		ConsistentRead:            ptr(true),
	})
	if err != nil {
		return nil, "", fmt.Errorf("read index %s: %w", key, err)
	}
	ids := make([]string, 0, len(out.Items))
	for _, item := range out.Items {
		if id, ok := item[attrSK].(*types.AttributeValueMemberS); ok {
			ids = append(ids, id.Value)
		}
	}
	if len(out.LastEvaluatedKey) == 0 {
		return ids, "", nil
	}
	next, ok := out.LastEvaluatedKey[attrSK].(*types.AttributeValueMemberS)
	if !ok || next.Value == "" {
		return nil, "", fmt.Errorf("read index %s: last evaluated key %v has no user ID", key, out.LastEvaluatedKey)
	}
	return ids, next.Value, nil
}
