// Package chserver provides a private clickhouse-server run as a child
// process: it writes a self-contained config under a directory, starts the
// server on a free native-protocol port, waits until it answers a ping and
// stops it. It is for `sawmill dev` and tests; it must not create databases
// or tables (pkg/store does) and must not touch a system-wide ClickHouse
// installation's config or data.
package chserver

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/ClickHouse/clickhouse-go/v2"
)

// ErrNoBinary is returned by Start when no ClickHouse server binary is found.
var ErrNoBinary = errors.New(`no clickhouse-server binary found in PATH, /usr/sbin or /usr/bin: install it with "apt-get install clickhouse-server" or set Config.Binary`)

const (
	readyTimeout = 30 * time.Second // how long Start waits for a ping
	stopTimeout  = 10 * time.Second // SIGTERM grace period before SIGKILL
	portAttempts = 3                // retries when a picked free port is taken meanwhile
)

// Config configures a private server.
type Config struct {
	// Dir holds everything: data, tmp, logs and the generated configs.
	// Required. Starting again on the same Dir keeps the data; two servers
	// must not share a Dir at the same time.
	Dir string
	// Host is the interface to listen on. If empty, 127.0.0.1 is used.
	Host string
	// TCPPort is the native-protocol port. If 0, a free port is picked.
	TCPPort int
	// Binary is the server executable. If empty, clickhouse-server is looked
	// up in PATH, /usr/sbin and /usr/bin, then the `clickhouse` multi-binary
	// (run as `clickhouse server`). A Binary whose base name is `clickhouse`
	// is also run as `clickhouse server`.
	Binary string
	// Logger receives start and stop events. If nil, nothing is logged.
	Logger *slog.Logger
	// Cluster, when set, makes the server a replica of a replicated
	// cluster (see Cluster). If nil, a standalone server.
	Cluster *Cluster
}

// Server is a running clickhouse-server child process. It is killed when the
// parent process dies (Pdeathsig) and runs in its own process group, so a
// terminal's Ctrl-C reaches it only through the parent. Methods are safe for
// concurrent use.
type Server struct {
	addr   string
	pid    int
	logger *slog.Logger
	files  layout
	done   chan struct{} // closed when the process has exited
	// waitErr is the process's exit status; read it only after done is closed.
	waitErr  error
	stopOnce sync.Once
	stopErr  error
}

