package dynamo

import (
	"context"
	"encoding/json"
	"fmt"

	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/offpush/offpush/shared/cert"
	"github.com/offpush/offpush/shared/store"
)

// maxAssignTries bounds how many taken IDs an assignment skips: the counter
// only meets IDs an admin chose explicitly.
const maxAssignTries = 100

// CreateCertificate stores c under its ID, or under the next ID of the
// counter when c.ID is 0.
func (s *Store) CreateCertificate(ctx context.Context, c cert.Certificate) (cert.Certificate, error) {
	now := s.now()
	c.CreatedAt, c.UpdatedAt = now, now
	if c.ID != 0 {
		if err := s.putNewCert(ctx, c); err != nil {
			if conditionFailed(err) {
				return cert.Certificate{}, fmt.Errorf("create certificate %d: %w", c.ID, store.ErrExists)
			}
			return cert.Certificate{}, fmt.Errorf("create certificate %d: %w", c.ID, err)
		}
		return c, nil
	}
	for range maxAssignTries {
		id, err := s.nextCertID(ctx)
		if err != nil {
			return cert.Certificate{}, fmt.Errorf("create certificate: assign ID: %w", err)
		}
		c.ID = id
		err = s.putNewCert(ctx, c)
		if err == nil {
			return c, nil
		}
		if !conditionFailed(err) {
			return cert.Certificate{}, fmt.Errorf("create certificate %d: %w", c.ID, err)
		}
	}
	return cert.Certificate{}, fmt.Errorf("create certificate: %d assigned IDs in a row were taken", maxAssignTries)
}

// nextCertID takes the next value of the certificate ID counter.
func (s *Store) nextCertID(ctx context.Context) (int64, error) {
	e := newExpr()
	update := "ADD " + e.name(attrCounter) + " " + e.value(num(1))
	out, err := s.db.UpdateItem(ctx, &dynamodb.UpdateItemInput{
		TableName:                 &s.jobs,
		Key:                       map[string]types.AttributeValue{attrPK: str(counterPK), attrSK: str(counterSK)},
		UpdateExpression:          &update,
		ExpressionAttributeNames:  e.Names(),
		ExpressionAttributeValues: e.Values(),
		ReturnValues:              types.ReturnValueUpdatedNew,
	})
	if err != nil {
		return 0, err
	}
	r := reader{m: out.Attributes}
	n := r.int(attrCounter)
	if r.err != nil {
		return 0, r.err
	}
	return store.FirstCertificateID - 1 + n, nil
}

func certItem(c cert.Certificate) (map[string]types.AttributeValue, error) {
	data, err := json.Marshal(c)
	if err != nil {
		return nil, err
	}
	item := certKey(c.ID)
	item[attrData] = str(string(data))
	return item, nil
}

func parseCert(item map[string]types.AttributeValue) (cert.Certificate, error) {
	r := reader{m: item}
	data := r.str(attrData)
	if r.err != nil {
		return cert.Certificate{}, fmt.Errorf("certificate item: %w", r.err)
	}
	var c cert.Certificate
	if err := json.Unmarshal([]byte(data), &c); err != nil {
		return cert.Certificate{}, fmt.Errorf("certificate item: %w", err)
	}
	return c, nil
}

// putNewCert stores c unless its ID is taken.
func (s *Store) putNewCert(ctx context.Context, c cert.Certificate) error {
	item, err := certItem(c)
	if err != nil {
		return err
	}
	e := newExpr()
	_, err = s.db.PutItem(ctx, &dynamodb.PutItemInput{
		TableName:                &s.jobs,
		Item:                     item,
		ConditionExpression:      ptr("attribute_not_exists(" + e.name(attrPK) + ")"),
		ExpressionAttributeNames: e.Names(),
	})
	return err
}

// GetCertificate reads one certificate, with its secrets.
func (s *Store) GetCertificate(ctx context.Context, id int64) (cert.Certificate, error) {
	item, err := s.getCertItem(ctx, id)
	if err != nil {
		return cert.Certificate{}, fmt.Errorf("get certificate %d: %w", id, err)
	}
	c, err := parseCert(item)
	if err != nil {
		return cert.Certificate{}, fmt.Errorf("get certificate %d: %w", id, err)
	}
	return c, nil
}

