package billing

import (
	"context"
	"errors"
	"fmt"
	"regexp"
	"sort"
	"time"

	"github.com/nats-io/nats.go/jetstream"
	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/timestamppb"

	sawmillv1 "github.com/sawmillhq/sawmill/gen/sawmill/v1"
	"github.com/sawmillhq/sawmill/pkg/apierr"
	"github.com/sawmillhq/sawmill/pkg/auth"
	"github.com/sawmillhq/sawmill/pkg/plan"
	"github.com/sawmillhq/sawmill/pkg/store"
	"github.com/sawmillhq/sawmill/pkg/tenant"
)

// invoiceGrace is how long after a period closes its invoice waits, so that
// events accepted just before the end (observed time inside the period) have
// been stored and metered by the writer, which may lag behind the edges.
const invoiceGrace = time.Hour

// invoiceBackfill bounds how many closed periods one run looks back for a
// tenant without an invoice (a billing role that was down for months).
const invoiceBackfill = 12

// invoiceJSON is the one JSON shape of an invoice: the KV value, the REST
// answer and the export a payment provider takes (snake_case, int64 amounts
// as strings per the proto3 JSON mapping, RFC 3339 times).
var invoiceJSON = protojson.MarshalOptions{UseProtoNames: true, EmitUnpopulated: true}

// invoiceIDPattern is "<tenant id>.<period start YYYYMMDD>", the KV key.
var invoiceIDPattern = regexp.MustCompile(`^([A-Za-z0-9_-]{1,64})\.([0-9]{8})$`)

// invoiceID returns the id (and KV key) of a tenant's invoice for the period
// starting at start.
func invoiceID(tenantID string, start time.Time) string {
	return tenantID + "." + start.UTC().Format("20060102")
}

// RunInvoices issues invoices until ctx ends: at start and then every
// every (0 → 1h), for every tenant in tenants (kept current by the caller
// with Bus.Follow), each closed period (closed at least invoiceGrace ago)
// since signup without an invoice gets one, from the usage metered in
// ClickHouse and the tenant's plan history. Invoices are created with KV
// Create under "<tenant>.<YYYYMMDD>", so any number of billing processes may
// run this: the first to compute an invoice stores it, the others lose the
// race harmlessly (and log if their computation differed).
func (s *Service) RunInvoices(ctx context.Context, tenants *tenant.Directory, every time.Duration) error {
	if every <= 0 {
		every = time.Hour
	}
	tick := time.NewTicker(every)
	defer tick.Stop()
	for {
		s.invoiceAll(ctx, tenants)
		select {
		case <-ctx.Done():
			return nil
		case <-tick.C:
		}
	}
}

// invoiceAll runs one pass over every tenant and returns how many invoices
// it created.
func (s *Service) invoiceAll(ctx context.Context, tenants *tenant.Directory) int {
	now := s.now()
	issued := 0
	for _, t := range tenants.All() {
		n, err := s.invoiceTenant(ctx, t, now)
		issued += n
		if err != nil && ctx.Err() == nil {
			s.log.Error("issue invoices", "tenant", t.ID, "err", err)
		}
	}
	return issued
}

// invoiceTenant issues the tenant's missing invoices for closed periods,
// newest first, stopping at the first period already invoiced or at signup.
func (s *Service) invoiceTenant(ctx context.Context, t tenant.Tenant, now time.Time) (int, error) {
	next, _ := plan.Period(t.CreatedAt, now.Add(-invoiceGrace))
	issued := 0
	for range invoiceBackfill {
		start, end := plan.Period(t.CreatedAt, next.Add(-time.Nanosecond))
		if !end.After(t.CreatedAt) {
			return issued, nil
		}
		if _, err := s.bus.Invoices.Get(ctx, invoiceID(t.ID, start)); err == nil {
			return issued, nil
		} else if !errors.Is(err, jetstream.ErrKeyNotFound) {
			return issued, fmt.Errorf("read invoice: %w", err)
		}
		created, err := s.issueInvoice(ctx, t, start, end, now)
		if err != nil {
			return issued, err
		}
		if created {
			issued++
		}
		next = start
	}
	return issued, nil
}

// issueInvoice computes the invoice of one closed period and stores it
// unless another process stored it first; created reports which.
func (s *Service) issueInvoice(ctx context.Context, t tenant.Tenant, start, end, now time.Time) (created bool, err error) {
	inv, err := s.computeInvoice(ctx, t, start, end, now)
	if err != nil {
		return false, err
	}
	b, err := invoiceJSON.Marshal(inv)
	if err != nil {
		return false, fmt.Errorf("encode invoice: %w", err)
	}
	_, err = s.bus.Invoices.Create(ctx, inv.Id, b)
	if errors.Is(err, jetstream.ErrKeyExists) {
		if prev, err := s.loadInvoice(ctx, inv.Id); err == nil && !sameInvoice(prev, inv) {
			s.log.Warn("invoice already issued; a recomputation differs (late usage?)", "invoice", inv.Id,
				"issued_total_cents", prev.TotalCents, "recomputed_total_cents", inv.TotalCents)
		}
		return false, nil
	}
	if err != nil {
		return false, fmt.Errorf("store invoice %s: %w", inv.Id, err)
	}
	s.log.Info("invoice issued", "invoice", inv.Id, "plan", inv.Plan, "total_cents", inv.TotalCents)
	return true, nil
}

