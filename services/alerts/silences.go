package alerts

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"sync"
	"time"

	"github.com/nats-io/nats.go/jetstream"
	"google.golang.org/protobuf/types/known/timestamppb"

	sawmillv1 "github.com/sawmillhq/sawmill/gen/sawmill/v1"
	"github.com/sawmillhq/sawmill/pkg/apierr"
	"github.com/sawmillhq/sawmill/pkg/kvrecord"
)

// Bounds on silences.
const (
	maxSilencesPerTenant = 200
	maxSilenceDuration   = 90 * 24 * time.Hour
)

// silenceRecord is a silence as stored in alert_silences under
// "<tenant>.<id>".
type silenceRecord struct {
	ID        string            `json:"id"`
	TenantID  string            `json:"tenant_id"`
	RuleID    string            `json:"rule_id,omitempty"`
	Matchers  map[string]string `json:"matchers,omitempty"`
	StartsAt  time.Time         `json:"starts_at"`
	EndsAt    time.Time         `json:"ends_at"`
	Comment   string            `json:"comment,omitempty"`
	CreatedAt time.Time         `json:"created_at"`
}

// matches reports whether the silence covers an alert of rule with the
// given labels (rule labels and group values) at time at.
func (s *silenceRecord) matches(ruleID string, labels map[string]string, at time.Time) bool {
	if at.Before(s.StartsAt) || !at.Before(s.EndsAt) {
		return false
	}
	if s.RuleID != "" && s.RuleID != ruleID {
		return false
	}
	for k, v := range s.Matchers {
		if got, ok := labels[k]; !ok || got != v {
			return false
		}
	}
	return true
}

func (s *silenceRecord) proto() *sawmillv1.AlertSilence {
	return &sawmillv1.AlertSilence{Id: s.ID, RuleId: s.RuleID, Matchers: s.Matchers, StartsAt: timestamppb.New(s.StartsAt),
		EndsAt: timestamppb.New(s.EndsAt), Comment: s.Comment, CreatedAt: timestamppb.New(s.CreatedAt)}
}

// silenceTable is the in-memory copy of the alert_silences bucket.
type silenceTable struct {
	mu sync.RWMutex
	m  map[string]map[string]silenceRecord // tenant → id → silence
}

func newSilenceTable() *silenceTable { return &silenceTable{m: map[string]map[string]silenceRecord{}} }

