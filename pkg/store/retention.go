package store

import (
	"context"
	"fmt"
	"regexp"
	"strconv"
	"time"

	"github.com/ClickHouse/clickhouse-go/v2/lib/driver"
)

// Partition is one partition of the logs table: a retention class and a
// day (PARTITION BY (retention_days, toDate(ts))).
type Partition struct {
	RetentionDays uint16
	Day           time.Time // 00:00 UTC
}

// String returns the partition as ClickHouse writes it in system.parts and
// reads it in DROP PARTITION: (7,'2026-11-01'). It is built from the numbers
// only, so it is always a safe SQL literal.
func (p Partition) String() string {
	return fmt.Sprintf("(%d,'%s')", p.RetentionDays, p.Day.UTC().Format(time.DateOnly))
}

// partitionText is the only shape of logs partition ParsePartition accepts.
var partitionText = regexp.MustCompile(`^\((\d{1,5}),\s*'(\d{4}-\d{2}-\d{2})'\)$`)

// ParsePartition parses a logs partition as system.parts shows it,
// "(7,'2026-11-01')". Anything else is an error.
func ParsePartition(s string) (Partition, error) {
	m := partitionText.FindStringSubmatch(s)
	if m == nil {
		return Partition{}, fmt.Errorf("store: unexpected logs partition %q", s)
	}
	days, err := strconv.ParseUint(m[1], 10, 16)
	if err != nil {
		return Partition{}, fmt.Errorf("store: partition %q: retention: %w", s, err)
	}
	day, err := time.Parse(time.DateOnly, m[2])
	if err != nil {
		return Partition{}, fmt.Errorf("store: partition %q: day: %w", s, err)
	}
	return Partition{RetentionDays: uint16(days), Day: day}, nil
}

// LogPartitions returns the active partitions of the logs table (in cluster
// mode: of logs_local on every shard), in no particular order. A partition
// system.parts shows in a shape ParsePartition does not accept is an error:
// the caller must not guess what to drop.
func (s *Store) LogPartitions(ctx context.Context) ([]Partition, error) {
	rows, err := s.Query(ctx, `SELECT DISTINCT partition FROM `+s.systemTable("parts")+`
WHERE database = ? AND table = ? AND active`, s.cfg.Database, s.logsData())
	if err != nil {
		return nil, fmt.Errorf("store: list partitions: %w", err)
	}
	defer rows.Close()
	var out []Partition
	for rows.Next() {
		var text string
		if err := rows.Scan(&text); err != nil {
			return nil, fmt.Errorf("store: scan partition: %w", err)
		}
		p, err := ParsePartition(text)
		if err != nil {
			return nil, err
		}
		out = append(out, p)
	}
	return out, rows.Err()
}

// DropLogPartition drops one whole partition of the logs table: every row
// of that retention class and day goes at once, without a mutation, with
// the text blooms of that day. In
// cluster mode it drops it from logs_local ON CLUSTER: on every shard (one
// replica per shard runs it; replication takes it to the others, and to a
// replica that is down when it comes back — the statement then fails after
// distributed_ddl_task_timeout, and the caller retries). Dropping a
// partition that does not exist is not an error.
func (s *Store) DropLogPartition(ctx context.Context, p Partition) error {
	// DROP PARTITION takes no bound parameters; p.String() holds only
	// formatted numbers.
	if err := s.alterLogData(ctx, "DROP PARTITION "+p.String()); err != nil {
		return fmt.Errorf("store: drop partition %s: %w", p, err)
	}
	return nil
}

// alterLogData runs ALTER TABLE ... action (with args) on the tables that
// hold log data, text_blooms first and then logs (their local tables ON
// CLUSTER in cluster mode): a failure in between then leaves blooms
// without rows, which is harmless, never rows without blooms (blooms.go).
func (s *Store) alterLogData(ctx context.Context, action string, args ...any) error {
	for _, table := range []string{s.bloomsData(), s.logsData()} {
		if err := s.conn.Exec(ctx, "ALTER TABLE "+s.cfg.Database+"."+table+s.onCluster()+" "+action, args...); err != nil {
			return fmt.Errorf("%s: %w", table, err)
		}
	}
	return nil
}

// DeleteTenantLogs starts the deletion of every row of a tenant from logs
// (ALTER TABLE ... DELETE, a mutation: asynchronous, rewriting the parts
// that hold the tenant's rows; in cluster mode on logs_local ON CLUSTER, so
// on every shard, replicated to every replica); its text blooms too. Usage
// in usage_hourly is kept: it is the billing record. Watch completion with
// TenantDeletePending
// (in cluster mode: of one replica per shard) and TenantRows.
func (s *Store) DeleteTenantLogs(ctx context.Context, tenantID string) error {
	if tenantID == "" {
		return fmt.Errorf("store: delete tenant logs: empty tenant id")
	}
	if err := s.alterLogData(ctx, "DELETE WHERE tenant_id = ?", tenantID); err != nil {
		return fmt.Errorf("store: delete tenant logs: %w", err)
	}
	return nil
}

// TenantDeletePending reports how many mutations on logs that name the
// tenant (as a quoted literal, as DeleteTenantLogs writes it) are not done
// yet (system.mutations, which 18.16 has too).
func (s *Store) TenantDeletePending(ctx context.Context, tenantID string) (uint64, error) {
	rows, err := s.Query(ctx, `SELECT count() FROM `+s.systemTable("mutations")+`
WHERE database = ? AND table = ? AND is_done = 0 AND position(command, ?) > 0`, s.cfg.Database, s.logsData(), "'"+tenantID+"'")
	if err != nil {
		return 0, fmt.Errorf("store: pending mutations: %w", err)
	}
	return scanCount(rows)
}

// TenantRows counts a tenant's rows in logs.
func (s *Store) TenantRows(ctx context.Context, tenantID string) (uint64, error) {
	rows, err := s.Query(ctx, "SELECT count() FROM logs WHERE tenant_id = ?", tenantID)
	if err != nil {
		return 0, fmt.Errorf("store: count tenant rows: %w", err)
	}
	return scanCount(rows)
}

// systemTable is system.<name> of this server, or in cluster mode of one
// replica per shard (cluster() table function, which 18.16 has too).
func (s *Store) systemTable(name string) string {
	if s.cfg.Cluster == "" {
		return "system." + name
	}
	return "cluster('" + s.cfg.Cluster + "', system, " + name + ")"
}

// scanCount reads the single count() of rows and closes them.
func scanCount(rows driver.Rows) (uint64, error) {
	defer rows.Close()
	var n uint64
	if rows.Next() {
		if err := rows.Scan(&n); err != nil {
			return 0, fmt.Errorf("store: scan count: %w", err)
		}
	}
	return n, rows.Err()
}
