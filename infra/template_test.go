// Package infra_test checks template.yaml, the SAM template offpush deploys
// with: it must validate against the AWS SAM JSON schema (shipped in
// ../shared/schemas) and keep the rules the project relies on: every function
// built by the Makefile for arm64/provided.al2023, every functions/<dir>
// deployed, DynamoDB tables on demand with TTL and point-in-time recovery, and
// inline least-privilege policies only.
package infra_test

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"sort"
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
				t.Errorf("%s: no functions/%s: %v", id, functionDir(id), err)
			}
		})
	}
}

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
	tp := loadTemplate(t)
	tables := resourcesOfType(tp, "AWS::DynamoDB::Table")
	secrets := resourcesOfType(tp, "AWS::SecretsManager::Secret")
	for _, id := range resourcesOfType(tp, "AWS::Serverless::Function") {
		t.Run(id, func(t *testing.T) {
			var granted []string // secrets this function may read
			for _, pol := range branches(props(tp, id)["Policies"]) {
				doc, ok := pol.(map[string]any)
				if !ok || doc["Statement"] == nil {
					t.Errorf("policy %v: want an inline {Statement: […]}, not a managed policy or policy template", pol)
					continue
				}
				for _, st := range branches(doc["Statement"]) {
					st, _ := st.(map[string]any)
					actions := strs(st["Action"])
					resources := list(st["Resource"])
					if st["Effect"] != "Allow" || len(actions) == 0 || len(resources) == 0 {
						t.Errorf("statement %v: want Effect Allow with Action and Resource", st)
						continue
					}
					for _, a := range actions {
						if strings.Contains(a, "*") {
							t.Errorf("action %q: name actions one by one", a)
						}
					}
					for _, r := range resources {
						if r == "*" {
							t.Errorf("statement %v: Resource \"*\"", st)
						}
					}
					service, _, _ := strings.Cut(actions[0], ":")
					for _, a := range actions {
						if s, _, _ := strings.Cut(a, ":"); s != service {
							t.Errorf("statement %v mixes %s and %s actions: one service per statement", st, service, s)
						}
					}
					for _, r := range resources {
						switch service {
						case "dynamodb":
							if !slices.Contains(tables, tableOf(r)) {
								t.Errorf("dynamodb resource %v: want Fn::GetAtt [<table>, Arn] (or Fn::Sub \"${<table>.Arn}/index/…\") of a table in the template", r)
							}
						case "secretsmanager":
							name := refName(r)
							if !slices.Contains(secrets, name) {
								t.Errorf("secretsmanager resource %v: want Ref of a secret in the template", r)
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
				t.Errorf("GetSecretValue on %v, but environment names %v", granted, named)
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

// TestSampleEvents checks infra/events/*.json: API Gateway v2 requests (for
// sam local invoke -e) whose routes the template serves.
func TestSampleEvents(t *testing.T) {
	served := routes(t, loadTemplate(t))
	files, err := filepath.Glob(filepath.Join(repoRoot, "infra", "events", "*.json"))
	if err != nil {
		t.Fatal(err)
	}
	if len(files) == 0 {
		t.Fatal("no sample events in infra/events")
	}
	for _, f := range files {
		t.Run(filepath.Base(f), func(t *testing.T) {
			raw, err := os.ReadFile(f)
			if err != nil {
				t.Fatal(err)
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
		})
	}
}

// ---------------------------------------------------------------- helpers

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