// Start starts a server and returns once it answers a native-protocol ping,
// or fails after ~30 s (or when ctx ends) with the tail of the server's error
// log in the error. The caller must call Stop.
func Start(ctx context.Context, cfg Config) (*Server, error) {
	if cfg.Dir == "" {
		return nil, errors.New("chserver: Dir is required")
	}
	dir, err := filepath.Abs(cfg.Dir)
	if err != nil {
		return nil, fmt.Errorf("chserver: dir: %w", err)
	}
	bin, args, err := findBinary(cfg.Binary)
	if err != nil {
		return nil, fmt.Errorf("chserver: %w", err)
	}
	if cfg.Host == "" {
		cfg.Host = "127.0.0.1"
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	if cfg.Cluster != nil {
		if err := cfg.Cluster.validate(); err != nil {
			return nil, fmt.Errorf("chserver: %w", err)
		}
	}
	attempts := 1
	if cfg.TCPPort == 0 {
		attempts = portAttempts
	}
	for i := 0; ; i++ {
		port := cfg.TCPPort
		if port == 0 {
			if port, err = freePort(cfg.Host); err != nil {
				return nil, fmt.Errorf("chserver: %w", err)
			}
		}
		ports := listenPorts{tcp: port}
		if c := cfg.Cluster; c != nil {
			if ports.interserver = c.InterserverPort; ports.interserver == 0 {
				if ports.interserver, err = freePort(cfg.Host); err != nil {
					return nil, fmt.Errorf("chserver: %w", err)
				}
			}
		}
		s, err := start(ctx, cfg, layout{dir}, bin, args, ports)
		if err == nil || i+1 >= attempts || !errors.Is(err, errPortTaken) {
			return s, err
		}
		cfg.Logger.Debug("clickhouse port taken, retrying", "port", port)
	}
}

var errPortTaken = errors.New("port already in use")

// listenPorts are the ports a server listens on; interserver is 0 for a
// standalone server.
type listenPorts struct{ tcp, interserver int }

func start(ctx context.Context, cfg Config, files layout, bin string, args []string, ports listenPorts) (*Server, error) {
	port := ports.tcp
	if err := files.write(cfg.Host, ports, cfg.Cluster); err != nil {
		return nil, fmt.Errorf("chserver: %w", err)
	}
	stderr, err := os.OpenFile(files.stderr(), os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return nil, fmt.Errorf("chserver: open stderr log: %w", err)
	}
	defer stderr.Close() // the child has its own copy
	errLogStart := fileSize(files.errorLog())
	stderrStart := fileSize(files.stderr())

	cmd := exec.Command(bin, append(args, "--config-file="+files.config())...)
	cmd.Dir = files.dir
	cmd.Stdout, cmd.Stderr = stderr, stderr
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
	s := &Server{
		addr:   net.JoinHostPort(cfg.Host, strconv.Itoa(port)),
		logger: cfg.Logger,
		files:  files,
		done:   make(chan struct{}),
	}
	if err := s.spawn(cmd); err != nil {
		return nil, fmt.Errorf("chserver: start %s: %w", bin, err)
	}
	cfg.Logger.Debug("clickhouse starting", "binary", bin, "addr", s.addr, "dir", files.dir, "pid", s.pid)
	if err := s.waitReady(ctx); err != nil {
		_ = s.Stop()
		log := strings.TrimSpace(tailFrom(files.errorLog(), errLogStart) + "\n" + tailFrom(files.stderr(), stderrStart))
		if strings.Contains(log, "Address already in use") {
			err = fmt.Errorf("%w: %w", errPortTaken, err)
		}
		return nil, fmt.Errorf("chserver: server on %s in %s: %w; error log tail:\n%s", s.addr, files.dir, err, log)
	}
	cfg.Logger.Info("clickhouse ready", "addr", s.addr, "dir", files.dir, "pid", s.pid)
	return s, nil
}

// spawn starts cmd from a goroutine locked to its OS thread, and keeps that
// thread until the child exits: Pdeathsig fires when the *thread* that forked
// the child exits, and the Go runtime may retire idle threads otherwise.
func (s *Server) spawn(cmd *exec.Cmd) error {
	started := make(chan error, 1)
	go func() {
		runtime.LockOSThread() // never unlocked: the thread exits with this goroutine
		if err := cmd.Start(); err != nil {
			started <- err
			return
		}
		s.pid = cmd.Process.Pid
		started <- nil
		s.waitErr = cmd.Wait()
		close(s.done)
	}()
	return <-started
}

// waitReady pings the server until it answers, the process exits, ctx ends
// or readyTimeout passes.
func (s *Server) waitReady(ctx context.Context) error {
	ctx, cancel := context.WithTimeout(ctx, readyTimeout)
	defer cancel()
	var last error
	for {
		if last = ping(ctx, s.addr); last == nil {
			return nil
		}
		select {
		case <-s.done:
			return fmt.Errorf("exited before ready: %v", s.waitErr)
		case <-ctx.Done():
			return fmt.Errorf("not ready: %w (last ping: %v)", ctx.Err(), last)
		case <-time.After(100 * time.Millisecond):
		}
	}
}

// ping opens a native connection to addr and pings it once.
func ping(ctx context.Context, addr string) error {
	conn, err := clickhouse.Open(&clickhouse.Options{
		Addr:        []string{addr},
		DialTimeout: time.Second,
		ReadTimeout: 5 * time.Second,
	})
	if err != nil {
		return err
	}
	defer conn.Close()
	ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	return conn.Ping(ctx)
}

// Addr returns the native-protocol address, "host:port".
func (s *Server) Addr() string { return s.addr }

// PID returns the server's process id (also its process group id).
func (s *Server) PID() int { return s.pid }

// Dir returns the absolute directory the server keeps its files in.
func (s *Server) Dir() string { return s.files.dir }

// Done is closed when the server process has exited, whether by Stop or not.
func (s *Server) Done() <-chan struct{} { return s.done }

// Stop sends SIGTERM to the server's process group, waits for it to exit and
// sends SIGKILL if it has not after a few seconds. It returns nil when the
// server exited because of these signals; calling it again returns the same
// result.
func (s *Server) Stop() error {
	s.stopOnce.Do(func() { s.stopErr = s.stop() })
	return s.stopErr
}

func (s *Server) stop() error {
	select {
	case <-s.done:
		return s.exitErr(false)
	default:
	}
	_ = syscall.Kill(-s.pid, syscall.SIGTERM)
	select {
	case <-s.done:
		s.logger.Debug("clickhouse stopped", "addr", s.addr, "pid", s.pid)
		return s.exitErr(true)
	case <-time.After(stopTimeout):
	}
	s.logger.Warn("clickhouse did not stop in time, killing it", "addr", s.addr, "pid", s.pid, "timeout", stopTimeout)
	_ = syscall.Kill(-s.pid, syscall.SIGKILL)
	<-s.done
	return s.exitErr(true)
}

// exitErr interprets the exit status; signalled tells whether we sent the
// signals, in which case death by SIGTERM or SIGKILL is a clean stop.
func (s *Server) exitErr(signalled bool) error {
	if s.waitErr == nil {
		return nil
	}
	var ee *exec.ExitError
	if signalled && errors.As(s.waitErr, &ee) {
		if ws, ok := ee.Sys().(syscall.WaitStatus); ok && ws.Signaled() {
			return nil
		}
	}
	return fmt.Errorf("chserver: server exited: %w", s.waitErr)
}

// searchDirs are looked in after PATH (sbin is often not in a user's PATH).
var searchDirs = []string{"/usr/sbin", "/usr/bin", "/usr/local/bin"}

// findBinary resolves the executable and the arguments before --config-file.
func findBinary(bin string) (string, []string, error) {
	withArgs := func(p string) (string, []string, error) {
		if filepath.Base(p) == "clickhouse" {
			return p, []string{"server"}, nil
		}
		return p, nil, nil
	}
	if bin != "" {
		p, err := exec.LookPath(bin)
		if err != nil {
			return "", nil, fmt.Errorf("binary %q: %w", bin, err)
		}
		return withArgs(p)
	}
	for _, name := range []string{"clickhouse-server", "clickhouse"} {
		if p, err := exec.LookPath(name); err == nil {
			return withArgs(p)
		}
		for _, d := range searchDirs {
			if p := filepath.Join(d, name); isExecutable(p) {
				return withArgs(p)
			}
		}
	}
	return "", nil, ErrNoBinary
}

func isExecutable(p string) bool {
	st, err := os.Stat(p)
	return err == nil && st.Mode().IsRegular() && st.Mode()&0o111 != 0
}

// freePort asks the kernel for a free TCP port on host.
func freePort(host string) (int, error) {
	l, err := net.Listen("tcp", net.JoinHostPort(host, "0"))
	if err != nil {
		return 0, fmt.Errorf("pick free port: %w", err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}

func fileSize(path string) int64 {
	st, err := os.Stat(path)
	if err != nil {
		return 0
	}
	return st.Size()
}

// tailFrom returns the last few KB written to path after offset from: the
// error output of this start, not of earlier runs on the same Dir.
func tailFrom(path string, from int64) string {
	f, err := os.Open(path)
	if err != nil {
		return ""
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return ""
	}
	off := max(st.Size()-4096, from, 0)
	if off >= st.Size() {
		return ""
	}
	buf := make([]byte, st.Size()-off)
	n, _ := f.ReadAt(buf, off)
	return string(buf[:n])
}