// computeInvoice prices the tenant's usage of [start, end) (the metered
// hours of ingestion in the period) over its plan history.
func (s *Service) computeInvoice(ctx context.Context, t tenant.Tenant, start, end, now time.Time) (*sawmillv1.Invoice, error) {
	segs, err := s.segments(t, start, end)
	if err != nil {
		return nil, err
	}
	rows, err := s.store.Usage(ctx, t.ID, start, end, store.Hourly)
	if err != nil {
		return nil, fmt.Errorf("read usage: %w", err)
	}
	var events, bytes int64
	for _, r := range rows {
		events += int64(r.Events)
		bytes += int64(r.Bytes)
	}
	pi := plan.ComputeInvoice(segs, events, bytes)
	inv := &sawmillv1.Invoice{
		Id: invoiceID(t.ID, start), TenantId: t.ID, PeriodStart: timestamppb.New(start), PeriodEnd: timestamppb.New(end),
		Plan: pi.Plan, Currency: plan.Currency, TotalCents: pi.TotalCents, IssuedAt: timestamppb.New(now.UTC()),
		Events: events, Bytes: bytes,
	}
	for _, l := range pi.Lines {
		inv.Lines = append(inv.Lines, &sawmillv1.InvoiceLine{Description: l.Description, Quantity: l.Quantity,
			Unit: l.Unit, UnitCents: l.UnitCents, AmountCents: l.AmountCents})
	}
	return inv, nil
}

// sameInvoice reports whether two computations of an invoice agree on
// everything but when they were issued.
func sameInvoice(a, b *sawmillv1.Invoice) bool {
	a, b = proto.Clone(a).(*sawmillv1.Invoice), proto.Clone(b).(*sawmillv1.Invoice)
	a.IssuedAt, b.IssuedAt = nil, nil
	return proto.Equal(a, b)
}

// loadInvoice reads one stored invoice; jetstream.ErrKeyNotFound when absent.
func (s *Service) loadInvoice(ctx context.Context, id string) (*sawmillv1.Invoice, error) {
	e, err := s.bus.Invoices.Get(ctx, id)
	if err != nil {
		return nil, err
	}
	inv := &sawmillv1.Invoice{}
	if err := protojson.Unmarshal(e.Value(), inv); err != nil {
		return nil, fmt.Errorf("decode invoice %s: %w", id, err)
	}
	return inv, nil
}

// ListInvoices returns the caller's tenant's invoices, newest first.
func (b *billingAPI) ListInvoices(ctx context.Context, _ *sawmillv1.ListInvoicesRequest) (*sawmillv1.ListInvoicesResponse, error) {
	p, err := b.s.auth.GRPC(ctx, auth.ScopeAdmin)
	if err != nil {
		return nil, err
	}
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	// Only this tenant's keys: the filter is the tenant id, never input.
	w, err := b.s.bus.Invoices.Watch(ctx, p.TenantID+".*", jetstream.IgnoreDeletes())
	if err != nil {
		return nil, apierr.Wrap(err, "list invoices")
	}
	defer w.Stop()
	resp := &sawmillv1.ListInvoicesResponse{}
	for e := range w.Updates() {
		if e == nil {
			break
		}
		inv := &sawmillv1.Invoice{}
		if err := protojson.Unmarshal(e.Value(), inv); err != nil {
			return nil, apierr.Wrap(err, "decode invoice "+e.Key())
		}
		resp.Invoices = append(resp.Invoices, inv)
	}
	if err := ctx.Err(); err != nil {
		return nil, apierr.Wrap(err, "list invoices")
	}
	sort.Slice(resp.Invoices, func(i, j int) bool {
		return resp.Invoices[i].GetPeriodStart().AsTime().After(resp.Invoices[j].GetPeriodStart().AsTime())
	})
	return resp, nil
}

// GetInvoice returns one invoice of the caller's tenant. Another tenant's
// id answers exactly as a missing one does.
func (b *billingAPI) GetInvoice(ctx context.Context, req *sawmillv1.GetInvoiceRequest) (*sawmillv1.Invoice, error) {
	p, err := b.s.auth.GRPC(ctx, auth.ScopeAdmin)
	if err != nil {
		return nil, err
	}
	m := invoiceIDPattern.FindStringSubmatch(req.GetId())
	if m == nil {
		return nil, apierr.New(apierr.Invalid, "invoice id must look like <tenant id>.<YYYYMMDD>, as ListInvoices returns")
	}
	notFound := apierr.New(apierr.NotFound, "invoice %q not found", req.GetId())
	if m[1] != p.TenantID {
		return nil, notFound
	}
	inv, err := b.s.loadInvoice(ctx, req.GetId())
	if errors.Is(err, jetstream.ErrKeyNotFound) {
		return nil, notFound
	}
	if err != nil {
		return nil, apierr.Wrap(err, "load invoice")
	}
	return inv, nil
}