// apply records a KV change of the silences bucket.
func (t *silenceTable) apply(key string, value []byte, deleted bool) error {
	tenant, id, ok := kvrecord.SplitKey(key)
	if !ok {
		return nil
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	if deleted {
		delete(t.m[tenant], id)
		return nil
	}
	var s silenceRecord
	if err := json.Unmarshal(value, &s); err != nil {
		return fmt.Errorf("decode silence %s: %w", key, err)
	}
	if t.m[tenant] == nil {
		t.m[tenant] = map[string]silenceRecord{}
	}
	t.m[tenant][id] = s
	return nil
}

// silenced reports whether any of the tenant's silences covers the alert.
func (t *silenceTable) silenced(tenant, ruleID string, labels map[string]string, at time.Time) bool {
	t.mu.RLock()
	defer t.mu.RUnlock()
	for _, s := range t.m[tenant] {
		if s.matches(ruleID, labels, at) {
			return true
		}
	}
	return false
}

// CreateSilence stores a time-boxed silence.
func (h *handler) CreateSilence(ctx context.Context, in *sawmillv1.AlertSilence) (*sawmillv1.AlertSilence, error) {
	s := h.s
	p, err := s.authorizeWrite(ctx)
	if err != nil {
		return nil, err
	}
	now := time.Now().UTC()
	r := silenceRecord{ID: kvrecord.NewID("x"), TenantID: p.TenantID, RuleID: in.GetRuleId(), Matchers: in.GetMatchers(),
		StartsAt: now, Comment: in.GetComment(), CreatedAt: now}
	if in.GetStartsAt() != nil {
		r.StartsAt = in.GetStartsAt().AsTime().UTC()
	}
	if in.GetEndsAt() != nil {
		r.EndsAt = in.GetEndsAt().AsTime().UTC()
	}
	if len(r.Matchers) == 0 {
		r.Matchers = nil
	}
	switch {
	case r.RuleID == "" && len(r.Matchers) == 0:
		return nil, apierr.New(apierr.Invalid, "a silence needs a rule_id or matchers")
	case in.GetEndsAt() == nil:
		return nil, apierr.New(apierr.Invalid, "ends_at is required")
	case !r.EndsAt.After(r.StartsAt):
		return nil, apierr.New(apierr.Invalid, "ends_at must be after starts_at")
	case !r.EndsAt.After(now):
		return nil, apierr.New(apierr.Invalid, "ends_at must be in the future")
	case r.EndsAt.Sub(r.StartsAt) > maxSilenceDuration:
		return nil, apierr.New(apierr.Invalid, "a silence lasts at most %d days", int(maxSilenceDuration/(24*time.Hour)))
	case len(r.Comment) > 1000 || len(r.Matchers) > maxLabels:
		return nil, apierr.New(apierr.Invalid, "comment: at most 1000 bytes; matchers: at most %d", maxLabels)
	}
	if r.RuleID != "" {
		if _, _, err := kvrecord.LoadRecord[ruleRecord](ctx, s.bus.AlertRules, p.TenantID, r.RuleID, "rule"); err != nil {
			if apierr.From(err).Code == apierr.NotFound {
				return nil, apierr.New(apierr.Invalid, "rule_id: no rule %q", r.RuleID)
			}
			return nil, err
		}
	}
	ids, err := kvrecord.ListIDs(ctx, s.bus.AlertSilences, p.TenantID)
	if err != nil {
		return nil, apierr.Wrap(err, "count silences")
	}
	if len(ids) >= maxSilencesPerTenant {
		return nil, apierr.New(apierr.Invalid, "a tenant may keep at most %d silences; delete some first", maxSilencesPerTenant)
	}
	if _, err := kvrecord.Store(ctx, s.bus.AlertSilences, kvrecord.Key(p.TenantID, r.ID), r, 0); err != nil {
		return nil, apierr.Wrap(err, "store silence")
	}
	// Make the evaluator of this process see it before answering.
	_ = s.silences.apply(kvrecord.Key(p.TenantID, r.ID), mustJSON(r), false)
	return r.proto(), nil
}

func mustJSON(v any) []byte {
	b, _ := json.Marshal(v)
	return b
}

// ListSilences returns the caller's silences that have not ended, by start.
func (h *handler) ListSilences(ctx context.Context, _ *sawmillv1.ListAlertSilencesRequest) (*sawmillv1.ListAlertSilencesResponse, error) {
	s := h.s
	p, err := s.authorizeRead(ctx)
	if err != nil {
		return nil, err
	}
	recs, err := kvrecord.LoadAll[silenceRecord](ctx, s.bus.AlertSilences, p.TenantID, "silence")
	if err != nil {
		return nil, err
	}
	now := time.Now()
	recs = slices.DeleteFunc(recs, func(r silenceRecord) bool { return !r.EndsAt.After(now) })
	slices.SortFunc(recs, func(a, b silenceRecord) int { return a.StartsAt.Compare(b.StartsAt) })
	resp := &sawmillv1.ListAlertSilencesResponse{}
	for i := range recs {
		resp.Silences = append(resp.Silences, recs[i].proto())
	}
	return resp, nil
}

// DeleteSilence ends a silence now (removes it).
func (h *handler) DeleteSilence(ctx context.Context, req *sawmillv1.DeleteAlertSilenceRequest) (*sawmillv1.DeleteAlertSilenceResponse, error) {
	s := h.s
	p, err := s.authorizeWrite(ctx)
	if err != nil {
		return nil, err
	}
	r, rev, err := kvrecord.LoadRecord[silenceRecord](ctx, s.bus.AlertSilences, p.TenantID, req.GetId(), "silence")
	if err != nil {
		return nil, err
	}
	if err := s.bus.AlertSilences.Purge(ctx, kvrecord.Key(p.TenantID, r.ID), jetstream.LastRevision(rev)); err != nil && !kvrecord.Conflict(err) {
		return nil, apierr.Wrap(err, "delete silence")
	}
	_ = s.silences.apply(kvrecord.Key(p.TenantID, r.ID), nil, true)
	return &sawmillv1.DeleteAlertSilenceResponse{}, nil
}
