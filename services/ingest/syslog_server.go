package ingest

import (
	"context"
	"crypto/tls"
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"net"
	"strconv"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promauto"

	"github.com/sawmillhq/sawmill/pkg/auth"
	"github.com/sawmillhq/sawmill/pkg/event"
	"github.com/sawmillhq/sawmill/services/ingest/syslog"
)

var (
	syslogMessages = promauto.NewCounterVec(prometheus.CounterOpts{
		Name: "sawmill_syslog_messages_total",
		Help: "Syslog messages received, by result: queued, invalid (unparsable or over a limit), no_key, unauthenticated, frame_error, dropped_backpressure (UDP while the bus is down), dropped_shutdown.",
	}, []string{"result"})
	syslogPublishFailures = promauto.NewCounter(prometheus.CounterOpts{
		Name: "sawmill_syslog_publish_failures_total", Help: "Failed publishes of syslog batches (each is retried).",
	})
	syslogConnsRejected = promauto.NewCounter(prometheus.CounterOpts{
		Name: "sawmill_syslog_connections_rejected_total", Help: "TCP/TLS syslog connections closed at once because -syslog.max-conns were open.",
	})
)

// SyslogConfig configures the syslog listeners.
type SyslogConfig struct {
	// Addr is where syslog is received over TCP and UDP (the same port).
	// "" disables both. Default "127.0.0.1:5514".
	Addr string
	// TLSAddr is where syslog over TLS (TCP) is received; the listener
	// runs only when TLSCert and TLSKey are both set. Default
	// "127.0.0.1:6514".
	TLSAddr string
	// TLSCert and TLSKey are PEM files of the TLS listener's certificate
	// (chain) and private key.
	TLSCert, TLSKey string
	// MaxFrameBytes bounds one message; longer ones are skipped and
	// counted. 0 → 64 KiB.
	MaxFrameBytes int
	// MaxConns bounds open TCP and TLS connections together; more are
	// closed at once. 0 → 1024.
	MaxConns int
	// BatchEvents and BatchWait bound how many events of one tenant are
	// gathered, and for how long, before they are published together.
	// 0 → 1000 and 200ms.
	BatchEvents int
	BatchWait   time.Duration
}

// RegisterFlags registers the syslog flags under "syslog.".
func (c *SyslogConfig) RegisterFlags(fs *flag.FlagSet) {
	fs.StringVar(&c.Addr, "syslog.addr", "127.0.0.1:5514", "syslog TCP and UDP listen address (RFC 5424 and RFC 3164); empty disables")
	fs.StringVar(&c.TLSAddr, "syslog.tls-addr", "127.0.0.1:6514", "syslog over TLS listen address; used when -syslog.tls-cert and -syslog.tls-key are set")
	fs.StringVar(&c.TLSCert, "syslog.tls-cert", "", "PEM certificate (chain) of the syslog TLS listener")
	fs.StringVar(&c.TLSKey, "syslog.tls-key", "", "PEM private key of the syslog TLS listener")
	fs.IntVar(&c.MaxFrameBytes, "syslog.max-frame-bytes", syslog.DefaultMaxFrame, "largest syslog message; longer ones are skipped")
	fs.IntVar(&c.MaxConns, "syslog.max-conns", 1024, "most open syslog TCP/TLS connections")
	fs.IntVar(&c.BatchEvents, "syslog.batch-events", 1000, "most events of one tenant published in one batch")
	fs.DurationVar(&c.BatchWait, "syslog.batch-wait", 200*time.Millisecond, "longest an event waits to be published with others")
}

// Validate reports a configuration that cannot work.
func (c *SyslogConfig) Validate() error {
	if (c.TLSCert == "") != (c.TLSKey == "") {
		return errors.New("syslog: set both -syslog.tls-cert and -syslog.tls-key, or neither")
	}
	if c.MaxFrameBytes < 0 || c.MaxConns < 0 || c.BatchEvents < 0 || c.BatchWait < 0 {
		return errors.New("syslog: limits must not be negative")
	}
	return nil
}

func (c *SyslogConfig) defaults() {
	if c.MaxFrameBytes == 0 {
		c.MaxFrameBytes = syslog.DefaultMaxFrame
	}
	if c.MaxConns == 0 {
		c.MaxConns = 1024
	}
	if c.BatchEvents == 0 {
		c.BatchEvents = 1000
	}
	if c.BatchWait == 0 {
		c.BatchWait = 200 * time.Millisecond
	}
}

// SyslogServer receives syslog over TCP, UDP and TLS, authenticates each
// message by the API key it carries, and publishes the events through the
// edge in per-tenant batches. Syslog has no replies: a message that cannot
// be parsed, has no valid key or breaks a limit is dropped and counted in
// sawmill_syslog_messages_total. While the bus cannot take batches, TCP
// connections stop being read (the senders' buffers fill up) and UDP
// datagrams are dropped and counted.
type SyslogServer struct {
	cfg     SyslogConfig
	log     *slog.Logger
	edge    *Edge
	udpAuth *auth.Authenticator
	batch   *syslogBatcher
	debug   syslogLogLimiter

	tcp, tls net.Listener
	udp      net.PacketConn
	sem      chan struct{}
	wg       sync.WaitGroup

	mu     sync.Mutex
	conns  map[net.Conn]struct{}
	closed bool
}

