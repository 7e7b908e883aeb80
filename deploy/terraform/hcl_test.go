package terraform

import (
	"fmt"
	"io/fs"
	"os"
	"path"
	"sort"
	"strings"
	"testing"
	"testing/fstest"

	"github.com/hashicorp/hcl/v2"
	"github.com/hashicorp/hcl/v2/ext/typeexpr"
	"github.com/hashicorp/hcl/v2/hclparse"
	"github.com/hashicorp/hcl/v2/hclsyntax"
	"github.com/zclconf/go-cty/cty"
	"github.com/zclconf/go-cty/cty/convert"
)

// module is what one directory of .tf files declares.
type module struct {
	dir       string
	variables map[string]*hclsyntax.Block
	locals    map[string]*hclsyntax.Attribute
	resources map[string]bool // "type.name"
	data      map[string]bool // "type.name"
	modules   map[string]*hclsyntax.Block
	outputs   map[string]bool
	used      map[string]int     // "var.x" / "local.x" → references outside its own declaration
	callees   map[string]*module // modules called by a local path, by call name
	bodies    []*hclsyntax.Body  // the parsed files
	problems  []string
}

func (m *module) problem(rng hcl.Range, format string, args ...any) {
	m.problems = append(m.problems, fmt.Sprintf("%s:%d: %s", rng.Filename, rng.Start.Line, fmt.Sprintf(format, args...)))
}

// loadModule parses every .tf file of dir in fsys and records declarations.
// Parse errors and duplicate declarations are problems.
func loadModule(tb testing.TB, fsys fs.FS, dir string) *module {
	tb.Helper()
	m := &module{dir: dir, variables: map[string]*hclsyntax.Block{}, locals: map[string]*hclsyntax.Attribute{},
		resources: map[string]bool{}, data: map[string]bool{}, modules: map[string]*hclsyntax.Block{},
		outputs: map[string]bool{}, used: map[string]int{}, callees: map[string]*module{}}
	entries, err := fs.ReadDir(fsys, dir)
	if err != nil {
		tb.Fatalf("read module %s: %v", dir, err)
	}
	parser := hclparse.NewParser()
	for _, e := range entries {
		if e.IsDir() || !strings.HasSuffix(e.Name(), ".tf") {
			continue
		}
		name := path.Join(dir, e.Name())
		src, err := fs.ReadFile(fsys, name)
		if err != nil {
			tb.Fatalf("read %s: %v", name, err)
		}
		f, diags := parser.ParseHCL(src, name)
		for _, d := range diags {
			m.problems = append(m.problems, d.Error())
		}
		if diags.HasErrors() {
			continue
		}
		body := f.Body.(*hclsyntax.Body)
		m.bodies = append(m.bodies, body)
		m.declare(body)
	}
	return m
}

func (m *module) declare(body *hclsyntax.Body) {
	for _, b := range body.Blocks {
		key := strings.Join(b.Labels, ".")
		switch b.Type {
		case "variable":
			if m.variables[key] != nil {
				m.problem(b.DefRange(), "variable %q declared twice", key)
			}
			m.variables[key] = b
		case "locals":
			for name, a := range b.Body.Attributes {
				if m.locals[name] != nil {
					m.problem(a.SrcRange, "local %q declared twice", name)
				}
				m.locals[name] = a
			}
		case "resource", "data":
			decl := m.resources
			if b.Type == "data" {
				decl = m.data
			}
			if len(b.Labels) != 2 {
				m.problem(b.DefRange(), "%s block needs a type and a name", b.Type)
			}
			if decl[key] {
				m.problem(b.DefRange(), "%s %q declared twice", b.Type, key)
			}
			decl[key] = true
		case "module":
			if m.modules[key] != nil {
				m.problem(b.DefRange(), "module %q declared twice", key)
			}
			m.modules[key] = b
		case "output":
			if m.outputs[key] {
				m.problem(b.DefRange(), "output %q declared twice", key)
			}
			m.outputs[key] = true
		case "terraform", "provider", "moved", "import", "check", "removed":
		default:
			m.problem(b.DefRange(), "unknown top-level block %q", b.Type)
		}
	}
}

