package main

import (
	"bytes"
	"compress/gzip"
	"context"
	"encoding/json"
	"flag"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"
)

// cliEnv runs client commands in-process against one Sawmill, with a
// private config file and no other environment.
type cliEnv struct {
	tb     testing.TB
	config string
	env    map[string]string
}

func newCLIEnv(tb testing.TB, base string) *cliEnv {
	tb.Helper()
	cfg := filepath.Join(tb.TempDir(), "sawmill", "config.json")
	return &cliEnv{tb: tb, config: cfg, env: map[string]string{"SAWMILL_CONFIG": cfg, "SAWMILL_URL": base}}
}

func (e *cliEnv) getenv(k string) string { return e.env[k] }

// run runs one command line with stdin and returns its exit code and output.
func (e *cliEnv) run(stdin string, args ...string) (int, string, string) {
	e.tb.Helper()
	var out, errOut bytes.Buffer
	code := runCLI(context.Background(), args, strings.NewReader(stdin), &out, &errOut, e.getenv)
	return code, out.String(), errOut.String()
}

// must runs a command that has to succeed and returns its stdout.
func (e *cliEnv) must(stdin string, args ...string) string {
	e.tb.Helper()
	code, out, errOut := e.run(stdin, args...)
	if code != 0 {
		e.tb.Fatalf("sawmill %s: exit %d\nstdout: %s\nstderr: %s", strings.Join(args, " "), code, out, errOut)
	}
	return out
}

// syncBuffer is a bytes.Buffer safe for a writer and a concurrent reader.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// waitFor polls until cond holds; it fails after 20 s (generous: the
// machine is shared; the writer flushes every 100 ms here).
func waitFor(tb testing.TB, what string, cond func() bool) {
	tb.Helper()
	for deadline := time.Now().Add(20 * time.Second); !cond(); time.Sleep(50 * time.Millisecond) {
		if time.Now().After(deadline) {
			tb.Fatalf("timed out waiting for %s", what)
		}
	}
}

// flagSetFor is the flag set a command parses, globals included.
func flagSetFor(tb testing.TB, cmd clientCommand) *flag.FlagSet {
	tb.Helper()
	fs := flag.NewFlagSet(cmd.name, flag.ContinueOnError)
	c := &cli{}
	c.globalFlags(fs)
	cmd.flags(c, fs)
	return fs
}

