package gen

import (
	"bytes"
	"debug/buildinfo"
	"go/format"
	"io/fs"
	"os"
	"os/exec"
	"path"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
)

// handWritten are the files under gen/ that no generator writes, by base name
// (mk/proto.mk's PROTO_HANDWRITTEN).
var handWritten = []string{"doc.go", "gen_test.go"}

// TestUpToDate regenerates gen/ from proto/ with the tools pinned in
// mk/proto.mk, exactly as `make proto` does, and fails unless every generated
// file matches byte for byte and gen/ holds no generated file that proto/ no
// longer produces. Missing or mismatched tools are installed into the
// repository's bin/ with `go install`, as `make proto` would.
func TestUpToDate(t *testing.T) {
	root, err := filepath.Abs("..")
	if err != nil {
		t.Fatal(err)
	}
	bin := filepath.Join(root, "bin")
	for _, tool := range pinnedTools(t, filepath.Join(root, "mk", "proto.mk")) {
		installTool(t, bin, tool)
	}

	out := t.TempDir()
	cmd := exec.Command(filepath.Join(bin, "buf"), "generate", "--output", out)
	cmd.Dir = root
	cmd.Env = append(os.Environ(),
		"PATH="+bin+string(os.PathListSeparator)+os.Getenv("PATH"),
		"BUF_CACHE_DIR="+t.TempDir())
	if b, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("buf generate: %v\n%s", err, b)
	}

	want := readTree(t, filepath.Join(out, "gen"))
	got := readTree(t, filepath.Join(root, "gen"))
	for name, w := range want {
		if strings.HasSuffix(name, ".go") {
			if w, err = format.Source(w); err != nil {
				t.Fatalf("gofmt generated %s: %v", name, err)
			}
		}
		g, ok := got[name]
		switch {
		case !ok:
			t.Errorf("gen/%s is missing", name)
		case !bytes.Equal(g, w):
			t.Errorf("gen/%s is stale (first difference on line %d)", name, firstDiffLine(g, w))
		}
	}
	for name := range got {
		if _, ok := want[name]; !ok {
			t.Errorf("gen/%s is not generated from proto/ any more", name)
		}
	}
	if t.Failed() {
		t.Log("run `make proto` and commit gen/")
	}
}

// tool is one pinned code generator.
type tool struct {
	pkg, version string
}

// pinnedTools reads the "PROTO_X := <package>@<version>" lines of mk.
func pinnedTools(tb testing.TB, mk string) []tool {
	tb.Helper()
	b, err := os.ReadFile(mk)
	if err != nil {
		tb.Fatal(err)
	}
	re := regexp.MustCompile(`(?m)^PROTO_\w+\s*:=\s*(\S+)@(v\S+)\s*$`)
	var tools []tool
	for _, m := range re.FindAllStringSubmatch(string(b), -1) {
		tools = append(tools, tool{pkg: m[1], version: m[2]})
	}
	if !slices.ContainsFunc(tools, func(tl tool) bool { return path.Base(tl.pkg) == "buf" }) {
		tb.Fatalf("%s pins no buf (parsed %v)", mk, tools)
	}
	return tools
}

// installTool runs `go install` for tl into bin unless the binary there was
// built from exactly tl's package and version.
func installTool(tb testing.TB, bin string, tl tool) {
	tb.Helper()
	exe := filepath.Join(bin, path.Base(tl.pkg))
	if info, err := buildinfo.ReadFile(exe); err == nil &&
		info.Path == tl.pkg && info.Main.Version == tl.version {
		return
	}
	tb.Logf("go install %s@%s", tl.pkg, tl.version)
	cmd := exec.Command("go", "install", tl.pkg+"@"+tl.version)
	cmd.Env = append(os.Environ(), "GOBIN="+bin)
	if b, err := cmd.CombinedOutput(); err != nil {
		tb.Fatalf("go install %s@%s: %v\n%s", tl.pkg, tl.version, err, b)
	}
}

// readTree returns the contents of every file under dir except the
// hand-written ones, by slash-separated path relative to dir.
func readTree(tb testing.TB, dir string) map[string][]byte {
	tb.Helper()
	files := make(map[string][]byte)
	err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() || slices.Contains(handWritten, d.Name()) {
			return err
		}
		rel, err := filepath.Rel(dir, p)
		if err != nil {
			return err
		}
		b, err := os.ReadFile(p)
		files[filepath.ToSlash(rel)] = b
		return err
	})
	if err != nil {
		tb.Fatalf("read %s: %v", dir, err)
	}
	return files
}

// firstDiffLine returns the 1-based number of the first line where a and b
// differ.
func firstDiffLine(a, b []byte) int {
	n := min(len(a), len(b))
	i := 0
	for i < n && a[i] == b[i] {
		i++
	}
	return bytes.Count(a[:i], []byte("\n")) + 1
}
