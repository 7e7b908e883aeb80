package kvrecord

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/sawmillhq/sawmill/pkg/apierr"
)

// claimAttempts bounds how often Claim retries a claim that changes under
// it before giving up with Conflict.
const claimAttempts = 5

// Names holds unique per-tenant names of the records in a bucket. A name is
// held by the atomic KV create of its NameKey, whose value is the holder's
// id. The records must be JSON objects whose "name" field carries their
// name.
//
// Callers write a claim after the record that carries the name, so a
// name's holder exists when its claim does; a claim whose holder is gone or
// no longer carries the name (a crash between the two writes) is stale and
// taken over by the next Claim. Names is safe for concurrent use.
type Names struct {
	// KV is the bucket of both the records and the claims.
	KV jetstream.KeyValue
	// What names the kind of record, with its article, in the Conflict
	// message: "a saved search" gives `a saved search named "x" already
	// exists`.
	What string
}

// Claim makes id the holder of name for tenant. It fails with Conflict when
// another live record of tenant carries the name (case-insensitively; the
// message quotes that record's name) or when the claim kept changing under
// it; with Internal on a storage failure. Claiming a name id already holds
// succeeds.
func (n Names) Claim(ctx context.Context, tenant, name, id string) error {
	key := NameKey(tenant, name)
	for range claimAttempts {
		_, err := n.KV.Create(ctx, key, []byte(id))
		if err == nil {
			return nil
		}
		if !Conflict(err) {
			return apierr.Wrap(err, "claim name")
		}
		e, err := n.KV.Get(ctx, key)
		if errors.Is(err, jetstream.ErrKeyNotFound) {
			continue // released meanwhile
		}
		if err != nil {
			return apierr.Wrap(err, "read name claim")
		}
		holder := string(e.Value())
		if holder == id {
			return nil
		}
		var r struct {
			Name string `json:"name"`
		}
		_, found, err := Load(ctx, n.KV, Key(tenant, holder), &r)
		if err != nil {
			return apierr.Wrap(err, "read name holder")
		}
		if found && strings.EqualFold(r.Name, name) {
			return apierr.New(apierr.Conflict, "%s named %q already exists", n.What, r.Name)
		}
		// Stale: its holder is gone or renamed.
		if _, err := n.KV.Update(ctx, key, []byte(id), e.Revision()); err == nil {
			return nil
		} else if !Conflict(err) {
			return apierr.Wrap(err, "take over name claim")
		}
	}
	return apierr.New(apierr.Conflict, "the name %q is being changed concurrently; retry", name)
}

// Release drops id's claim on name, unless another record holds the name
// now (then it does nothing). It returns only storage failures, which
// leave a stale claim that the next Claim takes over: callers may log them.
func (n Names) Release(ctx context.Context, tenant, name, id string) error {
	key := NameKey(tenant, name)
	e, err := n.KV.Get(ctx, key)
	if errors.Is(err, jetstream.ErrKeyNotFound) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("read name claim: %w", err)
	}
	if string(e.Value()) != id {
		return nil
	}
	if err := n.KV.Delete(ctx, key, jetstream.LastRevision(e.Revision())); err != nil && !Conflict(err) {
		return fmt.Errorf("release name claim: %w", err)
	}
	return nil
}
