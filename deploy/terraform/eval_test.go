package terraform

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"os"
	"sort"
	"strings"
	"testing"

	"github.com/hashicorp/hcl/v2"
	"github.com/hashicorp/hcl/v2/ext/typeexpr"
	"github.com/hashicorp/hcl/v2/hclsyntax"
	"github.com/zclconf/go-cty/cty"
	"github.com/zclconf/go-cty/cty/convert"
	"github.com/zclconf/go-cty/cty/function"
	"github.com/zclconf/go-cty/cty/function/stdlib"
	ctyjson "github.com/zclconf/go-cty/cty/json"
)

// The evaluator below runs every expression of a module for given input
// variables, as terraform plan would before asking the providers: Terraform's
// expression language is HCL's, and its collection functions are go-cty's
// stdlib, so type errors (inconsistent conditionals, a misspelt attribute of
// a typed variable, a wrong function argument) and failing variable
// validations and preconditions show up here. Resources, data sources and
// module outputs evaluate to unknown values, as they do at plan time.

// functions are the Terraform functions the module uses.
func functions() map[string]function.Function {
	to := func(ty cty.Type) function.Function {
		return function.New(&function.Spec{
			Params: []function.Parameter{{Name: "v", Type: cty.DynamicPseudoType, AllowUnknown: true, AllowNull: true, AllowDynamicType: true}},
			Type: func(args []cty.Value) (cty.Type, error) {
				if ty.IsCollectionType() && ty.ElementType() == cty.DynamicPseudoType && args[0].Type().IsTupleType() {
					elems := args[0].Type().TupleElementTypes()
					if len(elems) == 0 {
						return ty, nil
					}
					et, _ := convert.UnifyUnsafe(elems)
					if et == cty.NilType {
						return cty.NilType, fmt.Errorf("elements of different types")
					}
					if ty.IsSetType() {
						return cty.Set(et), nil
					}
					return cty.List(et), nil
				}
				return ty, nil
			},
			Impl: func(args []cty.Value, ret cty.Type) (cty.Value, error) { return convert.Convert(args[0], ret) },
		})
	}
	stringOf := func(f func(cty.Value) (string, error)) function.Function {
		return function.New(&function.Spec{
			Params: []function.Parameter{{Name: "v", Type: cty.DynamicPseudoType, AllowUnknown: true, AllowDynamicType: true, AllowNull: true}},
			Type:   function.StaticReturnType(cty.String),
			Impl: func(args []cty.Value, _ cty.Type) (cty.Value, error) {
				if !args[0].IsWhollyKnown() {
					return cty.UnknownVal(cty.String), nil
				}
				s, err := f(args[0])
				return cty.StringVal(s), err
			},
		})
	}
	encode := func(v cty.Value) (string, error) {
		b, err := ctyjson.Marshal(v, v.Type())
		return string(b), err
	}
	return map[string]function.Function{
		"alltrue": function.New(&function.Spec{
			Params: []function.Parameter{{Name: "list", Type: cty.List(cty.Bool), AllowUnknown: true}},
			Type:   function.StaticReturnType(cty.Bool),
			Impl: func(args []cty.Value, _ cty.Type) (cty.Value, error) {
				if !args[0].IsWhollyKnown() {
					return cty.UnknownVal(cty.Bool), nil
				}
				for _, v := range args[0].AsValueSlice() {
					if v.IsNull() || v.False() {
						return cty.False, nil
					}
				}
				return cty.True, nil
			},
		}),
		"contains":   stdlib.ContainsFunc,
		"floor":      stdlib.FloorFunc,
		"jsonencode": stdlib.JSONEncodeFunc,
		// YAML is a superset of JSON: the same checks, the same result type.
		"yamlencode": stringOf(encode),
		"keys":       stdlib.KeysFunc,
		// Terraform's length also counts a string's characters.
		"length": function.New(&function.Spec{
			Params: []function.Parameter{{Name: "v", Type: cty.DynamicPseudoType, AllowUnknown: true, AllowDynamicType: true, AllowMarked: true}},
			Type:   function.StaticReturnType(cty.Number),
			Impl: func(args []cty.Value, _ cty.Type) (cty.Value, error) {
				v, marks := args[0].Unmark()
				if v.Type() == cty.String {
					if !v.IsKnown() {
						return cty.UnknownVal(cty.Number).WithMarks(marks), nil
					}
					return stdlib.Strlen(v)
				}
				n, err := stdlib.Length(v)
				return n.WithMarks(marks), err
			},
		}),
		"merge": stdlib.MergeFunc,
		"sha256": stringOf(func(v cty.Value) (string, error) {
			if v.Type() != cty.String {
				return "", fmt.Errorf("sha256 wants a string, got %s", v.Type().FriendlyName())
			}
			sum := sha256.Sum256([]byte(v.AsString()))
			return hex.EncodeToString(sum[:]), nil
		}),
		"tomap":    to(cty.Map(cty.DynamicPseudoType)),
		"toset":    to(cty.Set(cty.DynamicPseudoType)),
		"tostring": to(cty.String),
		"values":   stdlib.ValuesFunc,
	}
}

