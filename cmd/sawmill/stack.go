package main

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"sync"

	"github.com/sawmillhq/sawmill/pkg/auth"
	"github.com/sawmillhq/sawmill/pkg/bus"
	"github.com/sawmillhq/sawmill/pkg/chserver"
	"github.com/sawmillhq/sawmill/pkg/natsembed"
	"github.com/sawmillhq/sawmill/pkg/plan"
	"github.com/sawmillhq/sawmill/pkg/quota"
	"github.com/sawmillhq/sawmill/pkg/scrub"
	"github.com/sawmillhq/sawmill/pkg/server"
	"github.com/sawmillhq/sawmill/pkg/store"
	"github.com/sawmillhq/sawmill/pkg/tenant"
	"github.com/sawmillhq/sawmill/services/alerts"
	"github.com/sawmillhq/sawmill/services/alerts/notify"
	"github.com/sawmillhq/sawmill/services/billing"
	"github.com/sawmillhq/sawmill/services/ingest"
	"github.com/sawmillhq/sawmill/services/query"
)

// Stack is a running sawmill process: its dependencies and roles.
type Stack struct {
	Config Config
	Server *server.Server

	log    *slog.Logger
	nats   *natsembed.Server
	ch     *chserver.Server
	bus    *bus.Bus
	store  *store.Store
	syslog *ingest.SyslogServer
	// stopTails ends open live tails first at shutdown: their streams never
	// go idle, so the server would otherwise wait its whole timeout.
	stopTails context.CancelFunc
	cancel    context.CancelFunc
	wg        sync.WaitGroup // background roles (writer, KV follows)
	closes    []func()
}

// Start brings up the role's dependencies and services and returns once the
// listeners accept requests. Close stops everything, in reverse order.
func Start(ctx context.Context, cfg Config, log *slog.Logger) (st *Stack, err error) {
	ctx, cancel := context.WithCancel(ctx)
	st = &Stack{Config: cfg, log: log, cancel: cancel}
	defer func() {
		if err != nil {
			st.Close()
		}
	}()
	dev := cfg.Role == "dev"
	if err := st.startDeps(ctx, dev); err != nil {
		return st, err
	}
	sessions, err := st.sessions(dev)
	if err != nil {
		return st, err
	}
	keys := auth.NewKeyTable()
	if err := st.bus.Follow(ctx, st.bus.Keys, keys.Apply); err != nil {
		return st, fmt.Errorf("follow keys: %w", err)
	}
	authn := &auth.Authenticator{Keys: keys, Sessions: sessions, OperatorKey: cfg.OperatorKey}

	st.Server = server.New(cfg.Server, log)
	st.Server.AddCheck("nats", st.bus.Ping)
	// An ingest node keeps accepting into JetStream while ClickHouse is down
	// (its writer catches up afterwards): ClickHouse does not make it unready,
	// or a load balancer would turn clients away for nothing.
	if st.store != nil && cfg.Role != "ingest" {
		st.Server.AddCheck("clickhouse", st.store.Ping)
		st.Server.AddCheck("migrations", func(ctx context.Context) error {
			ok, err := st.store.MigrationsApplied(ctx)
			if err == nil && !ok {
				err = errors.New("migrations not applied")
			}
			return err
		})
	}
	var tenants *tenant.Directory
	if dev || cfg.Role == "billing" || cfg.Role == "ingest" || cfg.Role == "query" || cfg.Role == "alerts" {
		tenants = tenant.NewDirectory()
		if err := st.bus.Follow(ctx, st.bus.Tenants, tenants.Apply); err != nil {
			return st, fmt.Errorf("follow tenants: %w", err)
		}
	}
	if dev || cfg.Role == "billing" {
		plans, err := plan.Load(cfg.PlansFile)
		if err != nil {
			return st, err
		}
		b := billing.New(cfg.Billing, log.With("role", "billing"), st.bus, authn, plans, st.store)
		if cfg.Clock != nil {
			b.SetClock(cfg.Clock)
		}
		if err := b.Register(ctx, st.Server); err != nil {
			return st, fmt.Errorf("billing: %w", err)
		}
		if err := b.RegisterOperator(ctx, st.Server); err != nil {
			return st, fmt.Errorf("billing: %w", err)
		}
		st.background(func() { b.RunRetention(ctx, cfg.RetentionInterval) })
		st.background(func() {
			if err := b.RunQuotas(ctx, tenants, cfg.Quota); err != nil {
				log.Error("quota keeping stopped", "err", err)
			}
		})
		st.background(func() {
			if err := b.RunInvoices(ctx, tenants, cfg.InvoiceEvery); err != nil {
				log.Error("invoicing stopped", "err", err)
			}
		})
	}
	if dev || cfg.Role == "ingest" {
		edge := ingest.NewEdge(cfg.Ingest, log.With("role", "ingest"), st.bus, authn, tenants)
		if cfg.Clock != nil {
			edge.SetClock(cfg.Clock)
		}
		quotas := quota.NewTable()
		if err := st.bus.Follow(ctx, st.bus.Quotas, quotas.Apply); err != nil {
			return st, fmt.Errorf("follow quotas: %w", err)
		}
		edge.EnableQuotas(quotas, edgeID())
		scrubs := scrub.NewTable()
		if err := st.bus.Follow(ctx, st.bus.Scrubbing, scrubs.Apply); err != nil {
			return st, fmt.Errorf("follow scrubbing rules: %w", err)
		}
		edge.SetScrubber(scrubs)
		edge.Register(ctx, st.Server)
		edge.RegisterESBulk(st.Server)
		edge.RegisterScrubbing(st.Server)
		st.background(func() { edge.RunReports(ctx) })
		sl := ingest.NewSyslogServer(cfg.Syslog, log.With("role", "syslog"), edge)
		if err := sl.Start(); err != nil {
			return st, fmt.Errorf("syslog: %w", err)
		}
		st.syslog = sl
		w := ingest.NewWriter(cfg.Writer, log.With("role", "writer"), st.bus, st.store)
		st.background(func() {
			if err := w.Run(ctx); err != nil {
				log.Error("writer stopped", "err", err)
			}
		})
	}
	if dev || cfg.Role == "query" {
		q := query.New(cfg.Query, log.With("role", "query"), authn, st.store)
		q.SetTenants(tenants)
		plans, err := plan.Load(cfg.PlansFile)
		if err != nil {
			return st, err
		}
		q.SetPlans(plans)
		tailCtx, stopTails := context.WithCancel(ctx)
		st.stopTails = stopTails
		q.EnableTail(tailCtx, st.bus, cfg.Tail)
		q.RegisterTail(st.Server)
		q.SetBus(st.bus)
		if err := q.Register(ctx, st.Server); err != nil {
			return st, fmt.Errorf("query: %w", err)
		}
		if err := q.RegisterSaved(ctx, st.Server); err != nil {
			return st, fmt.Errorf("saved searches: %w", err)
		}
	}
	if dev || cfg.Role == "alerts" {
		if err := st.startAlerts(ctx, authn, tenants); err != nil {
			return st, err
		}
	}
	if err := st.Server.Start(); err != nil {
		st.Server = nil
		return st, err
	}
	return st, nil
}

