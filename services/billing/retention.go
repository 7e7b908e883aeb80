package billing

import (
	"context"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promauto"

	"github.com/sawmillhq/sawmill/pkg/store"
)

// DefaultRetentionInterval is how often RunRetention runs when given 0.
const DefaultRetentionInterval = time.Hour

var (
	partitionsDropped = promauto.NewCounter(prometheus.CounterOpts{
		Name: "sawmill_retention_partitions_dropped_total",
		Help: "Partitions of the logs table dropped by the retention job.",
	})
	retentionErrors = promauto.NewCounter(prometheus.CounterOpts{
		Name: "sawmill_retention_errors_total",
		Help: "Retention runs that failed to list or drop a partition.",
	})
)

// expired reports whether partition p is past its retention on the UTC day
// of now: its day plus its retention class is before today. A row of day D
// in class N is kept through day D+N and goes on day D+N+1.
func expired(p store.Partition, now time.Time) bool {
	y, m, d := now.UTC().Date()
	today := time.Date(y, m, d, 0, 0, 0, 0, time.UTC)
	return p.Day.AddDate(0, 0, int(p.RetentionDays)).Before(today)
}

// EnforceRetention drops every logs partition past its retention (see
// expired) on the service's clock, whole partitions only: no row-by-row
// deletes. It returns the partitions dropped, and the first error; a
// failed drop does not stop the others.
func (s *Service) EnforceRetention(ctx context.Context) ([]store.Partition, error) {
	parts, err := s.store.LogPartitions(ctx)
	if err != nil {
		return nil, err
	}
	now := s.now()
	var dropped []store.Partition
	var first error
	for _, p := range parts {
		if !expired(p, now) {
			continue
		}
		if err := s.store.DropLogPartition(ctx, p); err != nil {
			first = cmpErr(first, err)
			continue
		}
		partitionsDropped.Inc()
		dropped = append(dropped, p)
		s.log.Info("retention: partition dropped", "partition", p.String())
	}
	return dropped, first
}

// RunRetention runs EnforceRetention at once and then every interval (0:
// DefaultRetentionInterval) until ctx ends. Errors are logged and counted;
// the next run retries. Several billing processes may run it: dropping a
// partition twice is harmless.
func (s *Service) RunRetention(ctx context.Context, every time.Duration) {
	if every <= 0 {
		every = DefaultRetentionInterval
	}
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		if _, err := s.EnforceRetention(ctx); err != nil && ctx.Err() == nil {
			retentionErrors.Inc()
			s.log.Warn("retention", "err", err)
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

// cmpErr keeps the first non-nil error.
func cmpErr(first, err error) error {
	if first != nil {
		return first
	}
	return err
}