// scope is what a reference may name besides the module's declarations.
type scope struct {
	each, count bool            // inside a for_each / count block
	iterators   map[string]bool // dynamic block iterators in force
	owner       string          // "var.x" being declared: its own references do not count as uses
}

func (s scope) with(name string) scope {
	it := map[string]bool{name: true}
	for k := range s.iterators {
		it[k] = true
	}
	s.iterators = it
	return s
}

// check walks every top-level block of the files again and checks each
// expression's references, then the variables and locals themselves.
func (m *module) check(tb testing.TB, fsys fs.FS) {
	tb.Helper()
	// Module calls first: references to their outputs may come earlier.
	for _, b := range m.modules {
		m.checkModuleCall(tb, fsys, b)
	}
	for _, body := range m.bodies {
		for _, b := range body.Blocks {
			m.checkTopBlock(b)
		}
	}
	for name, b := range m.variables {
		m.checkVariable(name, b)
	}
	for name, a := range m.locals {
		if m.used["local."+name] == 0 {
			m.problem(a.SrcRange, "local %q is never used", name)
		}
	}
}

func (m *module) checkTopBlock(b *hclsyntax.Block) {
	switch b.Type {
	case "terraform":
		return // required_providers and versions: literals only
	case "variable":
		s := scope{owner: "var." + strings.Join(b.Labels, ".")}
		for name, a := range b.Body.Attributes {
			if name != "type" { // a type constraint, not a value: checked in checkVariable
				m.checkExpr(a.Expr, s)
			}
		}
		m.walk(b.Body.Blocks, s)
		return
	}
	s := scope{}
	_, s.each = b.Body.Attributes["for_each"]
	_, s.count = b.Body.Attributes["count"]
	for name, a := range b.Body.Attributes {
		switch {
		case name == "provider" || b.Type == "module" && (name == "providers" || name == "source" || name == "version"):
			continue // provider and module addresses, not values
		case b.Type == "locals":
			m.checkExpr(a.Expr, scope{owner: "local." + name})
		case name == "for_each" || name == "count":
			m.checkExpr(a.Expr, scope{})
		default:
			m.checkExpr(a.Expr, s)
		}
	}
	m.walk(b.Body.Blocks, s)
}

func (m *module) walk(blocks hclsyntax.Blocks, s scope) {
	for _, b := range blocks {
		switch {
		case b.Type == "dynamic":
			if len(b.Labels) != 1 {
				m.problem(b.DefRange(), "dynamic block needs one label")
				continue
			}
			iter := b.Labels[0]
			for name, a := range b.Body.Attributes {
				switch name {
				case "iterator":
					iter = hcl.ExprAsKeyword(a.Expr)
				case "for_each":
					m.checkExpr(a.Expr, s)
				default:
					m.checkExpr(a.Expr, s.with(iter))
				}
			}
			for _, c := range b.Body.Blocks {
				if c.Type != "content" {
					m.problem(c.DefRange(), "dynamic block %q has a %q block; only content", b.Labels[0], c.Type)
					continue
				}
				m.walkBody(c.Body, s.with(iter))
			}
		case b.Type == "lifecycle":
			for name, a := range b.Body.Attributes {
				if name != "ignore_changes" { // attribute paths of the resource itself
					m.checkExpr(a.Expr, s)
				}
			}
			m.walk(b.Body.Blocks, s)
		default:
			m.walkBody(b.Body, s)
		}
	}
}

func (m *module) walkBody(body *hclsyntax.Body, s scope) {
	for _, a := range body.Attributes {
		m.checkExpr(a.Expr, s)
	}
	m.walk(body.Blocks, s)
}

// checkExpr checks every reference of one expression (for-expression
// variables are already excluded by Variables).
func (m *module) checkExpr(expr hclsyntax.Expression, s scope) {
	for _, t := range expr.Variables() {
		m.checkReference(t, s)
	}
}