func TestCLIAccountAndKeys(t *testing.T) {
	st, _ := stack(t, nil)
	base := "http://" + st.Server.HTTPAddr()
	e := newCLIEnv(t, base)

	out := e.must("correct horse battery\n", "signup", "--email", "cli@c.example", "--org", "CLI Org")
	if !strings.Contains(out, "sm_") || !strings.Contains(out, "shown only once") {
		t.Fatalf("signup should print the API key once:\n%s", out)
	}
	fi, err := os.Stat(e.config)
	if err != nil {
		t.Fatal(err)
	}
	if fi.Mode().Perm() != 0o600 {
		t.Fatalf("config mode %v, want 0600", fi.Mode().Perm())
	}

	// login replaces the session; the config keeps URL and token.
	_ = os.Remove(e.config)
	e.must("correct horse battery\n", "login", "--email", "cli@c.example")
	var cfg clientConfig
	raw, _ := os.ReadFile(e.config)
	if err := json.Unmarshal(raw, &cfg); err != nil || cfg.URL != base || cfg.Token == "" || cfg.TenantID == "" {
		t.Fatalf("config after login: %s (%v)", raw, err)
	}
	if fi, _ := os.Stat(e.config); fi.Mode().Perm() != 0o600 {
		t.Fatalf("config mode after login %v, want 0600", fi.Mode().Perm())
	}
	if code, _, errOut := e.run("wrong password!!\n", "login", "--email", "cli@c.example"); code != 1 || !strings.Contains(errOut, "HTTP 401") {
		t.Fatalf("wrong password: exit %d, %q", code, errOut)
	}

	// keys create / list / revoke.
	out = e.must("", "keys", "create", "--name", "ci-ingest", "--scope", "ingest")
	secret := ""
	for _, f := range strings.Fields(out) {
		if strings.HasPrefix(f, "sm_") {
			secret = f
		}
	}
	if secret == "" {
		t.Fatalf("keys create printed no secret:\n%s", out)
	}
	var list struct {
		Keys []apiKey `json:"keys"`
	}
	if err := json.Unmarshal([]byte(e.must("", "keys", "list", "--json")), &list); err != nil {
		t.Fatalf("keys list --json: %v", err)
	}
	id := ""
	for _, k := range list.Keys {
		if k.Name == "ci-ingest" && strings.Join(k.Scopes, ",") == "ingest" {
			id = k.ID
		}
	}
	if id == "" || !strings.Contains(secret, id) {
		t.Fatalf("keys list lacks the new key %s: %+v", secret, list.Keys)
	}
	if human := e.must("", "keys", "list"); !strings.Contains(human, "ci-ingest") || !strings.HasPrefix(human, "ID") {
		t.Fatalf("keys list:\n%s", human)
	}
	// The new key ingests; after revoke it is refused with a clear error.
	e.must(`{"message":"with the new key"}`, "ingest", "--key", secret)
	e.must("", "keys", "revoke", id)
	if human := e.must("", "keys", "list"); strings.Contains(human, id) {
		t.Fatalf("revoked key still listed:\n%s", human)
	}
	waitFor(t, "the revoked key to be refused", func() bool {
		code, _, errOut := e.run(`{"message":"after revoke"}`, "ingest", "--key", secret)
		return code == 1 && strings.Contains(errOut, "HTTP 401")
	})

	// Errors: a wrong key, and bad command lines.
	for _, tc := range []struct {
		name string
		args []string
		code int
		msg  string
	}{
		{"wrong key", []string{"search", "--key", "sm_nokey_nosecret", "x"}, 1, "HTTP 401 unauthenticated"},
		{"unknown key id", []string{"keys", "revoke", "nosuchkey"}, 1, "HTTP 404"},
		{"unknown command", []string{"frobnicate"}, 2, "unknown command"},
		{"bad time", []string{"search", "--from", "yesterday-ish", "x"}, 2, "is not a time"},
		{"bad range", []string{"search", "--from", "-1h", "--to", "-2h", "x"}, 2, "must be before"},
		{"bad query", []string{"search", "level:"}, 1, "HTTP 400"},
		{"keys without action", []string{"keys"}, 2, "want list, create or revoke"},
		{"create without name", []string{"keys", "create"}, 2, "--name is required"},
		{"bad url", []string{"--url", "ftp://x", "search", "x"}, 2, "want http"},
		{"bad batch", []string{"ingest", "--batch", "0"}, 2, "--batch"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			code, _, errOut := e.run("", tc.args...)
			if code != tc.code || !strings.Contains(errOut, tc.msg) {
				t.Fatalf("exit %d (want %d), stderr %q (want %q)", code, tc.code, errOut, tc.msg)
			}
		})
	}
}

