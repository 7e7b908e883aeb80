// Package natsembed provides an in-process NATS server with JetStream file
// storage, for `sawmill dev` and for tests, standalone or as one node of a
// JetStream cluster (Config.ClusterName and Routes). It only starts and stops
// servers: it must not create streams, buckets or consumers (that is
// pkg/bus's job) and must not install signal handlers or write to
// stdout/stderr.
package natsembed

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/url"
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

	// ServerName identifies the server; every node of a cluster needs its
	// own, and a restarted node must keep its name (JetStream knows its
	// peers by name). If empty, "sawmill-embedded".
	ServerName string
	// ClusterName, when set, makes the server a node of that JetStream
	// cluster: it listens for routes on ClusterPort and connects to Routes.
	// Every node of a cluster uses the same ClusterName. If empty, the
	// server runs standalone and the other cluster fields must be zero.
	ClusterName string
	// ClusterPort is the port other nodes' routes connect to, on Host.
	// 0 and -1 pick a free port (ClusterPort reports it), which only the
	// first node of a cluster can use: the others must be told where it is.
	ClusterPort int
	// Routes are the route URLs of the cluster's nodes, e.g.
	// nats://127.0.0.1:6222 (this node's own URL may be included; it is
	// ignored). Routes are retried forever, so nodes may start in any order
	// and a restarted node finds the others again.
	Routes []string
}

func (c Config) validate() error {
	if c.StoreDir == "" {
		return errors.New("StoreDir is required")
	}
	if c.ClusterName == "" && (c.ClusterPort != 0 || len(c.Routes) > 0) {
		return errors.New("ClusterPort and Routes need a ClusterName")
	}
	return nil
}

// routeURLs parses Config.Routes.
func routeURLs(routes []string) ([]*url.URL, error) {
	var out []*url.URL
	for _, r := range routes {
		u, err := url.Parse(r)
		if err != nil || u.Scheme != "nats" || u.Host == "" || u.Port() == "" {
			return nil, fmt.Errorf("route %q: want nats://host:port", r)
		}
		out = append(out, u)
	}
	return out, nil
}

// Server is a running embedded NATS server. Its methods are safe for
// concurrent use.
type Server struct {
	ns *server.Server
}

// Start starts a NATS server with JetStream enabled and returns once it
// accepts client connections. The caller must call Shutdown.
func Start(cfg Config) (*Server, error) {
	if err := cfg.validate(); err != nil {
		return nil, fmt.Errorf("natsembed: %w", err)
	}
	opts := &server.Options{
		ServerName: cfg.ServerName,
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
	if opts.ServerName == "" {
		opts.ServerName = "sawmill-embedded"
	}
	if cfg.ClusterName != "" {
		routes, err := routeURLs(cfg.Routes)
		if err != nil {
			return nil, fmt.Errorf("natsembed: %w", err)
		}
		opts.Cluster = server.ClusterOpts{Name: cfg.ClusterName, Host: opts.Host, Port: cfg.ClusterPort}
		if opts.Cluster.Port == 0 {
			opts.Cluster.Port = server.RANDOM_PORT
		}
		opts.Routes = routes
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

// ClusterPort returns the port routes connect to, or 0 for a standalone
// server.
func (s *Server) ClusterPort() int {
	if a := s.ns.ClusterAddr(); a != nil {
		return a.Port
	}
	return 0
}

// Name returns the server name (Config.ServerName).
func (s *Server) Name() string { return s.ns.Name() }

// MetaLeader returns the name of the server this node knows as the
// JetStream meta leader (the node that places streams and consumers), or ""
// while there is none or the server is standalone.
func (s *Server) MetaLeader() string {
	info, err := s.ns.Jsz(nil)
	if err != nil || info.Meta == nil {
		return ""
	}
	return info.Meta.Leader
}

// WaitCluster waits until this node knows a meta leader and sees at least
// peers nodes of the cluster online (itself included), i.e. until streams
// with that many replicas can be created through it. A standalone server
// returns at once. It returns ctx's error if that does not happen first.
func (s *Server) WaitCluster(ctx context.Context, peers int) error {
	if !s.ns.JetStreamIsClustered() && s.ns.ClusterAddr() == nil {
		return nil
	}
	t := time.NewTicker(50 * time.Millisecond)
	defer t.Stop()
	for {
		if leader, online := s.metaState(); leader != "" && online >= peers {
			return nil
		}
		select {
		case <-ctx.Done():
			leader, online := s.metaState()
			return fmt.Errorf("natsembed: %s: cluster not ready (meta leader %q, %d of %d peers online): %w",
				s.Name(), leader, online, peers, ctx.Err())
		case <-t.C:
		}
	}
}

// metaState reports the meta leader this node knows and how many nodes of
// the meta group it sees online, itself included.
func (s *Server) metaState() (leader string, online int) {
	info, err := s.ns.Jsz(nil)
	if err != nil || info.Meta == nil {
		return "", 0
	}
	// Replicas lists the other members of the meta group; Current is only
	// tracked by the leader, Offline (from the nodes' periodic stats) by all.
	online = 1
	for _, p := range info.Meta.Replicas {
		if !p.Offline {
			online++
		}
	}
	return info.Meta.Leader, online
}

// Shutdown stops the server, disconnects clients and waits until JetStream
// has flushed its state and the port is released. Calling it twice is safe.
// A cluster node first hands the stream and consumer leaderships it holds
// to other nodes (nats-server does so on every shutdown), so the cluster
// barely notices; a crashed node costs the others an election timeout
// (4-9 s) instead.
func (s *Server) Shutdown() {
	s.ns.Shutdown()
	s.ns.WaitForShutdown()
}

// NATS returns the underlying server, for callers that need more than this
// package offers (e.g. monitoring). Do not shut it down directly.
func (s *Server) NATS() *server.Server { return s.ns }