func attrName(t hcl.Traversal, i int) (string, bool) {
	if len(t) <= i {
		return "", false
	}
	a, ok := t[i].(hcl.TraverseAttr)
	return a.Name, ok
}

func (m *module) checkReference(t hcl.Traversal, s scope) {
	root, rng := t.RootName(), t.SourceRange()
	first, ok1 := attrName(t, 1)
	second, ok2 := attrName(t, 2)
	switch {
	case s.iterators[root]:
	case root == "var" || root == "local":
		kind := map[string]string{"var": "variable", "local": "local value"}[root]
		declared := ok1 && (root == "var" && m.variables[first] != nil || root == "local" && m.locals[first] != nil)
		if !declared {
			m.problem(rng, "reference to undeclared %s %s.%s", kind, root, first)
			return
		}
		if root+"."+first != s.owner {
			m.used[root+"."+first]++
		}
	case root == "each":
		if !s.each {
			m.problem(rng, "each.%s outside a block with for_each", first)
		}
	case root == "count":
		if !s.count {
			m.problem(rng, "count.%s outside a block with count", first)
		}
	case root == "path" || root == "terraform" || root == "self":
	case root == "module":
		if !ok1 || m.modules[first] == nil {
			m.problem(rng, "reference to undeclared module %s", first)
		} else if outs := m.calleeOutputs(first); outs != nil && (!ok2 || !outs[second]) {
			m.problem(rng, "module.%s has no output %q", first, second)
		}
	case root == "data":
		if !ok1 || !ok2 || !m.data[first+"."+second] {
			m.problem(rng, "reference to undeclared data source data.%s.%s", first, second)
		}
	default:
		if !ok1 || !m.resources[root+"."+first] {
			m.problem(rng, "reference to undeclared resource %s.%s", root, first)
		}
	}
}

func (m *module) calleeOutputs(call string) map[string]bool {
	if c := m.callees[call]; c != nil {
		return c.outputs
	}
	return nil
}

// checkModuleCall loads a module called by a local path and checks the call:
// every argument is a variable of the callee, every required variable given.
func (m *module) checkModuleCall(tb testing.TB, fsys fs.FS, b *hclsyntax.Block) {
	tb.Helper()
	src, ok := b.Body.Attributes["source"]
	if !ok {
		m.problem(b.DefRange(), "module %q has no source", b.Labels[0])
		return
	}
	v, diags := src.Expr.Value(nil)
	if diags.HasErrors() || !v.Type().Equals(cty.String) {
		m.problem(src.SrcRange, "module %q: source must be a literal string", b.Labels[0])
		return
	}
	source := v.AsString()
	if !strings.HasPrefix(source, "./") && !strings.HasPrefix(source, "../") {
		return // a registry or remote module: not checkable here
	}
	callee := loadModule(tb, fsys, path.Join(m.dir, source))
	m.callees[b.Labels[0]] = callee
	meta := map[string]bool{"source": true, "version": true, "count": true, "for_each": true, "providers": true, "depends_on": true}
	for name, a := range b.Body.Attributes {
		if !meta[name] && callee.variables[name] == nil {
			m.problem(a.SrcRange, "module %q: %s has no variable %q", b.Labels[0], source, name)
		}
	}
	for name, vb := range callee.variables {
		_, hasDefault := vb.Body.Attributes["default"]
		if _, given := b.Body.Attributes[name]; !hasDefault && !given {
			m.problem(b.DefRange(), "module %q: required variable %q of %s not given", b.Labels[0], name, source)
		}
	}
}