// NewSyslogServer returns a server that authenticates and publishes
// through edge. Start opens the listeners.
func NewSyslogServer(cfg SyslogConfig, log *slog.Logger, edge *Edge) *SyslogServer {
	cfg.defaults()
	// One UDP reader serves every sender: it must not wait for the key
	// table to learn a key id it does not know.
	udpAuth := *edge.auth
	udpAuth.MissWait = -1
	s := &SyslogServer{cfg: cfg, log: log, edge: edge, udpAuth: &udpAuth,
		sem: make(chan struct{}, cfg.MaxConns), conns: map[net.Conn]struct{}{}}
	// Batches stay under the edge's message size, so one batch is one
	// JetStream message and one round trip.
	s.batch = newSyslogBatcher(s.publish, cfg.BatchEvents, edge.cfg.MaxBatchBytes*3/4, cfg.BatchWait)
	return s
}

// Start opens the TCP and UDP listeners on Addr (UDP on the port TCP got,
// so ":0" gives one port for both) and, when a certificate is configured,
// the TLS listener, and serves them in the background. On error nothing is
// left open.
func (s *SyslogServer) Start() (err error) {
	if err := s.cfg.Validate(); err != nil {
		return err
	}
	defer func() {
		if err != nil {
			s.Close()
		}
	}()
	if s.cfg.Addr != "" {
		if s.tcp, err = net.Listen("tcp", s.cfg.Addr); err != nil {
			return fmt.Errorf("syslog tcp listen: %w", err)
		}
		host, _, _ := net.SplitHostPort(s.cfg.Addr)
		port := s.tcp.Addr().(*net.TCPAddr).Port
		if s.udp, err = net.ListenPacket("udp", net.JoinHostPort(host, strconv.Itoa(port))); err != nil {
			return fmt.Errorf("syslog udp listen: %w", err)
		}
		if u, ok := s.udp.(*net.UDPConn); ok {
			_ = u.SetReadBuffer(4 << 20) // ride out bursts; best effort
		}
	}
	if s.cfg.TLSCert != "" && s.cfg.TLSAddr != "" {
		cert, err := tls.LoadX509KeyPair(s.cfg.TLSCert, s.cfg.TLSKey)
		if err != nil {
			return fmt.Errorf("syslog tls certificate: %w", err)
		}
		if s.tls, err = tls.Listen("tcp", s.cfg.TLSAddr, &tls.Config{Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS12}); err != nil {
			return fmt.Errorf("syslog tls listen: %w", err)
		}
	}
	for _, l := range []net.Listener{s.tcp, s.tls} {
		if l != nil {
			s.wg.Add(1)
			go s.accept(l)
		}
	}
	if s.udp != nil {
		s.wg.Add(1)
		go s.serveUDP()
	}
	return nil
}

// Addr returns the TCP and UDP address ("host:port"), "" when disabled.
func (s *SyslogServer) Addr() string {
	if s.tcp == nil {
		return ""
	}
	return s.tcp.Addr().String()
}

// TLSAddr returns the TLS address, "" when not listening.
func (s *SyslogServer) TLSAddr() string {
	if s.tls == nil {
		return ""
	}
	return s.tls.Addr().String()
}

// Close stops the listeners and connections, publishes the events already
// gathered (waiting up to the edge's publish timeout for the bus) and
// returns when every goroutine has ended. It is safe to call more than once.
func (s *SyslogServer) Close() error {
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return nil
	}
	s.closed = true
	for c := range s.conns {
		_ = c.Close()
	}
	s.mu.Unlock()
	for _, l := range []net.Listener{s.tcp, s.tls} {
		if l != nil {
			_ = l.Close()
		}
	}
	if s.udp != nil {
		_ = s.udp.Close()
	}
	ctx, cancel := context.WithTimeout(context.Background(), s.edge.cfg.PublishTimeout)
	defer cancel()
	s.batch.close(ctx)
	s.wg.Wait()
	return nil
}

func (s *SyslogServer) accept(l net.Listener) {
	defer s.wg.Done()
	for {
		c, err := l.Accept()
		if errors.Is(err, net.ErrClosed) {
			return
		}
		if err != nil {
			// Out of file descriptors and the like: back off, keep serving.
			s.debugLog("syslog accept failed", "err", err)
			time.Sleep(50 * time.Millisecond)
			continue
		}
		select {
		case s.sem <- struct{}{}:
		default:
			syslogConnsRejected.Inc()
			_ = c.Close()
			continue
		}
		if !s.track(c) {
			<-s.sem
			_ = c.Close()
			return
		}
		s.wg.Add(1)
		go s.serveConn(c)
	}
}

// track registers an open connection; false once Close has begun.
func (s *SyslogServer) track(c net.Conn) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return false
	}
	s.conns[c] = struct{}{}
	return true
}

