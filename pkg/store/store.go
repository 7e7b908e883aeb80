// Package store provides Sawmill's ClickHouse data plane: the schema and its
// migrations, the writer's batch insert and exactly-once check, and bounded
// read-query execution with event scanning. It speaks ClickHouse's native
// protocol (clickhouse-go v2) and its SQL must run on 18.16 and on current
// releases. It must not compile search queries (pkg/lql does), decide
// retention or tenancy policy, or depend on any service package.
package store

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"regexp"
	"strings"
	"sync/atomic"
	"time"

	"github.com/ClickHouse/clickhouse-go/v2"
	"github.com/ClickHouse/clickhouse-go/v2/lib/driver"
)

// Errors Query returns (wrapped, test with errors.Is) when a read hits the
// Store's limits, so callers can answer "narrow your query" rather than
// "internal error".
var (
	// ErrQueryTimeout: the query ran longer than MaxExecutionTime.
	ErrQueryTimeout = errors.New("query exceeded its time limit")
	// ErrQueryMemory: the query needed more than MaxMemoryBytes.
	ErrQueryMemory = errors.New("query exceeded its memory limit")
)

// ClickHouse exception codes mapped onto the errors above.
const (
	codeTimeoutExceeded     = 159
	codeMemoryLimitExceeded = 241
)

// DefaultDatabase is the database used when Config.Database is empty.
const DefaultDatabase = "sawmill"

// DefaultMaxExecutionTime bounds a read query when Config.MaxExecutionTime
// is zero.
const DefaultMaxExecutionTime = 30 * time.Second

// Config configures a Store.
type Config struct {
	// Addr is the native-protocol address, host:port (usually port 9000),
	// or several, comma-separated ("ch1:9000,ch2:9000"): connections go to
	// the first that answers, and move to the next when it fails (a
	// cluster's replicas; list the nearest first).
	Addr string
	// Database holds Sawmill's tables; Open creates it if missing. It must
	// be a plain identifier ([A-Za-z_][A-Za-z0-9_]*). If empty,
	// DefaultDatabase.
	Database string
	// Username and Password authenticate. If Username is empty, "default".
	Username, Password string
	// MaxExecutionTime bounds each Query (server setting and client
	// deadline). If 0, DefaultMaxExecutionTime.
	MaxExecutionTime time.Duration
	// MaxMemoryBytes bounds each Query's memory on the server
	// (max_memory_usage). If 0, the server profile's limit applies.
	MaxMemoryBytes uint64
	// Logger receives connection events. If nil, nothing is logged.
	Logger *slog.Logger
	// Cluster is the name, in the servers' remote_servers, of the
	// replicated cluster to run on (see cluster.go): the schema is created
	// ON CLUSTER as replicated tables sharded by tenant, read and written
	// through Distributed tables. Every server needs the zookeeper section
	// and the {shard} and {replica} macros. If empty, single-node mode.
	Cluster string
	// Compression of the blocks on the wire: "lz4" or "none". If empty,
	// "none" when every address is a loopback one (compressing costs both
	// ends CPU and saves no network: 0.4 CPU-s per million events inserted
	// on one 2-core host), else "lz4".
	Compression string
}

// Store is a connection pool to one database. It is safe for concurrent use.
type Store struct {
	conn   driver.Conn
	cfg    Config
	logger *slog.Logger
	// major caches the server's major version (0 until first asked).
	major atomic.Int32
}