// startAlerts registers AlertService and runs the evaluator, the
// notification queue and usage notifications in the background.
func (st *Stack) startAlerts(ctx context.Context, authn *auth.Authenticator, tenants *tenant.Directory) error {
	cfg, log := st.Config, st.log.With("role", "alerts")
	plans, err := plan.Load(cfg.PlansFile)
	if err != nil {
		return err
	}
	q := notify.NewQueue(st.bus, cfg.Alerts.Notify, log.With("component", "notify"))
	a := alerts.New(cfg.Alerts, log, st.bus, authn, st.store, plans, tenants, q)
	if err := a.Register(ctx, st.Server); err != nil {
		return fmt.Errorf("alerts: %w", err)
	}
	for name, run := range map[string]func(context.Context) error{"evaluator": a.Run, "notifications": q.Run, "usage notifications": q.RunUsage} {
		st.background(func() {
			if err := run(ctx); err != nil && ctx.Err() == nil {
				log.Error(name+" stopped", "err", err)
			}
		})
	}
	return nil
}

// background runs f until the stack closes; Close waits for it.
func (st *Stack) background(f func()) {
	st.wg.Add(1)
	go func() {
		defer st.wg.Done()
		f()
	}()
}

// edgeID names this process in usage reports.
func edgeID() string {
	host, _ := os.Hostname()
	return fmt.Sprintf("%s-%d-%s", host, os.Getpid(), auth.RandomID(3))
}

