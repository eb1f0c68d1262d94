// Package argocd tests the Argo CD health checks shipped beside it: the Lua scripts are run by a
// Lua interpreter, as Argo CD runs them, against fixture objects. It holds no code that ships.
package argocd

import (
	"context"
	"flag"
	"fmt"
	"go/ast"
	"go/parser"
	"go/token"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	lua "github.com/yuin/gopher-lua"
	"sigs.k8s.io/yaml"

	lakev1 "github.com/telemetrylake/telemetrylake/api/v1alpha1"
	"github.com/telemetrylake/telemetrylake/test/harness"
)

var update = flag.Bool("update", false, "rewrite argocd-cm.yaml from the .lua files")

// healthChecks are the scripts this directory ships, by the kind they judge. The testdata
// directory of each holds its fixtures and health_test.yaml.
var healthChecks = []struct {
	kind, script, testdata string
}{
	{kind: "TelemetryLake", script: "health-telemetrylake.lua", testdata: "testdata/telemetrylake"},
	{kind: "LakeStorageClass", script: "health-lakestorageclass.lua", testdata: "testdata/lakestorageclass"},
}

// healthCases is a health_test.yaml: the shape of Argo CD's own, except that the expected message
// is a substring, so that a fixture does not have to repeat a whole operator message.
type healthCases struct {
	Tests []struct {
		InputPath    string `json:"inputPath"`
		HealthStatus struct {
			Status          string `json:"status"`
			MessageContains string `json:"messageContains"`
		} `json:"healthStatus"`
	} `json:"tests"`
}

func TestHealthChecksOnFixtures(t *testing.T) {
	for _, hc := range healthChecks {
		script := harness.ReadFile(t, hc.script)
		var cases healthCases
		if err := yaml.UnmarshalStrict(harness.ReadFile(t, filepath.Join(hc.testdata, "health_test.yaml")), &cases); err != nil {
			t.Fatalf("%s/health_test.yaml: %v", hc.testdata, err)
		}
		if len(cases.Tests) == 0 {
			t.Fatalf("%s/health_test.yaml has no tests", hc.testdata)
		}
		for _, c := range cases.Tests {
			want := c.HealthStatus
			t.Run(fmt.Sprintf("%s %s is %s", hc.kind, strings.TrimSuffix(c.InputPath, ".yaml"), want.Status), func(t *testing.T) {
				obj := readObject(t, filepath.Join(hc.testdata, c.InputPath))
				if obj["kind"] != hc.kind {
					t.Fatalf("%s is a %v, not a %s", c.InputPath, obj["kind"], hc.kind)
				}
				status, message := runHealthCheck(t, script, obj)
				if status != want.Status || !strings.Contains(message, want.MessageContains) {
					t.Errorf("got %s %q, want %s with a message containing %q", status, message, want.Status, want.MessageContains)
				}
			})
		}
	}
}

// TestEveryReasonMapsToItsHealth runs each script with Ready=False for every condition reason
// declared in api/v1alpha1, so that a reason added there, or a change to TerminalReasons, cannot
// leave the scripts behind: terminal reasons are Degraded, all others Progressing.
func TestEveryReasonMapsToItsHealth(t *testing.T) {
	reasons := declaredReasons(t)
	for _, terminal := range lakev1.TerminalReasons {
		if !slices.Contains(reasons, terminal) {
			t.Fatalf("TerminalReasons lists %q, which conditions.go does not declare as a Reason constant", terminal)
		}
	}
	for _, hc := range healthChecks {
		script := harness.ReadFile(t, hc.script)
		for _, reason := range reasons {
			if reason == lakev1.ReasonReady {
				continue // only ever the reason of a True condition
			}
			want := "Progressing"
			if slices.Contains(lakev1.TerminalReasons, reason) {
				want = "Degraded"
			}
			t.Run(fmt.Sprintf("%s Ready=False %s is %s", hc.kind, reason, want), func(t *testing.T) {
				obj := readObject(t, filepath.Join(hc.testdata, "healthy.yaml"))
				ready := readyCondition(t, obj)
				ready["status"], ready["reason"], ready["message"] = "False", reason, "what went wrong and what to do"
				status, message := runHealthCheck(t, script, obj)
				if status != want {
					t.Errorf("got %s %q, want %s", status, message, want)
				}
				if wantMessage := reason + ": what went wrong and what to do"; message != wantMessage {
					t.Errorf("message %q, want %q", message, wantMessage)
				}
			})
		}
	}
}

