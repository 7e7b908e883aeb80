// Package billing is the billing role: accounts (signup, login, API keys),
// the plan catalogue and metered usage today; quotas, invoices and retention
// as they land. It owns the tenants, users and keys KV buckets: it is their
// only writer. Usage is read from ClickHouse, where the writer's insert
// meters it (pkg/store, usage_hourly).
package billing

import (
	"context"
	"flag"
	"log/slog"
	"time"

	sawmillv1 "github.com/sawmillhq/sawmill/gen/sawmill/v1"
	"github.com/sawmillhq/sawmill/pkg/auth"
	"github.com/sawmillhq/sawmill/pkg/bus"
	"github.com/sawmillhq/sawmill/pkg/plan"
	"github.com/sawmillhq/sawmill/pkg/ratelimit"
	"github.com/sawmillhq/sawmill/pkg/server"
	"github.com/sawmillhq/sawmill/pkg/store"
)

// Config configures the billing role.
type Config struct {
	// SignupPerMinute and LoginPerMinute limit signup and login attempts per
	// client address (bursts of the same size). 0 disables the limit.
	SignupPerMinute float64
	LoginPerMinute  float64
	// BcryptCost for password hashes. 0 → 11.
	BcryptCost int
}

// RegisterFlags registers the role's flags under "billing.".
func (c *Config) RegisterFlags(fs *flag.FlagSet) {
	fs.Float64Var(&c.SignupPerMinute, "billing.signup-per-minute", 5, "signups allowed per client address per minute (0: unlimited)")
	fs.Float64Var(&c.LoginPerMinute, "billing.login-per-minute", 20, "logins allowed per client address per minute (0: unlimited)")
	fs.IntVar(&c.BcryptCost, "billing.bcrypt-cost", 11, "bcrypt cost of password hashes")
}

// Service is the billing role.
type Service struct {
	cfg      Config
	log      *slog.Logger
	bus      *bus.Bus
	auth     *auth.Authenticator
	sessions *auth.Sessions
	signups  *ratelimit.Keyed
	logins   *ratelimit.Keyed
	plans    plan.Catalogue
	store    *store.Store
	now      func() time.Time
}

// New returns the billing role. a authenticates key-management calls; its
// Sessions issue the tokens signup and login return. New signups get the
// catalogue's default plan; usage is read from st.
func New(cfg Config, log *slog.Logger, b *bus.Bus, a *auth.Authenticator, plans plan.Catalogue, st *store.Store) *Service {
	if cfg.BcryptCost == 0 {
		cfg.BcryptCost = 11
	}
	return &Service{
		cfg: cfg, log: log, bus: b, auth: a, sessions: a.Sessions,
		signups: ratelimit.NewKeyed(cfg.SignupPerMinute, int(max(cfg.SignupPerMinute, 1))),
		logins:  ratelimit.NewKeyed(cfg.LoginPerMinute, int(max(cfg.LoginPerMinute, 1))),
		plans:   plans,
		store:   st,
		now:     time.Now,
	}
}

// Register installs the role's gRPC services and REST routes on srv.
func (s *Service) Register(ctx context.Context, srv *server.Server) error {
	acc := &accounts{s: s}
	sawmillv1.RegisterAccountServiceServer(srv.GRPC, acc)
	if err := sawmillv1.RegisterAccountServiceHandlerServer(ctx, srv.Gateway, acc); err != nil {
		return err
	}
	bill := &billingAPI{s: s}
	sawmillv1.RegisterBillingServiceServer(srv.GRPC, bill)
	return sawmillv1.RegisterBillingServiceHandlerServer(ctx, srv.Gateway, bill)
}