func TestCLIIngestSearch(t *testing.T) {
	st, _ := stack(t, nil)
	base := "http://" + st.Server.HTTPAddr()
	c := client{t: t, base: base}
	a := c.signup("ingest@c.example")
	e := newCLIEnv(t, base)
	e.env["SAWMILL_API_KEY"] = a.key

	file := filepath.Join(t.TempDir(), "app.log")
	lines := strings.Join([]string{
		`{"level":"error","message":"payment declined","service":"web","request_id":"req-cli-1","duration_ms":12.5}`,
		``,
		`{"level":"info","message": "broken json`,
		`plain text line from a worker`,
		`{"level":"info","message":"checkout ok","service":"web","customer":"Ada Lovelace"}`,
	}, "\n")
	if err := os.WriteFile(file, []byte(lines+"\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	code, out, errOut := e.run("", "ingest", "--service", "worker", file)
	if code != 1 || !strings.Contains(out, "accepted 3, rejected 1") {
		t.Fatalf("ingest: exit %d (want 1)\nstdout: %s\nstderr: %s", code, out, errOut)
	}
	if !strings.HasPrefix(errOut, file+":3: ") {
		t.Fatalf("the bad line (3) should be named with its reason: %q", errOut)
	}
	c.waitCount(a.key, "", 3)

	// Human output: one line per event, newest first, fields as key=value.
	out = e.must("", "search", "service:web", "--from", "-1h")
	got := strings.Split(strings.TrimSpace(out), "\n")
	if len(got) != 2 || !strings.Contains(got[0], " INFO  web checkout ok ") || !strings.Contains(got[0], `customer="Ada Lovelace"`) ||
		!strings.Contains(got[1], " ERROR web payment declined ") || !strings.Contains(got[1], "request_id=req-cli-1") || !strings.Contains(got[1], "duration_ms=12.5") {
		t.Fatalf("search output:\n%s", out)
	}
	if out := e.must("", "search", "service:worker"); !strings.Contains(out, "plain text line from a worker") {
		t.Fatalf("plain line not found with its --service:\n%s", out)
	}

	// --json: the API's answer as-is; --all follows cursors (3 pages of 1).
	out = e.must("", "search", "--json", "--all", "--limit", "1")
	pages := strings.Split(strings.TrimSpace(out), "\n")
	if len(pages) != 3 {
		t.Fatalf("--all --limit 1: %d pages, want 3:\n%s", len(pages), out)
	}
	for _, p := range pages {
		var page searchPage
		if err := json.Unmarshal([]byte(p), &page); err != nil || len(page.Events) != 1 {
			t.Fatalf("page %q: %v", p, err)
		}
	}
	code, out, errOut = e.run("", "search", "--limit", "2")
	if code != 0 || strings.Count(out, "\n") != 2 || !strings.Contains(errOut, "--all") {
		t.Fatalf("a partial result should say there is more: %d %q %q", code, out, errOut)
	}

	// A pipe prints an aligned table.
	out = e.must("", "search", "service:web | stats count() by level | sort level asc")
	want := "level  count()\n" +
		"error  1\n" +
		"info   1\n"
	if out != want {
		t.Fatalf("stats table:\n%s\nwant:\n%s", out, want)
	}

	// tail without -f: the latest events, oldest first.
	out = e.must("", "tail", "-n", "2")
	got = strings.Split(strings.TrimSpace(out), "\n")
	if len(got) != 2 || !strings.Contains(got[1], "checkout ok") {
		t.Fatalf("tail -n 2:\n%s", out)
	}
}

func TestCLITailFollow(t *testing.T) {
	st, _ := stack(t, nil)
	base := "http://" + st.Server.HTTPAddr()
	c := client{t: t, base: base}
	a := c.signup("tail@c.example")
	e := newCLIEnv(t, base)
	e.env["SAWMILL_API_KEY"] = a.key

	for _, asJSON := range []bool{false, true} {
		ctx, cancel := context.WithCancel(context.Background())
		var out, errOut syncBuffer
		args := []string{"tail", "-f", "level:error"}
		if asJSON {
			args = append(args, "--json")
		}
		done := make(chan int, 1)
		go func() { done <- runCLI(ctx, args, strings.NewReader(""), &out, &errOut, e.getenv) }()
		if !asJSON { // --json prints nothing at start: the line is resent below until seen
			waitFor(t, "the tail to start", func() bool { return strings.Contains(errOut.String(), "tailing") })
		}
		msg := "tail error " + map[bool]string{false: "human", true: "json"}[asJSON]
		var sent time.Time
		waitFor(t, "the tailed line", func() bool {
			// Resent every 2 s until seen: with --json the stream may not be open yet.
			if time.Since(sent) > 2*time.Second && !strings.Contains(out.String(), msg) {
				c.do("POST", "/v1/ingest", a.key, `{"level":"info","message":"not an error"}`+"\n"+`{"level":"error","message":"`+msg+`"}`)
				sent = time.Now()
			}
			return strings.Contains(out.String(), msg)
		})
		cancel()
		select {
		case code := <-done:
			if code != 0 {
				t.Fatalf("tail after cancel: exit %d, stderr %q", code, errOut.String())
			}
		case <-time.After(10 * time.Second):
			t.Fatal("tail did not stop on cancel")
		}
		if strings.Contains(out.String(), "not an error") {
			t.Fatalf("tail printed a line the query excludes:\n%s", out.String())
		}
		first := strings.SplitN(out.String(), "\n", 2)[0]
		if asJSON {
			var ev map[string]any
			if err := json.Unmarshal([]byte(first), &ev); err != nil || ev["message"] != msg {
				t.Fatalf("tail --json line %q: %v", first, err)
			}
		} else if !strings.Contains(first, " ERROR - "+msg) {
			t.Fatalf("tail line %q", first)
		}
	}
}

func TestCLICommandLine(t *testing.T) {
	for _, tc := range []struct {
		args   []string
		stdin  bool // input piped in
		client bool
	}{
		{[]string{"search", "x"}, false, true},
		{[]string{"--json", "keys", "list"}, false, true},
		{nil, false, true},
		{[]string{"dev"}, false, false},
		{[]string{"query", "-nats.url", "nats://x"}, false, false},
		{[]string{"ingest"}, false, false},
		{[]string{"ingest"}, true, true},
		{[]string{"ingest", "-nats.url", "nats://x", "-clickhouse.addr", "h:9000"}, false, false},
		{[]string{"ingest", "-nats.url", "nats://x"}, true, false},
		{[]string{"ingest", "app.log"}, false, true},
		{[]string{"ingest", "-"}, false, true},
		{[]string{"ingest", "--service", "web"}, false, true},
	} {
		client, server := false, false
		if len(tc.args) > 0 && tc.args[0] == "ingest" {
			client, server = classifyIngestArgs(tc.args[1:])
		}
		got := isClientCommand(tc.args, nil)
		if len(tc.args) > 0 && tc.args[0] == "ingest" {
			got = !server && (client || tc.stdin)
		}
		if got != tc.client {
			t.Errorf("%q (stdin piped %v): client %v, want %v", tc.args, tc.stdin, got, tc.client)
		}
	}

	now := time.Date(2026, 11, 26, 12, 0, 0, 0, time.UTC)
	for in, want := range map[string]time.Time{
		"now":                  now,
		"-1h":                  now.Add(-time.Hour),
		"15m":                  now.Add(-15 * time.Minute),
		"-2d":                  now.Add(-48 * time.Hour),
		"-1w":                  now.Add(-7 * 24 * time.Hour),
		"2026-11-25":           time.Date(2026, 11, 25, 0, 0, 0, 0, time.UTC),
		"2026-11-25T10:00:00Z": time.Date(2026, 11, 25, 10, 0, 0, 0, time.UTC),
	} {
		if got, err := parseTimeArg(in, now); err != nil || !got.Equal(want) {
			t.Errorf("parseTimeArg(%q) = %v, %v; want %v", in, got, err, want)
		}
	}

	// Flags anywhere; a negated term is a query word, not a flag.
	fs := flagSetFor(t, searchCommand())
	pos, err := parseInterspersed(fs, []string{"level:error", "--from", "-2h", "-level:debug", "--", "--all"})
	if err != nil || strings.Join(pos, " ") != "level:error -level:debug --all" || fs.Lookup("from").Value.String() != "-2h" {
		t.Fatalf("parseInterspersed: %q %v", pos, err)
	}

	// Every command explains itself with examples.
	e := &cliEnv{tb: t, env: map[string]string{"HOME": t.TempDir()}}
	for _, cmd := range clientCommands() {
		code, out, _ := e.run("", cmd.name, "-h")
		if code != 0 || !strings.Contains(out, "usage: sawmill "+cmd.name) || !strings.Contains(out, "Example") {
			t.Errorf("sawmill %s -h: exit %d\n%s", cmd.name, code, out)
		}
	}
	if code, out, _ := e.run("", "help"); code != 0 || !strings.Contains(out, "client commands") {
		t.Errorf("sawmill help: exit %d\n%s", code, out)
	}
}

// A batch refused with 503 is retried after Retry-After with the same
// Idempotency-Key, gzipped NDJSON, plain lines wrapped as messages.
func TestCLIIngestRetry(t *testing.T) {
	var mu sync.Mutex
	var keys, bodies []string
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		zr, err := gzip.NewReader(r.Body)
		if err != nil || r.Header.Get("Content-Encoding") != "gzip" || r.Header.Get("Authorization") != "Bearer sm_k_s" {
			http.Error(w, "bad request", 400)
			return
		}
		body, _ := io.ReadAll(zr)
		mu.Lock()
		keys, bodies = append(keys, r.Header.Get("Idempotency-Key")), append(bodies, string(body))
		n := len(keys)
		mu.Unlock()
		if n == 1 {
			w.Header().Set("Retry-After", "1")
			w.WriteHeader(503)
			io.WriteString(w, `{"code":"unavailable","message":"the event bus cannot take the batch now"}`)
			return
		}
		io.WriteString(w, `{"accepted":2,"rejected":0}`)
	}))
	defer srv.Close()
	e := newCLIEnv(t, srv.URL)
	e.env["SAWMILL_API_KEY"] = "sm_k_s"
	code, out, errOut := e.run("plain line\n{\"message\":\"json line\"}\n", "ingest", "-")
	if code != 0 || out != "accepted 2, rejected 0\n" || !strings.Contains(errOut, "retrying in 1s") {
		t.Fatalf("exit %d, stdout %q, stderr %q", code, out, errOut)
	}
	mu.Lock()
	defer mu.Unlock()
	if len(keys) != 2 || keys[0] == "" || keys[0] != keys[1] {
		t.Fatalf("idempotency keys %q: want the same key on the retry", keys)
	}
	if want := "{\"message\":\"plain line\"}\n{\"message\":\"json line\"}\n"; bodies[1] != want {
		t.Fatalf("body %q, want %q", bodies[1], want)
	}
}

