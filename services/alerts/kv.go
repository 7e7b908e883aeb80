package alerts

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"unicode"
	"unicode/utf8"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/sawmillhq/sawmill/pkg/apierr"
	"github.com/sawmillhq/sawmill/pkg/auth"
)

// maxNameChars bounds rule and channel names.
const maxNameChars = 100

// checkName trims a user-given name and checks its length and characters.
func checkName(what, name string) (string, error) {
	name = strings.TrimSpace(name)
	if n := utf8.RuneCountInString(name); n == 0 || n > maxNameChars || !utf8.ValidString(name) {
		return "", apierr.New(apierr.Invalid, "%s must be 1 to %d characters", what, maxNameChars)
	}
	if strings.IndexFunc(name, unicode.IsControl) >= 0 {
		return "", apierr.New(apierr.Invalid, "%s must not contain control characters", what)
	}
	return name, nil
}

// checkID rejects ids that could not be a KV key token, so that no id can
// reach outside the caller's "<tenant>." prefix.
func checkID(what, id string) error {
	ok := id != "" && len(id) <= 64
	for i := 0; ok && i < len(id); i++ {
		c := id[i]
		ok = c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '-' || c == '_'
	}
	if !ok {
		return apierr.New(apierr.Invalid, "invalid %s id %q", what, id)
	}
	return nil
}

// newID returns a fresh id with a prefix telling its kind.
func newID(prefix string) string { return prefix + auth.RandomID(10) }

// recordKey is the KV key of a tenant's record.
func recordKey(tenant, id string) string { return tenant + "." + id }

// splitKey splits "<tenant>.<id>"; ok is false for other keys (name claims).
func splitKey(key string) (tenant, id string, ok bool) {
	tenant, id, ok = strings.Cut(key, ".")
	return tenant, id, ok && !strings.Contains(id, ".")
}

// nameKey claims a name for a tenant; its value is the holder's id. Names
// compare case-insensitively. Three tokens: "<tenant>.*" never lists it.
func nameKey(tenant, name string) string {
	sum := sha256.Sum256([]byte(strings.ToLower(name)))
	return tenant + ".name." + hex.EncodeToString(sum[:16])
}

// casConflict reports whether a KV write failed because the key changed
// (or exists) since it was read.
func casConflict(err error) bool {
	return errors.Is(err, jetstream.ErrKeyExists) || errors.Is(err, jetstream.ErrKeyRevisionMismatch)
}

// loadJSON reads key into v; found is false when it does not exist.
func loadJSON(ctx context.Context, kv jetstream.KeyValue, key string, v any) (rev uint64, found bool, err error) {
	e, err := kv.Get(ctx, key)
	if errors.Is(err, jetstream.ErrKeyNotFound) {
		return 0, false, nil
	}
	if err != nil {
		return 0, false, fmt.Errorf("get %s: %w", key, err)
	}
	if err := json.Unmarshal(e.Value(), v); err != nil {
		return 0, false, fmt.Errorf("decode %s: %w", key, err)
	}
	return e.Revision(), true, nil
}

// storeJSON writes v under key: created when rev is 0, else only if key is
// still at revision rev. It returns the new revision.
func storeJSON(ctx context.Context, kv jetstream.KeyValue, key string, v any, rev uint64) (uint64, error) {
	b, err := json.Marshal(v)
	if err != nil {
		return 0, fmt.Errorf("encode %s: %w", key, err)
	}
	if rev == 0 {
		return kv.Create(ctx, key, b)
	}
	return kv.Update(ctx, key, b, rev)
}

// listIDs returns the ids of a tenant's records in kv.
func listIDs(ctx context.Context, kv jetstream.KeyValue, tenant string) ([]string, error) {
	lister, err := kv.ListKeysFiltered(ctx, tenant+".*")
	if err != nil {
		return nil, fmt.Errorf("list %s: %w", tenant, err)
	}
	var ids []string
	for k := range lister.Keys() {
		ids = append(ids, strings.TrimPrefix(k, tenant+"."))
	}
	return ids, nil
}

// loadAll loads every record of tenant in kv.
func loadAll[T any](ctx context.Context, kv jetstream.KeyValue, tenant, what string) ([]T, error) {
	ids, err := listIDs(ctx, kv, tenant)
	if err != nil {
		return nil, apierr.Wrap(err, "list "+what+"s")
	}
	var recs []T
	for _, id := range ids {
		var r T
		_, found, err := loadJSON(ctx, kv, recordKey(tenant, id), &r)
		if err != nil {
			return nil, apierr.Wrap(err, "load "+what)
		}
		if found {
			recs = append(recs, r)
		}
	}
	return recs, nil
}

// loadRecord returns the tenant's record id and its revision, or NotFound.
func loadRecord[T any](ctx context.Context, kv jetstream.KeyValue, tenant, id, what string) (T, uint64, error) {
	var r T
	if err := checkID(what, id); err != nil {
		return r, 0, err
	}
	rev, found, err := loadJSON(ctx, kv, recordKey(tenant, id), &r)
	if err != nil {
		return r, 0, apierr.Wrap(err, "load "+what)
	}
	if !found {
		return r, 0, apierr.New(apierr.NotFound, "no %s %q", what, id)
	}
	return r, rev, nil
}

// names holds unique per-tenant names in a bucket: a name is held by the
// atomic KV create of its nameKey, written after the record, so a name's
// holder always exists when its claim does. A claim whose holder is gone or
// renamed (a crash between the two writes) is stale and taken over.
type names struct {
	kv   jetstream.KeyValue
	what string
	// holds reports whether the record id currently carries name.
	holds func(ctx context.Context, tenant, id, name string) (bool, error)
}

// claim makes id the holder of name, or fails with Conflict.
func (n names) claim(ctx context.Context, tenant, name, id string) error {
	key := nameKey(tenant, name)
	for range 5 {
		_, err := n.kv.Create(ctx, key, []byte(id))
		if err == nil {
			return nil
		}
		if !casConflict(err) {
			return apierr.Wrap(err, "claim name")
		}
		e, err := n.kv.Get(ctx, key)
		if errors.Is(err, jetstream.ErrKeyNotFound) {
			continue
		}
		if err != nil {
			return apierr.Wrap(err, "read name claim")
		}
		holder := string(e.Value())
		if holder == id {
			return nil
		}
		held, err := n.holds(ctx, tenant, holder, name)
		if err != nil {
			return apierr.Wrap(err, "read name holder")
		}
		if held {
			return apierr.New(apierr.Conflict, "an alert %s named %q already exists", n.what, name)
		}
		if _, err := n.kv.Update(ctx, key, []byte(id), e.Revision()); err == nil {
			return nil
		} else if !casConflict(err) {
			return apierr.Wrap(err, "take over name claim")
		}
	}
	return apierr.New(apierr.Conflict, "the name %q is being changed concurrently; retry", name)
}

// release drops id's claim on name, unless someone else holds it now.
func (n names) release(ctx context.Context, tenant, name, id string) {
	key := nameKey(tenant, name)
	e, err := n.kv.Get(ctx, key)
	if err != nil || string(e.Value()) != id {
		return
	}
	_ = n.kv.Delete(ctx, key, jetstream.LastRevision(e.Revision()))
}