// checkVariable: a description, a valid type its default fits, and a use.
func (m *module) checkVariable(name string, b *hclsyntax.Block) {
	attrs := b.Body.Attributes
	if d, ok := attrs["description"]; !ok {
		m.problem(b.DefRange(), "variable %q has no description", name)
	} else if v, diags := d.Expr.Value(nil); diags.HasErrors() || !v.Type().Equals(cty.String) || strings.TrimSpace(v.AsString()) == "" {
		m.problem(d.SrcRange, "variable %q: description must be a non-empty string", name)
	}
	ta, ok := attrs["type"]
	if !ok {
		m.problem(b.DefRange(), "variable %q has no type", name)
	} else {
		ty, defaults, diags := typeexpr.TypeConstraintWithDefaults(ta.Expr)
		if diags.HasErrors() {
			m.problem(ta.SrcRange, "variable %q: bad type: %s", name, diags.Error())
		} else if da, ok := attrs["default"]; ok {
			v, diags := da.Expr.Value(nil)
			switch {
			case diags.HasErrors():
				m.problem(da.SrcRange, "variable %q: default is not a literal: %s", name, diags.Error())
			case !v.IsNull():
				if defaults != nil {
					v = defaults.Apply(v)
				}
				if _, err := convert.Convert(v, ty); err != nil {
					m.problem(da.SrcRange, "variable %q: default does not fit its type: %v", name, err)
				}
			}
		}
	}
	if m.used["var."+name] == 0 {
		m.problem(b.DefRange(), "variable %q is declared but never used", name)
	}
}

// validate loads and checks the module in dir and returns its problems.
func validate(tb testing.TB, fsys fs.FS, dir string) (*module, []string) {
	tb.Helper()
	m := loadModule(tb, fsys, dir)
	if len(m.problems) == 0 {
		m.check(tb, fsys)
	}
	sort.Strings(m.problems)
	return m, m.problems
}

// moduleDirs lists every directory under root holding .tf files.
func moduleDirs(tb testing.TB, fsys fs.FS) []string {
	tb.Helper()
	seen := map[string]bool{}
	err := fs.WalkDir(fsys, ".", func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() && strings.HasPrefix(d.Name(), ".") && p != "." {
			return fs.SkipDir // .terraform caches
		}
		if !d.IsDir() && strings.HasSuffix(p, ".tf") {
			seen[path.Dir(p)] = true
		}
		return nil
	})
	if err != nil {
		tb.Fatal(err)
	}
	var dirs []string
	for d := range seen {
		dirs = append(dirs, d)
	}
	sort.Strings(dirs)
	return dirs
}

// TestModules checks the module and every example as terraform validate
// would, short of the provider schemas.
func TestModules(t *testing.T) {
	fsys := os.DirFS(".")
	dirs := moduleDirs(t, fsys)
	if len(dirs) < 2 || dirs[0] != "." {
		t.Fatalf("want the module and at least one example, found %v", dirs)
	}
	for _, dir := range dirs {
		t.Run(dir, func(t *testing.T) {
			_, problems := validate(t, fsys, dir)
			for _, p := range problems {
				t.Error(p)
			}
		})
	}
}

// TestModuleDeploysEveryPiece guards against a module that is valid but
// lost a piece the deployment needs.
func TestModuleDeploysEveryPiece(t *testing.T) {
	m, _ := validate(t, os.DirFS("."), ".")
	for _, r := range []string{
		"kubernetes_deployment_v1.role", "kubernetes_service_v1.role", "kubernetes_service_v1.syslog",
		"kubernetes_ingress_v1.http", "kubernetes_ingress_v1.grpc", "kubernetes_horizontal_pod_autoscaler_v2.role",
		"kubernetes_config_map_v1.sawmill", "kubernetes_secret_v1.jwt", "kubernetes_secret_v1.nats",
		"kubernetes_secret_v1.clickhouse", "helm_release.nats", "kubernetes_manifest.clickhouse",
	} {
		if !m.resources[r] {
			t.Errorf("module declares no %s", r)
		}
	}
	roles, ok := m.locals["roles"]
	if !ok {
		t.Fatal("module has no local roles")
	}
	src := string(roles.Expr.Range().SliceBytes(mustRead(t, roles.SrcRange.Filename)))
	for _, role := range []string{"ingest", "query", "billing", "alerts"} {
		if !strings.Contains(src, `"`+role+`"`) {
			t.Errorf("local.roles %s lacks %q", src, role)
		}
	}
}

