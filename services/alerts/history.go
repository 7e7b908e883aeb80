package alerts

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"google.golang.org/protobuf/types/known/timestamppb"

	sawmillv1 "github.com/sawmillhq/sawmill/gen/sawmill/v1"
	"github.com/sawmillhq/sawmill/pkg/apierr"
	"github.com/sawmillhq/sawmill/pkg/bus"
	"github.com/sawmillhq/sawmill/pkg/kvrecord"
)

// historyEntry is one state change, as published on the ALERTHISTORY
// stream (subject alerts.history.<tenant>).
type historyEntry struct {
	TenantID    string            `json:"tenant_id"`
	RuleID      string            `json:"rule_id"`
	RuleName    string            `json:"rule_name"`
	Group       map[string]string `json:"group,omitempty"`
	State       string            `json:"state"`
	Previous    string            `json:"previous"`
	Value       float64           `json:"value"`
	WindowStart time.Time         `json:"window_start"`
	WindowEnd   time.Time         `json:"window_end"`
	At          time.Time         `json:"at"`
	Silenced    bool              `json:"silenced,omitempty"`
	Severity    string            `json:"severity"`
}

// publishHistory stores e once: the message id makes a redo a no-op within
// the stream's duplicate window.
func (s *Service) publishHistory(ctx context.Context, e historyEntry, msgID string) error {
	b, err := json.Marshal(e)
	if err != nil {
		return fmt.Errorf("encode history: %w", err)
	}
	m := &nats.Msg{Subject: bus.AlertHistorySubjectPrefix + e.TenantID, Data: b, Header: nats.Header{}}
	m.Header.Set(jetstream.MsgIDHeader, msgID)
	if _, err := s.bus.JS.PublishMsg(ctx, m); err != nil {
		return fmt.Errorf("publish history: %w", err)
	}
	return nil
}

// ListHistory returns the caller's alert state changes in [from, to),
// newest first.
func (h *handler) ListHistory(ctx context.Context, req *sawmillv1.ListAlertHistoryRequest) (*sawmillv1.ListAlertHistoryResponse, error) {
	s := h.s
	p, err := s.authorizeRead(ctx)
	if err != nil {
		return nil, err
	}
	limit, err := pageLimit(int(req.GetLimit()))
	if err != nil {
		return nil, err
	}
	to := time.Now()
	if req.GetTo() != nil {
		to = req.GetTo().AsTime()
	}
	from := to.Add(-24 * time.Hour)
	if req.GetFrom() != nil {
		from = req.GetFrom().AsTime()
	}
	if !from.Before(to) {
		return nil, apierr.New(apierr.Invalid, "from must be before to")
	}
	if ruleID := req.GetRuleId(); ruleID != "" {
		if err := kvrecord.CheckID("rule", ruleID); err != nil {
			return nil, err
		}
	}
	entries, err := s.readHistory(ctx, p.TenantID, req.GetRuleId(), from, to, limit)
	if err != nil {
		return nil, apierr.Wrap(err, "read history")
	}
	resp := &sawmillv1.ListAlertHistoryResponse{}
	for i := len(entries) - 1; i >= 0; i-- {
		e := entries[i]
		resp.Entries = append(resp.Entries, &sawmillv1.AlertHistoryEntry{RuleId: e.RuleID, RuleName: e.RuleName, Group: e.Group,
			State: e.State, Previous: e.Previous, Value: e.Value, WindowStart: timestamppb.New(e.WindowStart),
			WindowEnd: timestamppb.New(e.WindowEnd), At: timestamppb.New(e.At), Silenced: e.Silenced, Severity: e.Severity})
	}
	return resp, nil
}

// readHistory reads the tenant's entries stored in [from, to), oldest
// first, keeping the last limit of them.
func (s *Service) readHistory(ctx context.Context, tenant, ruleID string, from, to time.Time, limit int) ([]historyEntry, error) {
	subject := bus.AlertHistorySubjectPrefix + tenant
	stream, err := s.bus.JS.Stream(ctx, bus.AlertHistoryStream)
	if err != nil {
		return nil, fmt.Errorf("history stream: %w", err)
	}
	last, err := stream.GetLastMsgForSubject(ctx, subject)
	if errors.Is(err, jetstream.ErrMsgNotFound) || err == nil && last.Time.Before(from) {
		return nil, nil // nothing in the range: do not wait on an empty fetch
	}
	if err != nil {
		return nil, fmt.Errorf("last history entry: %w", err)
	}
	cons, err := s.bus.JS.OrderedConsumer(ctx, bus.AlertHistoryStream, jetstream.OrderedConsumerConfig{
		FilterSubjects: []string{subject},
		DeliverPolicy:  jetstream.DeliverByStartTimePolicy, OptStartTime: &from,
	})
	if err != nil {
		return nil, fmt.Errorf("history consumer: %w", err)
	}
	var out []historyEntry
	for {
		batch, err := cons.FetchNoWait(256)
		if err != nil {
			return nil, fmt.Errorf("fetch history: %w", err)
		}
		n, done := 0, false
		for m := range batch.Messages() {
			n++
			md, err := m.Metadata()
			if err != nil {
				return nil, fmt.Errorf("history metadata: %w", err)
			}
			if !md.Timestamp.Before(to) {
				done = true
				continue
			}
			var e historyEntry
			if err := json.Unmarshal(m.Data(), &e); err == nil && (ruleID == "" || e.RuleID == ruleID) {
				out = append(out, e)
				if len(out) > limit {
					out = out[1:]
				}
			}
			if md.NumPending == 0 {
				done = true
			}
		}
		if err := batch.Error(); err != nil && !errors.Is(err, nats.ErrTimeout) {
			return nil, fmt.Errorf("fetch history: %w", err)
		}
		if done || n == 0 {
			return out, nil
		}
	}
}
