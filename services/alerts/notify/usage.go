package notify

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/sawmillhq/sawmill/pkg/bus"
	"github.com/sawmillhq/sawmill/pkg/quota"
)

// RunUsage turns billing's quota warnings (the WARNINGS stream) into usage
// notifications to each of the tenant's channels, until ctx ends. A warning
// is acknowledged only once its notifications are queued; the notification
// id "usage/<tenant>/<period start>/<level>" makes a redelivered warning
// queue nothing new. It returns nil when ctx ends.
func (q *Queue) RunUsage(ctx context.Context) error {
	cfg := jetstream.ConsumerConfig{
		Durable:       UsageConsumer,
		Description:   "quota warnings to usage notifications",
		AckPolicy:     jetstream.AckExplicitPolicy,
		AckWait:       ackWait,
		MaxDeliver:    -1,
		FilterSubject: quota.WarningSubjectPrefix + "*",
	}
	return q.consume(ctx, bus.WarningsStream, cfg, 1, q.usage)
}

// usage handles one quota warning.
func (q *Queue) usage(ctx context.Context, msg jetstream.Msg) {
	var w quota.Warning
	tenant := strings.TrimPrefix(msg.Subject(), quota.WarningSubjectPrefix)
	if err := json.Unmarshal(msg.Data(), &w); err != nil || !validToken(tenant) || (w.Level != 80 && w.Level != 100) {
		q.log.Error("bad quota warning; dropped", "subject", msg.Subject(), "err", err)
		_ = msg.Term()
		return
	}
	w.TenantID = tenant // the subject is what billing addressed
	n := UsageNotification(w)
	ids, err := q.channelIDs(ctx, tenant)
	if err == nil && len(ids) > 0 {
		err = q.Enqueue(ctx, n, ids)
	}
	if err != nil {
		if ctx.Err() == nil {
			q.log.Warn("queue usage notification; retrying", "tenant", tenant, "err", err)
		}
		_ = msg.NakWithDelay(q.cfg.Backoff)
		return
	}
	if err := msg.DoubleAck(ctx); err != nil {
		q.log.Warn("ack quota warning", "tenant", tenant, "err", err)
	}
}

// channelIDs lists the ids of a tenant's channels ("<tenant>.*" keys).
func (q *Queue) channelIDs(ctx context.Context, tenant string) ([]string, error) {
	kl, err := q.b.AlertChannels.ListKeysFiltered(ctx, tenant+".*")
	if err != nil {
		return nil, fmt.Errorf("list channels of %s: %w", tenant, err)
	}
	defer kl.Stop()
	var ids []string
	for k := range kl.Keys() {
		ids = append(ids, strings.TrimPrefix(k, tenant+"."))
	}
	return ids, ctx.Err()
}

// UsageNotification is the notification for a quota warning: which quota
// (events or bytes, whichever is used more), how much of it, and what
// happens at 100%.
func UsageNotification(w quota.Warning) Notification {
	st := w.State
	what, used, limit := "events", st.EventsUsed, st.EventsLimit
	if st.BytesLimit > 0 && (st.EventsLimit <= 0 || float64(st.BytesUsed)/float64(st.BytesLimit) > float64(st.EventsUsed)/float64(st.EventsLimit)) {
		what, used, limit = "bytes", st.BytesUsed, st.BytesLimit
	}
	msg := fmt.Sprintf("Sawmill quota: %d%% of the monthly %s used (%d of %d, plan %s, period ends %s)",
		w.Level, what, used, limit, st.Plan, st.PeriodEnd.UTC().Format("2006-01-02"))
	sev := "warning"
	if w.Level >= 100 {
		sev = "critical"
		if st.HardCap {
			msg += "; new events are refused until the period ends or the plan changes"
		} else {
			msg += "; further events are billed as overage"
		}
	}
	pct := 0.0
	if limit > 0 {
		pct = float64(used) * 100 / float64(limit)
	}
	period := st.PeriodStart.UTC().Format(time.RFC3339)
	at := w.Published
	if at.IsZero() {
		at = time.Now().UTC()
	}
	return Notification{
		ID:        fmt.Sprintf("usage/%s/%s/%d", w.TenantID, period, w.Level),
		TenantID:  w.TenantID,
		Kind:      KindUsage,
		Severity:  sev,
		Labels:    map[string]string{"plan": st.Plan, "quota": what},
		Value:     pct,
		Threshold: float64(w.Level),
		Condition: fmt.Sprintf("%s used ≥ %d%% of %d", what, w.Level, limit),
		Message:   msg,
		At:        at,
		DedupKey:  "usage/" + w.TenantID + "/" + period,
	}
}
