package alerts

import (
	"context"
	"fmt"
	"math"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/sawmillhq/sawmill/pkg/lql"
	"github.com/sawmillhq/sawmill/services/alerts/notify"
)

// maxSamples is how many matching lines a firing notification carries.
const maxSamples = 3

// result is one group's value in a window.
type result struct {
	group map[string]string
	value float64
	has   bool // false: the aggregation has no value (p95 over no events)
}

// sqlBuilder keeps SQL and its `?` arguments in step.
type sqlBuilder struct {
	b    strings.Builder
	args []any
}

func (q *sqlBuilder) add(sql string, args ...any) {
	q.b.WriteString(sql)
	q.args = append(q.args, args...)
}

func (q *sqlBuilder) expr(e lql.Expr) { q.add(e.SQL, e.Args...) }

// where writes FROM and WHERE: the tenant predicate and the window always,
// then the query's search expression (lql.Query.From: every literal bound).
func (q *sqlBuilder) where(c *compiledRule, tenant string, start, end time.Time) {
	sql, args := c.q.From(tenant, start, end)
	q.add(sql, args...)
}

// windowSQL selects the rule's groups (_g<i>), its aggregate (_a) and,
// for aggregations without a value over no events, how many rows have
// the field (_n): the largest maxGroups groups by value.
func windowSQL(c *compiledRule, tenant string, start, end time.Time, maxGroups int) (string, []any) {
	q := &sqlBuilder{}
	q.add("SELECT ")
	for i, f := range c.by {
		q.expr(lql.GroupSQL(f))
		q.add(" AS _g" + strconv.Itoa(i) + ", ")
	}
	q.expr(c.agg.SQL())
	q.add(" AS _a")
	if e, ok := c.agg.PresenceSQL(); ok {
		q.add(", ")
		q.expr(e)
		q.add(" AS _n")
	}
	q.where(c, tenant, start, end)
	if len(c.by) > 0 {
		g := make([]string, len(c.by))
		for i := range g {
			g[i] = "_g" + strconv.Itoa(i)
		}
		q.add(" GROUP BY " + strings.Join(g, ", ") + " ORDER BY _a DESC LIMIT " + strconv.Itoa(maxGroups))
	}
	return q.b.String(), q.args
}

// sampleSQL selects the messages of the newest matching lines of a group.
func sampleSQL(c *compiledRule, tenant string, start, end time.Time, group map[string]string) (string, []any) {
	q := &sqlBuilder{}
	q.add("SELECT message")
	q.where(c, tenant, start, end)
	for _, f := range c.by {
		q.add(" AND ")
		q.expr(lql.GroupSQL(f))
		q.add(" = ?", group[f])
	}
	q.add(" ORDER BY ts DESC, ts_ns DESC LIMIT " + strconv.Itoa(maxSamples))
	return q.b.String(), q.args
}

// query evaluates the rule over [start, end), by group key.
func (s *Service) query(ctx context.Context, c *compiledRule, start, end time.Time) (map[string]result, error) {
	sql, args := windowSQL(c, c.rec.TenantID, start, end, s.cfg.MaxGroups)
	rows, err := s.store.Query(ctx, sql, args...)
	if err != nil {
		return nil, fmt.Errorf("evaluate rule %s: %w", c.rec.ID, err)
	}
	defer rows.Close()
	_, presence := c.agg.PresenceSQL()
	out := map[string]result{}
	for rows.Next() {
		vals := make([]string, len(c.by))
		var value, n float64
		dest := make([]any, 0, len(vals)+2)
		for i := range vals {
			dest = append(dest, &vals[i])
		}
		dest = append(dest, &value)
		if presence {
			dest = append(dest, &n)
		}
		if err := rows.Scan(dest...); err != nil {
			return nil, fmt.Errorf("scan rule %s: %w", c.rec.ID, err)
		}
		r := result{group: map[string]string{}, value: value, has: !presence || n > 0}
		if math.IsNaN(value) || math.IsInf(value, 0) {
			r.value, r.has = 0, false
		}
		for i, f := range c.by {
			r.group[f] = vals[i]
		}
		out[groupKey(c.by, r.group)] = r
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("read rule %s: %w", c.rec.ID, err)
	}
	return out, nil
}

// samples returns up to maxSamples messages of a group's matching lines.
func (s *Service) samples(ctx context.Context, c *compiledRule, start, end time.Time, group map[string]string) ([]string, error) {
	sql, args := sampleSQL(c, c.rec.TenantID, start, end, group)
	rows, err := s.store.Query(ctx, sql, args...)
	if err != nil {
		return nil, fmt.Errorf("samples of rule %s: %w", c.rec.ID, err)
	}
	defer rows.Close()
	var out []string
	for rows.Next() {
		var m string
		if err := rows.Scan(&m); err != nil {
			return nil, fmt.Errorf("scan sample: %w", err)
		}
		if len(m) > 500 {
			m = m[:500] + "…"
		}
		out = append(out, m)
	}
	return out, rows.Err()
}

// item is one group's change in a window.
type item struct {
	step
	g        *groupState
	silenced bool
	samples  []string
}

// evaluation is one window of one rule: what changed and what to publish.
type evaluation struct {
	s          *Service
	c          *compiledRule
	start, end time.Time
	items      []item
}