// evaluator evaluates one module's files for one set of input variables.
type evaluator struct {
	m        *module
	bodies   []*hclsyntax.Body // the parsed files
	vars     map[string]cty.Value
	locals   map[string]cty.Value
	problems []string
}

func (e *evaluator) problem(rng hcl.Range, format string, args ...any) {
	e.problems = append(e.problems, fmt.Sprintf("%s:%d: %s", rng.Filename, rng.Start.Line, fmt.Sprintf(format, args...)))
}

func (e *evaluator) diags(diags hcl.Diagnostics) {
	for _, d := range diags {
		if d.Severity == hcl.DiagError {
			e.problems = append(e.problems, d.Error())
		}
	}
}

// evaluate runs every expression of the module m (parsed from dir) with the
// given input variables (the others take their defaults) and returns the
// problems: evaluation errors, failed validations and preconditions.
func evaluate(tb testing.TB, dir string, inputs map[string]cty.Value) []string {
	tb.Helper()
	fsys := os.DirFS(".")
	m, problems := validate(tb, fsys, dir)
	if len(problems) > 0 {
		tb.Fatalf("module %s does not validate: %v", dir, problems)
	}
	e := &evaluator{m: m, vars: map[string]cty.Value{}, locals: map[string]cty.Value{}}
	e.bodies = m.bodies
	for name := range inputs {
		if m.variables[name] == nil {
			tb.Fatalf("input %q is not a variable of %s", name, dir)
		}
	}
	e.inputVariables(inputs)
	e.evalLocals()
	for _, body := range e.bodies {
		for _, b := range body.Blocks {
			e.evalTopBlock(b)
		}
	}
	sort.Strings(e.problems)
	return e.problems
}

// inputVariables sets each variable from inputs or its default, converted to
// its type as Terraform does, then runs its validations.
func (e *evaluator) inputVariables(inputs map[string]cty.Value) {
	for name, b := range e.m.variables {
		ty, defaults, diags := typeexpr.TypeConstraintWithDefaults(b.Body.Attributes["type"].Expr)
		e.diags(diags)
		v, given := inputs[name]
		if !given {
			da, ok := b.Body.Attributes["default"]
			if !ok {
				e.problem(b.DefRange(), "required variable %q has no input", name)
				continue
			}
			v, diags = da.Expr.Value(nil)
			e.diags(diags)
		}
		if defaults != nil {
			v = defaults.Apply(v)
		}
		cv, err := convert.Convert(v, ty)
		if err != nil {
			e.problem(b.DefRange(), "variable %q: %v", name, err)
			continue
		}
		if sa := b.Body.Attributes["sensitive"]; sa != nil {
			if sv, _ := sa.Expr.Value(nil); sv.Type() == cty.Bool && sv.True() {
				cv = cv.Mark("sensitive")
			}
		}
		e.vars[name] = cv
	}
	for name, b := range e.m.variables {
		for _, vb := range b.Body.Blocks {
			if vb.Type == "validation" {
				e.check(vb, fmt.Sprintf("variable %q", name), e.ctx(nil))
			}
		}
	}
}

// evalLocals evaluates locals in dependency order.
func (e *evaluator) evalLocals() {
	pending := map[string]*hclsyntax.Attribute{}
	for name, a := range e.m.locals {
		pending[name] = a
	}
	for len(pending) > 0 {
		progress := false
		for name, a := range pending {
			ready := true
			for _, t := range a.Expr.Variables() {
				if dep, ok := attrName(t, 1); t.RootName() == "local" && ok && pending[dep] != nil {
					ready = false
				}
			}
			if !ready {
				continue
			}
			v, diags := a.Expr.Value(e.ctx(nil))
			e.diags(diags)
			e.locals[name] = v
			delete(pending, name)
			progress = true
		}
		if !progress {
			for name, a := range pending {
				e.problem(a.SrcRange, "local %q is part of a reference cycle", name)
			}
			return
		}
	}
}

