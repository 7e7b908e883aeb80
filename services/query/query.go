// Package query is the query role: search over stored events today;
// aggregation, live tail, saved searches and dashboards as they land. Every
// statement it runs is compiled with the caller's tenant predicate and a
// bounded time range; user text reaches ClickHouse only as bound parameters.
package query

import (
	"context"
	"flag"
	"log/slog"
	"time"

	sawmillv1 "github.com/sawmillhq/sawmill/gen/sawmill/v1"
	"github.com/sawmillhq/sawmill/pkg/auth"
	"github.com/sawmillhq/sawmill/pkg/plan"
	"github.com/sawmillhq/sawmill/pkg/server"
	"github.com/sawmillhq/sawmill/pkg/store"
	"github.com/sawmillhq/sawmill/pkg/tenant"
)

// Config configures the query role.
type Config struct {
	// MaxRange is the longest time range one search may cover. 0 → 31 days.
	MaxRange time.Duration
	// DefaultLimit and MaxLimit bound the events per page. 0 → 100 and 1000.
	DefaultLimit int
	MaxLimit     int
	// DisableTextBlooms makes searches scan their whole time range instead
	// of first narrowing it by the text blooms (pkg/store TextRanges): for
	// measuring what the blooms buy. False: narrow.
	DisableTextBlooms bool
}

// RegisterFlags registers the role's flags under "query.".
func (c *Config) RegisterFlags(fs *flag.FlagSet) {
	fs.DurationVar(&c.MaxRange, "query.max-range", 31*24*time.Hour, "longest time range of one search")
	fs.IntVar(&c.DefaultLimit, "query.default-limit", 100, "events per page when the request sets no limit")
	fs.IntVar(&c.MaxLimit, "query.max-limit", 1000, "most events per page")
	fs.BoolVar(&c.DisableTextBlooms, "query.disable-text-blooms", false, "scan whole time ranges instead of narrowing text searches by the text blooms")
}

func (c *Config) defaults() {
	if c.MaxRange == 0 {
		c.MaxRange = 31 * 24 * time.Hour
	}
	if c.DefaultLimit == 0 {
		c.DefaultLimit = 100
	}
	if c.MaxLimit == 0 {
		c.MaxLimit = 1000
	}
}

// Service is the query role.
type Service struct {
	sawmillv1.UnimplementedQueryServiceServer
	cfg   Config
	log   *slog.Logger
	auth  *auth.Authenticator
	store *store.Store

	saved *savedState // nil until SetBus: saved searches and dashboards off
	tail  *tailer     // nil until EnableTail: live tail off
	// tenants, when set (SetTenants), clips queries to each tenant's
	// retention and refuses suspended or deleted tenants.
	tenants *tenant.Directory
	clock   func() time.Time // nil: time.Now
	plans   *plan.Catalogue  // nil: no per-plan range limit
}

// New returns the query role.
func New(cfg Config, log *slog.Logger, a *auth.Authenticator, s *store.Store) *Service {
	cfg.defaults()
	return &Service{cfg: cfg, log: log, auth: a, store: s}
}

// Register installs the gRPC service and its REST routes on srv.
func (s *Service) Register(ctx context.Context, srv *server.Server) error {
	sawmillv1.RegisterQueryServiceServer(srv.GRPC, s)
	return sawmillv1.RegisterQueryServiceHandlerServer(ctx, srv.Gateway, s)
}