// TestArgoCDConfigMapInlinesTheScripts keeps argocd-cm.yaml, the snippet users paste, equal to the
// scripts. Run `go test ./config/argocd -run ConfigMap -update` after changing a script.
func TestArgoCDConfigMapInlinesTheScripts(t *testing.T) {
	want := argoCDConfigMap(t)
	if *update {
		if err := os.WriteFile("argocd-cm.yaml", want, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	got := harness.ReadFile(t, "argocd-cm.yaml")
	if string(got) != string(want) {
		t.Fatalf("argocd-cm.yaml differs from the .lua files: run `go test ./config/argocd -run ConfigMap -update`")
	}

	// The generated YAML must also read back as exactly the scripts.
	var cm struct {
		Data map[string]string `json:"data"`
	}
	if err := yaml.Unmarshal(got, &cm); err != nil {
		t.Fatalf("argocd-cm.yaml: %v", err)
	}
	if len(cm.Data) != len(healthChecks) {
		t.Errorf("argocd-cm.yaml has %d data keys, want %d", len(cm.Data), len(healthChecks))
	}
	for _, hc := range healthChecks {
		key := configMapKey(hc.kind)
		if cm.Data[key] != string(harness.ReadFile(t, hc.script)) {
			t.Errorf("argocd-cm.yaml: %s is not the content of %s", key, hc.script)
		}
	}
}

// configMapKey is where Argo CD looks for the health check of a kind of this API group.
func configMapKey(kind string) string {
	return "resource.customizations.health." + lakev1.GroupVersion.Group + "_" + kind
}

// argoCDConfigMap renders argocd-cm.yaml: the scripts as literal blocks, byte for byte.
func argoCDConfigMap(t *testing.T) []byte {
	var b strings.Builder
	b.WriteString(`# Argo CD health checks for TelemetryLake and LakeStorageClass. Merge these keys into the
# argocd-cm ConfigMap of your Argo CD, e.g.
#   kubectl -n argocd patch configmap argocd-cm --type merge --patch-file config/argocd/argocd-cm.yaml
# Generated from health-*.lua by ` + "`go test ./config/argocd -run ConfigMap -update`" + `; do not edit.
apiVersion: v1
kind: ConfigMap
metadata:
  name: argocd-cm
  namespace: argocd
  labels:
    app.kubernetes.io/name: argocd-cm
    app.kubernetes.io/part-of: argocd
data:
`)
	for _, hc := range healthChecks {
		script := string(harness.ReadFile(t, hc.script))
		if !strings.HasSuffix(script, "\n") || strings.HasSuffix(script, "\n\n") {
			t.Fatalf("%s must end in exactly one newline to survive a YAML literal block", hc.script)
		}
		b.WriteString("  " + configMapKey(hc.kind) + ": |\n")
		for _, line := range strings.Split(strings.TrimSuffix(script, "\n"), "\n") {
			if line == "" {
				b.WriteString("\n")
				continue
			}
			b.WriteString("    " + line + "\n")
		}
	}
	return []byte(b.String())
}

// runHealthCheck runs script as Argo CD does: obj is the global `obj`, the chunk returns hs, and it
// has a second to do so. Only the libraries Argo CD opens for health scripts by default are
// available (package, base and table; Argo CD adds a reduced os, which these scripts do not use),
// so a script that calls string.* or math.* fails here as it would there.
func runHealthCheck(t *testing.T, script []byte, obj map[string]any) (status, message string) {
	t.Helper()
	L := lua.NewState(lua.Options{SkipOpenLibs: true})
	defer L.Close()
	ctx, cancel := context.WithTimeout(context.Background(), time.Second)
	defer cancel()
	L.SetContext(ctx)
	for _, lib := range []struct {
		name string
		open lua.LGFunction
	}{
		{lua.LoadLibName, lua.OpenPackage},
		{lua.BaseLibName, lua.OpenBase},
		{lua.TabLibName, lua.OpenTable},
	} {
		L.Push(L.NewFunction(lib.open))
		L.Push(lua.LString(lib.name))
		L.Call(1, 0)
	}
	L.SetGlobal("obj", toLua(L, obj))
	if err := L.DoString(string(script)); err != nil {
		t.Fatalf("running the script: %v", err)
	}
	hs, ok := L.Get(-1).(*lua.LTable)
	if !ok {
		t.Fatalf("the script returned %s, not a table", L.Get(-1).Type())
	}
	statusValue, messageValue := hs.RawGetString("status"), hs.RawGetString("message")
	if statusValue.Type() != lua.LTString || messageValue.Type() != lua.LTString {
		t.Fatalf("hs.status is a %s and hs.message a %s; both must be strings", statusValue.Type(), messageValue.Type())
	}
	status, message = statusValue.String(), messageValue.String()
	if !slices.Contains([]string{"Healthy", "Progressing", "Degraded", "Suspended", "Missing", "Unknown"}, status) {
		t.Fatalf("hs.status %q is not an Argo CD health status", status)
	}
	return status, message
}

// toLua converts a JSON-shaped value (what sigs.k8s.io/yaml decodes) into Lua values, as Argo CD
// converts an unstructured object: maps become tables with string keys, lists become 1-based
// arrays, and numbers become Lua numbers.
func toLua(L *lua.LState, v any) lua.LValue {
	switch v := v.(type) {
	case nil:
		return lua.LNil
	case bool:
		return lua.LBool(v)
	case string:
		return lua.LString(v)
	case float64:
		return lua.LNumber(v)
	case int64:
		return lua.LNumber(v)
	case map[string]any:
		table := L.NewTable()
		for key, value := range v {
			table.RawSetString(key, toLua(L, value))
		}
		return table
	case []any:
		table := L.NewTable()
		for _, value := range v {
			table.Append(toLua(L, value))
		}
		return table
	default:
		panic(fmt.Sprintf("toLua: unexpected %T", v))
	}
}

// declaredReasons are the values of the Reason* constants in api/v1alpha1/conditions.go.
func declaredReasons(t *testing.T) []string {
	t.Helper()
	file, err := parser.ParseFile(token.NewFileSet(), filepath.Join("..", "..", "api", "v1alpha1", "conditions.go"), nil, 0)
	if err != nil {
		t.Fatal(err)
	}
	var reasons []string
	for _, decl := range file.Decls {
		gen, ok := decl.(*ast.GenDecl)
		if !ok || gen.Tok != token.CONST {
			continue
		}
		for _, spec := range gen.Specs {
			vs := spec.(*ast.ValueSpec)
			for i, name := range vs.Names {
				lit, ok := vs.Values[i].(*ast.BasicLit)
				if !strings.HasPrefix(name.Name, "Reason") || !ok || lit.Kind != token.STRING {
					continue
				}
				value, err := strconv.Unquote(lit.Value)
				if err != nil {
					t.Fatal(err)
				}
				reasons = append(reasons, value)
			}
		}
	}
	if len(reasons) < len(lakev1.TerminalReasons) {
		t.Fatalf("found only %d Reason constants in conditions.go: %v", len(reasons), reasons)
	}
	return reasons
}

func readyCondition(t *testing.T, obj map[string]any) map[string]any {
	t.Helper()
	status, _ := obj["status"].(map[string]any)
	conditions, _ := status["conditions"].([]any)
	for _, c := range conditions {
		if c, ok := c.(map[string]any); ok && c["type"] == lakev1.ConditionReady {
			return c
		}
	}
	t.Fatal("the fixture has no Ready condition")
	return nil
}

func readObject(t *testing.T, path string) map[string]any {
	t.Helper()
	var obj map[string]any
	if err := yaml.Unmarshal(harness.ReadFile(t, path), &obj); err != nil {
		t.Fatalf("%s: %v", path, err)
	}
	return obj
}
