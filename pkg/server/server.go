// Package server provides the HTTP and gRPC plumbing every role shares: one
// HTTP listener (grpc-gateway REST routes, raw handlers, /healthz, /readyz,
// /metrics) and one gRPC listener, with error mapping, metrics, panic
// recovery, client addresses and graceful shutdown. It knows nothing of
// Sawmill's services; they register themselves on it.
package server

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/http/pprof"
	"sync"
	"time"

	"github.com/grpc-ecosystem/grpc-gateway/v2/runtime"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"google.golang.org/grpc"
	"google.golang.org/protobuf/encoding/protojson"

	"github.com/sawmillhq/sawmill/pkg/apierr"
)

// Config holds the listener addresses.
type Config struct {
	// HTTPAddr is the REST/health/metrics listener. "" → 127.0.0.1:8080.
	HTTPAddr string
	// GRPCAddr is the gRPC listener. "" → 127.0.0.1:4317.
	GRPCAddr string
	// ShutdownTimeout bounds graceful shutdown. 0 → 10s.
	ShutdownTimeout time.Duration
	// Pprof serves net/http/pprof under /debug/pprof/ on the HTTP listener.
	// Off by default: profiles reveal internals and cost CPU.
	Pprof bool
}

// RegisterFlags registers the listener flags.
func (c *Config) RegisterFlags(fs *flag.FlagSet) {
	fs.StringVar(&c.HTTPAddr, "http.addr", "127.0.0.1:8080", "HTTP listen address (REST API, OTLP/HTTP, /metrics, /healthz)")
	fs.StringVar(&c.GRPCAddr, "grpc.addr", "127.0.0.1:4317", "gRPC listen address (Sawmill services and OTLP)")
	fs.DurationVar(&c.ShutdownTimeout, "shutdown-timeout", 10*time.Second, "how long graceful shutdown may take")
	fs.BoolVar(&c.Pprof, "debug.pprof", false, "serve Go profiles at /debug/pprof/ (unauthenticated: keep the listener private)")
}

// Check is a readiness check; it returns nil when its dependency is usable.
type Check func(ctx context.Context) error

// Server is one HTTP and one gRPC listener. Register everything before Start.
type Server struct {
	cfg     Config
	log     *slog.Logger
	mux     *http.ServeMux
	Gateway *runtime.ServeMux
	GRPC    *grpc.Server

	mu     sync.Mutex
	checks map[string]Check

	httpSrv *http.Server
	httpLn  net.Listener
	grpcLn  net.Listener
	wg      sync.WaitGroup
}

// New returns a server with health, readiness and metrics routes installed.
func New(cfg Config, log *slog.Logger) *Server {
	if cfg.HTTPAddr == "" {
		cfg.HTTPAddr = "127.0.0.1:8080"
	}
	if cfg.GRPCAddr == "" {
		cfg.GRPCAddr = "127.0.0.1:4317"
	}
	if cfg.ShutdownTimeout == 0 {
		cfg.ShutdownTimeout = 10 * time.Second
	}
	s := &Server{cfg: cfg, log: log, mux: http.NewServeMux(), checks: map[string]Check{}}
	s.Gateway = runtime.NewServeMux(
		runtime.WithMarshalerOption(runtime.MIMEWildcard, lineJSON{&runtime.JSONPb{
			MarshalOptions:   protojson.MarshalOptions{UseProtoNames: true, EmitUnpopulated: true},
			UnmarshalOptions: protojson.UnmarshalOptions{DiscardUnknown: false},
		}}),
		runtime.WithErrorHandler(s.gatewayError),
	)
	s.GRPC = grpc.NewServer(
		grpc.MaxRecvMsgSize(16<<20),
		grpc.ChainUnaryInterceptor(recoverUnary(log), clientAddrUnary, metricsUnary, apierr.UnaryServerInterceptor(log)),
		grpc.ChainStreamInterceptor(apierr.StreamServerInterceptor(log)),
	)
	s.mux.Handle("/v1/", s.Gateway)
	s.mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, _ *http.Request) {
		writeJSON(w, http.StatusOK, map[string]string{"status": "ok"})
	})
	s.mux.HandleFunc("GET /readyz", s.readyz)
	s.mux.Handle("GET /metrics", promhttp.Handler())
	if cfg.Pprof {
		s.mux.HandleFunc("/debug/pprof/", pprof.Index)
		s.mux.HandleFunc("/debug/pprof/profile", pprof.Profile)
		s.mux.HandleFunc("/debug/pprof/symbol", pprof.Symbol)
		s.mux.HandleFunc("/debug/pprof/trace", pprof.Trace)
	}
	return s
}

