// Package infra_test checks template.yaml, the SAM template offpush deploys
// with: it must validate against the AWS SAM JSON schema (shipped in
// ../shared/schemas) and keep the rules the project relies on: every function
// built by the Makefile for arm64/provided.al2023, every functions/<dir>
// deployed, DynamoDB tables on demand with TTL and point-in-time recovery,
// inline least-privilege policies only, the bulk-job and planning queues:
// encrypted, each with a dead-letter queue and its alarm, drained by
// message-push and broadcast with partial batch responses and bounded
// concurrency, and the broadcast schedules: one schedule group, a role only
// EventBridge Scheduler of this account may assume and that may only invoke
// broadcast, passed and used by broadcast alone. Each check returns its
// problems, so TestChecksCatchBrokenTemplates can show it fails on a broken
// copy.
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

	"github.com/offpush/offpush/shared/testinfra/lambdagc"
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

// TestBenchmarkedMemory: the benchmarks give the push path the collector
// settings of a message-push container of this size (lambdagc).
func TestBenchmarkedMemory(t *testing.T) {
	tp := loadTemplate(t)
	if got := effective(tp, "MessagePushFunction", "MemorySize"); !jsonEqual(got, lambdagc.MessagePushMemoryMB) {
		t.Errorf("MessagePushFunction: MemorySize = %v, but the benchmarks assume lambdagc.MessagePushMemoryMB = %d", got, lambdagc.MessagePushMemoryMB)
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
// queues, secrets, the schedules of a schedule group, and roles passed to one
// service. Deny statements only take away, so any is fine.
func checkPolicies(tp template) []string {
	var out problems
	tables := resourcesOfType(tp, "AWS::DynamoDB::Table")
	queues := resourcesOfType(tp, "AWS::SQS::Queue")
	secrets := resourcesOfType(tp, "AWS::SecretsManager::Secret")
	groups := resourcesOfType(tp, "AWS::Scheduler::ScheduleGroup")
	roles := resourcesOfType(tp, "AWS::IAM::Role")
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
				if service == "iam" {
					// Passing a role is the one IAM right a function has, and
					// only to the service that will use the role.
					for _, a := range actions {
						if a != "iam:PassRole" {
							out.add("%s: action %s: a function may only iam:PassRole", id, a)
						}
					}
					if passedTo(st) == "" {
						out.add("%s: iam:PassRole without Condition StringEquals iam:PassedToService: the role could be passed to any service", id)
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
					case "scheduler":
						if !slices.Contains(groups, scheduleGroupOf(r)) {
							out.add("%s: scheduler resource %v: want Fn::Sub %q of a schedule group in the template", id, r, schedulesOf("<group>"))
						}
					case "iam":
						if !slices.Contains(roles, arnOf(r)) {
							out.add("%s: iam resource %v: want Fn::GetAtt [<role>, Arn] of a role in the template", id, r)
						}
					default:
						out.add("%s: %s resource %v: no rule here for %s resources; add one before granting them", id, service, r, service)
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
// The planning queues: broadcast both fills and drains PlanQueue. Broadcast's
// schedules live in one group and invoke it with one role.
const (
	bulkQueue     = "BulkQueue"
	bulkDLQ       = "BulkDeadLetterQueue"
	pushWorker    = "MessagePushFunction"
	planQueue     = "PlanQueue"
	planDLQ       = "PlanDeadLetterQueue"
	broadcaster   = "BroadcastFunction"
	scheduleGroup = "BroadcastScheduleGroup"
	schedulerRole = "BroadcastSchedulerRole"
)

// workers maps each function a queue must feed to that queue.
var workers = map[string]string{pushWorker: bulkQueue, broadcaster: planQueue}

// pollActions are what a Lambda SQS event source does with its function's
// role.
var pollActions = []string{"sqs:ReceiveMessage", "sqs:DeleteMessage", "sqs:GetQueueAttributes", "sqs:ChangeMessageVisibility"}

// TestMessagePushGrants pins what message-push may do, resource by
// resource: nothing beyond these tables, queues and secret.
func TestMessagePushGrants(t *testing.T) {
	report(t, checkMessagePushGrants(loadTemplate(t)))
}

func checkMessagePushGrants(tp template) []string {
	return checkGrants(tp, pushWorker, map[string][]string{
		"UsersTable": {"dynamodb:GetItem", "dynamodb:BatchGetItem", "dynamodb:UpdateItem"},
		// Removing a dead token: the user update and the index delete in one
		// transaction.
		"IndexTable": {"dynamodb:GetItem", "dynamodb:DeleteItem", "dynamodb:ConditionCheckItem"},
		// Certificates, jobs, claims, vendor access tokens, captured requests.
		"JobsTable":       {"dynamodb:GetItem", "dynamodb:PutItem", "dynamodb:UpdateItem", "dynamodb:Query", "dynamodb:BatchWriteItem"},
		bulkQueue:         append([]string{"sqs:SendMessage"}, pollActions...),
		bulkDLQ:           {"sqs:SendMessage"},
		"AdminKeysSecret": {"secretsmanager:GetSecretValue"},
	})
}

// TestBroadcastGrants pins what broadcast may do, resource by resource.
func TestBroadcastGrants(t *testing.T) {
	report(t, checkBroadcastGrants(loadTemplate(t)))
}

func checkBroadcastGrants(tp template) []string {
	return checkGrants(tp, broadcaster, map[string][]string{
		// Everyone-audiences: a parallel Scan.
		"UsersTable": {"dynamodb:Scan", "dynamodb:GetItem"},
		// Tag and attribute audiences: a Query per index key.
		"IndexTable": {"dynamodb:Query"},
		// Jobs and their listing, counters, checkpoints, list chunks, claims.
		"JobsTable": {"dynamodb:GetItem", "dynamodb:PutItem", "dynamodb:UpdateItem", "dynamodb:Query", "dynamodb:BatchGetItem"},
		// Batches for message-push (SendMessageBatch is authorised as
		// SendMessage); nothing else of that queue.
		bulkQueue: {"sqs:SendMessage"},
		// Planning tasks: handed out, consumed, handed back.
		planQueue:                  append([]string{"sqs:SendMessage"}, pollActions...),
		schedulesOf(scheduleGroup): {"scheduler:CreateSchedule", "scheduler:UpdateSchedule", "scheduler:DeleteSchedule", "scheduler:GetSchedule"},
		schedulerRole:              {"iam:PassRole"},
		"AdminKeysSecret":          {"secretsmanager:GetSecretValue"},
	})
}

// checkGrants holds function id to exactly the actions want names on each
// resource (a key of grants).
func checkGrants(tp template, id string, want map[string][]string) []string {
	if obj(tp, "Resources")[id] == nil {
		return []string{"no " + id}
	}
	var out problems
	got := grants(tp, id)
	for _, res := range sortedKeys(got) {
		for _, a := range got[res] {
			if !slices.Contains(want[res], a) {
				out.add("%s: allows %s on %s, which it has no use for", id, a, res)
			}
		}
	}
	for _, res := range sortedKeys(want) {
		for _, a := range want[res] {
			if !slices.Contains(got[res], a) {
				out.add("%s: does not allow %s on %s", id, a, res)
			}
		}
	}
	return out
}

// TestAdminLabelGrants: the tags and attributes routes of the admin
// function have the rights their writes need (the admin function may do
// more; checkPolicies holds it to the template's resources).
func TestAdminLabelGrants(t *testing.T) {
	report(t, checkAdminLabelGrants(loadTemplate(t)))
}

func checkAdminLabelGrants(tp template) []string {
	const admin = "AdminFunction"
	var out problems
	served := map[string]bool{}
	for _, ev := range obj(props(tp, admin), "Events") {
		if ev, _ := ev.(map[string]any); ev["Type"] == "HttpApi" {
			p := obj(ev, "Properties")
			m, _ := p["Method"].(string)
			path, _ := p["Path"].(string)
			served[strings.ToUpper(m)+" "+path] = true
		}
	}
	for _, route := range []string{"PUT /v1/users/{userId}/tags", "PUT /v1/users/{userId}/attributes"} {
		if !served[route] {
			out.add("%s: no HttpApi event for %s", admin, route)
		}
	}
	need := map[string][]string{
		// Read with the attribute names in one BatchGetItem; updated (or
		// condition-checked, when its labels do not change) in the
		// transaction with the index entries.
		"UsersTable": {"dynamodb:BatchGetItem", "dynamodb:GetItem", "dynamodb:UpdateItem", "dynamodb:ConditionCheckItem"},
		// tag#/attr# membership entries.
		"IndexTable": {"dynamodb:PutItem", "dynamodb:DeleteItem"},
		// The deployment's attribute names.
		"JobsTable": {"dynamodb:BatchGetItem", "dynamodb:UpdateItem"},
	}
	got := grants(tp, admin)
	for _, res := range sortedKeys(need) {
		for _, a := range need[res] {
			if !slices.Contains(got[res], a) {
				out.add("%s: does not allow %s on %s, which the tags and attributes routes need", admin, a, res)
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
	consumers := map[string][]string{} // function → the queues it consumes
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
			consumers[id] = append(consumers[id], q)
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
			} else if q == planQueue {
				// A planning task may use the whole invocation: one at a time.
				out.inRange(tp, at+": BatchSize", bs, 1, 1)
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
		// A worker hands work back to the queue it drains (message-push the
		// users that failed, broadcast a planning task it ran out of time
		// on): one of its *_QUEUE_URL variables names each queue it consumes.
		env := environment(tp, id)
		for _, q := range slices.Compact(slices.Sorted(slices.Values(consumed))) {
			named := false
			for k, v := range env {
				named = named || strings.HasSuffix(k, "_QUEUE_URL") && refName(v) == q
			}
			if !named {
				out.add("%s: no *_QUEUE_URL variable is Ref %s, the queue it consumes (and hands work back to)", id, q)
			}
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
	for _, id := range sortedKeys(workers) {
		if !slices.Contains(consumers[id], workers[id]) {
			out.add("%s: no SQS event source on %s", id, workers[id])
		}
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
	for _, want := range []string{bulkQueue, bulkDLQ, planQueue, planDLQ} {
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
	for _, pair := range [][2]string{{bulkQueue, bulkDLQ}, {planQueue, planDLQ}} {
		q, dlq := pair[0], pair[1]
		if rp := obj(props(tp, q), "RedrivePolicy"); arnOf(rp["deadLetterTargetArn"]) != dlq {
			out.add("%s: RedrivePolicy.deadLetterTargetArn = %v, want Fn::GetAtt [%s, Arn]", q, rp["deadLetterTargetArn"], dlq)
		}
	}
	outputs := obj(tp, "Outputs")
	for name, q := range map[string]string{"BulkQueueUrl": bulkQueue, "BulkDeadLetterQueueUrl": bulkDLQ, "PlanQueueUrl": planQueue, "PlanDeadLetterQueueUrl": planDLQ} {
		if v := obj(outputs, name)["Value"]; !jsonEqual(v, map[string]any{"Ref": q}) {
			out.add("output %s = %v, want Ref %s", name, v, q)
		}
	}
	return out
}

// TestQueueEnvironment: a function that names a queue in its environment
// names the bulk queue (or its dead-letter queue) or the planning queue, and
// may send to it.
func TestQueueEnvironment(t *testing.T) {
	report(t, checkQueueEnvironment(loadTemplate(t)))
}

func checkQueueEnvironment(tp template) []string {
	var out problems
	dlq := arnOf(obj(props(tp, bulkQueue), "RedrivePolicy")["deadLetterTargetArn"])
	for _, id := range resourcesOfType(tp, "AWS::Serverless::Function") {
		env := environment(tp, id)
		sends := grants(tp, id)
		for name, want := range map[string]string{"OFFPUSH_QUEUE_URL": bulkQueue, "OFFPUSH_DLQ_URL": dlq, "OFFPUSH_PLAN_QUEUE_URL": planQueue} {
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
		for _, name := range []string{"OFFPUSH_QUEUE_URL", "OFFPUSH_PLAN_QUEUE_URL"} {
			if _, ok := env[name]; ok && env["OFFPUSH_QUEUE"] != "sqs" {
				out.add("%s: OFFPUSH_QUEUE = %v with %s set, want sqs", id, env["OFFPUSH_QUEUE"], name)
			}
		}
		if _, ok := env["OFFPUSH_DLQ_URL"]; ok && env["OFFPUSH_QUEUE_URL"] == nil {
			out.add("%s: OFFPUSH_DLQ_URL without OFFPUSH_QUEUE_URL", id)
		}
	}
	return out
}

// TestSchedules checks the campaign wiring: one schedule group; broadcast
// names it, the role its schedules invoke with, and its own ARN, built from
// a fixed function name so that neither the environment nor the role refers
// back to the function (a circular reference); the role may be assumed only
// by EventBridge Scheduler of this account for that group, and may only
// invoke broadcast; broadcast alone manages schedules and passes the role,
// to EventBridge Scheduler only.
func TestSchedules(t *testing.T) {
	report(t, checkSchedules(loadTemplate(t)))
}

// schedulerService is EventBridge Scheduler's service principal.
const schedulerService = "scheduler.amazonaws.com"

func checkSchedules(tp template) []string {
	var out problems
	res := obj(tp, "Resources")
	if groups := resourcesOfType(tp, "AWS::Scheduler::ScheduleGroup"); !slices.Equal(groups, []string{scheduleGroup}) {
		out.add("AWS::Scheduler::ScheduleGroup resources %v, want [%s]", groups, scheduleGroup)
	}
	if n := props(tp, scheduleGroup)["Name"]; subOf(n) != "${AWS::StackName}-broadcasts" {
		out.add("%s: Name = %v, want Fn::Sub ${AWS::StackName}-broadcasts (one group per stack)", scheduleGroup, n)
	}
	if typ := obj(res, schedulerRole)["Type"]; typ != "AWS::IAM::Role" {
		out.add("%s: Type = %v, want AWS::IAM::Role", schedulerRole, typ)
	}

	// The function's name, and the ARN built from it.
	const fixedName = "${AWS::StackName}-broadcast"
	target := functionARN(fixedName)
	if n := props(tp, broadcaster)["FunctionName"]; subOf(n) != fixedName {
		out.add("%s: FunctionName = %v, want Fn::Sub %s (its ARN is built from it)", broadcaster, n, fixedName)
	}
	env := environment(tp, broadcaster)
	if v := env["OFFPUSH_SCHEDULE_GROUP"]; refName(v) != scheduleGroup {
		out.add("%s: OFFPUSH_SCHEDULE_GROUP = %v, want Ref %s", broadcaster, v, scheduleGroup)
	}
	if v := env["OFFPUSH_SCHEDULER_ROLE_ARN"]; arnOf(v) != schedulerRole {
		out.add("%s: OFFPUSH_SCHEDULER_ROLE_ARN = %v, want Fn::GetAtt [%s, Arn]", broadcaster, v, schedulerRole)
	}
	if v := env["OFFPUSH_SCHEDULER_TARGET_ARN"]; subOf(v) != target {
		out.add("%s: OFFPUSH_SCHEDULER_TARGET_ARN = %v, want Fn::Sub %q", broadcaster, v, target)
	}
	for _, v := range env {
		if refersTo(v, broadcaster) {
			out.add("%s: its environment refers to the function itself (%v): a circular reference", broadcaster, v)
		}
	}

	// Who may assume the role: EventBridge Scheduler, for this account's
	// schedule group (confused-deputy protection).
	rp := props(tp, schedulerRole)
	if refersTo(obj(res, schedulerRole), broadcaster) {
		out.add("%s: refers to %s by Ref or Fn::GetAtt: a circular reference (the function's environment names the role); name its ARN with Fn::Sub", schedulerRole, broadcaster)
	}
	trust := branches(obj(rp, "AssumeRolePolicyDocument")["Statement"])
	if len(trust) == 0 {
		out.add("%s: no AssumeRolePolicyDocument statement", schedulerRole)
	}
	for _, st := range trust {
		st, _ := st.(map[string]any)
		if st["Effect"] != "Allow" {
			continue
		}
		principal, _ := st["Principal"].(map[string]any)
		if len(principal) != 1 || !slices.Equal(strs(principal["Service"]), []string{schedulerService}) {
			out.add("%s: trust policy Principal = %v, want {Service: %s} only", schedulerRole, st["Principal"], schedulerService)
		}
		if a := strs(st["Action"]); !slices.Equal(a, []string{"sts:AssumeRole"}) {
			out.add("%s: trust policy Action = %v, want sts:AssumeRole", schedulerRole, a)
		}
		cond := obj(obj(st, "Condition"), "StringEquals")
		if v := cond["aws:SourceAccount"]; refName(v) != "AWS::AccountId" {
			out.add("%s: trust policy without Condition StringEquals aws:SourceAccount = Ref AWS::AccountId (got %v): any account's schedules could use it", schedulerRole, v)
		}
		if v := cond["aws:SourceArn"]; arnOf(v) != scheduleGroup {
			out.add("%s: trust policy without Condition StringEquals aws:SourceArn = Fn::GetAtt [%s, Arn] (got %v)", schedulerRole, scheduleGroup, v)
		}
	}

	// What the role may do: invoke broadcast, nothing else.
	for _, k := range []string{"ManagedPolicyArns", "PermissionsBoundary"} {
		if rp[k] != nil {
			out.add("%s: %s is set: its inline policy alone says what it may do", schedulerRole, k)
		}
	}
	invokes := 0
	for _, pol := range branches(rp["Policies"]) {
		for _, st := range branches(obj(pol, "PolicyDocument")["Statement"]) {
			st, _ := st.(map[string]any)
			if st["Effect"] != "Allow" {
				continue
			}
			if a := strs(st["Action"]); !slices.Equal(a, []string{"lambda:InvokeFunction"}) || st["NotAction"] != nil {
				out.add("%s: allows %v: want lambda:InvokeFunction only", schedulerRole, st["Action"])
			}
			if st["NotResource"] != nil || len(list(st["Resource"])) == 0 {
				out.add("%s: statement %v: want Resource, not NotResource", schedulerRole, st)
			}
			for _, r := range list(st["Resource"]) {
				if subOf(r) != target {
					out.add("%s: lambda:InvokeFunction on %v, want Fn::Sub %q (broadcast only)", schedulerRole, r, target)
				}
			}
			invokes++
		}
	}
	if invokes == 0 {
		out.add("%s: may not invoke %s", schedulerRole, broadcaster)
	}

	// Only broadcast manages schedules and passes roles, and it passes the
	// role to EventBridge Scheduler only.
	for _, id := range resourcesOfType(tp, "AWS::Serverless::Function") {
		for _, st := range policyStatements(tp, id) {
			if st["Effect"] != "Allow" {
				continue
			}
			for _, a := range strs(st["Action"]) {
				switch {
				case id != broadcaster && (strings.HasPrefix(a, "scheduler:") || a == "iam:PassRole"):
					out.add("%s: allows %s: only %s manages schedules", id, a, broadcaster)
				case a == "iam:PassRole" && passedTo(st) != schedulerService:
					out.add("%s: iam:PassRole with iam:PassedToService %q, want %s", id, passedTo(st), schedulerService)
				}
			}
		}
	}
	if v := obj(obj(tp, "Outputs"), "ScheduleGroupName")["Value"]; refName(v) != scheduleGroup {
		out.add("output ScheduleGroupName = %v, want Ref %s", v, scheduleGroup)
	}
	return out
}

// refersTo reports whether v holds a Ref or Fn::GetAtt of resource id, or an
// Fn::Sub naming it.
func refersTo(v any, id string) bool {
	switch v := v.(type) {
	case []any:
		return slices.ContainsFunc(v, func(x any) bool { return refersTo(x, id) })
	case map[string]any:
		if refName(v) == id || arnOf(v) == id {
			return true
		}
		if ga, ok := v["Fn::GetAtt"].([]any); ok && len(ga) > 0 && ga[0] == id {
			return true
		}
		if ga, ok := v["Fn::GetAtt"].(string); ok && strings.HasPrefix(ga, id+".") {
			return true
		}
		if sub := subOf(v); sub != "" && strings.Contains(sub, "${"+id) {
			return true
		}
		for _, x := range v {
			if refersTo(x, id) {
				return true
			}
		}
	}
	return false
}

// TestMakefileFunctions: the Makefile's FUNCTIONS (LogicalId:dir, what
// sam build's make build-<LogicalId> and make build use) lists exactly the
// template's functions, each with its directory.
func TestMakefileFunctions(t *testing.T) {
	report(t, checkMakefileFunctions(loadTemplate(t), makefileFunctions(t)))
}

// makefileFunctions returns the Makefile's FUNCTIONS as make expands it.
func makefileFunctions(t *testing.T) []string {
	t.Helper()
	makeBin, err := exec.LookPath("make")
	if err != nil {
		t.Fatalf("GNU make builds the functions (sam build runs it): %v", err)
	}
	cmd := exec.Command(makeBin, "--no-print-directory", "-s", "-C", repoRoot,
		"--eval", "offpush-print-functions: ; @echo $(FUNCTIONS)", "offpush-print-functions")
	cmd.Env = withoutMakeVars(os.Environ())
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("make: print FUNCTIONS: %v", err)
	}
	return strings.Fields(string(out))
}

func checkMakefileFunctions(tp template, entries []string) []string {
	var out problems
	listed := map[string]bool{}
	for _, e := range entries {
		id, dir, ok := strings.Cut(e, ":")
		switch {
		case !ok || id == "" || dir == "":
			out.add("FUNCTIONS entry %q: want LogicalId:dir", e)
			continue
		case listed[id]:
			out.add("FUNCTIONS lists %s twice", id)
		case obj(obj(tp, "Resources"), id)["Type"] != "AWS::Serverless::Function":
			out.add("FUNCTIONS lists %s, which is no AWS::Serverless::Function of template.yaml", id)
		case dir != functionDir(id):
			out.add("FUNCTIONS maps %s to functions/%s, want functions/%s", id, dir, functionDir(id))
		}
		listed[id] = true
	}
	for _, id := range resourcesOfType(tp, "AWS::Serverless::Function") {
		if !listed[id] {
			out.add("template.yaml's %s is not in the Makefile's FUNCTIONS (want %s:%s)", id, id, functionDir(id))
		}
	}
	return out
}

func TestMakefileFunctionsCheckCatchesBrokenLists(t *testing.T) {
	tp := loadTemplate(t)
	entries := makefileFunctions(t)
	if !slices.Contains(entries, broadcaster+":broadcast") {
		t.Fatalf("FUNCTIONS %v has no %s:broadcast", entries, broadcaster)
	}
	replace := func(old, new string) []string {
		out := slices.Clone(entries)
		out[slices.Index(out, old)] = new
		return out
	}
	tests := []struct {
		name    string
		entries []string
		want    string
	}{
		{"function missing", slices.DeleteFunc(slices.Clone(entries), func(e string) bool { return strings.HasPrefix(e, broadcaster+":") }),
			"template.yaml's BroadcastFunction is not in the Makefile's FUNCTIONS"},
		{"wrong directory", replace(broadcaster+":broadcast", broadcaster+":broadcasts"),
			"FUNCTIONS maps BroadcastFunction to functions/broadcasts, want functions/broadcast"},
		{"unknown function", append(slices.Clone(entries), "CampaignFunction:campaign"),
			"FUNCTIONS lists CampaignFunction, which is no AWS::Serverless::Function"},
		{"no directory", replace(broadcaster+":broadcast", broadcaster),
			`FUNCTIONS entry "BroadcastFunction": want LogicalId:dir`},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got := checkMakefileFunctions(tp, tc.entries)
			if !slices.ContainsFunc(got, func(p string) bool { return strings.Contains(p, tc.want) }) {
				t.Errorf("no problem says %q:\n%s", tc.want, strings.Join(got, "\n"))
			}
		})
	}
	// A template without the function, against the real list.
	broken := loadTemplate(t)
	delete(obj(broken, "Resources"), broadcaster)
	got := checkMakefileFunctions(broken, entries)
	if want := "FUNCTIONS lists BroadcastFunction, which is no AWS::Serverless::Function"; !slices.ContainsFunc(got, func(p string) bool { return strings.Contains(p, want) }) {
		t.Errorf("no problem says %q:\n%s", want, strings.Join(got, "\n"))
	}
}

// TestChecksCatchBrokenTemplates proves the checks above can fail: each
// case breaks one rule in a copy of template.yaml.
func TestChecksCatchBrokenTemplates(t *testing.T) {
	pushEvent := func(tp template) map[string]any {
		return obj(obj(obj(props(tp, pushWorker), "Events"), "BulkBatches"), "Properties")
	}
	planEvent := func(tp template) map[string]any {
		return obj(obj(obj(props(tp, broadcaster), "Events"), "PlanTasks"), "Properties")
	}
	// The scheduler role's first trust statement and first policy statement.
	trustStatement := func(tp template) map[string]any {
		st, _ := list(obj(props(tp, schedulerRole), "AssumeRolePolicyDocument")["Statement"])[0].(map[string]any)
		return st
	}
	roleStatement := func(tp template) map[string]any {
		pol := list(props(tp, schedulerRole)["Policies"])[0]
		st, _ := list(obj(pol, "PolicyDocument")["Statement"])[0].(map[string]any)
		return st
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
		}, "MessagePushFunction: no *_QUEUE_URL variable is Ref BulkQueue, the queue it consumes"},
		{"planner hands tasks back elsewhere", checkSQSEventSources, func(tp template) {
			env(tp, broadcaster)["OFFPUSH_PLAN_QUEUE_URL"] = map[string]any{"Ref": planDLQ}
		}, "BroadcastFunction: no *_QUEUE_URL variable is Ref PlanQueue"},
		{"planning tasks in batches", checkSQSEventSources, func(tp template) {
			planEvent(tp)["BatchSize"] = json.Number("10")
		}, "BroadcastFunction event PlanTasks: BatchSize: 10 is outside [1, 1]"},
		{"plan visibility under 6 broadcast timeouts", checkSQSEventSources, func(tp template) {
			setDefault(tp, "PlanQueueVisibilityTimeout", json.Number("900"))
		}, "PlanQueue: VisibilityTimeout 900 s is under 6 × BroadcastFunction's Timeout (300 s)"},
		{"broadcast timeout raised alone", checkSQSEventSources, func(tp template) {
			setDefault(tp, "BroadcastTimeout", json.Number("600"))
		}, "PlanQueue: VisibilityTimeout 1800 s is under 6 × BroadcastFunction's Timeout (600 s)"},
		{"broadcast on the global timeout", checkSQSEventSources, func(tp template) {
			delete(props(tp, broadcaster), "Timeout")
			setDefault(tp, "PlanQueueVisibilityTimeout", json.Number("30"))
		}, "PlanQueue: VisibilityTimeout 30 s is under 6 × BroadcastFunction's Timeout (10 s)"},
		{"planning queue without dead-letter queue", checkSQSEventSources, func(tp template) {
			delete(props(tp, planQueue), "RedrivePolicy")
		}, "PlanQueue: consumed by BroadcastFunction but has no RedrivePolicy"},
		{"planning concurrency unbounded", checkSQSEventSources, func(tp template) {
			delete(planEvent(tp), "ScalingConfig")
		}, "BroadcastFunction event PlanTasks: no ScalingConfig.MaximumConcurrency"},
		{"broadcast polls every queue", checkSQSEventSources, func(tp template) {
			st := statement(tp, broadcaster, "ConsumeOnlyPlanQueue")
			st["NotResource"] = []any{st["NotResource"], map[string]any{"Fn::GetAtt": []any{bulkQueue, "Arn"}}}
		}, "BroadcastFunction: SAM grants it"},
		{"planning queue event source gone", checkSQSEventSources, func(tp template) {
			delete(obj(props(tp, broadcaster), "Events"), "PlanTasks")
		}, "BroadcastFunction: no SQS event source on PlanQueue"},
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
		{"no planning queue URL output", checkQueues, func(tp template) {
			delete(obj(tp, "Outputs"), "PlanQueueUrl")
		}, "output PlanQueueUrl = <nil>, want Ref PlanQueue"},
		{"planning queue gone", checkQueues, func(tp template) {
			delete(obj(tp, "Resources"), planDLQ)
		}, "no AWS::SQS::Queue PlanDeadLetterQueue"},
		{"planning tasks dead-lettered with the batches", checkQueues, func(tp template) {
			obj(props(tp, planQueue), "RedrivePolicy")["deadLetterTargetArn"] = map[string]any{"Fn::GetAtt": []any{bulkDLQ, "Arn"}}
		}, "PlanQueue: RedrivePolicy.deadLetterTargetArn = map[Fn::GetAtt:[BulkDeadLetterQueue Arn]], want Fn::GetAtt [PlanDeadLetterQueue, Arn]"},
		{"planning maxReceiveCount under 5", checkQueues, func(tp template) {
			setDefault(tp, "PlanMaxReceiveCount", json.Number("1"))
		}, "PlanQueue: RedrivePolicy.maxReceiveCount: default 1 is outside [5, 1000]"},
		{"no alarm on the planning dead-letter queue", checkQueues, func(tp template) {
			delete(obj(tp, "Resources"), "PlanDeadLetterAlarm")
		}, "PlanDeadLetterQueue: no alarm"},
		{"planning dead-letter queue unencrypted", checkQueues, func(tp template) {
			props(tp, planDLQ)["SqsManagedSseEnabled"] = false
		}, "PlanDeadLetterQueue: SqsManagedSseEnabled = false, want true"},
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
		{"plan queue URL of the bulk queue", checkQueueEnvironment, func(tp template) {
			env(tp, broadcaster)["OFFPUSH_PLAN_QUEUE_URL"] = map[string]any{"Ref": bulkQueue}
		}, "BroadcastFunction: OFFPUSH_PLAN_QUEUE_URL = map[Ref:BulkQueue], want Ref PlanQueue"},
		{"plan queue URL without send rights", checkQueueEnvironment, func(tp template) {
			statement(tp, broadcaster, "QueueSend")["Resource"] = map[string]any{"Fn::GetAtt": []any{bulkQueue, "Arn"}}
		}, "BroadcastFunction: OFFPUSH_PLAN_QUEUE_URL names PlanQueue, but it may not sqs:SendMessage there"},
		{"batches enqueued elsewhere", checkQueueEnvironment, func(tp template) {
			env(tp, broadcaster)["OFFPUSH_QUEUE_URL"] = map[string]any{"Ref": planQueue}
		}, "BroadcastFunction: OFFPUSH_QUEUE_URL = map[Ref:PlanQueue], want Ref BulkQueue"},
		// broadcast grants.
		{"broadcast writes users", checkBroadcastGrants, func(tp template) {
			st := statement(tp, broadcaster, "Users")
			st["Action"] = append(list(st["Action"]), "dynamodb:UpdateItem")
		}, "BroadcastFunction: allows dynamodb:UpdateItem on UsersTable, which it has no use for"},
		{"broadcast cannot scan", checkBroadcastGrants, func(tp template) {
			statement(tp, broadcaster, "Users")["Action"] = "dynamodb:GetItem"
		}, "BroadcastFunction: does not allow dynamodb:Scan on UsersTable"},
		{"broadcast drains the bulk queue", checkBroadcastGrants, func(tp template) {
			st := statement(tp, broadcaster, "PlanQueueConsume")
			st["Resource"] = []any{st["Resource"], map[string]any{"Fn::GetAtt": []any{bulkQueue, "Arn"}}}
		}, "BroadcastFunction: allows sqs:ReceiveMessage on BulkQueue"},
		{"broadcast cannot enqueue batches", checkBroadcastGrants, func(tp template) {
			statement(tp, broadcaster, "QueueSend")["Resource"] = map[string]any{"Fn::GetAtt": []any{planQueue, "Arn"}}
		}, "BroadcastFunction: does not allow sqs:SendMessage on BulkQueue"},
		{"broadcast tags schedules", checkBroadcastGrants, func(tp template) {
			st := statement(tp, broadcaster, "Schedules")
			st["Action"] = append(list(st["Action"]), "scheduler:TagResource")
		}, "allows scheduler:TagResource on arn:${AWS::Partition}:scheduler:${AWS::Region}:${AWS::AccountId}:schedule/${BroadcastScheduleGroup}/*"},
		{"schedules of every group", checkBroadcastGrants, func(tp template) {
			statement(tp, broadcaster, "Schedules")["Resource"] = map[string]any{"Fn::Sub": "arn:${AWS::Partition}:scheduler:${AWS::Region}:${AWS::AccountId}:schedule/*"}
		}, "does not allow scheduler:CreateSchedule on arn:${AWS::Partition}:scheduler:${AWS::Region}:${AWS::AccountId}:schedule/${BroadcastScheduleGroup}/*"},
		// Scheduler and IAM resources in function policies.
		{"scheduler actions on every schedule", checkPolicies, func(tp template) {
			statement(tp, broadcaster, "Schedules")["Resource"] = map[string]any{"Fn::Sub": "arn:${AWS::Partition}:scheduler:${AWS::Region}:${AWS::AccountId}:schedule/*"}
		}, "BroadcastFunction: scheduler resource map[Fn::Sub:arn:${AWS::Partition}:scheduler:${AWS::Region}:${AWS::AccountId}:schedule/*]: want Fn::Sub"},
		{"scheduler actions on the group itself", checkPolicies, func(tp template) {
			statement(tp, broadcaster, "Schedules")["Resource"] = map[string]any{"Fn::GetAtt": []any{scheduleGroup, "Arn"}}
		}, "BroadcastFunction: scheduler resource"},
		{"PassRole without PassedToService", checkPolicies, func(tp template) {
			delete(statement(tp, broadcaster, "PassSchedulerRole"), "Condition")
		}, "BroadcastFunction: iam:PassRole without Condition StringEquals iam:PassedToService"},
		{"PassRole on every role", checkPolicies, func(tp template) {
			statement(tp, broadcaster, "PassSchedulerRole")["Resource"] = map[string]any{"Fn::Sub": "arn:${AWS::Partition}:iam::${AWS::AccountId}:role/*"}
		}, "BroadcastFunction: iam resource"},
		{"other IAM actions", checkPolicies, func(tp template) {
			statement(tp, broadcaster, "PassSchedulerRole")["Action"] = []any{"iam:PassRole", "iam:GetRole"}
		}, "BroadcastFunction: action iam:GetRole: a function may only iam:PassRole"},
		{"a service with no rule", checkPolicies, func(tp template) {
			st := statement(tp, broadcaster, "AdminKeys")
			st["Action"] = "lambda:InvokeFunction"
			st["Resource"] = map[string]any{"Fn::GetAtt": []any{broadcaster, "Arn"}}
		}, "BroadcastFunction: lambda resource map[Fn::GetAtt:[BroadcastFunction Arn]]: no rule here for lambda resources"},
		// Admin label routes.
		{"no tags route", checkAdminLabelGrants, func(tp template) {
			delete(obj(props(tp, "AdminFunction"), "Events"), "PutUserTags")
		}, "AdminFunction: no HttpApi event for PUT /v1/users/{userId}/tags"},
		{"no condition check on the user", checkAdminLabelGrants, func(tp template) {
			st := statement(tp, "AdminFunction", "Users")
			st["Action"] = slices.DeleteFunc(slices.Clone(list(st["Action"])), func(a any) bool { return a == "dynamodb:ConditionCheckItem" })
		}, "AdminFunction: does not allow dynamodb:ConditionCheckItem on UsersTable"},
		{"no index deletes", checkAdminLabelGrants, func(tp template) {
			st := statement(tp, "AdminFunction", "Index")
			st["Action"] = slices.DeleteFunc(slices.Clone(list(st["Action"])), func(a any) bool { return a == "dynamodb:DeleteItem" })
		}, "AdminFunction: does not allow dynamodb:DeleteItem on IndexTable"},
		// Schedules.
		{"role assumable by Lambda", checkSchedules, func(tp template) {
			trustStatement(tp)["Principal"] = map[string]any{"Service": "lambda.amazonaws.com"}
		}, "BroadcastSchedulerRole: trust policy Principal = map[Service:lambda.amazonaws.com], want {Service: scheduler.amazonaws.com} only"},
		{"role assumable by anyone too", checkSchedules, func(tp template) {
			trustStatement(tp)["Principal"] = map[string]any{"Service": []any{schedulerService, "events.amazonaws.com"}}
		}, "BroadcastSchedulerRole: trust policy Principal"},
		{"role without SourceAccount", checkSchedules, func(tp template) {
			delete(obj(trustStatement(tp), "Condition")["StringEquals"].(map[string]any), "aws:SourceAccount")
		}, "BroadcastSchedulerRole: trust policy without Condition StringEquals aws:SourceAccount"},
		{"role without any condition", checkSchedules, func(tp template) {
			delete(trustStatement(tp), "Condition")
		}, "aws:SourceArn = Fn::GetAtt [BroadcastScheduleGroup, Arn]"},
		{"role invokes every function", checkSchedules, func(tp template) {
			roleStatement(tp)["Resource"] = map[string]any{"Fn::Sub": "arn:${AWS::Partition}:lambda:${AWS::Region}:${AWS::AccountId}:function:*"}
		}, "BroadcastSchedulerRole: lambda:InvokeFunction on map[Fn::Sub:arn:${AWS::Partition}:lambda:${AWS::Region}:${AWS::AccountId}:function:*]"},
		{"role does more", checkSchedules, func(tp template) {
			roleStatement(tp)["Action"] = []any{"lambda:InvokeFunction", "sqs:SendMessage"}
		}, "BroadcastSchedulerRole: allows [lambda:InvokeFunction sqs:SendMessage]: want lambda:InvokeFunction only"},
		{"role with a managed policy", checkSchedules, func(tp template) {
			props(tp, schedulerRole)["ManagedPolicyArns"] = []any{"arn:aws:iam::aws:policy/service-role/AWSLambdaRole"}
		}, "BroadcastSchedulerRole: ManagedPolicyArns is set"},
		{"role names the function by GetAtt", checkSchedules, func(tp template) {
			roleStatement(tp)["Resource"] = map[string]any{"Fn::GetAtt": []any{broadcaster, "Arn"}}
		}, "BroadcastSchedulerRole: refers to BroadcastFunction by Ref or Fn::GetAtt: a circular reference"},
		{"function without a fixed name", checkSchedules, func(tp template) {
			delete(props(tp, broadcaster), "FunctionName")
		}, "BroadcastFunction: FunctionName = <nil>, want Fn::Sub ${AWS::StackName}-broadcast"},
		{"target ARN of another name", checkSchedules, func(tp template) {
			env(tp, broadcaster)["OFFPUSH_SCHEDULER_TARGET_ARN"] = map[string]any{"Fn::Sub": "arn:${AWS::Partition}:lambda:${AWS::Region}:${AWS::AccountId}:function:${AWS::StackName}-broadcaster"}
		}, "BroadcastFunction: OFFPUSH_SCHEDULER_TARGET_ARN"},
		{"target ARN by GetAtt", checkSchedules, func(tp template) {
			env(tp, broadcaster)["OFFPUSH_SCHEDULER_TARGET_ARN"] = map[string]any{"Fn::GetAtt": []any{broadcaster, "Arn"}}
		}, "BroadcastFunction: its environment refers to the function itself"},
		{"role ARN of another role", checkSchedules, func(tp template) {
			env(tp, broadcaster)["OFFPUSH_SCHEDULER_ROLE_ARN"] = "arn:aws:iam::123456789012:role/other"
		}, "BroadcastFunction: OFFPUSH_SCHEDULER_ROLE_ARN = arn:aws:iam::123456789012:role/other, want Fn::GetAtt [BroadcastSchedulerRole, Arn]"},
		{"schedule group not named", checkSchedules, func(tp template) {
			delete(env(tp, broadcaster), "OFFPUSH_SCHEDULE_GROUP")
		}, "BroadcastFunction: OFFPUSH_SCHEDULE_GROUP = <nil>, want Ref BroadcastScheduleGroup"},
		{"schedule group of a fixed name", checkSchedules, func(tp template) {
			props(tp, scheduleGroup)["Name"] = "offpush-broadcasts"
		}, "BroadcastScheduleGroup: Name = offpush-broadcasts, want Fn::Sub ${AWS::StackName}-broadcasts"},
		{"role passed to Lambda", checkSchedules, func(tp template) {
			obj(statement(tp, broadcaster, "PassSchedulerRole")["Condition"], "StringEquals")["iam:PassedToService"] = "lambda.amazonaws.com"
		}, `BroadcastFunction: iam:PassRole with iam:PassedToService "lambda.amazonaws.com", want scheduler.amazonaws.com`},
		{"another function manages schedules", checkSchedules, func(tp template) {
			st := statement(tp, "AdminFunction", "Jobs")
			st["Action"] = append(list(st["Action"]), "scheduler:DeleteSchedule")
		}, "AdminFunction: allows scheduler:DeleteSchedule: only BroadcastFunction manages schedules"},
		{"no schedule group output", checkSchedules, func(tp template) {
			delete(obj(tp, "Outputs"), "ScheduleGroupName")
		}, "output ScheduleGroupName = <nil>, want Ref BroadcastScheduleGroup"},
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
// invoke -e: API Gateway v2 requests whose routes the template serves, SQS
// events (a top-level "Records") carrying bulk-job batches or planning tasks
// to a function consuming that queue, and EventBridge Scheduler's invocation
// of broadcast ({"scheduledBroadcast": id}).
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
	kinds := map[string]int{}
	for _, f := range files {
		t.Run(filepath.Base(f), func(t *testing.T) {
			raw, err := os.ReadFile(f)
			if err != nil {
				t.Fatal(err)
			}
			kind, ps := checkSample(tp, served, raw)
			kinds[kind]++
			report(t, ps)
		})
	}
	for _, k := range []string{sampleHTTP, sampleBulk, samplePlan, sampleScheduled} {
		if kinds[k] == 0 {
			t.Errorf("no sample %s in infra/events", k)
		}
	}
}

// What a sample event is.
const (
	sampleHTTP      = "HTTP API request"
	sampleBulk      = "SQS event of bulk batches"
	samplePlan      = "SQS event of planning tasks"
	sampleScheduled = "scheduler invocation"
)

// checkSample checks one sample event and says what it is.
func checkSample(tp template, served map[string]routeTarget, raw []byte) (kind string, _ []string) {
	var out problems
	var top map[string]json.RawMessage
	if err := json.Unmarshal(raw, &top); err != nil {
		out.add("not a JSON object: %v", err)
		return "", out
	}
	if _, ok := top["Records"]; ok {
		return checkSQSSample(tp, raw)
	}
	if _, ok := top["scheduledBroadcast"]; ok {
		return sampleScheduled, checkScheduledSample(tp, raw)
	}
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.DisallowUnknownFields()
	var ev events.APIGatewayV2HTTPRequest
	if err := dec.Decode(&ev); err != nil {
		out.add("not an APIGatewayV2HTTPRequest: %v", err)
		return sampleHTTP, out
	}
	if ev.Version != "2.0" {
		out.add("version = %q, want 2.0", ev.Version)
	}
	if _, ok := served[ev.RouteKey]; !ok {
		out.add("routeKey %q is not a route of template.yaml", ev.RouteKey)
	}
	method, route, _ := strings.Cut(ev.RouteKey, " ")
	path := route
	for k, v := range ev.PathParameters {
		path = strings.ReplaceAll(path, "{"+k+"}", v)
	}
	rc := ev.RequestContext
	if rc.RouteKey != ev.RouteKey || rc.HTTP.Method != method || rc.HTTP.Path != path || ev.RawPath != path {
		out.add("routeKey %q, path parameters %v disagree with rawPath %q, requestContext %q %s %s",
			ev.RouteKey, ev.PathParameters, ev.RawPath, rc.RouteKey, rc.HTTP.Method, rc.HTTP.Path)
	}
	if ev.Body != "" && !json.Valid([]byte(ev.Body)) {
		out.add("body is not JSON: %s", ev.Body)
	}
	if n := ev.Headers["content-length"]; n != "" && n != strconv.Itoa(len(ev.Body)) {
		out.add("content-length %s, body is %d bytes", n, len(ev.Body))
	}
	return sampleHTTP, out
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

// planTask is a planning-task message body (the broadcast package's Task).
type planTask struct {
	JobID    string `json:"jobId"`
	Segment  int    `json:"segment"`
	Segments int    `json:"segments"`
}

// consumersOf returns the functions with an SQS event source on queue q.
func consumersOf(tp template, q string) []string {
	var out []string
	for _, id := range resourcesOfType(tp, "AWS::Serverless::Function") {
		for _, ev := range obj(props(tp, id), "Events") {
			if ev, _ := ev.(map[string]any); ev["Type"] == "SQS" && arnOf(obj(ev, "Properties")["Queue"]) == q {
				out = append(out, id)
			}
		}
	}
	return out
}

// checkSQSSample checks an SQS event: its records come from SQS, and their
// bodies are all bulk batches or all planning tasks (those with a
// "segments"), for a queue a function consumes.
func checkSQSSample(tp template, raw []byte) (string, []string) {
	var out problems
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.DisallowUnknownFields()
	var ev events.SQSEvent
	if err := dec.Decode(&ev); err != nil {
		out.add("not an SQSEvent: %v", err)
		return "", out
	}
	if len(ev.Records) == 0 {
		out.add("no records")
		return "", out
	}
	var kind string
	for i, r := range ev.Records {
		if r.EventSource != "aws:sqs" || !strings.HasPrefix(r.EventSourceARN, "arn:aws:sqs:"+r.AWSRegion+":") {
			out.add("record %d: eventSource %q, eventSourceARN %q, awsRegion %q: want an SQS queue of the region", i, r.EventSource, r.EventSourceARN, r.AWSRegion)
		}
		if r.MessageId == "" || r.ReceiptHandle == "" || r.Attributes["ApproximateReceiveCount"] == "" {
			out.add("record %d: want messageId, receiptHandle and attributes.ApproximateReceiveCount", i)
		}
		if sum := fmt.Sprintf("%x", md5.Sum([]byte(r.Body))); r.Md5OfBody != sum {
			out.add("record %d: md5OfBody %s, body's MD5 is %s", i, r.Md5OfBody, sum)
		}
		var keys map[string]json.RawMessage
		_ = json.Unmarshal([]byte(r.Body), &keys)
		bd := json.NewDecoder(strings.NewReader(r.Body))
		bd.DisallowUnknownFields()
		k := sampleBulk
		if _, ok := keys["segments"]; ok {
			k = samplePlan
			var task planTask
			if err := bd.Decode(&task); err != nil {
				out.add("record %d: body is not a planning task: %v", i, err)
			} else if task.JobID == "" || task.Segments < 1 || task.Segment < 0 || task.Segment >= task.Segments {
				out.add("record %d: planning task %+v: want a jobId and segment %d of %d in [0, segments)", i, task, task.Segment, task.Segments)
			}
		} else {
			var b bulkBatch
			if err := bd.Decode(&b); err != nil {
				out.add("record %d: body is not a bulk batch: %v", i, err)
			} else if b.JobID == "" || b.Batch < 0 || len(b.Users) == 0 || len(b.Users) > 500 || b.Attempt < 1 {
				out.add("record %d: batch %+v: want a jobId, batch ≥ 0, 1 to 500 users and attempt ≥ 1", i, b)
			}
		}
		if kind != "" && k != kind {
			out.add("record %d: a %s among records of a %s: one queue, one kind", i, k, kind)
		}
		kind = k
	}
	q := map[string]string{sampleBulk: bulkQueue, samplePlan: planQueue}[kind]
	if len(consumersOf(tp, q)) == 0 {
		out.add("a %s, but no function of template.yaml consumes %s", kind, q)
	}
	return kind, out
}

// checkScheduledSample checks what an EventBridge Scheduler schedule hands
// broadcast: exactly {"scheduledBroadcast": "<id>"}, to a function that
// schedules name as their target.
func checkScheduledSample(tp template, raw []byte) []string {
	var out problems
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.DisallowUnknownFields()
	var inv struct {
		ScheduledBroadcast string `json:"scheduledBroadcast"`
	}
	if err := dec.Decode(&inv); err != nil {
		out.add("not a scheduler invocation {\"scheduledBroadcast\": id}: %v", err)
	} else if inv.ScheduledBroadcast == "" {
		out.add("scheduledBroadcast is empty")
	}
	var targets []string
	for _, id := range resourcesOfType(tp, "AWS::Serverless::Function") {
		if environment(tp, id)["OFFPUSH_SCHEDULER_TARGET_ARN"] != nil {
			targets = append(targets, id)
		}
	}
	if len(targets) == 0 {
		out.add("a scheduler invocation, but no function of template.yaml is a schedule target (OFFPUSH_SCHEDULER_TARGET_ARN)")
	}
	return out
}

// TestSampleChecksCatchBrokenSamples proves the sample checks can fail.
func TestSampleChecksCatchBrokenSamples(t *testing.T) {
	sqsEvent := func(bodies ...string) string {
		var recs []map[string]any
		for i, b := range bodies {
			recs = append(recs, map[string]any{
				"messageId": fmt.Sprintf("m%d", i), "receiptHandle": "rh", "body": b,
				"attributes":     map[string]string{"ApproximateReceiveCount": "1"},
				"md5OfBody":      fmt.Sprintf("%x", md5.Sum([]byte(b))),
				"eventSource":    "aws:sqs",
				"eventSourceARN": "arn:aws:sqs:us-east-1:123456789012:q",
				"awsRegion":      "us-east-1",
			})
		}
		raw, err := json.Marshal(map[string]any{"Records": recs})
		if err != nil {
			t.Fatal(err)
		}
		return string(raw)
	}
	const (
		task  = `{"jobId":"b1","segment":0,"segments":8}`
		batch = `{"jobId":"b1","batch":0,"users":["alice"],"attempt":1}`
	)
	tests := []struct {
		name   string
		mutate func(template) // nil: the template as it is
		sample string
		want   string
	}{
		{"scheduler invocation with another field", nil, `{"scheduledBroadcast":"b1","at":"now"}`, `unknown field "at"`},
		{"scheduler invocation without an ID", nil, `{"scheduledBroadcast":""}`, "scheduledBroadcast is empty"},
		{"scheduler invocation, no schedule target", func(tp template) {
			delete(obj(obj(props(tp, broadcaster), "Environment"), "Variables"), "OFFPUSH_SCHEDULER_TARGET_ARN")
		}, `{"scheduledBroadcast":"b1"}`, "no function of template.yaml is a schedule target"},
		{"planning task past its last segment", nil, sqsEvent(`{"jobId":"b1","segment":8,"segments":8}`), "segment 8 of 8"},
		{"planning task without a job", nil, sqsEvent(`{"segment":0,"segments":1}`), "want a jobId"},
		{"planning task with another field", nil, sqsEvent(`{"jobId":"b1","segment":0,"segments":1,"users":[]}`), "body is not a planning task"},
		{"planning task, no planning queue consumer", func(tp template) {
			delete(obj(props(tp, broadcaster), "Events"), "PlanTasks")
		}, sqsEvent(task), "no function of template.yaml consumes PlanQueue"},
		{"bulk batch, no bulk queue consumer", func(tp template) {
			delete(obj(props(tp, pushWorker), "Events"), "BulkBatches")
		}, sqsEvent(batch), "no function of template.yaml consumes BulkQueue"},
		{"planning task among bulk batches", nil, sqsEvent(batch, task), "one queue, one kind"},
		{"bulk batch without users", nil, sqsEvent(`{"jobId":"b1","batch":0,"users":[],"attempt":1}`), "1 to 500 users"},
		{"md5 of another body", nil, strings.Replace(sqsEvent(task), `"segments\":8`, `"segments\":7`, 1), "md5OfBody"},
		{"HTTP request of no route", nil, `{"version":"2.0","routeKey":"POST /v1/campaigns","rawPath":"/v1/campaigns","requestContext":{"routeKey":"POST /v1/campaigns","http":{"method":"POST","path":"/v1/campaigns"}}}`,
			`routeKey "POST /v1/campaigns" is not a route`},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			tp := loadTemplate(t)
			if tc.mutate != nil {
				tc.mutate(tp)
			}
			_, got := checkSample(tp, routes(t, tp), []byte(tc.sample))
			if !slices.ContainsFunc(got, func(p string) bool { return strings.Contains(p, tc.want) }) {
				t.Errorf("no problem says %q:\n%s", tc.want, strings.Join(got, "\n"))
			}
		})
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
// ID, for Fn::GetAtt [X, Arn] and Ref X; the string of an Fn::Sub) to the
// actions allowed on it, sorted.
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
				key = subOf(r)
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

// subOf returns S of {"Fn::Sub": S} (a string), else "".
func subOf(v any) string {
	m, _ := v.(map[string]any)
	s, _ := m["Fn::Sub"].(string)
	if len(m) != 1 {
		return ""
	}
	return s
}

// schedulesOf is the Fn::Sub string of the ARNs of every schedule in the
// schedule group with logical ID group.
func schedulesOf(group string) string {
	return "arn:${AWS::Partition}:scheduler:${AWS::Region}:${AWS::AccountId}:schedule/${" + group + "}/*"
}

var subSchedules = regexp.MustCompile(`^arn:\$\{AWS::Partition\}:scheduler:\$\{AWS::Region\}:\$\{AWS::AccountId\}:schedule/\$\{([A-Za-z0-9]+)\}/\*$`)

// scheduleGroupOf returns G of Fn::Sub schedulesOf(G), else "".
func scheduleGroupOf(v any) string {
	if m := subSchedules.FindStringSubmatch(subOf(v)); m != nil {
		return m[1]
	}
	return ""
}

// functionARN is the Fn::Sub string of the ARN of the function named by the
// Fn::Sub string name.
func functionARN(name string) string {
	return "arn:${AWS::Partition}:lambda:${AWS::Region}:${AWS::AccountId}:function:" + name
}

// passedTo returns the service a PassRole statement's Condition
// StringEquals iam:PassedToService names, else "".
func passedTo(st map[string]any) string {
	s, _ := obj(obj(st, "Condition"), "StringEquals")["iam:PassedToService"].(string)
	return s
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
