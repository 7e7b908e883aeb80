package main

import (
	"errors"
	"flag"
	"fmt"
	"path/filepath"
	"time"

	"github.com/sawmillhq/sawmill/pkg/envflag"
	"github.com/sawmillhq/sawmill/pkg/server"
	"github.com/sawmillhq/sawmill/services/alerts"
	"github.com/sawmillhq/sawmill/services/billing"
	"github.com/sawmillhq/sawmill/services/ingest"
	"github.com/sawmillhq/sawmill/services/query"
)

// Config is everything a sawmill process needs.
type Config struct {
	Role     string
	LogLevel string
	// DataDir holds the embedded NATS store, the private ClickHouse and the
	// generated session key (dev). "" → ./.data
	DataDir string

	Server server.Config

	// NATSURL of the cluster; "" in dev → an embedded server on NATSPort.
	NATSURL  string
	NATSPort int
	// NATSReplicas is the replica count of the stream and buckets (3 on a
	// production cluster).
	NATSReplicas int

	// ClickHouseAddr (host:port, native protocol); "" in dev → a private
	// clickhouse-server on ClickHousePort.
	ClickHouseAddr     string
	ClickHouseDatabase string
	// ClickHouseCluster names the remote_servers cluster of cluster mode
	// (replicated tables sharded by tenant, migrations ON CLUSTER); "" →
	// a single server.
	ClickHouseCluster string
	// ClickHouseCompression is store.Config.Compression.
	ClickHouseCompression string
	// ClickHouseUsername and ClickHousePassword authenticate to ClickHouse.
	ClickHouseUsername, ClickHousePassword string
	ClickHousePort                         int

	// JWTKey signs session tokens; every role must share it. "" → read
	// JWTKeyFile, which dev creates when missing.
	JWTKey     string
	JWTKeyFile string

	// PlansFile is the plan catalogue (JSON); "" → the built-in plans.
	PlansFile string

	// Quota tunes quota keeping (billing).
	Quota billing.QuotaConfig
	// Clock, when set (tests), replaces time.Now in billing and edges.
	Clock func() time.Time

	Syslog ingest.SyslogConfig
	Tail   query.TailConfig
	// InvoiceEvery is how often billing looks for closed periods to invoice.
	InvoiceEvery time.Duration
	// RetentionInterval is how often expired log partitions are dropped.
	RetentionInterval time.Duration
	// OperatorKey is the operator credential for /v1/operator/...; ""
	// disables the operator API.
	OperatorKey string
	Ingest      ingest.Config
	Writer      ingest.WriterConfig
	Query       query.Config
	Billing     billing.Config
	Alerts      alerts.Config
}

var roles = map[string]bool{"dev": true, "ingest": true, "query": true, "billing": true, "alerts": true}

// parseConfig parses flags and SAWMILL_* environment variables (lookup is
// os.LookupEnv when nil) for a role.
func parseConfig(role string, args []string, lookup func(string) (string, bool)) (Config, error) {
	if !roles[role] {
		return Config{}, fmt.Errorf("unknown role %q: use dev, ingest, query, billing or alerts", role)
	}
	c := Config{Role: role}
	fs := flag.NewFlagSet("sawmill "+role, flag.ContinueOnError)
	fs.StringVar(&c.LogLevel, "log.level", "info", "log level: debug, info, warn, error")
	fs.StringVar(&c.DataDir, "data-dir", ".data", "directory for embedded NATS, private ClickHouse and generated keys")
	c.Server.RegisterFlags(fs)
	fs.StringVar(&c.NATSURL, "nats.url", "", "NATS server URL(s); empty in dev: start an embedded server")
	fs.IntVar(&c.NATSPort, "nats.port", 4222, "port of the embedded NATS server (dev)")
	fs.IntVar(&c.NATSReplicas, "nats.replicas", 1, "replicas of the JetStream streams and KV buckets (3 on a cluster)")
	fs.StringVar(&c.ClickHouseAddr, "clickhouse.addr", "", "ClickHouse native-protocol address host:port, or comma-separated replicas (first live one used); empty in dev: start a private server")
	fs.StringVar(&c.ClickHouseCompression, "clickhouse.compression", "", "compression of blocks on the wire, lz4 or none; empty: none when every -clickhouse.addr is a loopback address, else lz4")
	fs.StringVar(&c.ClickHouseCluster, "clickhouse.cluster", "", "ClickHouse cluster name in remote_servers: replicated tables sharded by tenant, created ON CLUSTER; empty: single node")
	fs.StringVar(&c.ClickHouseDatabase, "clickhouse.database", "sawmill", "ClickHouse database")
	fs.StringVar(&c.ClickHouseUsername, "clickhouse.username", "default", "ClickHouse user")
	fs.StringVar(&c.ClickHousePassword, "clickhouse.password", "", "ClickHouse password (prefer SAWMILL_CLICKHOUSE_PASSWORD from a secret)")
	fs.IntVar(&c.ClickHousePort, "clickhouse.port", 19000, "native port of the private ClickHouse server (dev)")
	fs.StringVar(&c.JWTKey, "auth.jwt-key", "", "session signing key (at least 32 bytes), shared by every role")
	fs.StringVar(&c.JWTKeyFile, "auth.jwt-key-file", "", "file holding the session signing key; empty: <data-dir>/jwt.key")
	fs.StringVar(&c.PlansFile, "plans", "", "plan catalogue JSON file; empty: built-in plans (free, team, business, enterprise)")
	c.Ingest.RegisterFlags(fs)
	c.Syslog.RegisterFlags(fs)
	c.Writer.RegisterFlags(fs)
	c.Query.RegisterFlags(fs)
	c.Tail.RegisterFlags(fs)
	fs.DurationVar(&c.InvoiceEvery, "billing.invoice-every", time.Hour, "how often closed billing periods are invoiced")
	fs.DurationVar(&c.RetentionInterval, "billing.retention-interval", time.Hour, "how often expired log partitions are dropped")
	fs.StringVar(&c.OperatorKey, "auth.operator-key", "", "operator credential for /v1/operator/...; empty: operator API disabled")
	c.Billing.RegisterFlags(fs)
	c.Alerts.RegisterFlags(fs)
	if err := envflag.Parse(fs, args, "SAWMILL_", lookup); err != nil {
		return Config{}, err
	}
	if c.JWTKeyFile == "" {
		c.JWTKeyFile = filepath.Join(c.DataDir, "jwt.key")
	}
	return c, c.Validate()
}

// Validate reports settings a role cannot run with.
func (c Config) Validate() error {
	if err := c.Tail.Validate(); err != nil {
		return err
	}
	if err := c.Alerts.Validate(); err != nil {
		return err
	}
	if c.ClickHouseCluster != "" && c.ClickHouseAddr == "" {
		return errors.New("-clickhouse.cluster needs -clickhouse.addr")
	}
	if c.Role != "dev" {
		if c.NATSURL == "" {
			return errors.New("-nats.url (SAWMILL_NATS_URL) is required outside dev")
		}
		if c.ClickHouseAddr == "" {
			return errors.New("-clickhouse.addr (SAWMILL_CLICKHOUSE_ADDR) is required outside dev")
		}
	}
	return nil
}
