// Package natsembed provides an in-process NATS server with JetStream file
// storage, for `sawmill dev` and for tests. It only starts and stops the
// server: it must not create streams, buckets or consumers (that is pkg/bus's
// job) and must not install signal handlers or write to stdout/stderr.
package natsembed

import (
	"errors"
	"fmt"
	"log/slog"
	"net"
	"time"

	"github.com/nats-io/nats-server/v2/server"
)

// DefaultMaxPayload is the largest message the server accepts when
// Config.MaxPayload is zero: 8 MiB, enough for the edge's largest batch.
const DefaultMaxPayload = 8 << 20

// readyTimeout bounds how long Start waits for the server to accept clients.
const readyTimeout = 10 * time.Second

// Config configures an embedded server.
type Config struct {
	// Host is the interface to listen on. If empty, 127.0.0.1 is used.
	Host string
	// Port is the client port. 0 and -1 pick a free port; use Server.Port to
	// learn it. To restart a server where clients can find it again, pass the
	// port the previous instance reported.
	Port int
	// StoreDir is where JetStream keeps streams, KV buckets and consumers.
	// Required. Starting a new server on the same StoreDir recovers them.
	StoreDir string
	// MaxPayload is the largest message in bytes. If 0, DefaultMaxPayload.
	MaxPayload int32
	// Logger receives the server's log lines: notices and debug output at
	// debug level, warnings at warn, errors at error. If nil, the server
	// logs nothing.
	Logger *slog.Logger
}

// Server is a running embedded NATS server. Its methods are safe for
// concurrent use.
type Server struct {
	ns *server.Server
}

// Start starts a NATS server with JetStream enabled and returns once it
// accepts client connections. The caller must call Shutdown.
func Start(cfg Config) (*Server, error) {
	if cfg.StoreDir == "" {
		return nil, errors.New("natsembed: StoreDir is required")
	}
	opts := &server.Options{
		ServerName: "sawmill-embedded",
		Host:       cfg.Host,
		Port:       cfg.Port,
		JetStream:  true,
		StoreDir:   cfg.StoreDir,
		MaxPayload: cfg.MaxPayload,
		NoSigs:     true,
		NoLog:      true, // logAdapter below replaces the stock logger
	}
	if opts.Host == "" {
		opts.Host = "127.0.0.1"
	}
	if opts.Port == 0 {
		opts.Port = server.RANDOM_PORT
	}
	if opts.MaxPayload == 0 {
		opts.MaxPayload = DefaultMaxPayload
	}
	ns, err := server.NewServer(opts)
	if err != nil {
		return nil, fmt.Errorf("natsembed: new server: %w", err)
	}
	fatal := make(chan string, 1)
	ns.SetLoggerV2(logAdapter{l: cfg.Logger, fatal: fatal}, cfg.Logger != nil, false, false)
	ns.Start()
	if err := waitReady(ns, fatal); err != nil {
		ns.Shutdown()
		ns.WaitForShutdown()
		return nil, fmt.Errorf("natsembed: start on %s:%d: %w", opts.Host, opts.Port, err)
	}
	return &Server{ns: ns}, nil
}

// waitReady waits until ns accepts clients with JetStream enabled, or
// reports the fatal error that stopped it (e.g. the port is taken).
func waitReady(ns *server.Server, fatal <-chan string) error {
	deadline := time.Now().Add(readyTimeout)
	for time.Now().Before(deadline) {
		select {
		case msg := <-fatal:
			return errors.New(msg)
		default:
		}
		if ns.ReadyForConnections(50 * time.Millisecond) {
			if !ns.JetStreamEnabled() {
				return errors.New("jetstream is not enabled")
			}
			return nil
		}
	}
	return fmt.Errorf("not ready after %s", readyTimeout)
}

// ClientURL returns the URL clients connect to, e.g. nats://127.0.0.1:4222.
func (s *Server) ClientURL() string { return s.ns.ClientURL() }

// Port returns the client port the server listens on.
func (s *Server) Port() int {
	if a, ok := s.ns.Addr().(*net.TCPAddr); ok {
		return a.Port
	}
	return 0
}

// Shutdown stops the server, disconnects clients and waits until JetStream
// has flushed its state and the port is released. Calling it twice is safe.
func (s *Server) Shutdown() {
	s.ns.Shutdown()
	s.ns.WaitForShutdown()
}

// NATS returns the underlying server, for callers that need more than this
// package offers (e.g. monitoring). Do not shut it down directly.
func (s *Server) NATS() *server.Server { return s.ns }