// getCertItem reads a certificate item; store.ErrNotFound if there is none.
func (s *Store) getCertItem(ctx context.Context, id int64) (map[string]types.AttributeValue, error) {
	out, err := s.db.GetItem(ctx, &dynamodb.GetItemInput{TableName: &s.jobs, Key: certKey(id), ConsistentRead: ptr(true)})
	if err != nil {
		return nil, err
	}
	if out.Item == nil {
		return nil, store.ErrNotFound
	}
	return out.Item, nil
}

// ListCertificates queries every certificate, in ID order.
func (s *Store) ListCertificates(ctx context.Context) ([]cert.Certificate, error) {
	e := newExpr()
	keyCond := e.name(attrPK) + " = " + e.value(str(certPK))
	in := &dynamodb.QueryInput{
		TableName:                 &s.jobs,
		KeyConditionExpression:    &keyCond,
		ExpressionAttributeNames:  e.Names(),
		ExpressionAttributeValues: e.Values(),
		ConsistentRead:            ptr(true),
	}
	list := []cert.Certificate{}
	for {
		out, err := s.db.Query(ctx, in)
		if err != nil {
			return nil, fmt.Errorf("list certificates: %w", err)
		}
		for _, item := range out.Items {
			c, err := parseCert(item)
			if err != nil {
				return nil, fmt.Errorf("list certificates: %w", err)
			}
			list = append(list, c)
		}
		if len(out.LastEvaluatedKey) == 0 {
			return list, nil
		}
		in.ExclusiveStartKey = out.LastEvaluatedKey
	}
}

// ReplaceCertificate overwrites a certificate, keeping its CreatedAt. The
// write is conditioned on the item read, so a concurrent replace or delete
// is not overwritten blindly.
func (s *Store) ReplaceCertificate(ctx context.Context, c cert.Certificate) (cert.Certificate, error) {
	for attempt := 1; ; attempt++ {
		item, err := s.getCertItem(ctx, c.ID)
		if err != nil {
			return cert.Certificate{}, fmt.Errorf("replace certificate %d: %w", c.ID, err)
		}
		old, err := parseCert(item)
		if err != nil {
			return cert.Certificate{}, fmt.Errorf("replace certificate %d: %w", c.ID, err)
		}
		c.CreatedAt, c.UpdatedAt = old.CreatedAt, s.now()
		next, err := certItem(c)
		if err != nil {
			return cert.Certificate{}, fmt.Errorf("replace certificate %d: %w", c.ID, err)
		}
		e := newExpr()
		cond := e.name(attrData) + " = " + e.value(item[attrData])
		_, err = s.db.PutItem(ctx, &dynamodb.PutItemInput{
			TableName:                 &s.jobs,
			Item:                      next,
			ConditionExpression:       &cond,
			ExpressionAttributeNames:  e.Names(),
			ExpressionAttributeValues: e.Values(),
		})
		if err == nil {
			return c, nil
		}
		if !conditionFailed(err) {
			return cert.Certificate{}, fmt.Errorf("replace certificate %d: %w", c.ID, err)
		}
		if attempt == maxAttempts {
			return cert.Certificate{}, fmt.Errorf("replace certificate %d: %w after %d attempts: %w", c.ID, errContended, attempt, err)
		}
		if err := pause(ctx, attempt); err != nil {
			return cert.Certificate{}, fmt.Errorf("replace certificate %d: %w", c.ID, err)
		}
	}
}

// DeleteCertificate removes a certificate; devices naming it stay.
func (s *Store) DeleteCertificate(ctx context.Context, id int64) error {
	e := newExpr()
	_, err := s.db.DeleteItem(ctx, &dynamodb.DeleteItemInput{
		TableName:                &s.jobs,
		Key:                      certKey(id),
		ConditionExpression:      ptr("attribute_exists(" + e.name(attrPK) + ")"),
		ExpressionAttributeNames: e.Names(),
	})
	if conditionFailed(err) {
		return fmt.Errorf("delete certificate %d: %w", id, store.ErrNotFound)
	}
	if err != nil {
		return fmt.Errorf("delete certificate %d: %w", id, err)
	}
	return nil
}
