// Package ingest is the ingest role: edges that authenticate tenants,
// decode, validate and publish event batches to NATS JetStream (answering
// only after the PubAck), and the writer that moves batches from JetStream
// into ClickHouse exactly once. Decoders for each input format live in
// subpackages; this package wires them to the bus and the store.
package ingest

import (
	"context"
	"flag"
	"log/slog"
	"time"

	sawmillv1 "github.com/sawmillhq/sawmill/gen/sawmill/v1"
	"github.com/sawmillhq/sawmill/pkg/auth"
	"github.com/sawmillhq/sawmill/pkg/bus"
	"github.com/sawmillhq/sawmill/pkg/event"
	"github.com/sawmillhq/sawmill/pkg/quota"
	"github.com/sawmillhq/sawmill/pkg/scrub"
	"github.com/sawmillhq/sawmill/pkg/server"
	"github.com/sawmillhq/sawmill/pkg/tenant"
)

// Config configures the edge.
type Config struct {
	// MaxRequestBytes bounds a request body, compressed and decompressed.
	// 0 → 10 MiB.
	MaxRequestBytes int64
	// MaxBatchBytes is the target size of one published JetStream message;
	// larger requests are split. 0 → 512 KiB. Keep it under the server's
	// max_payload (1 MiB by default).
	MaxBatchBytes int
	// PublishTimeout bounds waiting for JetStream's acknowledgement. 0 → 5s.
	PublishTimeout time.Duration
	// Limits bound each event.
	Limits event.Limits
	// ReportInterval is how often accepted volume is reported to billing
	// for quotas. 0 → 1s.
	ReportInterval time.Duration
}

// RegisterFlags registers the edge's flags under "ingest.".
func (c *Config) RegisterFlags(fs *flag.FlagSet) {
	fs.Int64Var(&c.MaxRequestBytes, "ingest.max-request-bytes", 10<<20, "largest accepted request body, before and after decompression")
	fs.IntVar(&c.MaxBatchBytes, "ingest.max-batch-bytes", 512<<10, "target size of one JetStream message; bigger requests are split")
	fs.DurationVar(&c.PublishTimeout, "ingest.publish-timeout", 5*time.Second, "how long to wait for JetStream to acknowledge a batch")
	fs.IntVar(&c.Limits.MaxEventBytes, "ingest.max-event-bytes", 256<<10, "largest accepted event")
	fs.IntVar(&c.Limits.MaxAttributes, "ingest.max-attributes", 200, "most attributes per event")
	fs.DurationVar(&c.ReportInterval, "ingest.report-interval", time.Second, "how often accepted volume is reported to billing for quotas")
}

func (c *Config) defaults() {
	if c.MaxRequestBytes == 0 {
		c.MaxRequestBytes = 10 << 20
	}
	if c.MaxBatchBytes == 0 {
		c.MaxBatchBytes = 512 << 10
	}
	if c.PublishTimeout == 0 {
		c.PublishTimeout = 5 * time.Second
	}
	if c.ReportInterval == 0 {
		c.ReportInterval = time.Second
	}
}

// Edge accepts events from clients and publishes them.
type Edge struct {
	cfg     Config
	log     *slog.Logger
	bus     *bus.Bus
	auth    *auth.Authenticator
	tenants *tenant.Directory
	now     func() time.Time

	quotas *quota.Table // nil: no quota enforcement
	meter  *quota.Meter
	rates  *quota.RateLimiter
	edgeID string
	scrubs *scrub.Table // nil: every tenant gets scrub.Default
}

// NewEdge returns an edge. tenants supplies each tenant's retention class.
func NewEdge(cfg Config, log *slog.Logger, b *bus.Bus, a *auth.Authenticator, tenants *tenant.Directory) *Edge {
	cfg.defaults()
	return &Edge{cfg: cfg, log: log, bus: b, auth: a, tenants: tenants, now: time.Now}
}

// Register installs POST /v1/ingest, the gRPC IngestService and OTLP logs
// (POST /v1/logs, gRPC LogsService/Export) on srv.
func (e *Edge) Register(_ context.Context, srv *server.Server) {
	srv.Handle("POST /v1/ingest", e.httpHandler())
	sawmillv1.RegisterIngestServiceServer(srv.GRPC, &grpcIngest{edge: e})
	e.RegisterOTLP(srv)
}
