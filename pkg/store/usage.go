package store

import (
	"context"
	"fmt"
	"time"
)

// UsageRow is metered usage for one period.
type UsageRow struct {
	Start  time.Time // start of the hour or day, UTC
	Events uint64
	Bytes  uint64
}

// Granularity of a usage report.
type Granularity string

// The granularities Usage accepts.
const (
	Hourly Granularity = "hour"
	Daily  Granularity = "day"
)

// Usage returns a tenant's metered usage in [from, to), by hour or by day of
// ingestion, only for periods with usage, oldest first. It reads
// usage_hourly, which the same INSERT as the rows fills (migration 3), so it
// equals what is stored — including rows since dropped by retention.
func (s *Store) Usage(ctx context.Context, tenantID string, from, to time.Time, g Granularity) ([]UsageRow, error) {
	bucket := "hour"
	switch g {
	case Hourly:
	case Daily:
		bucket = "toDateTime(toDate(hour), 'UTC')"
	default:
		return nil, fmt.Errorf("store: unknown usage granularity %q", g)
	}
	rows, err := s.Query(ctx, `SELECT `+bucket+` AS t, sum(events), sum(bytes) FROM usage_hourly
WHERE tenant_id = ? AND hour >= toDateTime(?, 'UTC') AND hour < toDateTime(?, 'UTC')
GROUP BY t ORDER BY t`, tenantID, from.Unix(), to.Unix())
	if err != nil {
		return nil, fmt.Errorf("store: usage: %w", err)
	}
	defer rows.Close()
	var out []UsageRow
	for rows.Next() {
		var r UsageRow
		if err := rows.Scan(&r.Start, &r.Events, &r.Bytes); err != nil {
			return nil, fmt.Errorf("store: scan usage: %w", err)
		}
		r.Start = r.Start.UTC()
		out = append(out, r)
	}
	return out, rows.Err()
}

// TenantUsage is usage of one tenant in one hour.
type TenantUsage struct {
	TenantID string
	Hour     time.Time
	Events   uint64
	Bytes    uint64
}

// UsageSince returns every tenant's hourly usage from since on: billing sums
// it per tenant over each tenant's own period to reconcile quotas.
func (s *Store) UsageSince(ctx context.Context, since time.Time) ([]TenantUsage, error) {
	rows, err := s.Query(ctx, `SELECT tenant_id, hour, sum(events), sum(bytes) FROM usage_hourly
WHERE hour >= toDateTime(?, 'UTC') GROUP BY tenant_id, hour`, since.Unix())
	if err != nil {
		return nil, fmt.Errorf("store: usage since: %w", err)
	}
	defer rows.Close()
	var out []TenantUsage
	for rows.Next() {
		var u TenantUsage
		if err := rows.Scan(&u.TenantID, &u.Hour, &u.Events, &u.Bytes); err != nil {
			return nil, fmt.Errorf("store: scan usage: %w", err)
		}
		u.Hour = u.Hour.UTC()
		out = append(out, u)
	}
	return out, rows.Err()
}