// ctx is the evaluation context; extra holds each, count and iterators.
func (e *evaluator) ctx(extra map[string]cty.Value) *hcl.EvalContext {
	vars := map[string]cty.Value{
		"var":   cty.ObjectVal(e.vars),
		"local": cty.ObjectVal(e.locals),
		"path":  cty.ObjectVal(map[string]cty.Value{"module": cty.StringVal("."), "root": cty.StringVal(".")}),
	}
	unknown := func(names map[string]bool) cty.Value {
		byType := map[string]map[string]cty.Value{}
		for key := range names {
			typ, name, _ := strings.Cut(key, ".")
			if byType[typ] == nil {
				byType[typ] = map[string]cty.Value{}
			}
			byType[typ][name] = cty.DynamicVal
		}
		out := map[string]cty.Value{}
		for typ, names := range byType {
			out[typ] = cty.ObjectVal(names)
		}
		return cty.ObjectVal(out)
	}
	for typ, v := range unknown(e.m.resources).AsValueMap() {
		vars[typ] = v
	}
	vars["data"] = unknown(e.m.data)
	mods := map[string]cty.Value{}
	for name := range e.m.modules {
		mods[name] = cty.DynamicVal
	}
	vars["module"] = cty.ObjectVal(mods)
	for k, v := range extra {
		vars[k] = v
	}
	return &hcl.EvalContext{Variables: vars, Functions: functions()}
}

// check evaluates a validation, precondition or postcondition block.
func (e *evaluator) check(b *hclsyntax.Block, what string, ctx *hcl.EvalContext) {
	ca := b.Body.Attributes["condition"]
	if ca == nil {
		e.problem(b.DefRange(), "%s: %s without condition", what, b.Type)
		return
	}
	v, diags := ca.Expr.Value(ctx)
	e.diags(diags)
	if diags.HasErrors() || !v.IsKnown() {
		return
	}
	v, _ = v.Unmark()
	if v.Type() != cty.Bool || v.IsNull() {
		e.problem(ca.SrcRange, "%s: condition is not a bool", what)
		return
	}
	if v.False() {
		msg := "(no message)"
		if ma := b.Body.Attributes["error_message"]; ma != nil {
			mv, _ := ma.Expr.Value(ctx)
			if mv.Type() == cty.String && mv.IsKnown() && !mv.IsNull() {
				msg = mv.AsString()
			}
		}
		e.problem(ca.SrcRange, "%s: %s failed: %s", what, b.Type, msg)
	}
}

// evalTopBlock evaluates a resource, data, module, output or provider block
// once per instance (for_each, count), with its nested blocks.
func (e *evaluator) evalTopBlock(b *hclsyntax.Block) {
	switch b.Type {
	case "terraform", "variable", "locals":
		return
	}
	what := b.Type + " " + strings.Join(b.Labels, ".")
	instances := []map[string]cty.Value{nil}
	if a := b.Body.Attributes["for_each"]; a != nil {
		instances = e.forEachIn(a, "each", e.ctx(nil))
	} else if a := b.Body.Attributes["count"]; a != nil {
		v, diags := a.Expr.Value(e.ctx(nil))
		e.diags(diags)
		instances = nil
		if v.IsKnown() && v.Type() == cty.Number {
			n, _ := v.AsBigFloat().Int64()
			for i := int64(0); i < n; i++ {
				instances = append(instances, map[string]cty.Value{"count": cty.ObjectVal(map[string]cty.Value{"index": cty.NumberIntVal(i)})})
			}
		} else {
			e.problem(a.SrcRange, "%s: count must be a known number", what)
		}
	}
	for _, extra := range instances {
		ctx := e.ctx(extra)
		for name, a := range b.Body.Attributes {
			if name == "for_each" || name == "count" || b.Type == "module" && (name == "source" || name == "version" || name == "providers") || name == "provider" {
				continue
			}
			_, diags := a.Expr.Value(ctx)
			e.diags(diags)
		}
		e.evalBlocks(b.Body.Blocks, what, ctx)
	}
}

