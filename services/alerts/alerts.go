// Package alerts provides Sawmill's alerting: the AlertService API (rules,
// channels, silences, history, the notification log) and the evaluator that
// runs each rule's query on ClickHouse once per interval, keeps the state of
// every alert in NATS KV and hands notifications to the notify queue.
//
// Evaluation is exactly once across restarts: a rule's windows are aligned
// to its interval and evaluated in order, only once the writer has stored
// everything published before the window's end (plus a clock skew); for each
// window the history entries and notifications are published with ids
// derived from the rule, the group and the transition number, and only then
// is the new state written with a compare-and-set. A process dying anywhere
// in between makes the next evaluator redo the same window from the same
// state with the same ids, which JetStream and the notify queue deduplicate.
// A lease per rule in the alert_leases bucket makes one process evaluate a
// rule at a time. See docs/alerts.md.
package alerts

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"time"

	sawmillv1 "github.com/sawmillhq/sawmill/gen/sawmill/v1"
	"github.com/sawmillhq/sawmill/pkg/apierr"
	"github.com/sawmillhq/sawmill/pkg/auth"
	"github.com/sawmillhq/sawmill/pkg/bus"
	"github.com/sawmillhq/sawmill/pkg/plan"
	"github.com/sawmillhq/sawmill/pkg/server"
	"github.com/sawmillhq/sawmill/pkg/store"
	"github.com/sawmillhq/sawmill/pkg/tenant"
	"github.com/sawmillhq/sawmill/services/alerts/notify"
)

// Config configures the alerts role.
type Config struct {
	// MinInterval is the shortest evaluation interval a rule may have.
	// 0 → 10 s.
	MinInterval time.Duration
	// ScanInterval is how often the evaluator looks for due windows and
	// renews its leases. 0 → 1 s.
	ScanInterval time.Duration
	// Skew is the clock difference tolerated between the machines that
	// stamp events and the evaluator: a window [end-window, end) is
	// evaluated once the writer has stored everything published before
	// end+Skew. 0 → 2 s.
	Skew time.Duration
	// MaxBacklog is the most missed windows of one rule evaluated after
	// downtime; older ones are skipped (and logged). 0 → 60.
	MaxBacklog int
	// LeaseTTL is how long a process's lease on a rule lasts without
	// renewal; at most bus.AlertLeaseTTL (the bucket's TTL). 0 →
	// bus.AlertLeaseTTL.
	LeaseTTL time.Duration
	// Workers is how many rules one process evaluates at once. 0 → 4.
	Workers int
	// MaxGroups bounds the alerts (groups) of one rule. 0 → 100.
	MaxGroups int
	// PublicURL is the base of links in notifications. "" →
	// http://127.0.0.1:8080.
	PublicURL string
	// Notify configures delivery (SMTP relay and sender for e-mail).
	Notify notify.Config

	// AfterEnqueue, when set (tests only), is called after a window's
	// history and notifications (enqueued of them) are published and
	// before its state is written. An error abandons the evaluation as if
	// the process died there: no state is written, no lease released, and
	// Run returns.
	AfterEnqueue func(ctx context.Context, ruleID string, windowEnd time.Time, enqueued int) error
}

// RegisterFlags registers the alerts flags on fs.
func (c *Config) RegisterFlags(fs *flag.FlagSet) {
	fs.DurationVar(&c.MinInterval, "alerts.min-interval", 10*time.Second, "shortest evaluation interval a rule may have")
	fs.DurationVar(&c.ScanInterval, "alerts.scan-interval", time.Second, "how often due rule windows are looked for")
	fs.DurationVar(&c.Skew, "alerts.skew", 2*time.Second, "clock skew tolerated between event sources and the evaluator")
	fs.IntVar(&c.MaxBacklog, "alerts.max-backlog", 60, "most missed windows of a rule evaluated after downtime")
	fs.DurationVar(&c.LeaseTTL, "alerts.lease-ttl", bus.AlertLeaseTTL, "how long a rule lease lasts without renewal")
	fs.IntVar(&c.Workers, "alerts.workers", 4, "rules evaluated at once by one process")
	fs.StringVar(&c.PublicURL, "alerts.public-url", "http://127.0.0.1:8080", "base URL of search links in notifications")
	fs.StringVar(&c.Notify.SMTPAddr, "alerts.smtp-addr", "", "SMTP relay host:port for e-mail channels")
	fs.StringVar(&c.Notify.SMTPFrom, "alerts.smtp-from", "sawmill@localhost", "sender address of alert e-mails")
	c.Notify.RegisterFlags(fs, "alerts.")
}

