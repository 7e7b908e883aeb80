package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

func freePort(t *testing.T) int {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

// quickStart returns the README's walkthrough: the shell block that follows
// "In another terminal:".
func quickStart(t *testing.T) string {
	t.Helper()
	b, err := os.ReadFile("../../README.md")
	if err != nil {
		t.Fatal(err)
	}
	s := string(b)
	i := strings.Index(s, "In another terminal:")
	if i < 0 {
		t.Fatal(`README has no "In another terminal:" walkthrough`)
	}
	s = s[i:]
	start := strings.Index(s, "```sh\n")
	end := strings.Index(s[start+6:], "\n```")
	if start < 0 || end < 0 {
		t.Fatal("README walkthrough has no sh block")
	}
	return s[start+6 : start+6+end+1]
}

// TestDevQuickStart builds the binary, runs `sawmill dev` the way `make dev`
// does — no ClickHouse address, so it starts its own server — and runs the
// README's curl walkthrough as written, checking what it prints.
func TestDevQuickStart(t *testing.T) {
	if _, err := exec.LookPath("curl"); err != nil {
		t.Fatal("curl is needed for the README walkthrough: apt-get install curl")
	}
	dir := t.TempDir()
	bin := filepath.Join(dir, "sawmill")
	if out, err := exec.Command("go", "build", "-o", bin, ".").CombinedOutput(); err != nil {
		t.Fatalf("build: %v\n%s", err, out)
	}
	httpAddr := "127.0.0.1:" + strconv.Itoa(freePort(t))
	cmd := exec.Command(bin, "dev")
	cmd.Env = append(os.Environ(),
		"SAWMILL_DATA_DIR="+filepath.Join(dir, "data"),
		"SAWMILL_HTTP_ADDR="+httpAddr,
		"SAWMILL_GRPC_ADDR=127.0.0.1:"+strconv.Itoa(freePort(t)),
		"SAWMILL_SYSLOG_ADDR=127.0.0.1:"+strconv.Itoa(freePort(t)),
		"SAWMILL_NATS_PORT="+strconv.Itoa(freePort(t)),
		"SAWMILL_CLICKHOUSE_PORT="+strconv.Itoa(freePort(t)),
		"SAWMILL_CLICKHOUSE_ADDR=", "SAWMILL_NATS_URL=",
	)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	defer func() {
		cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-exited:
		case <-time.After(30 * time.Second):
			cmd.Process.Kill()
			t.Error("sawmill dev did not stop within 30s of SIGTERM")
		}
	}()
	for deadline := time.Now().Add(60 * time.Second); ; time.Sleep(100 * time.Millisecond) {
		if resp, err := http.Get("http://" + httpAddr + "/readyz"); err == nil {
			resp.Body.Close()
			if resp.StatusCode == 200 {
				break
			}
		}
		select {
		case err := <-exited:
			t.Fatalf("sawmill dev exited: %v\n%s", err, stderr.String())
		default:
		}
		if time.Now().After(deadline) {
			t.Fatalf("sawmill dev not ready after 60s\n%s", stderr.String())
		}
	}
	if !strings.Contains(stdout.String(), "Sign up, ship a first log") {
		t.Fatalf("dev does not print how to start:\n%s", stdout.String())
	}

	script := strings.ReplaceAll(quickStart(t), "localhost:8080", httpAddr)
	sh := exec.Command("bash", "-euo", "pipefail", "-c", script)
	sh.Dir = t.TempDir()
	out, err := sh.CombinedOutput()
	if err != nil {
		t.Fatalf("walkthrough failed: %v\n%s", err, out)
	}
	lines := strings.Split(strings.TrimSpace(string(out)), "\n")
	if len(lines) != 3 {
		t.Fatalf("walkthrough printed %d lines, want 3 JSON answers:\n%s", len(lines), out)
	}
	var signup, ingest, search map[string]any
	for i, v := range []*map[string]any{&signup, &ingest, &search} {
		if err := json.Unmarshal([]byte(lines[i]), v); err != nil {
			t.Fatalf("answer %d is not JSON: %q", i+1, lines[i])
		}
	}
	if !strings.HasPrefix(fmt.Sprint(signup["api_key"]), "sm_") {
		t.Fatalf("signup: %v", signup)
	}
	// The README shows the ingest answer verbatim: it must be exact.
	script = quickStart(t)
	if want := `# {"accepted":2,"rejected":1,"errors":[{"index":2,"reason":"message is empty"}]}`; !strings.Contains(script, want) ||
		"# "+lines[1] != want {
		t.Fatalf("ingest answered %s; README shows %s", lines[1], want)
	}
	evs, _ := search["events"].([]any)
	if len(evs) != 1 || evs[0].(map[string]any)["message"] != "Internal Server Error: /checkout" || evs[0].(map[string]any)["level"] != "error" {
		t.Fatalf("search answered %s", lines[2])
	}
}
