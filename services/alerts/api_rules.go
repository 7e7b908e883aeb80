package alerts

import (
	"context"
	"errors"
	"maps"
	"strings"
	"time"

	"github.com/nats-io/nats.go/jetstream"
	"google.golang.org/protobuf/types/known/timestamppb"

	sawmillv1 "github.com/sawmillhq/sawmill/gen/sawmill/v1"
	"github.com/sawmillhq/sawmill/pkg/apierr"
	"github.com/sawmillhq/sawmill/pkg/auth"
	"github.com/sawmillhq/sawmill/pkg/kvrecord"
)

// ruleNames holds the unique names of a tenant's rules.
func (s *Service) ruleNames() kvrecord.Names {
	return kvrecord.Names{KV: s.bus.AlertRules, What: "an alert rule"}
}

// releaseName drops id's claim on name, logging a storage failure (the
// stale claim is taken over by the next claim of the name).
func (s *Service) releaseName(ctx context.Context, names kvrecord.Names, tenant, name, id string) {
	if err := names.Release(ctx, tenant, name, id); err != nil {
		s.log.Warn("release alert name", "tenant", tenant, "id", id, "err", err)
	}
}

// ruleFromProto reads the user-given fields of a rule.
func ruleFromProto(in *sawmillv1.AlertRule) ruleRecord {
	r := ruleRecord{Name: in.GetName(), Query: in.GetQuery(), Window: in.GetWindow(), Interval: in.GetInterval(),
		For: in.GetFor(), Severity: in.GetSeverity(), Labels: in.GetLabels(), GroupBy: in.GetGroupBy(),
		Channels: in.GetChannels(), Message: in.GetMessage(), Renotify: in.GetRenotifyInterval(), Disabled: in.GetDisabled()}
	if c := in.GetCondition(); c != nil {
		r.Condition = condition{Kind: c.GetKind(), Aggregation: c.GetAggregation(), Op: c.GetOp(), Threshold: c.GetThreshold()}
	}
	if len(r.Labels) == 0 {
		r.Labels = nil
	}
	return r
}

func (r *ruleRecord) proto(st *ruleState) *sawmillv1.AlertRule {
	out := &sawmillv1.AlertRule{Id: r.ID, Name: r.Name, Query: r.Query,
		Condition: &sawmillv1.AlertCondition{Kind: r.Condition.Kind, Aggregation: r.Condition.Aggregation, Op: r.Condition.Op, Threshold: r.Condition.Threshold},
		Window:    r.Window, Interval: r.Interval, For: r.For, Severity: r.Severity, Labels: r.Labels, GroupBy: r.GroupBy,
		Channels: r.Channels, Message: r.Message, RenotifyInterval: r.Renotify, Disabled: r.Disabled,
		CreatedAt: timestamppb.New(r.CreatedAt), UpdatedAt: timestamppb.New(r.UpdatedAt)}
	if st != nil {
		for _, k := range sortedKeys(st.Groups) {
			g := st.Groups[k]
			out.States = append(out.States, &sawmillv1.AlertState{Group: g.Group, State: g.State, Value: g.Value,
				Since: timestamppb.New(g.Since), EvaluatedTo: timestamppb.New(st.EvaluatedTo)})
		}
	}
	return out
}

// checkRule normalizes and validates a rule for tenant: the query compiles,
// durations parse, the channels exist.
func (s *Service) checkRule(ctx context.Context, tenant string, r *ruleRecord) error {
	name, err := kvrecord.CheckName("name", r.Name)
	if err != nil {
		return err
	}
	r.Name = name
	r.normalize()
	if _, err := compile(r, s.cfg.MinInterval); err != nil {
		return err
	}
	seen := map[string]bool{}
	for _, id := range r.Channels {
		if seen[id] {
			return apierr.New(apierr.Invalid, "channels: %q appears twice", id)
		}
		seen[id] = true
		e, err := s.bus.AlertChannels.Get(ctx, kvrecord.Key(tenant, id))
		if err != nil || e == nil {
			return apierr.New(apierr.Invalid, "channels: no channel %q", id)
		}
	}
	return nil
}