// evaluate computes the window ending at end from state st and returns
// the evaluation and the next state; st is not modified.
func (s *Service) evaluate(ctx context.Context, c *compiledRule, st *ruleState, end time.Time) (*evaluation, *ruleState, error) {
	ev := &evaluation{s: s, c: c, start: end.Add(-c.window), end: end}
	res, err := s.query(ctx, c, ev.start, end)
	if err != nil {
		return nil, nil, err
	}
	next := st.clone()
	next.EvaluatedTo = end
	keys := map[string]bool{}
	for k := range res {
		keys[k] = true
	}
	for k := range next.Groups {
		keys[k] = true
	}
	for _, k := range sortedKeys(keys) {
		r, seen := res[k]
		g := next.Groups[k]
		if g == nil {
			g = &groupState{Group: r.group, State: stateOK, Since: end}
		}
		if !seen { // vanished: no matching line in the window
			r = result{group: g.Group, value: 0, has: c.agg.ZeroWhenEmpty()}
		}
		labels := labelsWithGroup(c.rec.Labels, g.Group)
		silenced := s.silences.silenced(c.rec.TenantID, c.rec.ID, labels, end)
		stp := advance(g, c.holds(r.value, r.has), r.value, end, c.forDur, c.renotify, silenced)
		stp.key = k
		if !seen && g.State == stateOK {
			delete(next.Groups, k)
		} else {
			next.Groups[k] = g
		}
		if stp.to == "" && stp.notify == "" {
			continue
		}
		it := item{step: stp, g: g, silenced: silenced}
		if stp.notify == notify.KindFiring || stp.notify == notify.KindRenotify {
			if it.samples, err = s.samples(ctx, c, ev.start, end, g.Group); err != nil {
				return nil, nil, err
			}
		}
		ev.items = append(ev.items, it)
	}
	return ev, next, nil
}

// publish records the window's transitions in history and enqueues its
// notifications, all with ids fixed by rule, group, transition and window,
// so that publishing the same evaluation again changes nothing.
func (ev *evaluation) publish(ctx context.Context, _ *ruleState) error {
	r := ev.c.rec
	for _, it := range ev.items {
		if it.to != "" {
			e := historyEntry{TenantID: r.TenantID, RuleID: r.ID, RuleName: r.Name, Group: it.g.Group, State: it.to,
				Previous: it.from, Value: it.g.Value, WindowStart: ev.start, WindowEnd: ev.end, At: time.Now().UTC(),
				Silenced: it.silenced, Severity: r.Severity}
			if err := ev.s.publishHistory(ctx, e, historyID(r.ID, it.key, it.n, ev.end)); err != nil {
				return err
			}
		}
		if it.notify == "" || len(r.Channels) == 0 {
			continue
		}
		n := ev.notification(it)
		if err := ev.s.queue.Enqueue(ctx, n, r.Channels); err != nil {
			return fmt.Errorf("enqueue %s: %w", n.ID, err)
		}
	}
	return nil
}

// enqueued counts the notifications publish enqueues.
func (ev *evaluation) enqueued() int {
	n := 0
	for _, it := range ev.items {
		if it.notify != "" && len(ev.c.rec.Channels) > 0 {
			n++
		}
	}
	return n
}

// notification builds the notification of an item.
func (ev *evaluation) notification(it item) notify.Notification {
	r, c := ev.c.rec, ev.c
	link := ev.link(it.g.Group)
	data := templateData{Rule: r.Name, RuleID: r.ID, Severity: r.Severity, State: it.notify, Value: it.g.Value,
		Threshold: r.Condition.Threshold, Condition: c.conditionText(), Group: it.g.Group, Labels: r.Labels,
		WindowStart: ev.start, WindowEnd: ev.end, Samples: it.samples, Link: link}
	var msg strings.Builder
	if c.tmpl != nil {
		if err := c.tmpl.Execute(&msg, data); err != nil {
			msg.Reset()
			msg.WriteString(fmt.Sprintf("[%s] %s is %s (message template failed: %v)", r.Severity, r.Name, it.notify, err))
		}
	}
	return notify.Notification{ID: notificationID(r.ID, it.key, it.step, ev.end), TenantID: r.TenantID, Kind: it.notify,
		RuleID: r.ID, RuleName: r.Name, Severity: r.Severity, Group: it.g.Group, Labels: r.Labels, Value: it.g.Value,
		Threshold: r.Condition.Threshold, Condition: c.conditionText(), Message: msg.String(), Samples: it.samples,
		Link: link, WindowStart: ev.start, WindowEnd: ev.end, StartsAt: it.g.FiringSince, At: ev.end,
		DedupKey: r.ID + "-" + groupHash(it.key)}
}

// link opens the search behind an alert (with the group's values) over
// the window.
func (ev *evaluation) link(group map[string]string) string {
	text := ""
	if root := ev.c.q.Root(); root != nil {
		text = root.String()
	}
	for _, f := range ev.c.by {
		term := f + `:"` + strings.NewReplacer(`\`, `\\`, `"`, `\"`).Replace(group[f]) + `"`
		text = strings.TrimSpace(text + " " + term)
	}
	v := url.Values{"query": {text}, "from": {ev.start.UTC().Format(time.RFC3339)}, "to": {ev.end.UTC().Format(time.RFC3339)}}
	return strings.TrimRight(ev.s.cfg.PublicURL, "/") + "/search?" + v.Encode()
}
