package server

import (
	"context"
	"encoding/json"
	"log/slog"
	"net"
	"net/http"
	"runtime/debug"
	"strconv"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promauto"
	"google.golang.org/grpc"
	"google.golang.org/grpc/peer"
	"google.golang.org/grpc/status"

	"github.com/sawmillhq/sawmill/pkg/apierr"
)

var (
	httpRequests = promauto.NewCounterVec(prometheus.CounterOpts{
		Name: "sawmill_http_requests_total", Help: "HTTP requests by route and status code.",
	}, []string{"route", "code"})
	httpDuration = promauto.NewHistogramVec(prometheus.HistogramOpts{
		Name: "sawmill_http_request_duration_seconds", Help: "HTTP request latency by route.",
		Buckets: prometheus.ExponentialBuckets(0.0005, 2, 16),
	}, []string{"route"})
	grpcRequests = promauto.NewCounterVec(prometheus.CounterOpts{
		Name: "sawmill_grpc_requests_total", Help: "gRPC calls by method and status code.",
	}, []string{"method", "code"})
	grpcDuration = promauto.NewHistogramVec(prometheus.HistogramOpts{
		Name: "sawmill_grpc_request_duration_seconds", Help: "gRPC call latency by method.",
		Buckets: prometheus.ExponentialBuckets(0.0005, 2, 16),
	}, []string{"method"})
)

type clientAddrKey struct{}

// ClientAddr returns the network address (IP, no port) of the client that
// made the request carried by ctx: the TCP peer, for HTTP (including
// grpc-gateway routes) and gRPC alike. Forwarding headers are not trusted.
func ClientAddr(ctx context.Context) string {
	s, _ := ctx.Value(clientAddrKey{}).(string)
	return s
}

func hostOf(addr string) string {
	if h, _, err := net.SplitHostPort(addr); err == nil {
		return h
	}
	return addr
}

func clientAddrHTTP(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		ctx := context.WithValue(r.Context(), clientAddrKey{}, hostOf(r.RemoteAddr))
		next.ServeHTTP(w, r.WithContext(ctx))
	})
}

func clientAddrUnary(ctx context.Context, req any, _ *grpc.UnaryServerInfo, h grpc.UnaryHandler) (any, error) {
	if p, ok := peer.FromContext(ctx); ok {
		ctx = context.WithValue(ctx, clientAddrKey{}, hostOf(p.Addr.String()))
	}
	return h(ctx, req)
}

type statusRecorder struct {
	http.ResponseWriter
	code int
}

func (r *statusRecorder) WriteHeader(code int) {
	r.code = code
	r.ResponseWriter.WriteHeader(code)
}

// Flush keeps streaming responses (SSE) working through the recorder.
func (r *statusRecorder) Flush() {
	if f, ok := r.ResponseWriter.(http.Flusher); ok {
		f.Flush()
	}
}

// Unwrap lets http.ResponseController reach the underlying writer.
func (r *statusRecorder) Unwrap() http.ResponseWriter { return r.ResponseWriter }

func metricsHTTP(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		start := time.Now()
		rec := &statusRecorder{ResponseWriter: w, code: http.StatusOK}
		next.ServeHTTP(rec, r)
		route := r.Pattern // set by ServeMux after routing; "/v1/" for gateway routes
		if route == "/v1/" {
			route = r.Method + " " + r.URL.Path
			if len(route) > 64 {
				route = route[:64]
			}
		}
		if route == "" {
			route = "unmatched"
		}
		httpRequests.WithLabelValues(route, strconv.Itoa(rec.code)).Inc()
		httpDuration.WithLabelValues(route).Observe(time.Since(start).Seconds())
	})
}

func metricsUnary(ctx context.Context, req any, info *grpc.UnaryServerInfo, h grpc.UnaryHandler) (any, error) {
	start := time.Now()
	resp, err := h(ctx, req)
	code := apierr.GRPCStatus(err).Code()
	if err == nil {
		code = 0
	}
	grpcRequests.WithLabelValues(info.FullMethod, code.String()).Inc()
	grpcDuration.WithLabelValues(info.FullMethod).Observe(time.Since(start).Seconds())
	return resp, err
}

func recoverHTTP(log *slog.Logger, next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		defer func() {
			if v := recover(); v != nil {
				if v == http.ErrAbortHandler {
					panic(v)
				}
				log.Error("panic in http handler", "path", r.URL.Path, "panic", v, "stack", string(debug.Stack()))
				apierr.WriteHTTP(w, nil, apierr.New(apierr.Internal, "internal error"))
			}
		}()
		next.ServeHTTP(w, r)
	})
}

func recoverUnary(log *slog.Logger) grpc.UnaryServerInterceptor {
	return func(ctx context.Context, req any, info *grpc.UnaryServerInfo, h grpc.UnaryHandler) (resp any, err error) {
		defer func() {
			if v := recover(); v != nil {
				log.Error("panic in rpc", "method", info.FullMethod, "panic", v, "stack", string(debug.Stack()))
				err = status.Error(apierr.GRPCCode(apierr.Internal), "internal error")
			}
		}()
		return h(ctx, req)
	}
}

func writeJSON(w http.ResponseWriter, code int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(code)
	_ = json.NewEncoder(w).Encode(v)
}