func (s *SyslogServer) serveConn(c net.Conn) {
	defer s.wg.Done()
	defer func() {
		s.mu.Lock()
		delete(s.conns, c)
		s.mu.Unlock()
		_ = c.Close()
		<-s.sem
	}()
	if tc, ok := c.(*tls.Conn); ok {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		err := tc.HandshakeContext(ctx)
		cancel()
		if err != nil {
			s.debugLog("syslog tls handshake failed", "remote", c.RemoteAddr().String(), "err", err)
			return
		}
	}
	r := syslog.NewReader(c, s.cfg.MaxFrameBytes)
	for {
		frame, err := r.Next()
		var fe *syslog.FrameError
		switch {
		case errors.As(err, &fe):
			syslogMessages.WithLabelValues("frame_error").Inc()
			s.debugLog("syslog frame skipped", "remote", c.RemoteAddr().String(), "reason", fe.Reason)
			continue
		case err != nil:
			return // EOF, reset, or closed by Close
		}
		if s.handle(frame, s.edge.auth, true) != nil {
			return
		}
	}
}

func (s *SyslogServer) serveUDP() {
	defer s.wg.Done()
	buf := make([]byte, 64<<10)
	for {
		n, from, err := s.udp.ReadFrom(buf)
		if errors.Is(err, net.ErrClosed) {
			return
		}
		if err != nil {
			continue // e.g. an ICMP error reported on the socket
		}
		if n > s.cfg.MaxFrameBytes {
			syslogMessages.WithLabelValues("frame_error").Inc()
			s.debugLog("syslog datagram too large", "remote", from.String(), "bytes", n)
			continue
		}
		if s.handle(buf[:n], s.udpAuth, false) != nil {
			return
		}
	}
}

// handle parses, authenticates, validates and queues one message. It
// returns an error only when the server is closing.
func (s *SyslogServer) handle(frame []byte, a *auth.Authenticator, block bool) error {
	now := s.edge.now()
	m, err := syslog.Parse(frame, now)
	if errors.Is(err, syslog.ErrEmpty) {
		return nil
	}
	if err != nil {
		syslogMessages.WithLabelValues("invalid").Inc()
		s.debugLog("syslog message dropped", "reason", err.Error())
		return nil
	}
	if m.Key == "" {
		syslogMessages.WithLabelValues("no_key").Inc()
		s.debugLog("syslog message dropped", "reason", "no API key: put it in [sawmill@32473 key=\"...\"] or as the message's first word")
		return nil
	}
	tenantID, ok := s.authenticate(a, m.Key)
	if !ok {
		return nil
	}
	ev := m.Event
	if err := s.edge.limitsFor(tenantID).Prepare(&ev, now); err != nil {
		syslogMessages.WithLabelValues("invalid").Inc()
		eventsTotal.WithLabelValues("rejected").Inc()
		s.debugLog("syslog message dropped", "tenant", tenantID, "reason", err.Error())
		return nil
	}
	queued, err := s.batch.add(tenantID, ev, block)
	if err != nil {
		return err
	}
	if !queued {
		syslogMessages.WithLabelValues("dropped_backpressure").Inc()
		return nil
	}
	syslogMessages.WithLabelValues("queued").Inc()
	return nil
}

// authenticate returns the tenant of an API key with the ingest scope.
func (s *SyslogServer) authenticate(a *auth.Authenticator, key string) (string, bool) {
	id, _, isKey := auth.ParseKey(key)
	var p auth.Principal
	err := errors.New("malformed API key")
	if isKey {
		if p, err = a.Authenticate(context.Background(), key); err == nil {
			err = p.Require(auth.ScopeIngest)
		}
	}
	if err != nil {
		syslogMessages.WithLabelValues("unauthenticated").Inc()
		s.debugLog("syslog message dropped", "key_id", id, "reason", err.Error()) // never the secret
		return "", false
	}
	return p.TenantID, true
}

// publish is the batcher's way to the bus: the edge's accept path.
func (s *SyslogServer) publish(ctx context.Context, tenantID, batchID string, evs []event.Event) error {
	if err := s.edge.accept(ctx, tenantID, evs, batchID); err != nil {
		s.debugLog("syslog batch publish failed; retrying", "tenant", tenantID, "events", len(evs), "err", err)
		return err
	}
	eventsTotal.WithLabelValues("accepted").Add(float64(len(evs)))
	return nil
}

// debugLog logs at debug level, at most once a second; it reports how
// many messages it suppressed in between, so a flood of bad input cannot
// flood the log.
func (s *SyslogServer) debugLog(msg string, args ...any) {
	if n, ok := s.debug.allow(time.Now()); ok {
		if n > 0 {
			args = append(args, "suppressed", n)
		}
		s.log.Debug(msg, args...)
	}
}

// syslogLogLimiter lets one log line through per second.
type syslogLogLimiter struct {
	mu         sync.Mutex
	last       time.Time
	suppressed int
}

func (l *syslogLogLimiter) allow(now time.Time) (suppressed int, ok bool) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if now.Sub(l.last) < time.Second {
		l.suppressed++
		return 0, false
	}
	l.last, suppressed, l.suppressed = now, l.suppressed, 0
	return suppressed, true
}
