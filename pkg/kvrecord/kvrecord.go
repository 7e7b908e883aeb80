// Package kvrecord provides records of a tenant in a NATS KV bucket, keyed
// "<tenant>.<id>" and stored as JSON: id and name checks, keys, optimistic
// (compare-and-set) loads and stores, listing a tenant's records, and Names,
// unique per-tenant names claimed by an atomic KV create.
//
// Its checks return *apierr.Error values with messages safe to show a client;
// storage failures are plain wrapped errors (callers wrap them as Internal).
// It knows nothing of what the records mean and must not import any service.
package kvrecord

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"unicode"
	"unicode/utf8"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/sawmillhq/sawmill/pkg/apierr"
	"github.com/sawmillhq/sawmill/pkg/auth"
)

// MaxNameChars bounds a record's name, in characters.
const MaxNameChars = 100

// MaxIDLen bounds a record's id, in bytes.
const MaxIDLen = 64

// CheckName trims a user-given name and checks its length (1 to
// MaxNameChars characters of valid UTF-8) and that it has no control
// characters. what names the field in the Invalid error ("name").
func CheckName(what, name string) (string, error) {
	name = strings.TrimSpace(name)
	if n := utf8.RuneCountInString(name); n == 0 || n > MaxNameChars || !utf8.ValidString(name) {
		return "", apierr.New(apierr.Invalid, "%s must be 1 to %d characters", what, MaxNameChars)
	}
	if strings.IndexFunc(name, unicode.IsControl) >= 0 {
		return "", apierr.New(apierr.Invalid, "%s must not contain control characters", what)
	}
	return name, nil
}

// CheckID rejects, with Invalid, an id that could not be a single KV key
// token (1 to MaxIDLen of [A-Za-z0-9_-]), so that no id can reach outside
// the caller's "<tenant>." prefix. what names the kind of record in the
// message ("invalid rule id ...").
func CheckID(what, id string) error {
	ok := id != "" && len(id) <= MaxIDLen
	for i := 0; ok && i < len(id); i++ {
		c := id[i]
		ok = c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '-' || c == '_'
	}
	if !ok {
		return apierr.New(apierr.Invalid, "invalid %s id %q", what, id)
	}
	return nil
}

// NewID returns a fresh random id with a prefix telling its kind ("r",
// "s"); it passes CheckID for a prefix of letters.
func NewID(prefix string) string { return prefix + auth.RandomID(10) }

// Key is the KV key of a tenant's record.
func Key(tenant, id string) string { return tenant + "." + id }

// SplitKey splits a record key "<tenant>.<id>"; ok is false for any other
// key (such as a NameKey).
func SplitKey(key string) (tenant, id string, ok bool) {
	tenant, id, ok = strings.Cut(key, ".")
	return tenant, id, ok && !strings.Contains(id, ".")
}

// NameKey is the KV key that claims a name for a tenant (see Names). Names
// compare case-insensitively. The key has three tokens, so a listing of
// records ("<tenant>.*") never matches it.
func NameKey(tenant, name string) string {
	sum := sha256.Sum256([]byte(strings.ToLower(name)))
	return tenant + ".name." + hex.EncodeToString(sum[:16])
}

// Conflict reports whether a KV write failed because the key changed (or
// exists) since it was read: a lost compare-and-set.
func Conflict(err error) bool {
	return errors.Is(err, jetstream.ErrKeyExists) || errors.Is(err, jetstream.ErrKeyRevisionMismatch)
}