// forEachIn evaluates a for_each (a map, object, set or list) into one
// context extension per element: iter.key and iter.value.
func (e *evaluator) forEachIn(a *hclsyntax.Attribute, iter string, ctx *hcl.EvalContext) []map[string]cty.Value {
	v, diags := a.Expr.Value(ctx)
	e.diags(diags)
	if diags.HasErrors() {
		return nil
	}
	if !v.IsWhollyKnown() {
		e.problem(a.SrcRange, "for_each is not known before apply")
		return nil
	}
	if v.ContainsMarked() {
		e.problem(a.SrcRange, "for_each is derived from a sensitive value")
		return nil
	}
	ty := v.Type()
	if !(ty.IsMapType() || ty.IsObjectType() || ty.IsSetType() || ty.IsListType() || ty.IsTupleType()) {
		e.problem(a.SrcRange, "for_each must be a collection, got %s", ty.FriendlyName())
		return nil
	}
	var out []map[string]cty.Value
	for it := v.ElementIterator(); it.Next(); {
		k, val := it.Element()
		if ty.IsSetType() {
			k = val
		}
		out = append(out, map[string]cty.Value{iter: cty.ObjectVal(map[string]cty.Value{"key": k, "value": val})})
	}
	return out
}

// evalBlocks evaluates nested blocks: dynamic ones per element, lifecycle
// preconditions as checks.
func (e *evaluator) evalBlocks(blocks hclsyntax.Blocks, what string, ctx *hcl.EvalContext) {
	for _, b := range blocks {
		switch b.Type {
		case "dynamic":
			iter := b.Labels[0]
			if a := b.Body.Attributes["iterator"]; a != nil {
				iter = hcl.ExprAsKeyword(a.Expr)
			}
			fe := b.Body.Attributes["for_each"]
			if fe == nil {
				e.problem(b.DefRange(), "%s: dynamic %q without for_each", what, b.Labels[0])
				continue
			}
			for _, extra := range e.forEachIn(fe, iter, ctx) {
				inner := ctx.NewChild()
				inner.Variables = extra
				for _, c := range b.Body.Blocks {
					e.evalBody(c.Body, what, inner)
				}
			}
		case "lifecycle":
			for _, c := range b.Body.Blocks {
				if c.Type == "precondition" || c.Type == "postcondition" {
					e.check(c, what, ctx)
				}
			}
		default:
			e.evalBody(b.Body, what, ctx)
		}
	}
}

func (e *evaluator) evalBody(body *hclsyntax.Body, what string, ctx *hcl.EvalContext) {
	for _, a := range body.Attributes {
		_, diags := a.Expr.Value(ctx)
		e.diags(diags)
	}
	e.evalBlocks(body.Blocks, what, ctx)
}

// minimalInputs are what examples/minimal passes to the module.
func minimalInputs() map[string]cty.Value {
	return map[string]cty.Value{
		"image":               cty.StringVal("registry.example.com/sawmill:1.0.0"),
		"ingress_host":        cty.StringVal("logs.example.com"),
		"clickhouse_addr":     cty.StringVal("clickhouse.db:9000"),
		"jwt_key":             cty.StringVal(strings.Repeat("k", 64)),
		"nats_password":       cty.StringVal("0123456789abcdef"),
		"clickhouse_password": cty.StringVal("secret"),
	}
}

func with(base map[string]cty.Value, more map[string]cty.Value) map[string]cty.Value {
	out := map[string]cty.Value{}
	for k, v := range base {
		out[k] = v
	}
	for k, v := range more {
		out[k] = v
	}
	return out
}

