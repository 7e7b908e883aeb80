package alerts

import (
	"context"
	"errors"
	"slices"
	"strings"
	"time"

	"github.com/nats-io/nats.go/jetstream"
	"google.golang.org/protobuf/types/known/timestamppb"

	sawmillv1 "github.com/sawmillhq/sawmill/gen/sawmill/v1"
	"github.com/sawmillhq/sawmill/pkg/apierr"
	"github.com/sawmillhq/sawmill/pkg/auth"
	"github.com/sawmillhq/sawmill/services/alerts/notify"
)

// maxChannelsPerTenant bounds the channels one tenant may keep.
const maxChannelsPerTenant = 100

func (s *Service) channelNames() names {
	return names{kv: s.bus.AlertChannels, what: "channel", holds: func(ctx context.Context, tenant, id, name string) (bool, error) {
		var c notify.Channel
		_, found, err := loadJSON(ctx, s.bus.AlertChannels, recordKey(tenant, id), &c)
		return found && strings.EqualFold(c.Name, name), err
	}}
}

// channelProto converts a channel; the secret only when withSecret.
func channelProto(c notify.Channel, withSecret bool) *sawmillv1.AlertChannel {
	out := &sawmillv1.AlertChannel{Id: c.ID, Name: c.Name, Type: c.Type, Url: c.URL, RoutingKey: c.RoutingKey,
		To: c.To, CreatedAt: timestamppb.New(c.CreatedAt)}
	if withSecret {
		out.Secret = c.Secret
	}
	return out
}

// checkChannel builds and validates a channel from the request.
func checkChannel(in *sawmillv1.AlertChannel) (notify.Channel, error) {
	name, err := checkName("name", in.GetName())
	if err != nil {
		return notify.Channel{}, err
	}
	c := notify.Channel{Name: name, Type: strings.ToLower(strings.TrimSpace(in.GetType())), URL: strings.TrimSpace(in.GetUrl()),
		Secret: in.GetSecret(), RoutingKey: in.GetRoutingKey(), To: in.GetTo()}
	if c.Type == notify.TypeWebhook && c.Secret == "" {
		c.Secret = auth.RandomID(32)
	}
	if err := c.Validate(); err != nil {
		if ae := (*apierr.Error)(nil); errors.As(err, &ae) {
			return c, ae
		}
		return c, apierr.New(apierr.Invalid, "%v", err)
	}
	return c, nil
}

// CreateChannel stores a channel and returns it with its secret (the only
// time the secret is shown).
func (h *handler) CreateChannel(ctx context.Context, in *sawmillv1.AlertChannel) (*sawmillv1.AlertChannel, error) {
	s := h.s
	p, err := s.authorizeWrite(ctx)
	if err != nil {
		return nil, err
	}
	c, err := checkChannel(in)
	if err != nil {
		return nil, err
	}
	ids, err := listIDs(ctx, s.bus.AlertChannels, p.TenantID)
	if err != nil {
		return nil, apierr.Wrap(err, "count channels")
	}
	if len(ids) >= maxChannelsPerTenant {
		return nil, apierr.New(apierr.Invalid, "a tenant may keep at most %d channels; delete some first", maxChannelsPerTenant)
	}
	c.ID, c.TenantID, c.CreatedAt = newID("c"), p.TenantID, time.Now().UTC()
	key := recordKey(p.TenantID, c.ID)
	if _, err := storeJSON(ctx, s.bus.AlertChannels, key, c, 0); err != nil {
		return nil, apierr.Wrap(err, "store channel")
	}
	if err := s.channelNames().claim(ctx, p.TenantID, c.Name, c.ID); err != nil {
		_ = s.bus.AlertChannels.Purge(context.WithoutCancel(ctx), key)
		return nil, err
	}
	return channelProto(c, true), nil
}

// ListChannels returns the caller's channels by name, without secrets.
func (h *handler) ListChannels(ctx context.Context, _ *sawmillv1.ListAlertChannelsRequest) (*sawmillv1.ListAlertChannelsResponse, error) {
	s := h.s
	p, err := s.authorizeRead(ctx)
	if err != nil {
		return nil, err
	}
	recs, err := loadAll[notify.Channel](ctx, s.bus.AlertChannels, p.TenantID, "channel")
	if err != nil {
		return nil, err
	}
	slices.SortFunc(recs, func(a, b notify.Channel) int {
		return strings.Compare(strings.ToLower(a.Name)+"\x00"+a.ID, strings.ToLower(b.Name)+"\x00"+b.ID)
	})
	resp := &sawmillv1.ListAlertChannelsResponse{}
	for _, c := range recs {
		resp.Channels = append(resp.Channels, channelProto(c, false))
	}
	return resp, nil
}

// GetChannel returns one channel without its secret.
func (h *handler) GetChannel(ctx context.Context, req *sawmillv1.GetAlertChannelRequest) (*sawmillv1.AlertChannel, error) {
	p, err := h.s.authorizeRead(ctx)
	if err != nil {
		return nil, err
	}
	c, _, err := loadRecord[notify.Channel](ctx, h.s.bus.AlertChannels, p.TenantID, req.GetId(), "channel")
	if err != nil {
		return nil, err
	}
	return channelProto(c, false), nil
}