// Validate reports settings the role cannot run with.
func (c Config) Validate() error {
	switch {
	case c.MinInterval < 0 || c.ScanInterval < 0 || c.Skew < 0 || c.LeaseTTL < 0:
		return errors.New("alerts: durations must not be negative")
	case c.LeaseTTL > bus.AlertLeaseTTL:
		return fmt.Errorf("alerts: -alerts.lease-ttl must be at most %s (the lease bucket's TTL)", bus.AlertLeaseTTL)
	case c.MaxBacklog < 0 || c.Workers < 0 || c.MaxGroups < 0:
		return errors.New("alerts: counts must not be negative")
	}
	return nil
}

func (c *Config) defaults() {
	if c.MinInterval == 0 {
		c.MinInterval = 10 * time.Second
	}
	if c.ScanInterval == 0 {
		c.ScanInterval = time.Second
	}
	if c.Skew == 0 {
		c.Skew = 2 * time.Second
	}
	if c.MaxBacklog == 0 {
		c.MaxBacklog = 60
	}
	if c.LeaseTTL == 0 {
		c.LeaseTTL = bus.AlertLeaseTTL
	}
	if c.Workers == 0 {
		c.Workers = 4
	}
	if c.MaxGroups == 0 {
		c.MaxGroups = 100
	}
	if c.PublicURL == "" {
		c.PublicURL = "http://127.0.0.1:8080"
	}
}

// Service implements AlertService and runs the evaluator.
type Service struct {
	cfg     Config
	log     *slog.Logger
	bus     *bus.Bus
	auth    *auth.Authenticator
	store   *store.Store
	plans   plan.Catalogue
	tenants *tenant.Directory // nil: every tenant on the default plan
	queue   *notify.Queue
	// watermark tells how far the writer has stored; replaceable in tests.
	watermark Watermark
	silences  *silenceTable
}

// New returns a Service. tenants may be nil (every tenant then has the
// default plan and none is suspended).
func New(cfg Config, log *slog.Logger, b *bus.Bus, authn *auth.Authenticator, st *store.Store,
	plans plan.Catalogue, tenants *tenant.Directory, q *notify.Queue) *Service {
	cfg.defaults()
	return &Service{cfg: cfg, log: log, bus: b, auth: authn, store: st, plans: plans, tenants: tenants, queue: q,
		watermark: NewWriterWatermark(b), silences: newSilenceTable()}
}

// SetWatermark replaces the writer watermark (tests).
func (s *Service) SetWatermark(w Watermark) { s.watermark = w }

// Register installs AlertService (gRPC and its REST routes /v1/alerts/...)
// on srv.
func (s *Service) Register(ctx context.Context, srv *server.Server) error {
	h := &handler{s: s}
	sawmillv1.RegisterAlertServiceServer(srv.GRPC, h)
	if err := sawmillv1.RegisterAlertServiceHandlerServer(ctx, srv.Gateway, h); err != nil {
		return fmt.Errorf("register alerts: %w", err)
	}
	return nil
}

// handler implements sawmillv1.AlertServiceServer.
type handler struct {
	sawmillv1.UnimplementedAlertServiceServer
	s *Service
}

// authorizeRead accepts the query or the admin scope.
func (s *Service) authorizeRead(ctx context.Context) (auth.Principal, error) {
	return s.auth.GRPCAny(ctx, auth.ScopeQuery, auth.ScopeAdmin)
}

// authorizeWrite accepts the admin scope or a logged-in user's session.
func (s *Service) authorizeWrite(ctx context.Context) (auth.Principal, error) {
	p, err := s.auth.GRPC(ctx, auth.ScopeAdmin)
	if err == nil || apierr.From(err).Code != apierr.PermissionDenied {
		return p, err
	}
	if p, err := s.auth.GRPC(ctx, auth.ScopeQuery); err == nil && p.UserID != "" {
		return p, nil
	}
	return auth.Principal{}, apierr.New(apierr.PermissionDenied, `changing alerts needs the "admin" scope or a session`)
}

// planOf returns the tenant's plan (the default plan when unknown).
func (s *Service) planOf(tenantID string) plan.Plan {
	if s.tenants != nil {
		if t, ok := s.tenants.Get(tenantID); ok {
			if p, ok := s.plans.Get(t.Plan); ok {
				return p
			}
		}
	}
	return s.plans.DefaultPlan()
}

// active reports whether a tenant's rules should be evaluated.
func (s *Service) active(tenantID string) bool {
	if s.tenants == nil {
		return true
	}
	t, ok := s.tenants.Get(tenantID)
	return !ok || !(t.Suspended || t.Deleted)
}
