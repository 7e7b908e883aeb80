package ingest

import (
	"context"

	"google.golang.org/grpc/metadata"

	sawmillv1 "github.com/sawmillhq/sawmill/gen/sawmill/v1"
	"github.com/sawmillhq/sawmill/pkg/apierr"
	"github.com/sawmillhq/sawmill/pkg/auth"
	"github.com/sawmillhq/sawmill/pkg/event"
	"github.com/sawmillhq/sawmill/pkg/eventpb"
)

// grpcIngest implements sawmill.v1.IngestService.
type grpcIngest struct {
	sawmillv1.UnimplementedIngestServiceServer
	edge *Edge
}

// Push validates each event on its own, publishes the good ones and answers
// with per-event errors, like POST /v1/ingest. The "idempotency-key"
// metadata plays the role of the HTTP header.
func (g *grpcIngest) Push(ctx context.Context, req *sawmillv1.PushRequest) (*sawmillv1.PushResponse, error) {
	e := g.edge
	p, err := e.auth.GRPC(ctx, auth.ScopeIngest)
	if err != nil {
		return nil, err
	}
	var idem string
	if md, ok := metadata.FromIncomingContext(ctx); ok {
		if v := md.Get("idempotency-key"); len(v) > 0 {
			idem = v[0]
		}
	}
	if len(idem) > maxIdempotencyKey {
		return nil, apierr.New(apierr.Invalid, "idempotency-key is longer than %d bytes", maxIdempotencyKey)
	}
	e.quotaMetadata(ctx, p.TenantID)
	now := e.now()
	lim := e.limitsFor(p.TenantID)
	resp := &sawmillv1.PushResponse{}
	evs := make([]event.Event, 0, len(req.GetEvents()))
	for i, pe := range req.GetEvents() {
		ev := eventpb.FromProto(pe)
		if err := lim.Prepare(&ev, now); err != nil {
			if len(resp.Errors) < maxReportedErrors {
				resp.Errors = append(resp.Errors, &sawmillv1.LineError{Index: int32(i), Reason: err.Error()})
			}
			resp.Rejected++
			continue
		}
		evs = append(evs, ev)
	}
	eventsTotal.WithLabelValues("rejected").Add(float64(resp.Rejected))
	if len(evs) == 0 {
		if resp.Rejected == 0 {
			return nil, apierr.New(apierr.Invalid, "no events in the request")
		}
		return resp, nil
	}
	if err := e.accept(ctx, p.TenantID, evs, idem); err != nil {
		return nil, apiError(err)
	}
	resp.Accepted = int32(len(evs))
	eventsTotal.WithLabelValues("accepted").Add(float64(len(evs)))
	return resp, nil
}
