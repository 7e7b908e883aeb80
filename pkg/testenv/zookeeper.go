package testenv

import (
	"bufio"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// zookeeperJar is Debian's ZooKeeper server (package zookeeper); its
// manifest's Class-Path names every dependency, so it runs on its own.
const zookeeperJar = "/usr/share/java/zookeeper.jar"

// ZooKeeper is a private, standalone Apache ZooKeeper server: the
// coordinator of replicated ClickHouse tables on 18.16.
type ZooKeeper struct {
	addr string
	cmd  *exec.Cmd
	done chan struct{}
}

// StartZooKeeper starts a standalone ZooKeeper on a free port of 127.0.0.1
// with its data in the test's temporary directory, waits until it answers
// "ruok" and stops it when the test ends. It fails tb when ZooKeeper cannot
// start (it needs Debian's zookeeper package, which brings Java).
func StartZooKeeper(tb testing.TB) *ZooKeeper {
	tb.Helper()
	if _, err := os.Stat(zookeeperJar); err != nil {
		tb.Fatalf("testenv: zookeeper is required for this test: %v (apt-get install zookeeper)", err)
	}
	java, err := exec.LookPath("java")
	if err != nil {
		tb.Fatalf("testenv: zookeeper needs java: %v", err)
	}
	dir := tb.TempDir()
	port := FreePort(tb)
	// tickTime 500 ms allows sessions from 1 s to 10 s: a killed
	// ClickHouse replica's session expires soon enough for it to rejoin.
	cfg := fmt.Sprintf(`tickTime=500
dataDir=%s
clientPort=%d
clientPortAddress=127.0.0.1
admin.enableServer=false
maxClientCnxns=0
4lw.commands.whitelist=srvr
`, filepath.Join(dir, "data"), port)
	if err := os.WriteFile(filepath.Join(dir, "zoo.cfg"), []byte(cfg), 0o644); err != nil {
		tb.Fatalf("testenv: write zoo.cfg: %v", err)
	}
	logPath := filepath.Join(dir, "zookeeper.log")
	logFile, err := os.Create(logPath)
	if err != nil {
		tb.Fatalf("testenv: zookeeper log: %v", err)
	}
	defer logFile.Close()
	cmd := exec.Command(java, "-Xms64m", "-Xmx256m", "-XX:+UseSerialGC", "-XX:TieredStopAtLevel=1",
		"-cp", zookeeperJar, "org.apache.zookeeper.server.ZooKeeperServerMain", filepath.Join(dir, "zoo.cfg"))
	cmd.Dir = dir
	cmd.Stdout, cmd.Stderr = logFile, logFile
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
	z := &ZooKeeper{addr: net.JoinHostPort("127.0.0.1", strconv.Itoa(port)), cmd: cmd, done: make(chan struct{})}
	if err := z.spawn(); err != nil {
		tb.Fatalf("testenv: start zookeeper: %v", err)
	}
	tb.Cleanup(z.stop)
	if err := z.waitReady(30 * time.Second); err != nil {
		z.stop()
		log, _ := os.ReadFile(logPath)
		tb.Fatalf("testenv: zookeeper on %s: %v; log:\n%s", z.addr, err, tail(string(log), 2000))
	}
	return z
}

// spawn starts the JVM from a goroutine locked to its thread, kept until
// the child exits: Pdeathsig follows the forking thread (see chserver).
func (z *ZooKeeper) spawn() error {
	started := make(chan error, 1)
	go func() {
		runtime.LockOSThread()
		if err := z.cmd.Start(); err != nil {
			started <- err
			return
		}
		started <- nil
		_ = z.cmd.Wait()
		close(z.done)
	}()
	return <-started
}

// Addr returns the client address, "127.0.0.1:port".
func (z *ZooKeeper) Addr() string { return z.addr }

func (z *ZooKeeper) waitReady(timeout time.Duration) error {
	deadline := time.Now().Add(timeout)
	var last error
	for time.Now().Before(deadline) {
		if last = serving(z.addr); last == nil {
			return nil
		}
		select {
		case <-z.done:
			return fmt.Errorf("exited before ready")
		case <-time.After(100 * time.Millisecond):
		}
	}
	return fmt.Errorf("not ready after %s: %v", timeout, last)
}

// serving asks ZooKeeper for its status with the "srvr" four-letter
// command. "ruok" is not enough: it answers "imok" while the server still
// refuses sessions, and ClickHouse 18.16 crashes when its first ZooKeeper
// session fails during an ON CLUSTER statement.
func serving(addr string) error {
	c, err := net.DialTimeout("tcp", addr, time.Second)
	if err != nil {
		return err
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(2 * time.Second))
	if _, err := c.Write([]byte("srvr")); err != nil {
		return err
	}
	out, _ := io.ReadAll(bufio.NewReader(c))
	if !strings.Contains(string(out), "Mode: standalone") {
		return fmt.Errorf("srvr answered %q", tail(string(out), 200))
	}
	return nil
}

// stop kills the JVM (its state is a temporary directory) and waits.
func (z *ZooKeeper) stop() {
	select {
	case <-z.done:
		return
	default:
	}
	_ = syscall.Kill(-z.cmd.Process.Pid, syscall.SIGKILL)
	<-z.done
}

func tail(s string, n int) string {
	if len(s) > n {
		return s[len(s)-n:]
	}
	return s
}