var identifier = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_]*$`)

// Open connects to cfg.Addr, creates cfg.Database if it does not exist and
// returns a Store whose queries run in that database. It fails if the server
// does not answer a ping. The caller must Close the Store.
func Open(ctx context.Context, cfg Config) (*Store, error) {
	if cfg.Addr == "" {
		return nil, errors.New("store: Addr is required")
	}
	if cfg.Database == "" {
		cfg.Database = DefaultDatabase
	}
	if !identifier.MatchString(cfg.Database) {
		return nil, fmt.Errorf("store: invalid database name %q", cfg.Database)
	}
	if cfg.Cluster != "" && !identifier.MatchString(cfg.Cluster) {
		return nil, fmt.Errorf("store: invalid cluster name %q", cfg.Cluster)
	}
	switch cfg.Compression {
	case "":
		cfg.Compression = "lz4"
		if allLoopback(cfg.Addr) {
			cfg.Compression = "none"
		}
	case "lz4", "none":
	default:
		return nil, fmt.Errorf("store: compression %q: want lz4 or none", cfg.Compression)
	}
	if cfg.Username == "" {
		cfg.Username = "default"
	}
	if cfg.MaxExecutionTime <= 0 {
		cfg.MaxExecutionTime = DefaultMaxExecutionTime
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	if cfg.Cluster != "" {
		if err := checkCluster(ctx, cfg); err != nil {
			return nil, err
		}
	}
	if err := createDatabase(ctx, cfg); err != nil {
		return nil, err
	}
	conn, err := dial(ctx, cfg, cfg.Database)
	if err != nil {
		return nil, err
	}
	cfg.Logger.Debug("clickhouse connected", "addr", cfg.Addr, "database", cfg.Database)
	return &Store{conn: conn, cfg: cfg, logger: cfg.Logger}, nil
}

// createDatabase connects to the always-present `default` database to
// create cfg.Database: connecting to a missing database fails.
func createDatabase(ctx context.Context, cfg Config) error {
	conn, err := dial(ctx, cfg, "default")
	if err != nil {
		return err
	}
	defer conn.Close()
	onCluster := ""
	if cfg.Cluster != "" {
		onCluster = " ON CLUSTER " + cfg.Cluster
	}
	if err := conn.Exec(ctx, "CREATE DATABASE IF NOT EXISTS "+cfg.Database+onCluster); err != nil {
		return fmt.Errorf("store: create database %s: %w", cfg.Database, err)
	}
	return nil
}

func dial(ctx context.Context, cfg Config, database string) (driver.Conn, error) {
	conn, err := clickhouse.Open(&clickhouse.Options{
		Addr: addrs(cfg.Addr),
		Auth: clickhouse.Auth{Database: database, Username: cfg.Username, Password: cfg.Password},
		// Room for the largest insert and the longest query on top of it.
		ReadTimeout: cfg.MaxExecutionTime + 5*time.Minute,
		DialTimeout: 10 * time.Second,
		Compression: compression(cfg.Compression),
	})
	if err != nil {
		return nil, fmt.Errorf("store: open %s: %w", cfg.Addr, err)
	}
	if err := conn.Ping(ctx); err != nil {
		conn.Close()
		return nil, fmt.Errorf("store: ping %s: %w", cfg.Addr, err)
	}
	return conn, nil
}

func compression(method string) *clickhouse.Compression {
	if method == "none" {
		return &clickhouse.Compression{Method: clickhouse.CompressionNone}
	}
	return &clickhouse.Compression{Method: clickhouse.CompressionLZ4}
}

// allLoopback reports whether every address of list is on a loopback host
// (an IP literal or "localhost"; other names are not resolved).
func allLoopback(list string) bool {
	as := addrs(list)
	for _, a := range as {
		host, _, err := net.SplitHostPort(a)
		if err != nil {
			host = a
		}
		if ip := net.ParseIP(host); host != "localhost" && (ip == nil || !ip.IsLoopback()) {
			return false
		}
	}
	return len(as) > 0
}

// addrs splits Config.Addr's comma-separated list.
func addrs(list string) []string {
	var out []string
	for _, a := range strings.Split(list, ",") {
		if a = strings.TrimSpace(a); a != "" {
			out = append(out, a)
		}
	}
	return out
}

// Close closes the connections. Rows returned by Query must be closed first.
func (s *Store) Close() error {
	if err := s.conn.Close(); err != nil {
		return fmt.Errorf("store: close: %w", err)
	}
	return nil
}

// Ping checks that the server answers.
func (s *Store) Ping(ctx context.Context) error {
	if err := s.conn.Ping(ctx); err != nil {
		return fmt.Errorf("store: ping: %w", err)
	}
	return nil
}

// Database returns the database the Store works in.
func (s *Store) Database() string { return s.cfg.Database }

// Query runs a read-only query with the Store's limits: the server stops it
// after MaxExecutionTime (and the client gives up then too) or when it needs
// more than MaxMemoryBytes, and rejects anything but reads (readonly=2: reads
// only, per-query settings still allowed). args bind to `?` placeholders
// positionally; the driver quotes them, so they never become SQL. Ending ctx
// cancels the query on the server. The caller must Close the rows; the
// deadline covers reading them.
func (s *Store) Query(ctx context.Context, query string, args ...any) (driver.Rows, error) {
	ctx, cancel := context.WithTimeout(ctx, s.cfg.MaxExecutionTime)
	ctx = clickhouse.Context(ctx, clickhouse.WithSettings(s.readSettings()))
	rows, err := s.conn.Query(ctx, query, args...)
	if err != nil {
		err = classify(ctx, err)
		cancel()
		return nil, err
	}
	return &limitedRows{Rows: rows, ctx: ctx, cancel: cancel}, nil
}

// classify wraps a query error with ErrQueryTimeout or ErrQueryMemory when
// it is one. Once the deadline has passed the driver reports anything from
// "i/o timeout" to the server's TIMEOUT_EXCEEDED; all mean the same.
func classify(ctx context.Context, err error) error {
	var ex *clickhouse.Exception
	isEx := errors.As(err, &ex)
	switch {
	case deadlinePassed(ctx), isEx && ex.Code == codeTimeoutExceeded:
		return fmt.Errorf("store: query: %w: %w", ErrQueryTimeout, err)
	case isEx && ex.Code == codeMemoryLimitExceeded:
		return fmt.Errorf("store: query: %w: %w", ErrQueryMemory, err)
	}
	return fmt.Errorf("store: query: %w", err)
}

// readSettings are the per-query limits of Query. Values are ints: 18.16
// (protocol revision 54412) gets settings as varints and clickhouse-go
// encodes only int and bool that way.
func (s *Store) readSettings() clickhouse.Settings {
	set := clickhouse.Settings{
		"readonly": 2,
		// clickhouse-go replaces this with the context deadline + 5 s when
		// the deadline is more than a second away; the client-side deadline
		// is MaxExecutionTime either way.
		"max_execution_time": int((s.cfg.MaxExecutionTime + time.Second - 1) / time.Second),
	}
	if s.cfg.MaxMemoryBytes > 0 {
		set["max_memory_usage"] = int(min(s.cfg.MaxMemoryBytes, 1<<62))
	}
	return set
}

// deadlinePassed reports whether ctx's deadline is over, even if ctx.Err
// has not caught up yet (the driver's socket deadline can fire first).
func deadlinePassed(ctx context.Context) bool {
	d, ok := ctx.Deadline()
	return errors.Is(ctx.Err(), context.DeadlineExceeded) || ok && !time.Now().Before(d)
}

// limitedRows releases Query's deadline when the rows are closed and
// classifies errors met while reading them.
type limitedRows struct {
	driver.Rows
	ctx    context.Context
	cancel context.CancelFunc
}

func (r *limitedRows) Close() error {
	defer r.cancel()
	return r.Rows.Close()
}

func (r *limitedRows) Err() error {
	if err := r.Rows.Err(); err != nil {
		return classify(r.ctx, err)
	}
	return nil
}
