package alerts

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"sort"
	"sync"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/sawmillhq/sawmill/pkg/auth"
	"github.com/sawmillhq/sawmill/pkg/kvrecord"
)

// errAbandoned ends Run after the AfterEnqueue test hook simulated a crash.
var errAbandoned = errors.New("alerts: evaluation abandoned by test hook")

// leaseValue is what alert_leases holds for a rule.
type leaseValue struct {
	Owner   string    `json:"owner"`
	Expires time.Time `json:"expires"`
}

// heldLease is a lease this process holds.
type heldLease struct {
	rev     uint64
	renewed time.Time
}

// runner evaluates the rules whose leases it holds.
type runner struct {
	s     *Service
	owner string

	mu     sync.Mutex
	rules  map[string]*compiledRule // by "<tenant>.<rule>"
	leases map[string]heldLease

	abandoned chan struct{}
	once      sync.Once
}

// Run follows the rules and silences and evaluates due windows every
// ScanInterval until ctx ends. Several processes may run it at once: a
// lease per rule makes one of them evaluate it.
func (s *Service) Run(ctx context.Context) error {
	r := newRunner(s)
	if err := s.bus.Follow(ctx, s.bus.AlertSilences, s.silences.apply); err != nil {
		return fmt.Errorf("follow silences: %w", err)
	}
	if err := s.bus.Follow(ctx, s.bus.AlertRules, r.applyRule); err != nil {
		return fmt.Errorf("follow rules: %w", err)
	}
	t := time.NewTicker(s.cfg.ScanInterval)
	defer t.Stop()
	for {
		r.tick(ctx)
		select {
		case <-r.abandoned:
			return errAbandoned
		case <-ctx.Done():
			r.releaseAll()
			return nil
		case <-t.C:
		}
	}
}

func newRunner(s *Service) *runner {
	host, _ := os.Hostname()
	return &runner{s: s, owner: fmt.Sprintf("%s-%d-%s", host, os.Getpid(), auth.RandomID(4)),
		rules: map[string]*compiledRule{}, leases: map[string]heldLease{}, abandoned: make(chan struct{})}
}

