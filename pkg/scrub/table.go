package scrub

import (
	"bytes"
	"encoding/json"
	"fmt"
	"sync"
)

// DecodeRules decodes a tenant's rules from JSON. Fields the JSON omits keep
// their Defaults (so {"emails": true} means the defaults plus e-mails; send
// "keys": [] to redact no keys). Unknown fields are an error, and so is
// anything Compile refuses.
func DecodeRules(data []byte) (Rules, error) {
	r := Defaults()
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&r); err != nil {
		return Rules{}, fmt.Errorf("decode rules: %w", err)
	}
	if dec.More() {
		return Rules{}, fmt.Errorf("decode rules: more than one JSON value")
	}
	if r.Keys == nil {
		r.Keys = []string{}
	}
	if r.Patterns == nil {
		r.Patterns = []Pattern{}
	}
	return r, r.Validate()
}

// Table holds every tenant's compiled rules; tenants without rules get
// Default. Feed it with Apply (e.g. from bus.Follow on the scrubbing
// bucket). It is safe for concurrent use.
type Table struct {
	mu sync.RWMutex
	m  map[string]*Scrubber
}

// NewTable returns an empty table.
func NewTable() *Table { return &Table{m: map[string]*Scrubber{}} }

// Apply records a KV change of the scrubbing bucket: a put of a tenant's
// JSON Rules under the tenant id, or a delete (back to the defaults). A
// value that does not decode or compile is an error and leaves the tenant's
// current rules in place.
func (t *Table) Apply(tenantID string, value []byte, deleted bool) error {
	if deleted {
		t.mu.Lock()
		delete(t.m, tenantID)
		t.mu.Unlock()
		return nil
	}
	r, err := DecodeRules(value)
	if err != nil {
		return fmt.Errorf("tenant %s: %w", tenantID, err)
	}
	s, err := Compile(r)
	if err != nil {
		return fmt.Errorf("tenant %s: %w", tenantID, err)
	}
	t.mu.Lock()
	t.m[tenantID] = s
	t.mu.Unlock()
	return nil
}

// For returns the scrubber of tenantID: its own rules, or Default.
func (t *Table) For(tenantID string) *Scrubber {
	t.mu.RLock()
	s, ok := t.m[tenantID]
	t.mu.RUnlock()
	if !ok {
		return Default()
	}
	return s
}

// Custom reports whether tenantID has rules of its own.
func (t *Table) Custom(tenantID string) bool {
	t.mu.RLock()
	_, ok := t.m[tenantID]
	t.mu.RUnlock()
	return ok
}