// startDeps connects to (in dev: starts) NATS and ClickHouse and migrates.
func (st *Stack) startDeps(ctx context.Context, dev bool) error {
	cfg := st.Config
	natsURL := cfg.NATSURL
	if natsURL == "" {
		ns, err := natsembed.Start(natsembed.Config{Port: cfg.NATSPort, StoreDir: filepath.Join(cfg.DataDir, "nats"),
			Logger: st.log.With("component", "nats")})
		if err != nil {
			return fmt.Errorf("embedded nats: %w", err)
		}
		st.nats = ns
		natsURL = ns.ClientURL()
	}
	b, err := bus.Connect(ctx, bus.Config{URL: natsURL, Name: "sawmill-" + cfg.Role, Replicas: cfg.NATSReplicas, WriterAckWait: cfg.Writer.AckWait, Logger: st.log.With("component", "bus")})
	if err != nil {
		return err
	}
	st.bus = b
	chAddr := cfg.ClickHouseAddr
	if chAddr == "" && dev {
		st.log.Info("starting private clickhouse-server", "dir", filepath.Join(cfg.DataDir, "clickhouse"), "port", cfg.ClickHousePort)
		ch, err := chserver.Start(ctx, chserver.Config{Dir: filepath.Join(cfg.DataDir, "clickhouse"), TCPPort: cfg.ClickHousePort,
			Logger: st.log.With("component", "clickhouse")})
		if err != nil {
			return fmt.Errorf("private clickhouse: %w", err)
		}
		st.ch = ch
		chAddr = ch.Addr()
	}
	s, err := store.Open(ctx, store.Config{Addr: chAddr, Database: cfg.ClickHouseDatabase,
		Username: cfg.ClickHouseUsername, Password: cfg.ClickHousePassword, Cluster: cfg.ClickHouseCluster, Compression: cfg.ClickHouseCompression, Logger: st.log.With("component", "store")})
	if err != nil {
		return err
	}
	st.store = s
	return s.Migrate(ctx)
}

// sessions loads the session signing key; dev creates and keeps one.
func (st *Stack) sessions(dev bool) (*auth.Sessions, error) {
	key := []byte(st.Config.JWTKey)
	if len(key) == 0 {
		b, err := os.ReadFile(st.Config.JWTKeyFile)
		switch {
		case err == nil:
			key = []byte(strings.TrimSpace(string(b)))
		case errors.Is(err, os.ErrNotExist) && dev:
			raw := make([]byte, 32)
			if _, err := rand.Read(raw); err != nil {
				return nil, err
			}
			key = []byte(hex.EncodeToString(raw))
			if err := os.MkdirAll(filepath.Dir(st.Config.JWTKeyFile), 0o700); err != nil {
				return nil, err
			}
			if err := os.WriteFile(st.Config.JWTKeyFile, key, 0o600); err != nil {
				return nil, fmt.Errorf("write session key: %w", err)
			}
		default:
			return nil, fmt.Errorf("session key: set -auth.jwt-key or create %s: %w", st.Config.JWTKeyFile, err)
		}
	}
	return auth.NewSessions(key, 0)
}

// Close stops accepting requests, lets the writer flush, then closes the
// store and drains NATS, and finally stops embedded servers.
func (st *Stack) Close() {
	if st.stopTails != nil {
		st.stopTails()
	}
	if st.Server != nil {
		st.Server.Shutdown()
	}
	if st.syslog != nil {
		_ = st.syslog.Close() // flushes pending batches while the bus is up
	}
	st.cancel()
	st.wg.Wait()
	if st.store != nil {
		_ = st.store.Close()
	}
	if st.bus != nil {
		_ = st.bus.Close()
	}
	if st.nats != nil {
		st.nats.Shutdown()
	}
	if st.ch != nil {
		_ = st.ch.Stop()
	}
}

func printWelcome(w io.Writer, st *Stack) {
	base := "http://" + st.Server.HTTPAddr()
	fmt.Fprintf(w, `
Sawmill is running.
  HTTP    %s   (REST API, OTLP/HTTP, /metrics, /healthz, /readyz)
  gRPC    %s   (Sawmill services, OTLP)
  syslog  %s   (TCP and UDP; RFC 5424 and 3164, key in the message: see docs/syslog.md)
  data    %s

Sign up, ship a first log, find it:

  curl -s %s/v1/signup -d '{"email":"you@example.com","password":"correct horse battery","organization":"Acme"}'
  export KEY=<api_key from the answer>
  curl -s %s/v1/ingest -H "Authorization: Bearer $KEY" -d '{"message":"hello sawmill","level":"info","service":"web"}'
  curl -s %s/v1/search -H "Authorization: Bearer $KEY" \
    -d "{\"query\":\"hello\",\"from\":\"$(date -u -d '-1 hour' +%%FT%%TZ)\",\"to\":\"$(date -u -d '+1 minute' +%%FT%%TZ)\"}"

Stop with Ctrl-C.
`, st.Server.HTTPAddr(), st.Server.GRPCAddr(), st.syslog.Addr(), st.Config.DataDir, base, base, base)
}
