// Package infra_test checks template.yaml, the SAM template offpush deploys
// with: it must validate against the AWS SAM JSON schema (shipped in
// ../shared/schemas) and keep the rules the project relies on: every function
// built by the Makefile for arm64/provided.al2023, every functions/<dir>
// deployed, DynamoDB tables on demand with TTL and point-in-time recovery,
// inline least-privilege policies only, and the bulk-job queue: encrypted,
// with a dead-letter queue and its alarm, drained by message-push with partial
// batch responses and bounded concurrency. Each check returns its problems,
// so TestChecksCatchBrokenTemplates can show it fails on a broken copy.
package infra_test

import (
	"bytes"
	"crypto/md5"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"maps"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync"
	"testing"
	"unicode"

	"github.com/aws/aws-lambda-go/events"
	"github.com/dlclark/regexp2"
	"github.com/santhosh-tekuri/jsonschema/v6"
	"sigs.k8s.io/yaml"
)

// repoRoot is the repository root: go test runs in the package directory.
const repoRoot = ".."

// template is template.yaml as generic JSON values (numbers as json.Number).
type template = map[string]any

// loadTemplate parses template.yaml afresh, so a test may change its copy.
func loadTemplate(t *testing.T) template {
	t.Helper()
	raw, err := os.ReadFile(filepath.Join(repoRoot, "template.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	js, err := yaml.YAMLToJSON(raw)
	if err != nil {
		t.Fatalf("template.yaml: %v", err)
	}
	doc, err := jsonschema.UnmarshalJSON(bytes.NewReader(js))
	if err != nil {
		t.Fatalf("template.yaml as JSON: %v", err)
	}
	m, ok := doc.(map[string]any)
	if !ok {
		t.Fatalf("template.yaml: top level is %T, want a mapping", doc)
	}
	return m
}

// samSchema is the SAM schema, compiled once per test binary: it is large
// (750 KB).
type samSchema struct {
	compiler *jsonschema.Compiler
	template *jsonschema.Schema
}

var loadSAMSchema = sync.OnceValues(func() (*samSchema, error) {
	path := filepath.Join(repoRoot, "..", "shared", "schemas", "sam.schema.json")
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("SAM schema (shared/schemas beside the repository): %w", err)
	}
	defer f.Close()
	doc, err := jsonschema.UnmarshalJSON(f)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	c := jsonschema.NewCompiler()
	// The schema is draft-04 and uses lookahead ("^(?!AWS::Serverless::).+$"
	// tells plain CloudFormation resources from SAM ones), which Go's regexp
	// cannot parse; regexp2 in ECMAScript mode can.
	c.DefaultDraft(jsonschema.Draft4)
	c.UseRegexpEngine(compileECMAScript)
	if err := c.AddResource("sam.schema.json", doc); err != nil {
		return nil, err
	}
	sch, err := c.Compile("sam.schema.json")
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return &samSchema{compiler: c, template: sch}, nil
})

// validate checks a whole template. The schema takes each resource as "any
// one of" every resource type, so its error for a SAM resource lists why the
// resource fails every type; validate reports instead the failures against
// the resource's own type, and the other errors as the schema gives them.
func (s *samSchema) validate(tp template) error {
	err := s.template.Validate(tp)
	var verr *jsonschema.ValidationError
	if err == nil || !errors.As(err, &verr) {
		return err
	}
	var msgs []string
	focused := map[string]bool{}
	for id, r := range obj(tp, "Resources") {
		res, _ := r.(map[string]any)
		typ, _ := res["Type"].(string)
		kind, ok := strings.CutPrefix(typ, "AWS::Serverless::")
		if !ok {
			continue
		}
		def := "samtranslator__internal__schema_source__aws_serverless_" + strings.ToLower(kind) + "__Resource"
		sch, cerr := s.compiler.Compile("sam.schema.json#/definitions/" + def)
		if cerr != nil {
			continue // a type this mapping does not know: the schema's error stands
		}
		if rerr := sch.Validate(r); rerr != nil {
			focused[id] = true
			msgs = append(msgs, fmt.Sprintf("Resources/%s (%s): %v", id, typ, rerr))
		}
	}
	for _, c := range verr.Causes {
		if loc := c.InstanceLocation; len(loc) == 2 && loc[0] == "Resources" && focused[loc[1]] {
			continue
		}
		msgs = append(msgs, c.Error())
	}
	sort.Strings(msgs)
	return errors.New(strings.Join(msgs, "\n"))
}

type ecmaRegexp regexp2.Regexp

func (re *ecmaRegexp) MatchString(s string) bool {
	ok, err := (*regexp2.Regexp)(re).MatchString(s)
	return err == nil && ok
}

func (re *ecmaRegexp) String() string { return (*regexp2.Regexp)(re).String() }

func compileECMAScript(s string) (jsonschema.Regexp, error) {
	re, err := regexp2.Compile(s, regexp2.ECMAScript)
	if err != nil {
		return nil, err
	}
	return (*ecmaRegexp)(re), nil
}

func mustSchema(t *testing.T) *samSchema {
	t.Helper()
	sch, err := loadSAMSchema()
	if err != nil {
		t.Fatal(err)
	}
	return sch
}

func TestTemplateValidatesAgainstSAMSchema(t *testing.T) {
	if err := mustSchema(t).validate(loadTemplate(t)); err != nil {
		t.Fatalf("template.yaml does not match the SAM schema:\n%v", err)
	}
}

// TestSAMSchemaRejectsBrokenTemplates proves the validation above can fail:
// each case breaks one thing the schema constrains. (Runtime, Architectures
// and MemorySize are pass-through properties there, any value goes; the
// checks further down hold them.)
func TestSAMSchemaRejectsBrokenTemplates(t *testing.T) {
	tests := []struct {
		name   string
		mutate func(template)
		want   string // part of the error
	}{
		{"misspelt function property", func(tp template) {
			props(tp, "TokenUploadFunction")["Runtim"] = "provided.al2023"
		}, "additional properties 'Runtim' not allowed"},
		{"Tracing outside its enum", func(tp template) {
			obj(tp["Globals"], "Function")["Tracing"] = "Sometimes"
		}, "'/Globals/Function/Tracing': value must be one of"},
		{"unknown Globals section", func(tp template) {
			obj(tp, "Globals")["Functions"] = map[string]any{}
		}, "'/Globals': additional properties 'Functions' not allowed"},
		{"CodeUri a number", func(tp template) {
			props(tp, "AdminFunction")["CodeUri"] = json.Number("1")
		}, "'/Properties/CodeUri': got number, want string"},
		{"HttpApi event Method not a string", func(tp template) {
			ev := obj(obj(props(tp, "AdminFunction"), "Events"), "Health")
			obj(ev, "Properties")["Method"] = json.Number("42")
		}, "'/Properties/Events/Health/Properties/Method': got number, want string"},
		{"unknown HttpApi property", func(tp template) {
			props(tp, "HttpApi")["Routes"] = []any{}
		}, "additional properties 'Routes' not allowed"},
		{"misspelt SQS event property", func(tp template) {
			ev := obj(obj(props(tp, "MessagePushFunction"), "Events"), "BulkBatches")
			obj(ev, "Properties")["MaxConcurrency"] = json.Number("20")
		}, "additional properties 'MaxConcurrency' not allowed"},
		{"SQS event without a queue", func(tp template) {
			ev := obj(obj(props(tp, "MessagePushFunction"), "Events"), "BulkBatches")
			delete(obj(ev, "Properties"), "Queue")
		}, "missing property 'Queue'"},
		{"no Resources", func(tp template) {
			delete(tp, "Resources")
		}, "missing property 'Resources'"},
	}
	sch := mustSchema(t)
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			tp := loadTemplate(t)
			tc.mutate(tp)
			err := sch.validate(tp)
			if err == nil {
				t.Fatal("broken template passed validation")
			}
			if !strings.Contains(err.Error(), tc.want) {
				t.Errorf("error does not say %q:\n%v", tc.want, err)
			}
		})
	}
}

