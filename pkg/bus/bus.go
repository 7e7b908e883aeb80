// Package bus provides Sawmill's NATS layer: the connection, the LOGS stream
// and its subjects, the control-plane KV buckets, publishing event batches, and
// following a KV bucket into memory. Every role calls Ensure at start; it
// creates or updates streams and buckets idempotently so roles can start in
// any order. It must not import any service package.
package bus

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/url"
	"strings"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

// Names of the stream, subjects, consumer and buckets.
const (
	// LogsStream holds published event batches, one message per batch.
	LogsStream = "LOGS"
	// LogsSubjectPrefix is followed by the tenant id: logs.<tenant>.
	LogsSubjectPrefix = "logs."
	// WriterConsumer is the durable pull consumer the writers share.
	WriterConsumer = "writer"

	BucketTenants = "tenants" // tenant id → tenant record (JSON)
	BucketUsers   = "users"   // email key (see EmailKey) → user record (JSON)
	BucketKeys    = "keys"    // API key id → auth.Key (JSON)
	// BucketScrubbing maps a tenant id to its scrubbing rules (JSON, see
	// pkg/scrub.Rules); a tenant without an entry gets the default rules.
	BucketScrubbing = "scrubbing"
	// BucketQuotas maps a tenant id to its quota state (JSON, see
	// pkg/quota.State), written by billing, followed by every edge.
	BucketQuotas = "quotas"
	// BucketSearches maps "<tenant>.<id>" to a saved search (JSON).
	BucketSearches = "searches"
	// BucketDashboards maps "<tenant>.<id>" to a dashboard (JSON).
	BucketDashboards = "dashboards"
	// BucketInvoices maps "<tenant>.<period start YYYYMMDD>" to an invoice
	// (JSON); the key makes an invoice unique per tenant and period.
	BucketInvoices = "invoices"
	// Alerts' buckets, keyed "<tenant>.<id>": rules, channels and silences
	// (JSON), and per rule the evaluation state of its groups.
	BucketAlertRules    = "alert_rules"
	BucketAlertChannels = "alert_channels"
	BucketAlertSilences = "alert_silences"
	BucketAlertStates   = "alert_states"
	// BucketAlertLeases maps a rule key to the alerts process evaluating
	// it; an entry not renewed within AlertLeaseTTL expires.
	BucketAlertLeases = "alert_leases"
	// AlertLeaseTTL is how long an alerts process's lease on a rule lasts
	// without renewal.
	AlertLeaseTTL = 15 * time.Second

	// NotifyStream is the durable work queue of notifications to deliver,
	// on NotifySubjectPrefix + tenant.
	NotifyStream        = "NOTIFY"
	NotifySubjectPrefix = "notify."
	// NotifyLogStream records each delivery attempt's outcome, on
	// NotifyLogSubjectPrefix + tenant.
	NotifyLogStream        = "NOTIFYLOG"
	NotifyLogSubjectPrefix = "notifylog."
	// AlertHistoryStream holds alert state changes, on
	// AlertHistorySubjectPrefix + tenant.
	AlertHistoryStream        = "ALERTHISTORY"
	AlertHistorySubjectPrefix = "alerts.history."
	// WarningsStream keeps billing's quota warnings (pkg/quota
	// WarningSubjectPrefix + tenant) until alerts has delivered them.
	WarningsStream = "WARNINGS"

	// HeaderRetention carries the retention class (days) stamped at ingest.
	HeaderRetention = "Sawmill-Retention-Days"
	// HeaderEvents carries the number of events in a batch.
	HeaderEvents = "Sawmill-Events"
)

// redactURLs replaces the passwords in a comma-separated list of NATS URLs
// (nats://user:password@host) so that the list can be logged.
func redactURLs(list string) string {
	parts := strings.Split(list, ",")
	for i, p := range parts {
		if u, err := url.Parse(strings.TrimSpace(p)); err == nil && u.User != nil {
			parts[i] = u.Redacted()
		}
	}
	return strings.Join(parts, ",")
}

// WriterConsumerConfig is the configuration of the durable consumer the
// writers share (bus.Connect creates it; writers bind to it).
func WriterConsumerConfig(ackWait time.Duration) jetstream.ConsumerConfig {
	return jetstream.ConsumerConfig{
		Durable:       WriterConsumer,
		AckPolicy:     jetstream.AckExplicitPolicy,
		AckWait:       ackWait,
		MaxDeliver:    -1,
		MaxAckPending: 10000,
		FilterSubject: LogsSubjectPrefix + "*",
		DeliverPolicy: jetstream.DeliverAllPolicy,
	}
}

// LogsSubject returns the subject a tenant's batches are published on.
func LogsSubject(tenant string) string { return LogsSubjectPrefix + tenant }