// TestEvaluate plans the module's expressions for configurations that must
// work and for ones its validations and preconditions must refuse.
func TestEvaluate(t *testing.T) {
	operator := with(minimalInputs(), map[string]cty.Value{
		"clickhouse_mode":            cty.StringVal("operator"),
		"clickhouse_addr":            cty.StringVal(""),
		"clickhouse_shards":          cty.NumberIntVal(2),
		"clickhouse_replicas":        cty.NumberIntVal(2),
		"clickhouse_zookeeper_nodes": cty.TupleVal([]cty.Value{cty.ObjectVal(map[string]cty.Value{"host": cty.StringVal("keeper-0")})}),
		"clickhouse_storage_class":   cty.StringVal("fast"),
		"clickhouse_existing_secret": cty.StringVal("ch"),
		"jwt_existing_secret":        cty.StringVal("jwt"),
		"jwt_key":                    cty.StringVal(""),
		"nats_install":               cty.False,
		"nats_existing_secret":       cty.StringVal("nats"),
		"syslog_tls_secret":          cty.StringVal("syslog-tls"),
		"ingress_tls_secret":         cty.StringVal("logs-tls"),
		"ingress_class_name":         cty.StringVal("traefik"),
		"create_namespace":           cty.False,
		"image_pull_secrets":         cty.TupleVal([]cty.Value{cty.StringVal("regcred")}),
		"autoscaling": cty.ObjectVal(map[string]cty.Value{
			"ingest": cty.ObjectVal(map[string]cty.Value{"max_replicas": cty.NumberIntVal(20)}),
			"query":  cty.ObjectVal(map[string]cty.Value{"enabled": cty.False}),
		}),
		"extra_env": cty.ObjectVal(map[string]cty.Value{"SAWMILL_WRITER_BATCH_ROWS": cty.StringVal("20000")}),
	})
	cases := []struct {
		name   string
		dir    string
		inputs map[string]cty.Value
		want   string // a problem containing this; "" none
	}{
		{"example", "examples/minimal", map[string]cty.Value{
			"image": cty.StringVal("sawmill:1"), "host": cty.StringVal("logs.example.com"), "clickhouse_addr": cty.StringVal("ch:9000"),
			"jwt_key": cty.StringVal(strings.Repeat("k", 32)), "nats_password": cty.StringVal("p"), "clickhouse_password": cty.StringVal("p"),
		}, ""},
		{"external ClickHouse, installed NATS", ".", minimalInputs(), ""},
		{"operator ClickHouse, external NATS, existing secrets, TLS", ".", operator, ""},
		{"no ClickHouse address", ".", with(minimalInputs(), map[string]cty.Value{"clickhouse_addr": cty.StringVal("")}), "needs clickhouse_addr"},
		{"replicas without ZooKeeper", ".", with(operator, map[string]cty.Value{"clickhouse_zookeeper_nodes": cty.ListValEmpty(cty.DynamicPseudoType)}), "needs clickhouse_zookeeper_nodes"},
		{"short session key", ".", with(minimalInputs(), map[string]cty.Value{"jwt_key": cty.StringVal("short")}), "at least 32 bytes"},
		{"no NATS password", ".", with(minimalInputs(), map[string]cty.Value{"nats_password": cty.StringVal("")}), "Set nats_password"},
		{"stream replicas above cluster size", ".", with(minimalInputs(), map[string]cty.Value{"nats_cluster_size": cty.NumberIntVal(1)}), "cannot exceed nats_cluster_size"},
		{"ingress without host", ".", with(minimalInputs(), map[string]cty.Value{"ingress_host": cty.StringVal("")}), "needs ingress_host"},
		{"unknown ClickHouse mode", ".", with(minimalInputs(), map[string]cty.Value{"clickhouse_mode": cty.StringVal("embedded")}), "external or operator"},
		{"autoscaling billing", ".", with(minimalInputs(), map[string]cty.Value{"autoscaling": cty.ObjectVal(map[string]cty.Value{"billing": cty.EmptyObjectVal})}), "ingest and query only"},
		{"a role without resources", ".", with(minimalInputs(), map[string]cty.Value{"resources": cty.EmptyObjectVal}), "an entry for each"},
		{"bad log level", ".", with(minimalInputs(), map[string]cty.Value{"log_level": cty.StringVal("loud")}), "log_level must be"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			problems := evaluate(t, c.dir, c.inputs)
			if c.want == "" {
				for _, p := range problems {
					t.Error(p)
				}
				return
			}
			for _, p := range problems {
				if strings.Contains(p, c.want) {
					return
				}
			}
			t.Fatalf("want a problem containing %q, got %v", c.want, problems)
		})
	}
}

// TestEvaluatorCatchesTypeErrors shows that evaluation finds what the
// reference checks cannot: a misspelt attribute of a typed variable and a
// conditional whose branches have inconsistent types.
func TestEvaluatorCatchesTypeErrors(t *testing.T) {
	for _, c := range []struct{ name, src, want string }{
		{"attribute of a typed variable", `
variable "r" {
  description = "r"
  type        = object({ cpu = string })
  default     = { cpu = "1" }
}
output "o" {
  value = var.r.cpus
}`, "Unsupported attribute"},
		{"inconsistent conditional", `
variable "b" {
  description = "b"
  type        = bool
  default     = true
}
output "o" {
  value = var.b ? ["a"] : "a"
}`, "Inconsistent conditional result types"},
		{"wrong function argument", `
variable "s" {
  description = "s"
  type        = string
  default     = "x"
}
output "o" {
  value = keys(var.s)
}`, "Invalid function argument"},
	} {
		t.Run(c.name, func(t *testing.T) {
			dir := t.TempDir()
			if err := os.WriteFile(dir+"/main.tf", []byte(c.src), 0o644); err != nil {
				t.Fatal(err)
			}
			t.Chdir(dir)
			problems := evaluate(t, ".", nil)
			for _, p := range problems {
				if strings.Contains(p, c.want) {
					return
				}
			}
			t.Fatalf("want a problem containing %q, got %v", c.want, problems)
		})
	}
}