// UpdateChannel replaces a channel; an empty secret keeps the old one.
func (h *handler) UpdateChannel(ctx context.Context, in *sawmillv1.AlertChannel) (*sawmillv1.AlertChannel, error) {
	s := h.s
	p, err := s.authorizeWrite(ctx)
	if err != nil {
		return nil, err
	}
	old, rev, err := loadRecord[notify.Channel](ctx, s.bus.AlertChannels, p.TenantID, in.GetId(), "channel")
	if err != nil {
		return nil, err
	}
	if in.GetSecret() == "" && strings.EqualFold(in.GetType(), old.Type) {
		in.Secret = old.Secret
	}
	c, err := checkChannel(in)
	if err != nil {
		return nil, err
	}
	c.ID, c.TenantID, c.CreatedAt = old.ID, old.TenantID, old.CreatedAt
	names := s.channelNames()
	renamed := !strings.EqualFold(old.Name, c.Name)
	if renamed {
		if err := names.claim(ctx, p.TenantID, c.Name, c.ID); err != nil {
			return nil, err
		}
	}
	if _, err := storeJSON(ctx, s.bus.AlertChannels, recordKey(p.TenantID, c.ID), c, rev); casConflict(err) {
		return nil, apierr.New(apierr.Conflict, "channel %q changed concurrently; retry", c.ID)
	} else if err != nil {
		return nil, apierr.Wrap(err, "store channel")
	}
	if renamed {
		names.release(ctx, p.TenantID, old.Name, c.ID)
	}
	return channelProto(c, false), nil
}

// DeleteChannel removes a channel; rules naming it keep their other
// channels (notifications to a missing channel are dropped by the queue).
func (h *handler) DeleteChannel(ctx context.Context, req *sawmillv1.DeleteAlertChannelRequest) (*sawmillv1.DeleteAlertChannelResponse, error) {
	s := h.s
	p, err := s.authorizeWrite(ctx)
	if err != nil {
		return nil, err
	}
	c, rev, err := loadRecord[notify.Channel](ctx, s.bus.AlertChannels, p.TenantID, req.GetId(), "channel")
	if err != nil {
		return nil, err
	}
	if err := s.bus.AlertChannels.Purge(ctx, recordKey(p.TenantID, c.ID), jetstream.LastRevision(rev)); casConflict(err) {
		return nil, apierr.New(apierr.Conflict, "channel %q changed concurrently; retry", c.ID)
	} else if err != nil {
		return nil, apierr.Wrap(err, "delete channel")
	}
	s.channelNames().release(ctx, p.TenantID, c.Name, c.ID)
	return &sawmillv1.DeleteAlertChannelResponse{}, nil
}

// TestChannel sends a test notification through a channel at once.
func (h *handler) TestChannel(ctx context.Context, req *sawmillv1.TestAlertChannelRequest) (*sawmillv1.TestAlertChannelResponse, error) {
	s := h.s
	p, err := s.authorizeWrite(ctx)
	if err != nil {
		return nil, err
	}
	c, _, err := loadRecord[notify.Channel](ctx, s.bus.AlertChannels, p.TenantID, req.GetId(), "channel")
	if err != nil {
		return nil, err
	}
	now := time.Now().UTC()
	n := notify.Notification{ID: newID("test"), TenantID: p.TenantID, Kind: notify.KindTest, RuleName: "test notification",
		Severity: "info", Message: "This is a test notification from Sawmill for channel " + c.Name + ".", At: now,
		Link: strings.TrimRight(s.cfg.PublicURL, "/")}
	if err := s.queue.Send(ctx, c, n); err != nil {
		return &sawmillv1.TestAlertChannelResponse{Delivered: false, Error: err.Error()}, nil
	}
	return &sawmillv1.TestAlertChannelResponse{Delivered: true}, nil
}

// ListNotifications returns the delivery log, newest first.
func (h *handler) ListNotifications(ctx context.Context, req *sawmillv1.ListNotificationsRequest) (*sawmillv1.ListNotificationsResponse, error) {
	s := h.s
	p, err := s.authorizeRead(ctx)
	if err != nil {
		return nil, err
	}
	limit, err := pageLimit(int(req.GetLimit()))
	if err != nil {
		return nil, err
	}
	recs, err := s.queue.Log(ctx, p.TenantID, limit)
	if err != nil {
		return nil, apierr.Wrap(err, "read notification log")
	}
	resp := &sawmillv1.ListNotificationsResponse{}
	for _, r := range recs {
		resp.Notifications = append(resp.Notifications, &sawmillv1.NotificationRecord{Id: r.ID, ChannelId: r.ChannelID,
			RuleId: r.RuleID, Kind: r.Kind, Status: r.Status, Attempts: int32(r.Attempts), Error: r.Error, At: timestamppb.New(r.At)})
	}
	return resp, nil
}

// pageLimit applies the default (100) and cap (1000) of list limits.
func pageLimit(n int) (int, error) {
	switch {
	case n < 0:
		return 0, apierr.New(apierr.Invalid, "limit must not be negative")
	case n == 0:
		return 100, nil
	case n > 1000:
		return 0, apierr.New(apierr.Invalid, "limit must be at most 1000")
	}
	return n, nil
}