// CreateRule stores a new rule: 400 for anything invalid (a query error
// with its position), 403 over the plan's rule limit, 409 for a taken name.
func (h *handler) CreateRule(ctx context.Context, in *sawmillv1.AlertRule) (*sawmillv1.AlertRule, error) {
	s := h.s
	p, err := s.authorizeWrite(ctx)
	if err != nil {
		return nil, err
	}
	r := ruleFromProto(in)
	if err := s.checkRule(ctx, p.TenantID, &r); err != nil {
		return nil, err
	}
	if err := s.checkRuleLimit(ctx, p); err != nil {
		return nil, err
	}
	now := time.Now().UTC()
	r.ID, r.TenantID, r.CreatedAt, r.UpdatedAt = kvrecord.NewID("r"), p.TenantID, now, now
	key := kvrecord.Key(p.TenantID, r.ID)
	if _, err := kvrecord.Store(ctx, s.bus.AlertRules, key, r, 0); err != nil {
		return nil, apierr.Wrap(err, "store rule")
	}
	if err := s.ruleNames().Claim(ctx, p.TenantID, r.Name, r.ID); err != nil {
		_ = s.bus.AlertRules.Purge(context.WithoutCancel(ctx), key)
		return nil, err
	}
	return r.proto(nil), nil
}

// checkRuleLimit refuses a rule beyond the tenant's plan limit.
func (s *Service) checkRuleLimit(ctx context.Context, p auth.Principal) error {
	pl := s.planOf(p.TenantID)
	ids, err := kvrecord.ListIDs(ctx, s.bus.AlertRules, p.TenantID)
	if err != nil {
		return apierr.Wrap(err, "count rules")
	}
	if len(ids) >= pl.AlertRules {
		return apierr.New(apierr.PermissionDenied, "the %s plan allows %d alert rules and you have %d; delete a rule or upgrade the plan",
			pl.Name, pl.AlertRules, len(ids))
	}
	return nil
}

// ListRules returns the caller's rules by name, with their states.
func (h *handler) ListRules(ctx context.Context, _ *sawmillv1.ListAlertRulesRequest) (*sawmillv1.ListAlertRulesResponse, error) {
	s := h.s
	p, err := s.authorizeRead(ctx)
	if err != nil {
		return nil, err
	}
	recs, err := kvrecord.LoadAll[ruleRecord](ctx, s.bus.AlertRules, p.TenantID, "rule")
	if err != nil {
		return nil, err
	}
	kvrecord.SortByName(recs, func(r *ruleRecord) (string, string) { return r.Name, r.ID })
	resp := &sawmillv1.ListAlertRulesResponse{}
	for i := range recs {
		st, err := s.loadState(ctx, p.TenantID, recs[i].ID)
		if err != nil {
			return nil, err
		}
		resp.Rules = append(resp.Rules, recs[i].proto(st))
	}
	return resp, nil
}

// loadState reads a rule's state (nil when never evaluated).
func (s *Service) loadState(ctx context.Context, tenant, id string) (*ruleState, error) {
	var st ruleState
	_, found, err := kvrecord.Load(ctx, s.bus.AlertStates, kvrecord.Key(tenant, id), &st)
	if err != nil {
		return nil, apierr.Wrap(err, "load rule state")
	}
	if !found {
		return nil, nil
	}
	return &st, nil
}

// GetRule returns one of the caller's rules with its states.
func (h *handler) GetRule(ctx context.Context, req *sawmillv1.GetAlertRuleRequest) (*sawmillv1.AlertRule, error) {
	s := h.s
	p, err := s.authorizeRead(ctx)
	if err != nil {
		return nil, err
	}
	r, _, err := kvrecord.LoadRecord[ruleRecord](ctx, s.bus.AlertRules, p.TenantID, req.GetId(), "rule")
	if err != nil {
		return nil, err
	}
	st, err := s.loadState(ctx, p.TenantID, r.ID)
	if err != nil {
		return nil, err
	}
	return r.proto(st), nil
}