// tail -f reports the server's missed count, resumes a dropped stream from
// the last event id, and ends with exit 1 on an error answer.
func TestCLITailResume(t *testing.T) {
	var mu sync.Mutex
	var lastIDs []string
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		lastIDs = append(lastIDs, r.Header.Get("Last-Event-ID"))
		n := len(lastIDs)
		mu.Unlock()
		if n > 1 {
			w.WriteHeader(401)
			io.WriteString(w, `{"code":"unauthenticated","message":"API key revoked"}`)
			return
		}
		w.Header().Set("Content-Type", "text/event-stream")
		io.WriteString(w, ": tail started\n\nevent: missed\ndata: {\"missed\":7}\n\n"+
			"id: 42\ndata: {\"timestamp\":\"2026-11-26T10:00:00Z\",\"level\":\"error\",\"message\":\"boom\",\"service\":\"web\"}\n\n")
	}))
	defer srv.Close()
	e := newCLIEnv(t, srv.URL)
	e.env["SAWMILL_API_KEY"] = "sm_k_s"
	code, out, errOut := e.run("", "tail", "-f")
	if code != 1 || out != "2026-11-26T10:00:00.000Z ERROR web boom\n" {
		t.Fatalf("exit %d, stdout %q", code, out)
	}
	for _, want := range []string{"missed 7 events", "reconnecting", "API key revoked (HTTP 401"} {
		if !strings.Contains(errOut, want) {
			t.Errorf("stderr lacks %q:\n%s", want, errOut)
		}
	}
	mu.Lock()
	defer mu.Unlock()
	if len(lastIDs) != 2 || lastIDs[0] != "" || lastIDs[1] != "42" {
		t.Fatalf("Last-Event-ID per connection: %q, want [\"\" \"42\"]", lastIDs)
	}
}
