package billing

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/nats-io/nats.go/jetstream"
	"google.golang.org/protobuf/types/known/timestamppb"

	sawmillv1 "github.com/sawmillhq/sawmill/gen/sawmill/v1"
	"github.com/sawmillhq/sawmill/pkg/apierr"
	"github.com/sawmillhq/sawmill/pkg/auth"
	"github.com/sawmillhq/sawmill/pkg/tenant"
)

// deletionWait bounds how long DeleteAccount waits for ClickHouse to finish
// deleting the tenant's rows before answering complete=false.
const deletionWait = 30 * time.Second

// deletionPoll is how often DeleteAccount checks the mutation.
const deletionPoll = 100 * time.Millisecond

// DeleteAccount deletes the caller's tenant (admin scope: a session or an
// admin key). In order:
//
//  1. the tenant record is marked Deleted: edges and queries, which follow
//     the tenants bucket, refuse the tenant from then on (403);
//  2. its API keys, users, scrubbing rules, quota state, saved searches and
//     dashboards are purged from KV (keys stop working on every node within
//     a second);
//  3. its rows are deleted from ClickHouse logs (a mutation), waiting up to
//     30 s for it to finish.
//
// The tenant record stays as a tombstone (Deleted, so the id is never
// reused and late requests are refused), and so do its invoices and
// usage_hourly rows: they are the billing record, not log data. Calling it
// again on a deleted tenant (with a session still valid) repeats steps 2
// and 3 and reports whether the deletion is complete.
func (a *accounts) DeleteAccount(ctx context.Context, _ *sawmillv1.DeleteAccountRequest) (*sawmillv1.DeleteAccountResponse, error) {
	p, err := a.s.auth.GRPC(ctx, auth.ScopeAdmin)
	if err != nil {
		return nil, err
	}
	s := a.s
	if err := s.markDeleted(ctx, p.TenantID); err != nil {
		return nil, err
	}
	if err := s.purgeTenantKV(ctx, p.TenantID); err != nil {
		return nil, apierr.Wrap(err, "purge tenant settings")
	}
	s.log.Info("account deleted; deleting stored events", "tenant", p.TenantID)
	done, err := s.deleteTenantRows(ctx, p.TenantID, deletionWait)
	if err != nil {
		return nil, apierr.Wrap(err, "delete stored events")
	}
	resp := &sawmillv1.DeleteAccountResponse{TenantId: p.TenantID}
	if done {
		resp.Complete, resp.CompletedAt = true, timestamppb.New(s.now())
		resp.Message = "account deleted: keys, users, settings and every stored event are gone"
	} else {
		resp.Message = "account deleted; stored events are still being removed in the background. " +
			"Call DELETE /v1/account again with a session to check."
	}
	return resp, nil
}

// markDeleted sets Deleted on the tenant record (idempotent).
func (s *Service) markDeleted(ctx context.Context, id string) error {
	_, err := s.casTenant(ctx, id, func(t *tenant.Tenant) (bool, error) {
		if t.Deleted {
			return false, nil
		}
		t.Deleted = true
		return true, nil
	})
	return err
}

// purgeTenantKV removes everything the control plane holds for a tenant
// except its tombstone and invoices.
func (s *Service) purgeTenantKV(ctx context.Context, id string) error {
	prefix := id + ".*"
	for _, kv := range []jetstream.KeyValue{s.bus.Keys, s.bus.Searches, s.bus.Dashboards} {
		if err := purgeMatching(ctx, kv, prefix); err != nil {
			return err
		}
	}
	for _, kv := range []jetstream.KeyValue{s.bus.Scrubbing, s.bus.Quotas} {
		if err := kv.Purge(ctx, id); err != nil && !errors.Is(err, jetstream.ErrKeyNotFound) {
			return fmt.Errorf("purge %s/%s: %w", kv.Bucket(), id, err)
		}
	}
	return s.purgeUsers(ctx, id)
}

// purgeMatching purges every key of kv matching filter.
func purgeMatching(ctx context.Context, kv jetstream.KeyValue, filter string) error {
	lister, err := kv.ListKeysFiltered(ctx, filter)
	if err != nil {
		return fmt.Errorf("list %s/%s: %w", kv.Bucket(), filter, err)
	}
	var keys []string
	for k := range lister.Keys() {
		keys = append(keys, k)
	}
	for _, k := range keys {
		if err := kv.Purge(ctx, k); err != nil {
			return fmt.Errorf("purge %s/%s: %w", kv.Bucket(), k, err)
		}
	}
	return nil
}

// purgeUsers removes the tenant's users. The users bucket is keyed by
// e-mail hash, so this scans it: account deletion is rare, and scanning
// keeps the user record the only place an e-mail lives.
func (s *Service) purgeUsers(ctx context.Context, id string) error {
	lister, err := s.bus.Users.ListKeys(ctx)
	if err != nil {
		return fmt.Errorf("list users: %w", err)
	}
	var keys []string
	for k := range lister.Keys() {
		keys = append(keys, k)
	}
	for _, k := range keys {
		var u tenant.User
		found, err := getJSON(ctx, s.bus.Users, k, &u)
		if err != nil {
			return fmt.Errorf("load user: %w", err)
		}
		if !found || u.TenantID != id {
			continue
		}
		if err := s.bus.Users.Purge(ctx, k); err != nil {
			return fmt.Errorf("purge user %s: %w", u.ID, err)
		}
	}
	return nil
}

// deleteTenantRows deletes the tenant's rows from ClickHouse and waits up to
// wait for the deletion to finish. Rows the writer stores after the
// mutation started (batches already in the stream when the tenant was
// deleted) get another mutation once the first is done. done reports that
// no mutation is pending and no row is left.
func (s *Service) deleteTenantRows(ctx context.Context, id string, wait time.Duration) (done bool, err error) {
	if err := s.store.DeleteTenantLogs(ctx, id); err != nil {
		return false, err
	}
	ctx, cancel := context.WithTimeout(ctx, wait)
	defer cancel()
	for {
		pending, err := s.store.TenantDeletePending(ctx, id)
		if err == nil && pending == 0 {
			var left uint64
			if left, err = s.store.TenantRows(ctx, id); err == nil && left == 0 {
				return true, nil
			}
			if err == nil {
				err = s.store.DeleteTenantLogs(ctx, id)
			}
		}
		if ctx.Err() != nil {
			return false, nil
		}
		if err != nil {
			return false, err
		}
		select {
		case <-ctx.Done():
			return false, nil
		case <-time.After(deletionPoll):
		}
	}
}