// Handle registers a raw HTTP handler beside the gateway (pattern as in
// http.ServeMux, e.g. "POST /v1/ingest"). More specific patterns win over the
// gateway's "/v1/".
func (s *Server) Handle(pattern string, h http.Handler) { s.mux.Handle(pattern, h) }

// AddCheck adds a named readiness check to /readyz.
func (s *Server) AddCheck(name string, c Check) {
	s.mu.Lock()
	s.checks[name] = c
	s.mu.Unlock()
}

// Start listens on both addresses and serves in the background.
func (s *Server) Start() error {
	var err error
	if s.httpLn, err = net.Listen("tcp", s.cfg.HTTPAddr); err != nil {
		return fmt.Errorf("listen http %s: %w", s.cfg.HTTPAddr, err)
	}
	if s.grpcLn, err = net.Listen("tcp", s.cfg.GRPCAddr); err != nil {
		s.httpLn.Close()
		return fmt.Errorf("listen grpc %s: %w", s.cfg.GRPCAddr, err)
	}
	s.httpSrv = &http.Server{
		Handler:           recoverHTTP(s.log, clientAddrHTTP(metricsHTTP(s.mux))),
		ReadHeaderTimeout: 10 * time.Second,
		IdleTimeout:       2 * time.Minute,
		ErrorLog:          slog.NewLogLogger(s.log.Handler(), slog.LevelWarn),
	}
	s.wg.Add(2)
	go func() {
		defer s.wg.Done()
		if err := s.httpSrv.Serve(s.httpLn); err != nil && !errors.Is(err, http.ErrServerClosed) {
			s.log.Error("http server stopped", "err", err)
		}
	}()
	go func() {
		defer s.wg.Done()
		if err := s.GRPC.Serve(s.grpcLn); err != nil && !errors.Is(err, grpc.ErrServerStopped) {
			s.log.Error("grpc server stopped", "err", err)
		}
	}()
	s.log.Info("listening", "http", s.HTTPAddr(), "grpc", s.GRPCAddr())
	return nil
}

// HTTPAddr returns the bound HTTP address (useful with port 0).
func (s *Server) HTTPAddr() string { return s.httpLn.Addr().String() }

// GRPCAddr returns the bound gRPC address.
func (s *Server) GRPCAddr() string { return s.grpcLn.Addr().String() }

// Shutdown stops accepting, lets in-flight requests finish within the
// configured timeout, then closes what remains.
func (s *Server) Shutdown() {
	ctx, cancel := context.WithTimeout(context.Background(), s.cfg.ShutdownTimeout)
	defer cancel()
	done := make(chan struct{})
	go func() { s.GRPC.GracefulStop(); close(done) }()
	if err := s.httpSrv.Shutdown(ctx); err != nil {
		s.log.Warn("http shutdown", "err", err)
	}
	select {
	case <-done:
	case <-ctx.Done():
		s.GRPC.Stop()
	}
	s.wg.Wait()
}

func (s *Server) readyz(w http.ResponseWriter, r *http.Request) {
	ctx, cancel := context.WithTimeout(r.Context(), 3*time.Second)
	defer cancel()
	s.mu.Lock()
	checks := make(map[string]Check, len(s.checks))
	for k, v := range s.checks {
		checks[k] = v
	}
	s.mu.Unlock()
	res := map[string]string{}
	code := http.StatusOK
	for name, c := range checks {
		if err := c(ctx); err != nil {
			res[name] = err.Error()
			code = http.StatusServiceUnavailable
		} else {
			res[name] = "ok"
		}
	}
	writeJSON(w, code, res)
}

// lineJSON ends every REST response with a newline, as the raw handlers'
// json.Encoder does, so answers printed by curl do not run together.
type lineJSON struct{ *runtime.JSONPb }

func (m lineJSON) Marshal(v any) ([]byte, error) {
	b, err := m.JSONPb.Marshal(v)
	if err != nil {
		return nil, err
	}
	return append(b, '\n'), nil
}

// gatewayError writes gateway errors in Sawmill's {code, message, details}
// shape: application errors as they are, gRPC statuses (a malformed body,
// an unknown route) mapped through apierr.
func (s *Server) gatewayError(ctx context.Context, _ *runtime.ServeMux, _ runtime.Marshaler, w http.ResponseWriter, _ *http.Request, err error) {
	var e *apierr.Error
	if !errors.As(err, &e) {
		st := apierr.GRPCStatus(err)
		code := apierr.CodeFromGRPC(st.Code())
		msg := st.Message()
		if code == apierr.Internal {
			s.log.ErrorContext(ctx, "gateway request failed", "err", err)
			msg = "internal error"
		}
		e = apierr.New(code, "%s", msg)
	}
	apierr.WriteHTTP(w, s.log, e)
}