func TestNoShortFormIntrinsics(t *testing.T) {
	raw, err := os.ReadFile(filepath.Join(repoRoot, "template.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	// A YAML tag (!Sub, !Ref, …) starts a token; "!" inside a word or a
	// comment is fine.
	tag := regexp.MustCompile(`(^|[\s\[{,])![A-Za-z]`)
	for i, line := range strings.Split(string(raw), "\n") {
		code, _, _ := strings.Cut(line, " #")
		if strings.HasPrefix(strings.TrimSpace(code), "#") {
			continue
		}
		if tag.MatchString(code) {
			t.Errorf("template.yaml:%d: short-form tag (use Fn::Sub, Ref, …): %s", i+1, strings.TrimSpace(line))
		}
	}
}

func TestFunctionsBuildWithMakefile(t *testing.T) {
	makeBin, err := exec.LookPath("make")
	if err != nil {
		t.Fatalf("GNU make builds the functions (sam build runs it): %v", err)
	}
	tp := loadTemplate(t)
	for _, id := range resourcesOfType(tp, "AWS::Serverless::Function") {
		t.Run(id, func(t *testing.T) {
			p := props(tp, id)
			if got := p["CodeUri"]; got != "." {
				t.Errorf("CodeUri = %v, want \".\" (one go.mod at the root)", got)
			}
			meta, _ := obj(tp["Resources"], id)["Metadata"].(map[string]any)
			if got := meta["BuildMethod"]; got != "makefile" {
				t.Errorf("Metadata.BuildMethod = %v, want makefile", got)
			}

			// What sam build would run: make build-<LogicalId> with ARTIFACTS_DIR.
			artifacts := t.TempDir()
			cmd := exec.Command(makeBin, "--no-print-directory", "-n", "-C", repoRoot, "build-"+id, "ARTIFACTS_DIR="+artifacts)
			cmd.Env = withoutMakeVars(os.Environ())
			out, err := cmd.CombinedOutput()
			if err != nil {
				t.Fatalf("make -n build-%s: %v\n%s", id, err, out)
			}
			recipe := string(out)
			for _, want := range []string{
				"CGO_ENABLED=0", "GOOS=linux", "GOARCH=arm64", "go build", "-tags lambda.norpc", "-trimpath", "-s -w",
				artifacts + "/bootstrap",
				"./functions/" + functionDir(id),
			} {
				if !strings.Contains(recipe, want) {
					t.Errorf("make build-%s does not contain %q:\n%s", id, want, recipe)
				}
			}
			if _, err := os.Stat(filepath.Join(repoRoot, "functions", functionDir(id))); err != nil {
				if landing[functionDir(id)] && errors.Is(err, fs.ErrNotExist) {
					t.Logf("%s: functions/%s is still being written", id, functionDir(id))
				} else {
					t.Errorf("%s: no functions/%s: %v", id, functionDir(id), err)
				}
			}
		})
	}
}

// landing names the function directories written alongside their template
// resource: until one exists, only its directory check is let off. Drop an
// entry once its main.go is committed.
var landing = map[string]bool{"message-push": true}

// withoutMakeVars drops what an enclosing make (make test) passes down, so
// the make run here sees only its command line.
func withoutMakeVars(env []string) []string {
	return slices.DeleteFunc(slices.Clone(env), func(kv string) bool {
		name, _, _ := strings.Cut(kv, "=")
		return name == "MAKEFLAGS" || name == "MFLAGS" || name == "MAKELEVEL" || name == "MAKEOVERRIDES"
	})
}

func TestEveryFunctionDirIsDeployed(t *testing.T) {
	tp := loadTemplate(t)
	deployed := map[string]bool{}
	for _, id := range resourcesOfType(tp, "AWS::Serverless::Function") {
		deployed[functionDir(id)] = true
	}
	entries, err := os.ReadDir(filepath.Join(repoRoot, "functions"))
	if err != nil {
		t.Fatal(err)
	}
	var dirs int
	for _, e := range entries {
		// A function is a directory with a main.go; others (end-to-end
		// tests) are not deployed.
		if _, err := os.Stat(filepath.Join(repoRoot, "functions", e.Name(), "main.go")); !e.IsDir() || err != nil {
			continue
		}
		dirs++
		if !deployed[e.Name()] {
			t.Errorf("functions/%s has no %sFunction in template.yaml", e.Name(), camel(e.Name()))
		}
	}
	if dirs == 0 {
		t.Error("functions/ holds no function")
	}
}

func TestFunctionRuntime(t *testing.T) {
	tp := loadTemplate(t)
	want := map[string]any{
		"Runtime":       "provided.al2023",
		"Architectures": []any{"arm64"},
		"Handler":       "bootstrap",
		"Tracing":       "Active",
	}
	for _, id := range resourcesOfType(tp, "AWS::Serverless::Function") {
		for key, w := range want {
			if got := effective(tp, id, key); !jsonEqual(got, w) {
				t.Errorf("%s: %s = %v, want %v", id, key, got, w)
			}
		}
		logging, _ := effective(tp, id, "LoggingConfig").(map[string]any)
		if got := logging["LogFormat"]; got != "JSON" {
			t.Errorf("%s: LoggingConfig.LogFormat = %v, want JSON", id, got)
		}
		env := environment(tp, id)
		if got := env["OFFPUSH_STORE"]; got != "dynamodb" {
			t.Errorf("%s: OFFPUSH_STORE = %v, want dynamodb", id, got)
		}
		if got := env["OFFPUSH_TABLE_PREFIX"]; !jsonEqual(got, map[string]any{"Ref": "TablePrefix"}) {
			t.Errorf("%s: OFFPUSH_TABLE_PREFIX = %v, want Ref TablePrefix", id, got)
		}
		// live or capture, or a parameter allowing only those.
		mode := env["OFFPUSH_VENDOR_MODE"]
		allowed := []any{mode}
		if name := refName(mode); name != "" {
			allowed = list(obj(obj(tp, "Parameters"), name)["AllowedValues"])
		}
		if len(allowed) == 0 || slices.ContainsFunc(allowed, func(v any) bool { return v != "live" && v != "capture" }) {
			t.Errorf("%s: OFFPUSH_VENDOR_MODE = %v, want live, capture or Ref of a parameter with AllowedValues among them", id, mode)
		}
	}
}

func TestTables(t *testing.T) {
	tp := loadTemplate(t)
	want := map[string]struct {
		name string
		keys []any
	}{
		"UsersTable": {"${TablePrefix}users", []any{
			map[string]any{"AttributeName": "userId", "KeyType": "HASH"},
		}},
		"IndexTable": {"${TablePrefix}index", []any{
			map[string]any{"AttributeName": "pk", "KeyType": "HASH"},
			map[string]any{"AttributeName": "sk", "KeyType": "RANGE"},
		}},
		"JobsTable": {"${TablePrefix}jobs", []any{
			map[string]any{"AttributeName": "pk", "KeyType": "HASH"},
			map[string]any{"AttributeName": "sk", "KeyType": "RANGE"},
		}},
	}
	tables := resourcesOfType(tp, "AWS::DynamoDB::Table")
	for id := range want {
		if !slices.Contains(tables, id) {
			t.Errorf("no AWS::DynamoDB::Table %s", id)
		}
	}
	for _, id := range tables {
		t.Run(id, func(t *testing.T) {
			res := obj(tp["Resources"], id)
			p := props(tp, id)
			type check struct {
				what      string
				got, want any
			}
			checks := []check{
				{"BillingMode", p["BillingMode"], "PAY_PER_REQUEST"},
				{"TimeToLiveSpecification", p["TimeToLiveSpecification"], map[string]any{"AttributeName": "expiresAt", "Enabled": true}},
				{"PointInTimeRecoverySpecification", p["PointInTimeRecoverySpecification"], map[string]any{"PointInTimeRecoveryEnabled": true}},
				{"SSESpecification.SSEEnabled", obj(p, "SSESpecification")["SSEEnabled"], true},
				{"DeletionPolicy", res["DeletionPolicy"], "Retain"},
				{"UpdateReplacePolicy", res["UpdateReplacePolicy"], "Retain"},
			}
			if w, ok := want[id]; ok {
				checks = append(checks,
					check{"TableName", p["TableName"], map[string]any{"Fn::Sub": w.name}},
					check{"KeySchema", p["KeySchema"], w.keys})
			}
			for _, c := range checks {
				if !jsonEqual(c.got, c.want) {
					t.Errorf("%s = %v, want %v", c.what, c.got, c.want)
				}
			}
		})
	}
}

func TestPoliciesAreLeastPrivilege(t *testing.T) {
	report(t, checkPolicies(loadTemplate(t)))
}

// checkPolicies holds every function to inline policies that allow named
// actions of one service on resources of this template: DynamoDB tables,
// queues and secrets. Deny statements only take away, so any is fine.
func checkPolicies(tp template) []string {
	var out problems
	tables := resourcesOfType(tp, "AWS::DynamoDB::Table")
	queues := resourcesOfType(tp, "AWS::SQS::Queue")
	secrets := resourcesOfType(tp, "AWS::SecretsManager::Secret")
	for _, id := range resourcesOfType(tp, "AWS::Serverless::Function") {
		var granted []string // secrets this function may read
		for _, pol := range branches(props(tp, id)["Policies"]) {
			doc, ok := pol.(map[string]any)
			if !ok || doc["Statement"] == nil {
				out.add("%s: policy %v: want an inline {Statement: […]}, not a managed policy or policy template", id, pol)
				continue
			}
			for _, st := range branches(doc["Statement"]) {
				st, _ := st.(map[string]any)
				actions := strs(st["Action"])
				for _, a := range actions {
					if strings.Contains(a, "*") {
						out.add("%s: action %q: name actions one by one", id, a)
					}
				}
				if st["Effect"] == "Deny" {
					if len(actions) == 0 || st["Resource"] == nil && st["NotResource"] == nil {
						out.add("%s: statement %v: want Deny with Action and Resource or NotResource", id, st)
					}
					continue
				}
				resources := list(st["Resource"])
				if st["Effect"] != "Allow" || len(actions) == 0 || len(resources) == 0 || st["NotAction"] != nil || st["NotResource"] != nil {
					out.add("%s: statement %v: want Effect Allow with Action and Resource", id, st)
					continue
				}
				for _, r := range resources {
					if r == "*" {
						out.add("%s: statement %v: Resource \"*\"", id, st)
					}
				}
				service, _, _ := strings.Cut(actions[0], ":")
				for _, a := range actions {
					if s, _, _ := strings.Cut(a, ":"); s != service {
						out.add("%s: statement %v mixes %s and %s actions: one service per statement", id, st, service, s)
					}
				}
				for _, r := range resources {
					switch service {
					case "dynamodb":
						if !slices.Contains(tables, tableOf(r)) {
							out.add("%s: dynamodb resource %v: want Fn::GetAtt [<table>, Arn] (or Fn::Sub \"${<table>.Arn}/index/…\") of a table in the template", id, r)
						}
					case "sqs":
						if !slices.Contains(queues, arnOf(r)) {
							out.add("%s: sqs resource %v: want Fn::GetAtt [<queue>, Arn] of a queue in the template", id, r)
						}
					case "secretsmanager":
						name := refName(r)
						if !slices.Contains(secrets, name) {
							out.add("%s: secretsmanager resource %v: want Ref of a secret in the template", id, r)
						}
						granted = append(granted, name)
					}
				}
			}
		}
		// A function reads exactly the secrets its *_SECRET_ARN variables name.
		var named []string
		for k, v := range environment(tp, id) {
			if !strings.HasSuffix(k, "_SECRET_ARN") {
				continue
			}
			for _, b := range branches(v) {
				if n := refName(b); n != "" {
					named = append(named, n)
				}
			}
		}
		sort.Strings(granted)
		sort.Strings(named)
		if !slices.Equal(slices.Compact(granted), slices.Compact(named)) {
			out.add("%s: GetSecretValue on %v, but environment names %v", id, granted, named)
		}
	}
	return out
}

// The bulk-job queues: broadcast fills BulkQueue, message-push drains it.
const (
	bulkQueue  = "BulkQueue"
	bulkDLQ    = "BulkDeadLetterQueue"
	pushWorker = "MessagePushFunction"
)

// pollActions are what a Lambda SQS event source does with its function's
// role.
var pollActions = []string{"sqs:ReceiveMessage", "sqs:DeleteMessage", "sqs:GetQueueAttributes", "sqs:ChangeMessageVisibility"}

// TestMessagePushGrants pins what message-push may do, resource by
// resource: nothing beyond these tables, queues and secret.
func TestMessagePushGrants(t *testing.T) {
	report(t, checkMessagePushGrants(loadTemplate(t)))
}

func checkMessagePushGrants(tp template) []string {
	want := map[string][]string{
		"UsersTable": {"dynamodb:GetItem", "dynamodb:BatchGetItem", "dynamodb:UpdateItem"},
		// Removing a dead token: the user update and the index delete in one
		// transaction.
		"IndexTable": {"dynamodb:GetItem", "dynamodb:DeleteItem", "dynamodb:ConditionCheckItem"},
		// Certificates, jobs, claims, vendor access tokens, captured requests.
		"JobsTable":       {"dynamodb:GetItem", "dynamodb:PutItem", "dynamodb:UpdateItem", "dynamodb:Query", "dynamodb:BatchWriteItem"},
		bulkQueue:         append([]string{"sqs:SendMessage"}, pollActions...),
		bulkDLQ:           {"sqs:SendMessage"},
		"AdminKeysSecret": {"secretsmanager:GetSecretValue"},
	}
	if obj(tp, "Resources")[pushWorker] == nil {
		return []string{"no " + pushWorker}
	}
	var out problems
	got := grants(tp, pushWorker)
	for _, res := range sortedKeys(got) {
		for _, a := range got[res] {
			if !slices.Contains(want[res], a) {
				out.add("%s: allows %s on %s, which it has no use for", pushWorker, a, res)
			}
		}
	}
	for _, res := range sortedKeys(want) {
		for _, a := range want[res] {
			if !slices.Contains(got[res], a) {
				out.add("%s: does not allow %s on %s", pushWorker, a, res)
			}
		}
	}
	return out
}

// TestSQSEventSources checks every function fed by a queue: partial batch
// responses, bounded concurrency, a visibility timeout of at least six
// function timeouts, a dead-letter queue, and polling rights on that queue
// only.
func TestSQSEventSources(t *testing.T) {
	report(t, checkSQSEventSources(loadTemplate(t)))
}

func checkSQSEventSources(tp template) []string {
	var out problems
	queues := resourcesOfType(tp, "AWS::SQS::Queue")
	consumers := map[string]bool{}
	for _, id := range resourcesOfType(tp, "AWS::Serverless::Function") {
		var consumed []string
		events := obj(props(tp, id), "Events")
		for _, name := range sortedKeys(events) {
			ev, _ := events[name].(map[string]any)
			if ev["Type"] != "SQS" {
				continue
			}
			at := id + " event " + name
			p := obj(ev, "Properties")
			q := arnOf(p["Queue"])
			if !slices.Contains(queues, q) {
				out.add("%s: Queue = %v, want Fn::GetAtt [<queue>, Arn] of a queue in the template", at, p["Queue"])
				continue
			}
			consumed = append(consumed, q)
			consumers[id] = true
			if !slices.Contains(strs(p["FunctionResponseTypes"]), "ReportBatchItemFailures") {
				out.add("%s: FunctionResponseTypes = %v, want [ReportBatchItemFailures] (else one failed message retries the whole batch)", at, p["FunctionResponseTypes"])
			}
			if mc, ok := obj(p, "ScalingConfig")["MaximumConcurrency"]; !ok {
				out.add("%s: no ScalingConfig.MaximumConcurrency", at)
			} else {
				out.inRange(tp, at+": ScalingConfig.MaximumConcurrency", mc, 2, 1000)
			}
			if bs, ok := p["BatchSize"]; !ok {
				out.add("%s: no BatchSize", at)
			} else {
				// Over 10 needs MaximumBatchingWindowInSeconds.
				out.inRange(tp, at+": BatchSize", bs, 1, 10)
			}
			// Visibility timeout of the queue ≥ 6 × function timeout, the
			// margin AWS asks for (retries of the poller, throttling).
			qp := props(tp, q)
			vis, verr := defaultNumber(tp, qp["VisibilityTimeout"])
			timeout, terr := defaultNumber(tp, effective(tp, id, "Timeout"))
			switch {
			case verr != nil:
				out.add("%s: VisibilityTimeout: %v", q, verr)
			case terr != nil:
				out.add("%s: Timeout: %v", id, terr)
			case vis < 6*timeout:
				out.add("%s: VisibilityTimeout %v s is under 6 × %s's Timeout (%v s)", q, vis, id, timeout)
			}
			if qp["RedrivePolicy"] == nil {
				out.add("%s: consumed by %s but has no RedrivePolicy (dead-letter queue)", q, id)
			}
		}
		if len(consumed) == 0 {
			continue
		}
		// The worker sends retries to the queue it drains.
		if url := environment(tp, id)["OFFPUSH_QUEUE_URL"]; !slices.Contains(consumed, refName(url)) {
			out.add("%s: OFFPUSH_QUEUE_URL = %v, want Ref of the queue it consumes (%v)", id, url, consumed)
		}
		// SAM attaches AWSLambdaSQSQueueExecutionRole (Resource "*") to the
		// role of a function with an SQS event; only a Deny takes it back.
		want := slices.Compact(slices.Sorted(slices.Values(consumed)))
		denied := false
		for _, st := range policyStatements(tp, id) {
			if st["Effect"] != "Deny" || st["Condition"] != nil {
				continue
			}
			var not []string
			for _, r := range list(st["NotResource"]) {
				not = append(not, arnOf(r))
			}
			sort.Strings(not)
			if slices.Equal(not, want) && !slices.ContainsFunc(pollActions, func(a string) bool { return !slices.Contains(strs(st["Action"]), a) }) {
				denied = true
			}
		}
		if !denied {
			out.add("%s: SAM grants it %v on every queue (AWSLambdaSQSQueueExecutionRole): want a Deny of them with NotResource the queues it consumes %v", id, pollActions, want)
		}
	}
	if !consumers[pushWorker] {
		out.add("%s: no SQS event source", pushWorker)
	}
	return out
}

// TestQueues checks every queue (encryption, retention), the dead-letter
// wiring and its alarm, and the outputs an operator replays with.
func TestQueues(t *testing.T) {
	report(t, checkQueues(loadTemplate(t)))
}

func checkQueues(tp template) []string {
	const (
		day          = 24 * 60 * 60
		dlqRetention = 14 * day // the most SQS keeps
	)
	var out problems
	queues := resourcesOfType(tp, "AWS::SQS::Queue")
	for _, want := range []string{bulkQueue, bulkDLQ} {
		if !slices.Contains(queues, want) {
			out.add("no AWS::SQS::Queue %s", want)
		}
	}
	alarms := resourcesOfType(tp, "AWS::CloudWatch::Alarm")
	for _, q := range queues {
		p := props(tp, q)
		if p["SqsManagedSseEnabled"] != true {
			out.add("%s: SqsManagedSseEnabled = %v, want true", q, p["SqsManagedSseEnabled"])
		}
		if _, err := defaultNumber(tp, p["MessageRetentionPeriod"]); err != nil {
			out.add("%s: MessageRetentionPeriod: %v", q, err)
		}
		rp, ok := p["RedrivePolicy"].(map[string]any)
		if !ok {
			continue
		}
		dlq := arnOf(rp["deadLetterTargetArn"])
		switch {
		case !slices.Contains(queues, dlq):
			out.add("%s: RedrivePolicy.deadLetterTargetArn = %v, want Fn::GetAtt [<queue>, Arn] of a queue in the template", q, rp["deadLetterTargetArn"])
			continue
		case dlq == q:
			out.add("%s: RedrivePolicy sends it to itself", q)
			continue
		}
		if n, ok := rp["maxReceiveCount"]; !ok {
			out.add("%s: no RedrivePolicy.maxReceiveCount", q)
		} else {
			out.inRange(tp, q+": RedrivePolicy.maxReceiveCount", n, 5, 1000)
		}
		dp := props(tp, dlq)
		if dp["RedrivePolicy"] != nil {
			out.add("%s: the dead-letter queue of %s has a RedrivePolicy of its own", dlq, q)
		}
		keep, derr := defaultNumber(tp, dp["MessageRetentionPeriod"])
		if derr == nil && keep != dlqRetention {
			out.add("%s: MessageRetentionPeriod = %v, want %d (14 days) for a dead-letter queue", dlq, keep, dlqRetention)
		}
		if src, err := defaultNumber(tp, p["MessageRetentionPeriod"]); err == nil && derr == nil && src >= keep {
			out.add("%s: keeps messages %v s, not less than its dead-letter queue %s (%v s): redriven messages keep their age", q, src, dlq, keep)
		}
		// An alarm as soon as anything is dead-lettered.
		watched := slices.ContainsFunc(alarms, func(a string) bool {
			ap := props(tp, a)
			var dims bool
			for _, d := range list(ap["Dimensions"]) {
				d, _ := d.(map[string]any)
				dims = dims || d["Name"] == "QueueName" && jsonEqual(d["Value"], map[string]any{"Fn::GetAtt": []any{dlq, "QueueName"}})
			}
			threshold, err := defaultNumber(tp, ap["Threshold"])
			return dims && err == nil && threshold == 0 &&
				ap["Namespace"] == "AWS/SQS" && ap["MetricName"] == "ApproximateNumberOfMessagesVisible" &&
				ap["ComparisonOperator"] == "GreaterThanThreshold"
		})
		if !watched {
			out.add("%s: no alarm on AWS/SQS ApproximateNumberOfMessagesVisible > 0 for QueueName Fn::GetAtt [%s, QueueName]", dlq, dlq)
		}
	}
	if rp := obj(props(tp, bulkQueue), "RedrivePolicy"); arnOf(rp["deadLetterTargetArn"]) != bulkDLQ {
		out.add("%s: RedrivePolicy.deadLetterTargetArn = %v, want Fn::GetAtt [%s, Arn]", bulkQueue, rp["deadLetterTargetArn"], bulkDLQ)
	}
	outputs := obj(tp, "Outputs")
	for name, q := range map[string]string{"BulkQueueUrl": bulkQueue, "BulkDeadLetterQueueUrl": bulkDLQ} {
		if v := obj(outputs, name)["Value"]; !jsonEqual(v, map[string]any{"Ref": q}) {
			out.add("output %s = %v, want Ref %s", name, v, q)
		}
	}
	return out
}

// TestQueueEnvironment: a function that names a queue in its environment
// names the bulk queue (or its dead-letter queue) and may send to it.
func TestQueueEnvironment(t *testing.T) {
	report(t, checkQueueEnvironment(loadTemplate(t)))
}

func checkQueueEnvironment(tp template) []string {
	var out problems
	dlq := arnOf(obj(props(tp, bulkQueue), "RedrivePolicy")["deadLetterTargetArn"])
	for _, id := range resourcesOfType(tp, "AWS::Serverless::Function") {
		env := environment(tp, id)
		sends := grants(tp, id)
		for name, want := range map[string]string{"OFFPUSH_QUEUE_URL": bulkQueue, "OFFPUSH_DLQ_URL": dlq} {
			v, ok := env[name]
			if !ok {
				continue
			}
			if refName(v) != want || want == "" {
				out.add("%s: %s = %v, want Ref %s", id, name, v, want)
				continue
			}
			if !slices.Contains(sends[want], "sqs:SendMessage") {
				out.add("%s: %s names %s, but it may not sqs:SendMessage there", id, name, want)
			}
		}
		if _, ok := env["OFFPUSH_QUEUE_URL"]; ok && env["OFFPUSH_QUEUE"] != "sqs" {
			out.add("%s: OFFPUSH_QUEUE = %v with OFFPUSH_QUEUE_URL set, want sqs", id, env["OFFPUSH_QUEUE"])
		}
		if _, ok := env["OFFPUSH_DLQ_URL"]; ok && env["OFFPUSH_QUEUE_URL"] == nil {
			out.add("%s: OFFPUSH_DLQ_URL without OFFPUSH_QUEUE_URL", id)
		}
	}
	return out
}

// TestChecksCatchBrokenTemplates proves the checks above can fail: each
// case breaks one rule in a copy of template.yaml.
func TestChecksCatchBrokenTemplates(t *testing.T) {
	pushEvent := func(tp template) map[string]any {
		return obj(obj(obj(props(tp, pushWorker), "Events"), "BulkBatches"), "Properties")
	}
	setDefault := func(tp template, param string, v any) {
		obj(obj(tp, "Parameters"), param)["Default"] = v
	}
	env := func(tp template, id string) map[string]any {
		p := props(tp, id)
		if obj(p, "Environment") == nil {
			p["Environment"] = map[string]any{"Variables": map[string]any{}}
		}
		return obj(obj(p, "Environment"), "Variables")
	}
	tests := []struct {
		name   string
		check  func(template) []string
		mutate func(template)
		want   string // part of one problem
	}{
		// Policies.
		{"sqs Resource *", checkPolicies, func(tp template) {
			statement(tp, pushWorker, "BulkQueueSend")["Resource"] = "*"
		}, `Resource "*"`},
		{"sqs resource outside the template", checkPolicies, func(tp template) {
			statement(tp, pushWorker, "BulkQueueSend")["Resource"] = "arn:aws:sqs:us-east-1:123456789012:other"
		}, "sqs resource arn:aws:sqs:us-east-1:123456789012:other: want Fn::GetAtt [<queue>, Arn]"},
		{"sqs wildcard action", checkPolicies, func(tp template) {
			statement(tp, pushWorker, "BulkQueueSend")["Action"] = "sqs:Send*"
		}, `action "sqs:Send*"`},
		{"Allow with NotResource", checkPolicies, func(tp template) {
			statement(tp, pushWorker, "ConsumeOnlyBulkQueue")["Effect"] = "Allow"
		}, "want Effect Allow with Action and Resource"},
		{"secret read but not named", checkPolicies, func(tp template) {
			delete(env(tp, pushWorker), "OFFPUSH_ADMIN_KEYS_SECRET_ARN")
		}, "MessagePushFunction: GetSecretValue on [AdminKeysSecret], but environment names []"},
		// message-push grants.
		{"extra action on the users table", checkMessagePushGrants, func(tp template) {
			st := statement(tp, pushWorker, "Users")
			st["Action"] = append(list(st["Action"]), "dynamodb:PutItem")
		}, "allows dynamodb:PutItem on UsersTable, which it has no use for"},
		{"another queue", checkMessagePushGrants, func(tp template) {
			obj(tp, "Resources")["OtherQueue"] = map[string]any{"Type": "AWS::SQS::Queue", "Properties": map[string]any{}}
			st := statement(tp, pushWorker, "BulkQueueSend")
			st["Resource"] = append(list(st["Resource"]), map[string]any{"Fn::GetAtt": []any{"OtherQueue", "Arn"}})
		}, "allows sqs:SendMessage on OtherQueue"},
		{"no dead-lettering", checkMessagePushGrants, func(tp template) {
			statement(tp, pushWorker, "BulkQueueSend")["Resource"] = map[string]any{"Fn::GetAtt": []any{bulkQueue, "Arn"}}
		}, "does not allow sqs:SendMessage on BulkDeadLetterQueue"},
		{"no transaction on the index", checkMessagePushGrants, func(tp template) {
			statement(tp, pushWorker, "TokenIndex")["Action"] = []any{"dynamodb:GetItem", "dynamodb:DeleteItem"}
		}, "does not allow dynamodb:ConditionCheckItem on IndexTable"},
		// SQS event sources.
		{"no ReportBatchItemFailures", checkSQSEventSources, func(tp template) {
			delete(pushEvent(tp), "FunctionResponseTypes")
		}, "want [ReportBatchItemFailures]"},
		{"no MaximumConcurrency", checkSQSEventSources, func(tp template) {
			delete(pushEvent(tp), "ScalingConfig")
		}, "no ScalingConfig.MaximumConcurrency"},
		{"MaximumConcurrency default under 2", checkSQSEventSources, func(tp template) {
			setDefault(tp, "BulkMaxConcurrency", json.Number("1"))
		}, "ScalingConfig.MaximumConcurrency: default 1 is outside [2, 1000]"},
		{"MaximumConcurrency parameter unbounded", checkSQSEventSources, func(tp template) {
			delete(obj(obj(tp, "Parameters"), "BulkMaxConcurrency"), "MaxValue")
		}, "ScalingConfig.MaximumConcurrency: parameter BulkMaxConcurrency: MaxValue"},
		{"BatchSize over 10", checkSQSEventSources, func(tp template) {
			pushEvent(tp)["BatchSize"] = json.Number("100")
		}, "BatchSize: 100 is outside [1, 10]"},
		{"visibility under 6 timeouts", checkSQSEventSources, func(tp template) {
			setDefault(tp, "BulkQueueVisibilityTimeout", json.Number("300"))
		}, "BulkQueue: VisibilityTimeout 300 s is under 6 × MessagePushFunction's Timeout (60 s)"},
		{"timeout raised alone", checkSQSEventSources, func(tp template) {
			setDefault(tp, "MessagePushTimeout", json.Number("90"))
		}, "VisibilityTimeout 360 s is under 6 × MessagePushFunction's Timeout (90 s)"},
		{"no visibility timeout", checkSQSEventSources, func(tp template) {
			delete(props(tp, bulkQueue), "VisibilityTimeout")
		}, "BulkQueue: VisibilityTimeout: not set"},
		{"consumed queue without dead-letter queue", checkSQSEventSources, func(tp template) {
			delete(props(tp, bulkQueue), "RedrivePolicy")
		}, "BulkQueue: consumed by MessagePushFunction but has no RedrivePolicy"},
		{"SAM's poller policy left on every queue", checkSQSEventSources, func(tp template) {
			statement(tp, pushWorker, "ConsumeOnlyBulkQueue")["NotResource"] = []any{
				map[string]any{"Fn::GetAtt": []any{bulkQueue, "Arn"}}, map[string]any{"Fn::GetAtt": []any{bulkDLQ, "Arn"}}}
		}, "AWSLambdaSQSQueueExecutionRole"},
		{"worker re-enqueues elsewhere", checkSQSEventSources, func(tp template) {
			env(tp, pushWorker)["OFFPUSH_QUEUE_URL"] = map[string]any{"Ref": bulkDLQ}
		}, "OFFPUSH_QUEUE_URL = map[Ref:BulkDeadLetterQueue], want Ref of the queue it consumes"},
		{"queue event source gone", checkSQSEventSources, func(tp template) {
			delete(obj(props(tp, pushWorker), "Events"), "BulkBatches")
		}, "MessagePushFunction: no SQS event source"},
		// Queues.
		{"maxReceiveCount under 5", checkQueues, func(tp template) {
			setDefault(tp, "BulkMaxReceiveCount", json.Number("3"))
		}, "BulkQueue: RedrivePolicy.maxReceiveCount: default 3 is outside [5, 1000]"},
		{"maxReceiveCount parameter allows less than 5", checkQueues, func(tp template) {
			obj(obj(tp, "Parameters"), "BulkMaxReceiveCount")["MinValue"] = json.Number("1")
		}, "BulkQueue: RedrivePolicy.maxReceiveCount: parameter BulkMaxReceiveCount: MinValue 1"},
		{"literal maxReceiveCount under 5", checkQueues, func(tp template) {
			obj(props(tp, bulkQueue), "RedrivePolicy")["maxReceiveCount"] = json.Number("2")
		}, "maxReceiveCount: 2 is outside [5, 1000]"},
		{"no RedrivePolicy", checkQueues, func(tp template) {
			delete(props(tp, bulkQueue), "RedrivePolicy")
		}, "BulkQueue: RedrivePolicy.deadLetterTargetArn = <nil>, want Fn::GetAtt [BulkDeadLetterQueue, Arn]"},
		{"redrive to itself", checkQueues, func(tp template) {
			obj(props(tp, bulkQueue), "RedrivePolicy")["deadLetterTargetArn"] = map[string]any{"Fn::GetAtt": []any{bulkQueue, "Arn"}}
		}, "BulkQueue: RedrivePolicy sends it to itself"},
		{"dead-letter queue unencrypted", checkQueues, func(tp template) {
			delete(props(tp, bulkDLQ), "SqsManagedSseEnabled")
		}, "BulkDeadLetterQueue: SqsManagedSseEnabled = <nil>, want true"},
		{"dead-letter queue keeps 4 days", checkQueues, func(tp template) {
			props(tp, bulkDLQ)["MessageRetentionPeriod"] = json.Number("345600")
		}, "BulkDeadLetterQueue: MessageRetentionPeriod = 345600, want 1209600"},
		{"no alarm", checkQueues, func(tp template) {
			for _, a := range resourcesOfType(tp, "AWS::CloudWatch::Alarm") {
				delete(obj(tp, "Resources"), a)
			}
		}, "BulkDeadLetterQueue: no alarm"},
		{"alarm on the wrong queue", checkQueues, func(tp template) {
			for _, a := range resourcesOfType(tp, "AWS::CloudWatch::Alarm") {
				props(tp, a)["Dimensions"] = []any{map[string]any{"Name": "QueueName", "Value": map[string]any{"Fn::GetAtt": []any{bulkQueue, "QueueName"}}}}
			}
		}, "BulkDeadLetterQueue: no alarm"},
		{"no queue URL output", checkQueues, func(tp template) {
			delete(obj(tp, "Outputs"), "BulkDeadLetterQueueUrl")
		}, "output BulkDeadLetterQueueUrl = <nil>, want Ref BulkDeadLetterQueue"},
		// Queue environment.
		{"queue URL of another queue", checkQueueEnvironment, func(tp template) {
			env(tp, "TokenUploadFunction")["OFFPUSH_QUEUE_URL"] = map[string]any{"Ref": bulkDLQ}
		}, "TokenUploadFunction: OFFPUSH_QUEUE_URL = map[Ref:BulkDeadLetterQueue], want Ref BulkQueue"},
		{"queue URL as a literal", checkQueueEnvironment, func(tp template) {
			env(tp, pushWorker)["OFFPUSH_QUEUE_URL"] = "https://sqs.us-east-1.amazonaws.com/123456789012/offpush"
		}, "MessagePushFunction: OFFPUSH_QUEUE_URL = https://sqs.us-east-1.amazonaws.com/123456789012/offpush, want Ref BulkQueue"},
		{"queue URL without send rights", checkQueueEnvironment, func(tp template) {
			env(tp, "AdminFunction")["OFFPUSH_QUEUE_URL"] = map[string]any{"Ref": bulkQueue}
			env(tp, "AdminFunction")["OFFPUSH_QUEUE"] = "sqs"
		}, "AdminFunction: OFFPUSH_QUEUE_URL names BulkQueue, but it may not sqs:SendMessage there"},
		{"dead-letter URL of the queue itself", checkQueueEnvironment, func(tp template) {
			env(tp, pushWorker)["OFFPUSH_DLQ_URL"] = map[string]any{"Ref": bulkQueue}
		}, "MessagePushFunction: OFFPUSH_DLQ_URL = map[Ref:BulkQueue], want Ref BulkDeadLetterQueue"},
		{"local queue with a queue URL", checkQueueEnvironment, func(tp template) {
			env(tp, pushWorker)["OFFPUSH_QUEUE"] = "local"
		}, "MessagePushFunction: OFFPUSH_QUEUE = local with OFFPUSH_QUEUE_URL set, want sqs"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if got := tc.check(loadTemplate(t)); len(got) > 0 {
				t.Fatalf("template.yaml itself fails the check:\n%s", strings.Join(got, "\n"))
			}
			tp := loadTemplate(t)
			tc.mutate(tp)
			got := tc.check(tp)
			if len(got) == 0 {
				t.Fatal("broken template passed the check")
			}
			if !slices.ContainsFunc(got, func(p string) bool { return strings.Contains(p, tc.want) }) {
				t.Errorf("no problem says %q:\n%s", tc.want, strings.Join(got, "\n"))
			}
		})
	}
}

func TestHttpApi(t *testing.T) {
	tp := loadTemplate(t)
	apis := resourcesOfType(tp, "AWS::Serverless::HttpApi")
	if len(apis) != 1 {
		t.Fatalf("HttpApi resources: %v, want one", apis)
	}
	api := apis[0]
	throttle, _ := props(tp, api)["DefaultRouteSettings"].(map[string]any)
	for _, k := range []string{"ThrottlingRateLimit", "ThrottlingBurstLimit"} {
		if throttle[k] == nil {
			t.Errorf("%s: DefaultRouteSettings.%s not set", api, k)
		}
	}
	for route, fn := range routes(t, tp) {
		if !jsonEqual(fn.apiID, map[string]any{"Ref": api}) {
			t.Errorf("%s %s: ApiId = %v, want Ref %s (else SAM makes a second API)", fn.id, route, fn.apiID, api)
		}
	}
	outputs, _ := tp["Outputs"].(map[string]any)
	for _, k := range []string{"ApiUrl", "UsersTableName", "IndexTableName", "JobsTableName", "AdminKeysSecretArn"} {
		if outputs[k] == nil {
			t.Errorf("no output %s", k)
		}
	}
}

// TestSampleEvents checks infra/events/*.json, the events for sam local
// invoke -e: API Gateway v2 requests whose routes the template serves, and
// SQS events (a top-level "Records") carrying bulk-job batches to a function
// with an SQS event source.
func TestSampleEvents(t *testing.T) {
	tp := loadTemplate(t)
	served := routes(t, tp)
	files, err := filepath.Glob(filepath.Join(repoRoot, "infra", "events", "*.json"))
	if err != nil {
		t.Fatal(err)
	}
	if len(files) == 0 {
		t.Fatal("no sample events in infra/events")
	}
	var sqsSamples int
	for _, f := range files {
		t.Run(filepath.Base(f), func(t *testing.T) {
			raw, err := os.ReadFile(f)
			if err != nil {
				t.Fatal(err)
			}
			var top map[string]json.RawMessage
			if err := json.Unmarshal(raw, &top); err != nil {
				t.Fatalf("not a JSON object: %v", err)
			}
			if _, ok := top["Records"]; ok {
				sqsSamples++
				checkSQSSample(t, tp, raw)
				return
			}
			dec := json.NewDecoder(bytes.NewReader(raw))
			dec.DisallowUnknownFields()
			var ev events.APIGatewayV2HTTPRequest
			if err := dec.Decode(&ev); err != nil {
				t.Fatalf("not an APIGatewayV2HTTPRequest: %v", err)
			}
			if ev.Version != "2.0" {
				t.Errorf("version = %q, want 2.0", ev.Version)
			}
			if _, ok := served[ev.RouteKey]; !ok {
				t.Errorf("routeKey %q is not a route of template.yaml", ev.RouteKey)
			}
			method, route, _ := strings.Cut(ev.RouteKey, " ")
			path := route
			for k, v := range ev.PathParameters {
				path = strings.ReplaceAll(path, "{"+k+"}", v)
			}
			rc := ev.RequestContext
			if rc.RouteKey != ev.RouteKey || rc.HTTP.Method != method || rc.HTTP.Path != path || ev.RawPath != path {
				t.Errorf("routeKey %q, path parameters %v disagree with rawPath %q, requestContext %q %s %s",
					ev.RouteKey, ev.PathParameters, ev.RawPath, rc.RouteKey, rc.HTTP.Method, rc.HTTP.Path)
			}
			if ev.Body != "" && !json.Valid([]byte(ev.Body)) {
				t.Errorf("body is not JSON: %s", ev.Body)
			}
			if n := ev.Headers["content-length"]; n != "" && n != strconv.Itoa(len(ev.Body)) {
				t.Errorf("content-length %s, body is %d bytes", n, len(ev.Body))
			}
		})
	}
	if sqsSamples == 0 {
		t.Error("no sample SQS event in infra/events")
	}
}

// bulkBatch is a bulk-job message body as broadcast enqueues it (the
// delivery package's Batch).
type bulkBatch struct {
	JobID   string   `json:"jobId"`
	Batch   int      `json:"batch"`
	Users   []string `json:"users"`
	Done    []string `json:"done,omitempty"`
	Attempt int      `json:"attempt"`
}

// checkSQSSample checks an SQS event: its records come from SQS, and each
// body is a bulk batch.
func checkSQSSample(t *testing.T, tp template, raw []byte) {
	t.Helper()
	var consumers []string
	for _, id := range resourcesOfType(tp, "AWS::Serverless::Function") {
		for _, ev := range obj(props(tp, id), "Events") {
			if ev, _ := ev.(map[string]any); ev["Type"] == "SQS" {
				consumers = append(consumers, id)
			}
		}
	}
	if len(consumers) == 0 {
		t.Error("an SQS event, but no function of template.yaml has an SQS event source")
	}
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.DisallowUnknownFields()
	var ev events.SQSEvent
	if err := dec.Decode(&ev); err != nil {
		t.Fatalf("not an SQSEvent: %v", err)
	}
	if len(ev.Records) == 0 {
		t.Fatal("no records")
	}
	for i, r := range ev.Records {
		if r.EventSource != "aws:sqs" || !strings.HasPrefix(r.EventSourceARN, "arn:aws:sqs:"+r.AWSRegion+":") {
			t.Errorf("record %d: eventSource %q, eventSourceARN %q, awsRegion %q: want an SQS queue of the region", i, r.EventSource, r.EventSourceARN, r.AWSRegion)
		}
		if r.MessageId == "" || r.ReceiptHandle == "" || r.Attributes["ApproximateReceiveCount"] == "" {
			t.Errorf("record %d: want messageId, receiptHandle and attributes.ApproximateReceiveCount", i)
		}
		if sum := fmt.Sprintf("%x", md5.Sum([]byte(r.Body))); r.Md5OfBody != sum {
			t.Errorf("record %d: md5OfBody %s, body's MD5 is %s", i, r.Md5OfBody, sum)
		}
		bd := json.NewDecoder(strings.NewReader(r.Body))
		bd.DisallowUnknownFields()
		var b bulkBatch
		if err := bd.Decode(&b); err != nil {
			t.Errorf("record %d: body is not a bulk batch: %v", i, err)
			continue
		}
		if b.JobID == "" || b.Batch < 0 || len(b.Users) == 0 || len(b.Users) > 500 || b.Attempt < 1 {
			t.Errorf("record %d: batch %+v: want a jobId, batch ≥ 0, 1 to 500 users and attempt ≥ 1", i, b)
		}
	}
}

// ---------------------------------------------------------------- helpers

// problems collects what a check finds, one sentence each.
type problems []string

func (p *problems) add(format string, args ...any) { *p = append(*p, fmt.Sprintf(format, args...)) }

// inRange adds a problem unless v, a number or Ref of a Number parameter,
// lies in [lo, hi] — for a parameter, its Default and every value its
// MinValue and MaxValue let a deploy pass.
func (p *problems) inRange(tp template, what string, v any, lo, hi float64) {
	if name := refName(v); name != "" {
		param := obj(obj(tp, "Parameters"), name)
		if param == nil {
			p.add("%s: Ref %s is no parameter", what, name)
			return
		}
		if d, ok := numberOf(param["Default"]); !ok {
			p.add("%s: parameter %s has no numeric Default", what, name)
		} else if d < lo || d > hi {
			p.add("%s: default %v is outside [%v, %v]", what, d, lo, hi)
		}
		if m, ok := numberOf(param["MinValue"]); !ok || m < lo {
			p.add("%s: parameter %s: MinValue %v, want ≥ %v", what, name, param["MinValue"], lo)
		}
		if m, ok := numberOf(param["MaxValue"]); !ok || m > hi {
			p.add("%s: parameter %s: MaxValue %v, want ≤ %v", what, name, param["MaxValue"], hi)
		}
		return
	}
	if n, ok := numberOf(v); !ok {
		p.add("%s: %v: want a number or Ref of a Number parameter", what, v)
	} else if n < lo || n > hi {
		p.add("%s: %v is outside [%v, %v]", what, n, lo, hi)
	}
}

// report fails t with each problem.
func report(t *testing.T, ps []string) {
	t.Helper()
	for _, p := range ps {
		t.Error(p)
	}
}

// numberOf returns v, a JSON number or a numeric string, as a float64.
func numberOf(v any) (float64, bool) {
	switch v := v.(type) {
	case json.Number:
		f, err := v.Float64()
		return f, err == nil
	case string:
		f, err := strconv.ParseFloat(v, 64)
		return f, err == nil
	case float64:
		return v, true
	}
	return 0, false
}

// defaultNumber returns v as a stack deployed with the default parameters
// sees it: a number, or the Default of the parameter v references.
func defaultNumber(tp template, v any) (float64, error) {
	if v == nil {
		return 0, errors.New("not set")
	}
	if name := refName(v); name != "" {
		d, ok := numberOf(obj(obj(tp, "Parameters"), name)["Default"])
		if !ok {
			return 0, fmt.Errorf("Ref %s: no parameter with a numeric Default", name)
		}
		return d, nil
	}
	if n, ok := numberOf(v); ok {
		return n, nil
	}
	return 0, fmt.Errorf("%v: want a number or Ref of a Number parameter", v)
}

// policyStatements returns a function's inline policy statements, through
// Fn::If branches.
func policyStatements(tp template, id string) []map[string]any {
	var out []map[string]any
	for _, pol := range branches(props(tp, id)["Policies"]) {
		doc, _ := pol.(map[string]any)
		for _, st := range branches(doc["Statement"]) {
			if st, ok := st.(map[string]any); ok {
				out = append(out, st)
			}
		}
	}
	return out
}

// statement returns the statement of function id with Sid sid, for a test
// to change.
func statement(tp template, id, sid string) map[string]any {
	for _, st := range policyStatements(tp, id) {
		if st["Sid"] == sid {
			return st
		}
	}
	panic(fmt.Sprintf("%s has no policy statement %s", id, sid))
}

// grants maps each resource a function's Allow statements name (a logical
// ID, for Fn::GetAtt [X, Arn] and Ref X) to the actions allowed on it,
// sorted.
func grants(tp template, id string) map[string][]string {
	out := map[string][]string{}
	for _, st := range policyStatements(tp, id) {
		if st["Effect"] != "Allow" {
			continue
		}
		for _, r := range list(st["Resource"]) {
			key := arnOf(r)
			if key == "" {
				key = refName(r)
			}
			if key == "" {
				key = fmt.Sprint(r)
			}
			out[key] = append(out[key], strs(st["Action"])...)
		}
	}
	for k, v := range out {
		out[k] = slices.Compact(slices.Sorted(slices.Values(v)))
	}
	return out
}

// arnOf returns X of Fn::GetAtt [X, Arn] (or "X.Arn"), else "".
func arnOf(v any) string {
	m, _ := v.(map[string]any)
	if len(m) != 1 {
		return ""
	}
	switch ga := m["Fn::GetAtt"].(type) {
	case []any:
		if len(ga) == 2 && ga[1] == "Arn" {
			s, _ := ga[0].(string)
			return s
		}
	case string:
		if x, ok := strings.CutSuffix(ga, ".Arn"); ok {
			return x
		}
	}
	return ""
}

// sortedKeys returns the keys of m in order.
func sortedKeys[V any](m map[string]V) []string {
	return slices.Sorted(maps.Keys(m))
}

// obj returns m[key] as a mapping (nil if it is none).
func obj(m any, key string) map[string]any {
	mm, _ := m.(map[string]any)
	v, _ := mm[key].(map[string]any)
	return v
}

// props returns the Properties of resource id.
func props(tp template, id string) map[string]any {
	return obj(obj(tp, "Resources")[id], "Properties")
}

// resourcesOfType returns the logical IDs of the resources of type typ, sorted.
func resourcesOfType(tp template, typ string) []string {
	var ids []string
	for id, r := range obj(tp, "Resources") {
		if r, _ := r.(map[string]any); r["Type"] == typ {
			ids = append(ids, id)
		}
	}
	sort.Strings(ids)
	return ids
}

// effective returns a function property as SAM sees it: the function's own
// value, else the Globals.Function one.
func effective(tp template, id, key string) any {
	if v, ok := props(tp, id)[key]; ok {
		return v
	}
	return obj(obj(tp, "Globals"), "Function")[key]
}

// environment returns a function's variables merged over Globals', as SAM
// merges them.
func environment(tp template, id string) map[string]any {
	env := map[string]any{}
	for _, p := range []map[string]any{obj(obj(tp, "Globals"), "Function"), props(tp, id)} {
		for k, v := range obj(obj(p, "Environment"), "Variables") {
			env[k] = v
		}
	}
	return env
}

type routeTarget struct {
	id    string // function logical ID
	apiID any
}

// routes maps "METHOD /path" of every HttpApi event to its function.
func routes(t *testing.T, tp template) map[string]routeTarget {
	t.Helper()
	out := map[string]routeTarget{}
	for _, id := range resourcesOfType(tp, "AWS::Serverless::Function") {
		for name, ev := range obj(props(tp, id), "Events") {
			ev, _ := ev.(map[string]any)
			if ev["Type"] != "HttpApi" {
				continue
			}
			p := obj(ev, "Properties")
			method, _ := p["Method"].(string)
			path, _ := p["Path"].(string)
			if method == "" || path == "" {
				t.Errorf("%s event %s: Method and Path are required", id, name)
				continue
			}
			key := strings.ToUpper(method) + " " + path
			if prev, dup := out[key]; dup {
				t.Errorf("route %s on %s and %s", key, prev.id, id)
			}
			out[key] = routeTarget{id: id, apiID: p["ApiId"]}
		}
	}
	return out
}

// branches flattens lists and Fn::If into the values that can take effect;
// Ref AWS::NoValue drops out.
func branches(v any) []any {
	switch v := v.(type) {
	case nil:
		return nil
	case []any:
		var out []any
		for _, x := range v {
			out = append(out, branches(x)...)
		}
		return out
	case map[string]any:
		if args, ok := v["Fn::If"].([]any); ok && len(v) == 1 && len(args) == 3 {
			return append(branches(args[1]), branches(args[2])...)
		}
		if v["Ref"] == "AWS::NoValue" && len(v) == 1 {
			return nil
		}
	}
	return []any{v}
}

// list returns v as a list (a single value becomes one element).
func list(v any) []any {
	if l, ok := v.([]any); ok {
		return l
	}
	if v == nil {
		return nil
	}
	return []any{v}
}

// strs returns v, a string or list of strings, as strings.
func strs(v any) []string {
	var out []string
	for _, x := range list(v) {
		s, _ := x.(string)
		out = append(out, s)
	}
	return out
}

// refName returns X of {"Ref": X}, else "".
func refName(v any) string {
	m, _ := v.(map[string]any)
	s, _ := m["Ref"].(string)
	if len(m) != 1 {
		return ""
	}
	return s
}

var subTableArn = regexp.MustCompile(`^\$\{([A-Za-z0-9]+)\.Arn\}(/index/[A-Za-z0-9_.*-]+)?$`)

// tableOf returns T of Fn::GetAtt [T, Arn] or Fn::Sub "${T.Arn}/index/…",
// else "".
func tableOf(v any) string {
	m, _ := v.(map[string]any)
	if len(m) != 1 {
		return ""
	}
	if ga, ok := m["Fn::GetAtt"].([]any); ok && len(ga) == 2 && ga[1] == "Arn" {
		s, _ := ga[0].(string)
		return s
	}
	if sub, ok := m["Fn::Sub"].(string); ok {
		if mm := subTableArn.FindStringSubmatch(sub); mm != nil {
			return mm[1]
		}
	}
	return ""
}

// functionDir maps a function's logical ID to its directory under
// functions/: TokenUploadFunction → token-upload.
func functionDir(id string) string {
	var b strings.Builder
	for i, r := range strings.TrimSuffix(id, "Function") {
		if unicode.IsUpper(r) {
			if i > 0 {
				b.WriteByte('-')
			}
			r = unicode.ToLower(r)
		}
		b.WriteRune(r)
	}
	return b.String()
}

// camel maps a functions/ directory to its logical ID prefix:
// token-upload → TokenUpload.
func camel(dir string) string {
	var b strings.Builder
	for _, part := range strings.Split(dir, "-") {
		if part != "" {
			b.WriteString(strings.ToUpper(part[:1]) + part[1:])
		}
	}
	return b.String()
}

// jsonEqual compares two JSON-like values by their encoding.
func jsonEqual(a, b any) bool {
	ja, errA := json.Marshal(a)
	jb, errB := json.Marshal(b)
	return errA == nil && errB == nil && bytes.Equal(ja, jb)
}
