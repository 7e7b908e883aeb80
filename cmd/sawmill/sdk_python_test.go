package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// python is Debian's interpreter, the one python3-django and python3-celery
// install for (the python3 first on PATH may be another).
const python = "/usr/bin/python3"

// pythonSDK returns the absolute path of sdk/python and fails the test when
// Debian's Python lacks Django or Celery: scripts/ensure-deps.sh (run by
// make test) installs them, so a missing module is a broken set-up, not a
// reason to skip.
func pythonSDK(t testing.TB) string {
	t.Helper()
	dir, err := filepath.Abs(filepath.Join("..", "..", "sdk", "python"))
	if err != nil {
		t.Fatal(err)
	}
	out, err := exec.Command(python, "-c", "import django, celery").CombinedOutput()
	if err != nil {
		t.Fatalf("%s cannot import django and celery (run scripts/ensure-deps.sh): %v\n%s", python, err, out)
	}
	return dir
}

// runPython runs python with args in dir, bounded by two minutes, and
// returns stdout; it fails the test with both streams when the exit status
// is not 0.
func runPython(t testing.TB, dir string, env []string, args ...string) []byte {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, python, args...)
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), env...)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		t.Fatalf("%s %s: %v\nstdout:\n%s\nstderr:\n%s", python, strings.Join(args, " "), err, stdout.Bytes(), stderr.Bytes())
	}
	return stdout.Bytes()
}

// TestPythonSDKUnit runs the Python SDK's own suite (delivery semantics
// against a local receiver, record mapping, scrubbing, Django middleware,
// Celery signals), so that make test covers it.
func TestPythonSDKUnit(t *testing.T) {
	dir := pythonSDK(t)
	out := runPython(t, dir, []string{"PYTHONDONTWRITEBYTECODE=1"}, "-W", "ignore::DeprecationWarning", "-m", "unittest", "discover", "-s", "tests")
	t.Logf("%s", out)
}

// TestPythonSDKDjango is issue 7's must-show: a small Django project with
// sawmill.Handler in its LOGGING dict serves requests through the test
// client, a view raises, an eager Celery task fails; a real Sawmill
// receives the events and search finds the request ids, statuses,
// durations, the task id and the structured exceptions.
func TestPythonSDKDjango(t *testing.T) {
	dir := pythonSDK(t)
	st, _ := stack(t, nil)
	c := client{t: t, base: "http://" + st.Server.HTTPAddr()}
	a := c.signup("django@sdk.example")

	prefix := fmt.Sprintf("pysdk-%d", time.Now().UnixNano())
	out := runPython(t, dir, []string{
		"SAWMILL_URL=" + c.base, "SAWMILL_API_KEY=" + a.key, "DJANGOAPP_LOG_DIR=" + t.TempDir(),
		"PYTHONDONTWRITEBYTECODE=1", "PYTHONWARNINGS=ignore::DeprecationWarning",
	}, filepath.Join("tests", "djangoapp", "run.py"), prefix)
	var run struct {
		TaskID string `json:"task_id"`
	}
	if err := json.Unmarshal(out, &run); err != nil || run.TaskID == "" {
		t.Fatalf("run.py output %q: %v", out, err)
	}

	hello := pyFind(c, a.key, fmt.Sprintf("request_id:%q logger:sawmill.request", prefix+"-hello"))
	pyAccess(t, hello, "/hello", 200)
	inView := pyFind(c, a.key, fmt.Sprintf("request_id:%q saying", prefix+"-hello"))
	if attrs := pyAttrs(inView); attrs["greeting"] != "hi" || attrs["funcName"] != "hello" || inView["logger"] != "djangoapp.views" {
		t.Fatalf("line logged in the view: %v", inView)
	}

	pyAccess(t, pyFind(c, a.key, fmt.Sprintf("request_id:%q logger:sawmill.request", prefix+"-boom")), "/boom", 500)
	boom := pyFind(c, a.key, fmt.Sprintf("request_id:%q logger:django.request", prefix+"-boom"))
	pyException(t, boom, "RuntimeError", "view exploded", `raise RuntimeError("view exploded")`)

	failed := pyFind(c, a.key, fmt.Sprintf("task_id:%q logger:sawmill.task level:error", run.TaskID))
	pyException(t, failed, "djangoapp.celeryapp.PaymentDeclined", "card declined for order 17", "raise PaymentDeclined")
	attrs := pyAttrs(failed)
	if failed["request_id"] != prefix+"-order" || attrs["task_name"] != "djangoapp.charge" || failed["service"] != "djangoapp" {
		t.Fatalf("failed task event: %v", failed)
	}
	if d, ok := attrs["duration_ms"].(float64); !ok || d < 0 {
		t.Fatalf("task duration_ms: %v", failed)
	}
	inTask := pyFind(c, a.key, fmt.Sprintf("task_id:%q charging", run.TaskID))
	if inTask["request_id"] != prefix+"-order" || pyAttrs(inTask)["order_id"] != float64(17) {
		t.Fatalf("line logged inside the task: %v", inTask)
	}
}

// pyFind polls a search until it returns exactly one event and returns it;
// it fails after 20s (the writer flushes every 100ms here).
func pyFind(c client, key, query string) map[string]any {
	c.t.Helper()
	var got []map[string]any
	for deadline := time.Now().Add(20 * time.Second); time.Now().Before(deadline); time.Sleep(50 * time.Millisecond) {
		code, m := c.search(key, query, 10, "")
		if code != 200 {
			c.t.Fatalf("search %q: %d %v", query, code, m)
		}
		if got = events(m); len(got) > 0 {
			break
		}
	}
	if len(got) != 1 {
		c.t.Fatalf("search %q: %d events, want 1: %v", query, len(got), got)
	}
	return got[0]
}

func pyAttrs(e map[string]any) map[string]any {
	a, _ := e["attributes"].(map[string]any)
	return a
}

// pyAccess checks a middleware access line.
func pyAccess(t testing.TB, e map[string]any, path string, status int) {
	t.Helper()
	a := pyAttrs(e)
	d, ok := a["duration_ms"].(float64)
	if a["path"] != path || a["method"] != "GET" || a["status"] != float64(status) || !ok || d < 0 ||
		e["service"] != "djangoapp" || e["environment"] != "test" {
		t.Fatalf("access line for %s: %v", path, e)
	}
}

// pyException checks the structured exception of e.
func pyException(t testing.TB, e map[string]any, typ, msg, inStack string) {
	t.Helper()
	ex, _ := e["exception"].(map[string]any)
	stack, _ := ex["stack"].(string)
	if ex["type"] != typ || ex["message"] != msg || !strings.HasPrefix(stack, "Traceback (most recent call last)") ||
		!strings.Contains(stack, inStack) || e["level"] != "error" {
		t.Fatalf("exception: want %s: %s with %q in the stack; event %v", typ, msg, inStack, e)
	}
}
