package dynamo

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
	"github.com/aws/smithy-go"
)

// TableAPI is the part of the DynamoDB client CreateTables uses;
// *dynamodb.Client satisfies it.
type TableAPI interface {
	CreateTable(ctx context.Context, in *dynamodb.CreateTableInput, optFns ...func(*dynamodb.Options)) (*dynamodb.CreateTableOutput, error)
	DescribeTable(ctx context.Context, in *dynamodb.DescribeTableInput, optFns ...func(*dynamodb.Options)) (*dynamodb.DescribeTableOutput, error)
	DescribeTimeToLive(ctx context.Context, in *dynamodb.DescribeTimeToLiveInput, optFns ...func(*dynamodb.Options)) (*dynamodb.DescribeTimeToLiveOutput, error)
	UpdateTimeToLive(ctx context.Context, in *dynamodb.UpdateTimeToLiveInput, optFns ...func(*dynamodb.Options)) (*dynamodb.UpdateTimeToLiveOutput, error)
}

// CreateTables creates the store's tables that do not exist yet (on-demand
// capacity), waits until they are ACTIVE and enables TTL on expiresAt. It is
// for DynamoDB Local and tests; in AWS the SAM template owns the tables.
// Running it again changes nothing.
func CreateTables(ctx context.Context, client TableAPI, prefix string) error {
	hash := []types.KeySchemaElement{{AttributeName: ptr(attrUserID), KeyType: types.KeyTypeHash}}
	hashRange := []types.KeySchemaElement{
		{AttributeName: ptr(attrPK), KeyType: types.KeyTypeHash},
		{AttributeName: ptr(attrSK), KeyType: types.KeyTypeRange},
	}
	stringAttr := func(names ...string) []types.AttributeDefinition {
		out := make([]types.AttributeDefinition, len(names))
		for i, n := range names {
			out[i] = types.AttributeDefinition{AttributeName: ptr(n), AttributeType: types.ScalarAttributeTypeS}
		}
		return out
	}
	tables := []dynamodb.CreateTableInput{
		{TableName: ptr(prefix + UsersTable), KeySchema: hash, AttributeDefinitions: stringAttr(attrUserID)},
		{TableName: ptr(prefix + IndexTable), KeySchema: hashRange, AttributeDefinitions: stringAttr(attrPK, attrSK)},
		{TableName: ptr(prefix + JobsTable), KeySchema: hashRange, AttributeDefinitions: stringAttr(attrPK, attrSK)},
	}
	for _, t := range tables {
		t.BillingMode = types.BillingModePayPerRequest
		if err := createTable(ctx, client, &t); err != nil {
			return fmt.Errorf("create table %s: %w", *t.TableName, err)
		}
	}
	for _, t := range tables {
		if err := enableTTL(ctx, client, *t.TableName); err != nil {
			return fmt.Errorf("enable TTL on %s: %w", *t.TableName, err)
		}
	}
	return nil
}

func createTable(ctx context.Context, client TableAPI, in *dynamodb.CreateTableInput) error {
	_, err := client.DescribeTable(ctx, &dynamodb.DescribeTableInput{TableName: in.TableName})
	var missing *types.ResourceNotFoundException
	switch {
	case errors.As(err, &missing):
		var inUse *types.ResourceInUseException
		if _, err := client.CreateTable(ctx, in); err != nil && !errors.As(err, &inUse) {
			return err
		}
	case err != nil:
		return err
	}
	return waitActive(ctx, client, *in.TableName)
}

// waitActive polls the table until it is ACTIVE: within a moment on DynamoDB
// Local, seconds in AWS.
func waitActive(ctx context.Context, client TableAPI, name string) error {
	delay := 50 * time.Millisecond
	for {
		out, err := client.DescribeTable(ctx, &dynamodb.DescribeTableInput{TableName: &name})
		if err != nil {
			return err
		}
		if out.Table != nil && out.Table.TableStatus == types.TableStatusActive {
			return nil
		}
		t := time.NewTimer(delay)
		select {
		case <-ctx.Done():
			t.Stop()
			return fmt.Errorf("wait until active: %w", ctx.Err())
		case <-t.C:
		}
		delay = min(2*delay, 2*time.Second)
	}
}

func enableTTL(ctx context.Context, client TableAPI, name string) error {
	out, err := client.DescribeTimeToLive(ctx, &dynamodb.DescribeTimeToLiveInput{TableName: &name})
	if err != nil {
		return err
	}
	if d := out.TimeToLiveDescription; d != nil {
		switch d.TimeToLiveStatus {
		case types.TimeToLiveStatusEnabled, types.TimeToLiveStatusEnabling:
			return nil
		}
	}
	_, err = client.UpdateTimeToLive(ctx, &dynamodb.UpdateTimeToLiveInput{
		TableName: &name,
		TimeToLiveSpecification: &types.TimeToLiveSpecification{
			AttributeName: ptr(attrExpiresAt),
			Enabled:       ptr(true),
		},
	})
	// Two processes starting together may both find TTL off; the loser's
	// update fails with this, which means what it wanted is done.
	var apiErr smithy.APIError
	if errors.As(err, &apiErr) && apiErr.ErrorCode() == "ValidationException" &&
		strings.Contains(apiErr.ErrorMessage(), "TimeToLive is already enabled") {
		return nil
	}
	return err
}