// Load reads the JSON at key into v and returns its revision; found is
// false (and err nil) when the key does not exist.
func Load(ctx context.Context, kv jetstream.KeyValue, key string, v any) (rev uint64, found bool, err error) {
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

// Store writes v as JSON under key and returns the new revision. With rev 0
// the key is created and must not exist; otherwise it is updated only if it
// is still at revision rev. A lost race fails with an error for which
// Conflict is true.
func Store(ctx context.Context, kv jetstream.KeyValue, key string, v any, rev uint64) (uint64, error) {
	b, err := json.Marshal(v)
	if err != nil {
		return 0, fmt.Errorf("encode %s: %w", key, err)
	}
	var newRev uint64
	if rev == 0 {
		newRev, err = kv.Create(ctx, key, b)
	} else {
		newRev, err = kv.Update(ctx, key, b, rev)
	}
	if err != nil {
		return 0, fmt.Errorf("store %s: %w", key, err)
	}
	return newRev, nil
}

// ListIDs returns the ids of a tenant's records in kv, in no particular
// order. Name claims are not records and are not listed.
func ListIDs(ctx context.Context, kv jetstream.KeyValue, tenant string) ([]string, error) {
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

// LoadAll loads every record of tenant in kv, in no particular order; a
// record deleted while listing is left out. Failures are Internal errors;
// what names the kind of record in them ("rule").
func LoadAll[T any](ctx context.Context, kv jetstream.KeyValue, tenant, what string) ([]T, error) {
	ids, err := ListIDs(ctx, kv, tenant)
	if err != nil {
		return nil, apierr.Wrap(err, "list "+what+"s")
	}
	var recs []T
	for _, id := range ids {
		var r T
		_, found, err := Load(ctx, kv, Key(tenant, id), &r)
		if err != nil {
			return nil, apierr.Wrap(err, "load "+what)
		}
		if found {
			recs = append(recs, r)
		}
	}
	return recs, nil
}

// LoadRecord returns the tenant's record id and its revision: Invalid for
// an id CheckID refuses, NotFound ("no rule "r1"") when it does not exist,
// Internal for a storage failure. what names the kind of record.
func LoadRecord[T any](ctx context.Context, kv jetstream.KeyValue, tenant, id, what string) (T, uint64, error) {
	var r T
	if err := CheckID(what, id); err != nil {
		return r, 0, err
	}
	rev, found, err := Load(ctx, kv, Key(tenant, id), &r)
	if err != nil {
		return r, 0, apierr.Wrap(err, "load "+what)
	}
	if !found {
		return r, 0, apierr.New(apierr.NotFound, "no %s %q", what, id)
	}
	return r, rev, nil
}

// StoreRecord writes the tenant's record id as Store does (rev 0: create,
// else only if still at revision rev), with the errors a handler returns:
// Conflict (`rule "r1" changed concurrently; retry`) for a lost race,
// Internal for a storage failure. what names the kind of record.
func StoreRecord(ctx context.Context, kv jetstream.KeyValue, tenant, id string, v any, rev uint64, what string) (uint64, error) {
	newRev, err := Store(ctx, kv, Key(tenant, id), v, rev)
	switch {
	case Conflict(err):
		return 0, apierr.New(apierr.Conflict, "%s %q changed concurrently; retry", what, id)
	case err != nil:
		return 0, apierr.Wrap(err, "store "+what)
	}
	return newRev, nil
}

// DeleteRecord purges the tenant's record id if it is still at revision
// rev: Conflict (`rule "r1" changed concurrently; retry`) when it changed,
// Internal for a storage failure. what names the kind of record.
func DeleteRecord(ctx context.Context, kv jetstream.KeyValue, tenant, id string, rev uint64, what string) error {
	err := kv.Purge(ctx, Key(tenant, id), jetstream.LastRevision(rev))
	switch {
	case Conflict(err):
		return apierr.New(apierr.Conflict, "%s %q changed concurrently; retry", what, id)
	case err != nil:
		return apierr.Wrap(err, "delete "+what)
	}
	return nil
}

// SortByName sorts records by name, case-insensitively, then by id; key
// returns a record's name and id.
func SortByName[T any](recs []T, key func(*T) (name, id string)) {
	slices.SortFunc(recs, func(a, b T) int {
		an, ai := key(&a)
		bn, bi := key(&b)
		if c := strings.Compare(strings.ToLower(an), strings.ToLower(bn)); c != 0 {
			return c
		}
		return strings.Compare(ai, bi)
	})
}
