package auth

import (
	"context"
	"errors"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager"
)

const testSecretARN = "arn:aws:secretsmanager:eu-west-1:123456789012:secret:offpush-admin-keys-AbCdEf"

// fakeSecrets is a SecretGetter that returns a fixed answer and records the
// secret asked for.
type fakeSecrets struct {
	out    *secretsmanager.GetSecretValueOutput
	err    error
	gotIDs []string
}

func (f *fakeSecrets) GetSecretValue(_ context.Context, in *secretsmanager.GetSecretValueInput, _ ...func(*secretsmanager.Options)) (*secretsmanager.GetSecretValueOutput, error) {
	f.gotIDs = append(f.gotIDs, aws.ToString(in.SecretId))
	return f.out, f.err
}

func secretString(s string) *fakeSecrets {
	return &fakeSecrets{out: &secretsmanager.GetSecretValueOutput{SecretString: aws.String(s)}}
}

func TestLoadAdminKeys(t *testing.T) {
	for _, tc := range []struct {
		name string
		sm   *fakeSecrets
	}{
		{"JSON object", secretString(`{"keys": ["` + adminKeyOld + `", "` + adminKeyNew + `"]}`)},
		{"JSON object with a generated string", secretString(`{"keys": "` + adminKeyOld + `,` + adminKeyNew + `"}`)},
		{"JSON object with other fields", secretString(`{"note": "rotated 2026-11", "keys": ["` + adminKeyOld + `", "` + adminKeyNew + `"]}`)},
		{"JSON array", secretString(`["` + adminKeyOld + `","` + adminKeyNew + `"]`)},
		{"JSON array with whitespace", secretString("\n [\"" + adminKeyOld + "\",\n \"" + adminKeyNew + "\"]\n")},
		{"comma-separated", secretString(adminKeyOld + "," + adminKeyNew)},
		{"comma-separated with spaces", secretString(" " + adminKeyOld + " , " + adminKeyNew + " ,\n")},
		{"binary secret", &fakeSecrets{out: &secretsmanager.GetSecretValueOutput{SecretBinary: []byte(`["` + adminKeyOld + `","` + adminKeyNew + `"]`)}}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			a, err := LoadAdminKeys(context.Background(), tc.sm, testSecretARN)
			if err != nil {
				t.Fatalf("LoadAdminKeys: %v", err)
			}
			if len(tc.sm.gotIDs) != 1 || tc.sm.gotIDs[0] != testSecretARN {
				t.Errorf("asked for secrets %q, want [%q]", tc.sm.gotIDs, testSecretARN)
			}
			if !a.Check(adminKeyOld) || !a.Check(adminKeyNew) {
				t.Errorf("a configured key was rejected")
			}
			if a.Check("not-an-admin-key-000000") {
				t.Errorf("an unknown key was accepted")
			}
		})
	}
}

func TestLoadAdminKeysErrors(t *testing.T) {
	errDenied := errors.New("AccessDeniedException: not authorized")
	// secretText holds distinctive text of each bad secret; no error may
	// repeat it.
	for _, tc := range []struct {
		name       string
		sm         SecretGetter
		arn        string
		secretText string
		wantErr    error
	}{
		{name: "no client", sm: nil, arn: testSecretARN},
		{name: "no ARN", sm: secretString(adminKeyOld), arn: ""},
		{name: "Secrets Manager error", sm: &fakeSecrets{err: errDenied}, arn: testSecretARN, wantErr: errDenied},
		{name: "nil output", sm: &fakeSecrets{}, arn: testSecretARN},
		{name: "no value", sm: &fakeSecrets{out: &secretsmanager.GetSecretValueOutput{}}, arn: testSecretARN},
		{name: "empty string", sm: secretString("  \n"), arn: testSecretARN},
		{name: "only commas", sm: secretString(" , ,"), arn: testSecretARN},
		{name: "empty JSON array", sm: secretString(`[]`), arn: testSecretARN},
		{name: "empty keys", sm: secretString(`{"keys": []}`), arn: testSecretARN},
		{name: "object without keys", sm: secretString(`{"adminKeys": ["secret-value-abcdefgh"]}`), arn: testSecretARN, secretText: "secret-value-abcdefgh"},
		{name: "keys a number", sm: secretString(`{"keys": 12345678901234567890}`), arn: testSecretARN, secretText: "12345678901234567890"},
		{name: "numbers in array", sm: secretString(`[12345678901234567890]`), arn: testSecretARN, secretText: "12345678901234567890"},
		{name: "invalid JSON object", sm: secretString(`{"keys": ["secret-value-abcdefgh"`), arn: testSecretARN, secretText: "secret-value-abcdefgh"},
		{name: "invalid JSON array", sm: secretString(`["secret-value-abcdefgh",]`), arn: testSecretARN, secretText: "secret-value-abcdefgh"},
		{name: "trailing data", sm: secretString(`["secret-value-abcdefgh"] ["x"]`), arn: testSecretARN, secretText: "secret-value-abcdefgh"},
		{name: "short key", sm: secretString(adminKeyOld + ",tiny-secret"), arn: testSecretARN, secretText: "tiny-secret"},
		{name: "short key in JSON", sm: secretString(`{"keys": ["` + adminKeyOld + `", "tiny-secret"]}`), arn: testSecretARN, secretText: "tiny-secret"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			a, err := LoadAdminKeys(context.Background(), tc.sm, tc.arn)
			if err == nil {
				t.Fatal("LoadAdminKeys succeeded")
			}
			if a != nil {
				t.Errorf("non-nil AdminKeys with error")
			}
			if tc.wantErr != nil && !errors.Is(err, tc.wantErr) {
				t.Errorf("error %v does not wrap %v", err, tc.wantErr)
			}
			msg := err.Error()
			if strings.Contains(msg, adminKeyOld) {
				t.Errorf("error leaks a key: %v", err)
			}
			if tc.secretText != "" && strings.Contains(msg, tc.secretText) {
				t.Errorf("error leaks the secret value: %v", err)
			}
		})
	}
}