// Config configures the connection and the stream.
type Config struct {
	// URL of the NATS server(s), comma-separated. Required.
	URL string
	// Name identifies this client to the server (role and host).
	Name string
	// DuplicateWindow is how long an Idempotency-Key is remembered. 0 → 10 minutes.
	DuplicateWindow time.Duration
	// MaxAge bounds how long a batch waits for the writer: the stream keeps a
	// batch until the writer has acknowledged it (interest retention), and
	// one older than MaxAge is dropped even then — the longest writer or
	// ClickHouse outage survived without loss. 0 → 7 days.
	MaxAge time.Duration
	// MaxBytes bounds the unwritten backlog; when it is full, publishes fail
	// (edges answer 503 with Retry-After) instead of dropping anything.
	// 0 → 10 GiB.
	MaxBytes int64
	// WriterAckWait is the redelivery timeout of the writer consumer, which
	// Connect creates so that no batch is published before its interest
	// exists. 0 → 30 s.
	WriterAckWait time.Duration
	// Replicas for the stream and buckets (1 for a single server).
	Replicas int
	Logger   *slog.Logger
}

func (c *Config) defaults() {
	if c.DuplicateWindow == 0 {
		c.DuplicateWindow = 10 * time.Minute
	}
	if c.MaxAge == 0 {
		c.MaxAge = 7 * 24 * time.Hour
	}
	if c.WriterAckWait == 0 {
		c.WriterAckWait = 30 * time.Second
	}
	if c.MaxBytes == 0 {
		c.MaxBytes = 10 << 30
	}
	if c.Replicas == 0 {
		c.Replicas = 1
	}
	if c.Logger == nil {
		c.Logger = slog.Default()
	}
}

// Bus is a connection to NATS with JetStream. It is safe for concurrent use.
type Bus struct {
	NC  *nats.Conn
	JS  jetstream.JetStream
	cfg Config

	Tenants jetstream.KeyValue
	Users   jetstream.KeyValue
	Keys    jetstream.KeyValue
	// Scrubbing holds per-tenant scrubbing rules (BucketScrubbing).
	Scrubbing jetstream.KeyValue
	// Quotas holds per-tenant quota states (BucketQuotas).
	Quotas jetstream.KeyValue
	// Searches, Dashboards and Invoices: see the bucket constants.
	Searches   jetstream.KeyValue
	Dashboards jetstream.KeyValue
	Invoices   jetstream.KeyValue
	// Alerts' buckets: see the BucketAlert* constants.
	AlertRules    jetstream.KeyValue
	AlertChannels jetstream.KeyValue
	AlertSilences jetstream.KeyValue
	AlertStates   jetstream.KeyValue
	AlertLeases   jetstream.KeyValue
}

// Connect dials NATS (reconnecting forever after the first success), then
// ensures the stream and buckets exist with the configured settings.
func Connect(ctx context.Context, cfg Config) (*Bus, error) {
	cfg.defaults()
	if cfg.URL == "" {
		return nil, errors.New("bus: no NATS URL")
	}
	log := cfg.Logger
	nc, err := nats.Connect(cfg.URL,
		nats.Name(cfg.Name),
		nats.MaxReconnects(-1),
		nats.ReconnectWait(250*time.Millisecond),
		// A node that hangs (rather than dies) is noticed within ~10 s, not
		// nats.go's default 4 minutes.
		nats.PingInterval(5*time.Second),
		nats.MaxPingsOutstanding(2),
		// No reconnect buffer: while disconnected a publish fails at once (the
		// client gets 503 and retries) instead of being sent later, after the
		// client was told it failed.
		nats.ReconnectBufSize(-1),
		nats.DisconnectErrHandler(func(_ *nats.Conn, err error) {
			if err != nil {
				log.Warn("nats disconnected", "err", err)
			}
		}),
		nats.ReconnectHandler(func(c *nats.Conn) { log.Info("nats reconnected", "url", c.ConnectedUrlRedacted()) }),
	)
	if err != nil {
		return nil, fmt.Errorf("connect nats %s: %w", redactURLs(cfg.URL), err)
	}
	js, err := jetstream.New(nc)
	if err != nil {
		nc.Close()
		return nil, fmt.Errorf("jetstream: %w", err)
	}
	b := &Bus{NC: nc, JS: js, cfg: cfg}
	if err := b.ensure(ctx); err != nil {
		nc.Close()
		return nil, err
	}
	return b, nil
}

// ensureAttempt bounds one JetStream API call of ensure: a request lost
// while a cluster elects a leader is retried instead of waiting out the
// caller's whole deadline.
const ensureAttempt = 10 * time.Second

// retry runs f, each attempt bounded by ensureAttempt, until it succeeds or
// ctx ends; the create-or-update calls it wraps are idempotent.
func retry(ctx context.Context, f func(context.Context) error) error {
	for backoff := 250 * time.Millisecond; ; backoff = min(2*backoff, 2*time.Second) {
		actx, cancel := context.WithTimeout(ctx, ensureAttempt)
		err := f(actx)
		cancel()
		if err == nil || ctx.Err() != nil {
			return err
		}
		select {
		case <-ctx.Done():
			return err
		case <-time.After(backoff):
		}
	}
}

