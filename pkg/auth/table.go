package auth

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"sync"
	"time"
)

// KeyTable is the in-memory copy of the keys KV bucket that every edge
// authenticates against. The bus feeds it (Apply) from a KV watch, so a
// revoked key disappears on every node as soon as the watch delivers the
// delete. It is safe for concurrent use.
type KeyTable struct {
	mu   sync.RWMutex
	keys map[string]Key
	// changed is closed and replaced on every put, waking Wait.
	changed chan struct{}
}

// NewKeyTable returns an empty table.
func NewKeyTable() *KeyTable {
	return &KeyTable{keys: make(map[string]Key), changed: make(chan struct{})}
}

// KVKey returns the keys-bucket key of an API key: "<tenant>.<key id>", so
// that a tenant's keys are listed with the filter "<tenant>.*" and one tenant
// can never address another's key.
func KVKey(tenantID, keyID string) string { return tenantID + "." + keyID }

// Apply records a KV change of the keys bucket: a put of a JSON-encoded Key
// under KVKey, or a delete (deleted true). A value that does not decode is an
// error and leaves the table unchanged.
func (t *KeyTable) Apply(kvKey string, value []byte, deleted bool) error {
	id := kvKey[strings.LastIndexByte(kvKey, '.')+1:]
	if deleted {
		t.mu.Lock()
		delete(t.keys, id)
		t.mu.Unlock()
		return nil
	}
	var k Key
	if err := json.Unmarshal(value, &k); err != nil {
		return fmt.Errorf("decode key %s: %w", id, err)
	}
	t.mu.Lock()
	t.keys[id] = k
	close(t.changed)
	t.changed = make(chan struct{})
	t.mu.Unlock()
	return nil
}

// Lookup returns the key with the given id.
func (t *KeyTable) Lookup(id string) (Key, bool) {
	t.mu.RLock()
	k, ok := t.keys[id]
	t.mu.RUnlock()
	return k, ok
}

// Wait returns the key with the given id, waiting up to d (or until ctx
// ends) for the KV watch to deliver it. A key created on another node moments
// ago (signup, then an immediate first request) is still in flight on the
// watch; waiting on local state covers that without a network call.
func (t *KeyTable) Wait(ctx context.Context, id string, d time.Duration) (Key, bool) {
	timer := time.NewTimer(d)
	defer timer.Stop()
	for {
		t.mu.RLock()
		k, ok := t.keys[id]
		changed := t.changed
		t.mu.RUnlock()
		if ok {
			return k, true
		}
		select {
		case <-changed:
		case <-timer.C:
			return Key{}, false
		case <-ctx.Done():
			return Key{}, false
		}
	}
}

// Len returns the number of keys held.
func (t *KeyTable) Len() int {
	t.mu.RLock()
	defer t.mu.RUnlock()
	return len(t.keys)
}
