package chserver

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/ClickHouse/clickhouse-go/v2"
	"github.com/ClickHouse/clickhouse-go/v2/lib/driver"
)

func startServer(tb testing.TB, cfg Config) *Server {
	tb.Helper()
	s, err := Start(context.Background(), cfg)
	if err != nil {
		tb.Fatalf("start: %v", err)
	}
	tb.Cleanup(func() {
		if err := s.Stop(); err != nil {
			tb.Errorf("stop: %v", err)
		}
	})
	return s
}

func connect(tb testing.TB, addr string) driver.Conn {
	tb.Helper()
	conn, err := clickhouse.Open(&clickhouse.Options{Addr: []string{addr}})
	if err != nil {
		tb.Fatalf("open: %v", err)
	}
	tb.Cleanup(func() { conn.Close() })
	return conn
}

func exec1(tb testing.TB, conn driver.Conn, sql string) {
	tb.Helper()
	if err := conn.Exec(context.Background(), sql); err != nil {
		tb.Fatalf("%s: %v", sql, err)
	}
}

func TestStartStop(t *testing.T) {
	s := startServer(t, Config{Dir: t.TempDir()})
	if !strings.HasPrefix(s.Addr(), "127.0.0.1:") {
		t.Fatalf("Addr() = %q, want 127.0.0.1:port", s.Addr())
	}
	var version string
	if err := connect(t, s.Addr()).QueryRow(context.Background(), "SELECT version()").Scan(&version); err != nil {
		t.Fatalf("select version: %v", err)
	}
	t.Logf("clickhouse %s on %s as uid %d", version, s.Addr(), os.Getuid())
	if err := s.Stop(); err != nil {
		t.Fatalf("stop: %v", err)
	}
	select {
	case <-s.Done():
	default:
		t.Fatal("Done not closed after Stop")
	}
	if err := s.Stop(); err != nil {
		t.Fatalf("second stop: %v", err)
	}
}

func TestRestartKeepsData(t *testing.T) {
	dir := t.TempDir()
	s := startServer(t, Config{Dir: dir})
	conn := connect(t, s.Addr())
	exec1(t, conn, "CREATE TABLE default.kept (x UInt32) ENGINE = MergeTree() ORDER BY x")
	exec1(t, conn, "INSERT INTO default.kept (x) SELECT 42")
	if err := s.Stop(); err != nil {
		t.Fatalf("stop: %v", err)
	}

	s2 := startServer(t, Config{Dir: dir})
	var x uint32
	if err := connect(t, s2.Addr()).QueryRow(context.Background(), "SELECT x FROM default.kept").Scan(&x); err != nil {
		t.Fatalf("select after restart: %v", err)
	}
	if x != 42 {
		t.Fatalf("x = %d after restart, want 42", x)
	}
}

func TestTwoInstances(t *testing.T) {
	a := startServer(t, Config{Dir: t.TempDir()})
	b := startServer(t, Config{Dir: t.TempDir()})
	if a.Addr() == b.Addr() {
		t.Fatalf("both servers on %s", a.Addr())
	}
	for _, s := range []*Server{a, b} {
		if err := connect(t, s.Addr()).Ping(context.Background()); err != nil {
			t.Fatalf("ping %s: %v", s.Addr(), err)
		}
	}
}

func TestStartErrors(t *testing.T) {
	running := startServer(t, Config{Dir: t.TempDir()})
	f := func(name string, cfg Config, want string) {
		t.Helper()
		s, err := Start(context.Background(), cfg)
		if err == nil {
			s.Stop()
			t.Fatalf("%s: Start succeeded, want error containing %q", name, want)
		}
		if !strings.Contains(err.Error(), want) {
			t.Fatalf("%s: error %q, want it to contain %q", name, err, want)
		}
	}
	f("no dir", Config{}, "Dir is required")
	f("missing binary", Config{Dir: t.TempDir(), Binary: "/nonexistent/clickhouse-server"}, "/nonexistent/clickhouse-server")
	// The error log tail explains why the second server on a Dir fails.
	f("dir in use", Config{Dir: running.Dir()}, "Cannot lock file")
}

func TestFindBinary(t *testing.T) {
	dir := t.TempDir()
	for _, name := range []string{"clickhouse", "clickhouse-server"} {
		if err := os.WriteFile(filepath.Join(dir, name), []byte("#!/bin/sh\n"), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	f := func(bin, wantBin string, wantArgs string) {
		t.Helper()
		got, args, err := findBinary(bin)
		if err != nil {
			t.Fatalf("findBinary(%q): %v", bin, err)
		}
		if got != wantBin || strings.Join(args, " ") != wantArgs {
			t.Fatalf("findBinary(%q) = %q %q, want %q %q", bin, got, args, wantBin, wantArgs)
		}
	}
	f(filepath.Join(dir, "clickhouse"), filepath.Join(dir, "clickhouse"), "server")
	f(filepath.Join(dir, "clickhouse-server"), filepath.Join(dir, "clickhouse-server"), "")

	t.Setenv("PATH", dir)
	f("", filepath.Join(dir, "clickhouse-server"), "")
	os.Remove(filepath.Join(dir, "clickhouse-server"))
	old := searchDirs
	searchDirs = nil
	t.Cleanup(func() { searchDirs = old })
	f("", filepath.Join(dir, "clickhouse"), "server")

	t.Setenv("PATH", t.TempDir())
	_, _, err := findBinary("")
	if !errors.Is(err, ErrNoBinary) || !strings.Contains(err.Error(), "apt-get install clickhouse-server") {
		t.Fatalf("findBinary with nothing installed: %v, want ErrNoBinary mentioning apt-get", err)
	}
}

// TestDiesWithParent runs a helper process that starts a server, kills the
// helper with SIGKILL and checks that the server goes with it (Pdeathsig).
func TestDiesWithParent(t *testing.T) {
	if dir := os.Getenv("CHSERVER_HELPER_DIR"); dir != "" {
		helper(dir)
		return
	}
	cmd := exec.Command(os.Args[0], "-test.run=^TestDiesWithParent$")
	cmd.Env = append(os.Environ(), "CHSERVER_HELPER_DIR="+t.TempDir())
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	cmd.Stderr = os.Stderr
	if err := cmd.Start(); err != nil {
		t.Fatalf("start helper: %v", err)
	}
	var pid int
	sc := bufio.NewScanner(out)
	for sc.Scan() {
		if _, err := fmt.Sscanf(sc.Text(), "pid %d", &pid); err == nil {
			break
		}
	}
	if pid == 0 {
		cmd.Process.Kill()
		cmd.Wait()
		t.Fatal("helper did not report a server pid")
	}
	cmd.Process.Kill()
	cmd.Wait()
	// Pdeathsig is asynchronous: poll (generously) until the pid is gone or a zombie.
	deadline := time.Now().Add(30 * time.Second)
	for alive(pid) {
		if time.Now().After(deadline) {
			syscall.Kill(-pid, syscall.SIGKILL)
			t.Fatalf("server pid %d still alive after its parent was killed", pid)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func helper(dir string) {
	s, err := Start(context.Background(), Config{Dir: dir})
	if err != nil {
		fmt.Println("error", err)
		os.Exit(1)
	}
	fmt.Printf("pid %d\n", s.PID())
	select {} // until killed
}

// alive reports whether pid exists and is not a zombie.
func alive(pid int) bool {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return false
	}
	// The state follows the parenthesised command name.
	s := string(b)
	i := strings.LastIndexByte(s, ')')
	return i < 0 || i+2 >= len(s) || s[i+2] != 'Z'
}