// logsStreamConfig is the LOGS stream. Interest retention: a batch stays
// until every consumer has it — the writer's ack, a tail's delivery — so the
// size limit counts only what is not yet stored, and DiscardNew refuses new
// batches (503) rather than dropping unwritten ones.
func logsStreamConfig(c Config) jetstream.StreamConfig {
	return jetstream.StreamConfig{
		Name:        LogsStream,
		Description: "event batches from ingest edges, consumed by writers and tails",
		Subjects:    []string{LogsSubjectPrefix + "*"},
		Retention:   jetstream.InterestPolicy,
		Discard:     jetstream.DiscardNew,
		MaxAge:      c.MaxAge,
		MaxBytes:    c.MaxBytes,
		Storage:     jetstream.FileStorage,
		Replicas:    c.Replicas,
		Duplicates:  c.DuplicateWindow,
	}
}

func (b *Bus) ensure(ctx context.Context) error {
	stream := func(sc jetstream.StreamConfig) error {
		err := retry(ctx, func(ctx context.Context) error {
			_, err := b.JS.CreateOrUpdateStream(ctx, sc)
			return err
		})
		if err != nil {
			return fmt.Errorf("ensure stream %s: %w", sc.Name, err)
		}
		return nil
	}
	if err := stream(logsStreamConfig(b.cfg)); err != nil {
		return err
	}
	// Under interest retention a batch published while no consumer exists
	// is dropped at once: the writer's consumer must exist before any edge
	// publishes, whichever role starts first.
	err := retry(ctx, func(ctx context.Context) error {
		_, err := b.JS.CreateOrUpdateConsumer(ctx, LogsStream, WriterConsumerConfig(b.cfg.WriterAckWait))
		return err
	})
	if err != nil {
		return fmt.Errorf("ensure consumer %s: %w", WriterConsumer, err)
	}
	for _, sc := range []jetstream.StreamConfig{
		{Name: NotifyStream, Description: "notifications to deliver", Subjects: []string{NotifySubjectPrefix + "*"},
			Retention: jetstream.WorkQueuePolicy, MaxAge: 7 * 24 * time.Hour},
		{Name: NotifyLogStream, Description: "notification delivery log", Subjects: []string{NotifyLogSubjectPrefix + "*"},
			MaxAge: 30 * 24 * time.Hour},
		{Name: AlertHistoryStream, Description: "alert state changes", Subjects: []string{AlertHistorySubjectPrefix + "*"},
			MaxAge: 90 * 24 * time.Hour},
		{Name: WarningsStream, Description: "quota warnings from billing", Subjects: []string{"quota.warnings.*"},
			MaxAge: 7 * 24 * time.Hour},
	} {
		sc.Storage, sc.Replicas, sc.Duplicates = jetstream.FileStorage, b.cfg.Replicas, b.cfg.DuplicateWindow
		if err := stream(sc); err != nil {
			return err
		}
	}
	buckets := []struct {
		name string
		kv   *jetstream.KeyValue
	}{{BucketTenants, &b.Tenants}, {BucketUsers, &b.Users}, {BucketKeys, &b.Keys}, {BucketScrubbing, &b.Scrubbing}, {BucketQuotas, &b.Quotas},
		{BucketSearches, &b.Searches}, {BucketDashboards, &b.Dashboards}, {BucketInvoices, &b.Invoices},
		{BucketAlertRules, &b.AlertRules}, {BucketAlertChannels, &b.AlertChannels}, {BucketAlertSilences, &b.AlertSilences},
		{BucketAlertStates, &b.AlertStates}, {BucketAlertLeases, &b.AlertLeases}}
	for _, bk := range buckets {
		cfg := jetstream.KeyValueConfig{
			Bucket:   bk.name,
			History:  1,
			Storage:  jetstream.FileStorage,
			Replicas: b.cfg.Replicas,
		}
		if bk.name == BucketAlertLeases {
			cfg.TTL = AlertLeaseTTL
		}
		err := retry(ctx, func(ctx context.Context) error {
			kv, err := b.JS.CreateOrUpdateKeyValue(ctx, cfg)
			*bk.kv = kv
			return err
		})
		if err != nil {
			return fmt.Errorf("ensure bucket %s: %w", bk.name, err)
		}
	}
	return nil
}

// Ping reports whether the connection is up and JetStream answers.
func (b *Bus) Ping(ctx context.Context) error {
	if !b.NC.IsConnected() {
		return errors.New("nats not connected")
	}
	if _, err := b.JS.AccountInfo(ctx); err != nil {
		return fmt.Errorf("jetstream account info: %w", err)
	}
	return nil
}

// Close drains the connection: pending publishes and subscriptions finish
// before it closes.
func (b *Bus) Close() error {
	if b.NC.IsClosed() {
		return nil
	}
	return b.NC.Drain()
}
