package alerts

import (
	"context"
	"errors"
	"strings"
	"time"

	"google.golang.org/protobuf/types/known/timestamppb"

	sawmillv1 "github.com/sawmillhq/sawmill/gen/sawmill/v1"
	"github.com/sawmillhq/sawmill/pkg/apierr"
	"github.com/sawmillhq/sawmill/pkg/auth"
	"github.com/sawmillhq/sawmill/pkg/kvrecord"
	"github.com/sawmillhq/sawmill/services/alerts/notify"
)

// maxChannelsPerTenant bounds the channels one tenant may keep.
const maxChannelsPerTenant = 100

// channelNames holds the unique names of a tenant's channels.
func (s *Service) channelNames() kvrecord.Names {
	return kvrecord.Names{KV: s.bus.AlertChannels, What: "an alert channel"}
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
	name, err := kvrecord.CheckName("name", in.GetName())
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
	ids, err := kvrecord.ListIDs(ctx, s.bus.AlertChannels, p.TenantID)
	if err != nil {
		return nil, apierr.Wrap(err, "count channels")
	}
	if len(ids) >= maxChannelsPerTenant {
		return nil, apierr.New(apierr.Invalid, "a tenant may keep at most %d channels; delete some first", maxChannelsPerTenant)
	}
	c.ID, c.TenantID, c.CreatedAt = kvrecord.NewID("c"), p.TenantID, time.Now().UTC()
	key := kvrecord.Key(p.TenantID, c.ID)
	if _, err := kvrecord.Store(ctx, s.bus.AlertChannels, key, c, 0); err != nil {
		return nil, apierr.Wrap(err, "store channel")
	}
	if err := s.channelNames().Claim(ctx, p.TenantID, c.Name, c.ID); err != nil {
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
	recs, err := kvrecord.LoadAll[notify.Channel](ctx, s.bus.AlertChannels, p.TenantID, "channel")
	if err != nil {
		return nil, err
	}
	kvrecord.SortByName(recs, func(c *notify.Channel) (string, string) { return c.Name, c.ID })
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
	c, _, err := kvrecord.LoadRecord[notify.Channel](ctx, h.s.bus.AlertChannels, p.TenantID, req.GetId(), "channel")
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
	old, rev, err := kvrecord.LoadRecord[notify.Channel](ctx, s.bus.AlertChannels, p.TenantID, in.GetId(), "channel")
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
		if err := names.Claim(ctx, p.TenantID, c.Name, c.ID); err != nil {
			return nil, err
		}
	}
	if _, err := kvrecord.StoreRecord(ctx, s.bus.AlertChannels, p.TenantID, c.ID, c, rev, "channel"); err != nil {
		return nil, err
	}
	if renamed {
		s.releaseName(ctx, names, p.TenantID, old.Name, c.ID)
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
	c, rev, err := kvrecord.LoadRecord[notify.Channel](ctx, s.bus.AlertChannels, p.TenantID, req.GetId(), "channel")
	if err != nil {
		return nil, err
	}
	if err := kvrecord.DeleteRecord(ctx, s.bus.AlertChannels, p.TenantID, c.ID, rev, "channel"); err != nil {
		return nil, err
	}
	s.releaseName(ctx, s.channelNames(), p.TenantID, c.Name, c.ID)
	return &sawmillv1.DeleteAlertChannelResponse{}, nil
}

// TestChannel sends a test notification through a channel at once.
func (h *handler) TestChannel(ctx context.Context, req *sawmillv1.TestAlertChannelRequest) (*sawmillv1.TestAlertChannelResponse, error) {
	s := h.s
	p, err := s.authorizeWrite(ctx)
	if err != nil {
		return nil, err
	}
	c, _, err := kvrecord.LoadRecord[notify.Channel](ctx, s.bus.AlertChannels, p.TenantID, req.GetId(), "channel")
	if err != nil {
		return nil, err
	}
	now := time.Now().UTC()
	n := notify.Notification{ID: kvrecord.NewID("test"), TenantID: p.TenantID, Kind: notify.KindTest, RuleName: "test notification",
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