// UpdateRule replaces a rule's fields; its state (and firing alerts) stay.
func (h *handler) UpdateRule(ctx context.Context, in *sawmillv1.AlertRule) (*sawmillv1.AlertRule, error) {
	s := h.s
	p, err := s.authorizeWrite(ctx)
	if err != nil {
		return nil, err
	}
	old, rev, err := kvrecord.LoadRecord[ruleRecord](ctx, s.bus.AlertRules, p.TenantID, in.GetId(), "rule")
	if err != nil {
		return nil, err
	}
	r := ruleFromProto(in)
	if err := s.checkRule(ctx, p.TenantID, &r); err != nil {
		return nil, err
	}
	r.ID, r.TenantID, r.CreatedAt, r.UpdatedAt = old.ID, old.TenantID, old.CreatedAt, time.Now().UTC()
	names := s.ruleNames()
	if !strings.EqualFold(old.Name, r.Name) {
		if err := names.Claim(ctx, p.TenantID, r.Name, r.ID); err != nil {
			return nil, err
		}
	}
	if _, err := kvrecord.StoreRecord(ctx, s.bus.AlertRules, p.TenantID, r.ID, r, rev, "rule"); err != nil {
		return nil, err
	}
	if !strings.EqualFold(old.Name, r.Name) {
		s.releaseName(ctx, names, p.TenantID, old.Name, r.ID)
	}
	return r.proto(nil), nil
}

// DeleteRule removes a rule; its firing alerts are resolved (history and a
// resolve notification) and its state dropped.
func (h *handler) DeleteRule(ctx context.Context, req *sawmillv1.DeleteAlertRuleRequest) (*sawmillv1.DeleteAlertRuleResponse, error) {
	s := h.s
	p, err := s.authorizeWrite(ctx)
	if err != nil {
		return nil, err
	}
	r, rev, err := kvrecord.LoadRecord[ruleRecord](ctx, s.bus.AlertRules, p.TenantID, req.GetId(), "rule")
	if err != nil {
		return nil, err
	}
	if err := kvrecord.DeleteRecord(ctx, s.bus.AlertRules, p.TenantID, r.ID, rev, "rule"); err != nil {
		return nil, err
	}
	s.releaseName(ctx, s.ruleNames(), p.TenantID, r.Name, r.ID)
	if err := s.resolveDeleted(ctx, &r); err != nil {
		s.log.Warn("resolve alerts of deleted rule", "tenant", p.TenantID, "rule", r.ID, "err", err)
	}
	return &sawmillv1.DeleteAlertRuleResponse{}, nil
}

// resolveDeleted resolves the firing alerts of a deleted rule and drops its
// state. The rule's lease holder stops evaluating it when its follow sees
// the deletion; a window it evaluates meanwhile fails its state CAS.
func (s *Service) resolveDeleted(ctx context.Context, r *ruleRecord) error {
	key := kvrecord.Key(r.TenantID, r.ID)
	var st ruleState
	rev, found, err := kvrecord.Load(ctx, s.bus.AlertStates, key, &st)
	if err != nil || !found {
		return err
	}
	c, err := compile(r, 0)
	if err != nil {
		return err
	}
	ev := &evaluation{s: s, c: c, end: st.EvaluatedTo, start: st.EvaluatedTo.Add(-c.window)}
	for _, k := range sortedKeys(st.Groups) {
		g := st.Groups[k]
		if g.State != stateFiring {
			continue
		}
		stp := advance(g, false, g.Value, st.EvaluatedTo, 0, 0, false)
		stp.key = k
		ev.items = append(ev.items, item{step: stp, g: g})
	}
	if err := ev.publish(ctx, &st); err != nil {
		return err
	}
	err = s.bus.AlertStates.Purge(ctx, key, jetstream.LastRevision(rev))
	if errors.Is(err, context.Canceled) {
		return err
	}
	return nil
}

// labelsWithGroup returns the rule's labels with the group values over them.
func labelsWithGroup(labels, group map[string]string) map[string]string {
	m := maps.Clone(labels)
	if m == nil {
		m = map[string]string{}
	}
	maps.Copy(m, group)
	return m
}