func mustRead(tb testing.TB, name string) []byte {
	tb.Helper()
	b, err := os.ReadFile(name)
	if err != nil {
		tb.Fatal(err)
	}
	return b
}

// TestValidatorCatchesMistakes runs the checks on small in-memory modules:
// each broken one must be reported with the expected problem, the good one
// not at all — the checks above can fail.
func TestValidatorCatchesMistakes(t *testing.T) {
	const good = `
variable "image" {
  description = "the image"
  type        = string
}
variable "sizes" {
  description = "per role"
  type        = map(object({ cpu = optional(string, "1") }))
  default     = { ingest = {} }
}
locals {
  roles  = toset(["ingest"])
  prefix = "sawmill"
}
data "kubernetes_namespace_v1" "ns" {
  metadata { name = "x" }
}
resource "kubernetes_deployment_v1" "role" {
  for_each = local.roles
  metadata { name = "${local.prefix}-${each.key}-${data.kubernetes_namespace_v1.ns.id}" }
  spec {
    dynamic "port" {
      for_each = var.sizes
      content { name = port.key }
    }
    container {
      image = var.image
      args  = [for r in local.roles : r]
    }
  }
}
module "child" {
  source = "./child"
  name   = kubernetes_deployment_v1.role["ingest"].id
}
output "child" {
  description = "the child's output"
  value       = module.child.out
}
`
	const child = `
variable "name" {
  description = "a name"
  type        = string
}
output "out" {
  value = var.name
}
`
	cases := []struct {
		name, old, new string // a replacement in good; "" old: good as is
		want           string // a problem containing this; "" none
	}{
		{"good", "", "", ""},
		{"undeclared variable", "image = var.image", "image = var.imag", "undeclared variable var.imag"},
		{"undeclared local", "for_each = local.roles", "for_each = local.role", "undeclared local value local.role"},
		{"undeclared resource", `kubernetes_deployment_v1.role["ingest"]`, `kubernetes_deployment_v1.roles["ingest"]`, "undeclared resource kubernetes_deployment_v1.roles"},
		{"undeclared data source", "data.kubernetes_namespace_v1.ns.id", "data.kubernetes_namespace_v1.nss.id", "undeclared data source"},
		{"undeclared module", "module.child.out", "module.kid.out", "undeclared module kid"},
		{"missing module output", "module.child.out", "module.child.output", `no output "output"`},
		{"unknown module argument", "name   = kubernetes", "nam    = kubernetes", `has no variable "nam"`},
		{"each without for_each", "for_each = local.roles\n", "count = 1\n", "each.key outside"},
		{"iterator outside its dynamic block", "image = var.image", "image = port.key", "undeclared resource port.key"},
		{"unused variable", "image = var.image", `image = "x"`, `variable "image" is declared but never used`},
		{"unused local", "${local.prefix}-", "", `local "prefix" is never used`},
		{"variable without description", `description = "the image"`, "", `variable "image" has no description`},
		{"variable without type", "type        = string", "", `variable "image" has no type`},
		{"bad type", "type        = string", "type        = strung", "bad type"},
		{"default of the wrong type", `default     = { ingest = {} }`, `default     = ["x"]`, "default does not fit"},
		{"syntax error", "locals {", "locals {{", "block definition required"},
		{"declared twice", `variable "sizes"`, `variable "image"`, `variable "image" declared twice`},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			src := good
			if c.old != "" {
				if !strings.Contains(src, c.old) {
					t.Fatalf("case does not apply: %q not in the good module", c.old)
				}
				src = strings.Replace(src, c.old, c.new, 1)
			}
			fsys := fstest.MapFS{"mod/main.tf": {Data: []byte(src)}, "mod/child/main.tf": {Data: []byte(child)}}
			_, problems := validate(t, fsys, "mod")
			if c.want == "" {
				if len(problems) > 0 {
					t.Fatalf("good module reported: %v", problems)
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