// applyRule records a KV change of the rules bucket.
func (r *runner) applyRule(key string, value []byte, deleted bool) error {
	if _, _, ok := kvrecord.SplitKey(key); !ok {
		return nil // a name claim
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	if deleted {
		delete(r.rules, key)
		return nil
	}
	var rec ruleRecord
	if err := json.Unmarshal(value, &rec); err != nil {
		return fmt.Errorf("decode rule %s: %w", key, err)
	}
	c, err := compile(&rec, 0)
	if err != nil {
		delete(r.rules, key)
		return fmt.Errorf("compile rule %s: %w", key, err)
	}
	r.rules[key] = c
	return nil
}

// tick evaluates the due windows of every rule this process can lease.
func (r *runner) tick(ctx context.Context) {
	s := r.s
	r.mu.Lock()
	n := len(r.rules)
	r.mu.Unlock()
	var wm time.Time
	wmErr := errors.New("no rules")
	if n > 0 {
		if wm, wmErr = s.watermark.Watermark(ctx); wmErr != nil && ctx.Err() == nil {
			s.log.Debug("no writer watermark; not evaluating", "err", wmErr)
		}
	}
	r.mu.Lock()
	keys := make([]string, 0, len(r.rules))
	for k := range r.rules {
		keys = append(keys, k)
	}
	for k := range r.leases {
		if r.rules[k] == nil {
			r.release(ctx, k)
		}
	}
	r.mu.Unlock()
	sort.Strings(keys)
	sem := make(chan struct{}, s.cfg.Workers)
	var wg sync.WaitGroup
	for _, k := range keys {
		r.mu.Lock()
		c := r.rules[k]
		r.mu.Unlock()
		if c == nil || c.rec.Disabled || !s.active(c.rec.TenantID) {
			r.mu.Lock()
			r.release(ctx, k)
			r.mu.Unlock()
			continue
		}
		if !r.acquire(ctx, k) || wmErr != nil {
			continue
		}
		select {
		case sem <- struct{}{}:
		case <-ctx.Done():
			wg.Wait()
			return
		}
		wg.Add(1)
		go func() {
			defer func() { <-sem; wg.Done() }()
			if err := r.evalRule(ctx, k, c, wm); err != nil && ctx.Err() == nil && !errors.Is(err, errAbandoned) {
				s.log.Warn("evaluate rule", "rule", k, "err", err)
			}
		}()
	}
	wg.Wait()
}

// alignDown returns t rounded down to a multiple of d since the Unix epoch.
func alignDown(t time.Time, d time.Duration) time.Time {
	ns := t.UnixNano()
	return time.Unix(0, ns-((ns%int64(d))+int64(d))%int64(d)).UTC()
}

// dueWindows returns the ends of the windows to evaluate, oldest first:
// after evaluatedTo (zero: only the latest), up to the last end the
// watermark allows, at most maxBacklog of them.
func dueWindows(evaluatedTo, watermark time.Time, interval, skew time.Duration, maxBacklog int) (ends []time.Time, skipped int) {
	last := alignDown(watermark.Add(-skew), interval)
	next := last
	if !evaluatedTo.IsZero() {
		next = alignDown(evaluatedTo, interval).Add(interval)
	}
	if next.After(last) {
		return nil, 0
	}
	n := int(last.Sub(next)/interval) + 1
	if n > maxBacklog {
		skipped = n - maxBacklog
		next = next.Add(time.Duration(skipped) * interval)
	}
	for e := next; !e.After(last); e = e.Add(interval) {
		ends = append(ends, e)
	}
	return ends, skipped
}

// evalRule evaluates a rule's due windows in order, each as: compute,
// publish history and notifications, then compare-and-set the state.
func (r *runner) evalRule(ctx context.Context, key string, c *compiledRule, wm time.Time) error {
	s := r.s
	st := &ruleState{}
	rev, _, err := kvrecord.Load(ctx, s.bus.AlertStates, key, st)
	if err != nil {
		return err
	}
	from := st.EvaluatedTo
	if from.IsZero() && !c.rec.CreatedAt.IsZero() {
		// Never evaluated: start at the rule's creation, the same for every
		// process, so that a crash before the first state write is redone
		// with the same windows.
		from = alignDown(c.rec.CreatedAt, c.interval)
	}
	ends, skipped := dueWindows(from, wm, c.interval, s.cfg.Skew, s.cfg.MaxBacklog)
	if skipped > 0 {
		s.log.Warn("rule backlog too long; skipping windows", "rule", key, "skipped", skipped)
	}
	for i, end := range ends {
		if i > 0 && !r.acquire(ctx, key) {
			return nil
		}
		ev, next, err := s.evaluate(ctx, c, st, end)
		if err != nil {
			return err
		}
		if err := ev.publish(ctx, st); err != nil {
			return err
		}
		if h := s.cfg.AfterEnqueue; h != nil {
			if err := h(ctx, c.rec.ID, end, ev.enqueued()); err != nil {
				r.once.Do(func() { close(r.abandoned) })
				return errAbandoned
			}
		}
		newRev, err := kvrecord.Store(ctx, s.bus.AlertStates, key, next, rev)
		if kvrecord.Conflict(err) {
			return nil // another process evaluated this window meanwhile
		}
		if err != nil {
			return fmt.Errorf("store state: %w", err)
		}
		st, rev = next, newRev
	}
	return nil
}

// acquire takes or renews the lease on a rule; false when another live
// process holds it.
func (r *runner) acquire(ctx context.Context, key string) bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	select {
	case <-r.abandoned:
		return false
	default:
	}
	ttl := r.s.cfg.LeaseTTL
	now := time.Now()
	kv := r.s.bus.AlertLeases
	l, held := r.leases[key]
	if held && now.Sub(l.renewed) < ttl/3 {
		return true
	}
	val, _ := json.Marshal(leaseValue{Owner: r.owner, Expires: now.Add(ttl)})
	if held {
		if rev, err := kv.Update(ctx, key, val, l.rev); err == nil {
			r.leases[key] = heldLease{rev: rev, renewed: now}
			return true
		}
		delete(r.leases, key)
	}
	e, err := kv.Get(ctx, key)
	switch {
	case errors.Is(err, jetstream.ErrKeyNotFound):
		rev, err := kv.Create(ctx, key, val)
		if err != nil {
			return false
		}
		r.leases[key] = heldLease{rev: rev, renewed: now}
		return true
	case err != nil:
		return false
	}
	var cur leaseValue
	if json.Unmarshal(e.Value(), &cur) == nil && cur.Owner != r.owner && now.Before(cur.Expires) {
		return false
	}
	rev, err := kv.Update(ctx, key, val, e.Revision())
	if err != nil {
		return false
	}
	r.leases[key] = heldLease{rev: rev, renewed: now}
	return true
}

// release gives up a held lease (r.mu held).
func (r *runner) release(ctx context.Context, key string) {
	l, ok := r.leases[key]
	if !ok {
		return
	}
	delete(r.leases, key)
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 2*time.Second)
	defer cancel()
	_ = r.s.bus.AlertLeases.Delete(ctx, key, jetstream.LastRevision(l.rev))
}

// releaseAll gives up every lease at a clean shutdown, so that another
// process takes the rules over at once.
func (r *runner) releaseAll() {
	r.mu.Lock()
	defer r.mu.Unlock()
	for k := range r.leases {
		r.release(context.Background(), k)
	}
}
