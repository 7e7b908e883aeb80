// Package tenant provides the tenant and user records of the control plane
// (as stored, JSON-encoded, in the tenants and users KV buckets) and a
// Directory: the in-memory copy of the tenants bucket that edges and queries
// consult without a network call. It must not import any service package.
package tenant

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"strings"
	"sync"
	"time"
)

// DefaultRetentionDays is the retention class of tenants whose plan sets none.
const DefaultRetentionDays = 30

// Tenant is an organisation: the unit of isolation and billing.
type Tenant struct {
	ID            string    `json:"id"` // "t" + lower base32; safe in NATS subjects and KV keys
	Name          string    `json:"name"`
	Plan          string    `json:"plan"`
	RetentionDays int       `json:"retention_days"`
	CreatedAt     time.Time `json:"created_at"`
	// PlanChanges records every plan change after signup, oldest first,
	// for prorated invoices.
	PlanChanges []PlanChange `json:"plan_changes,omitempty"`
	// SpendCapCents caps the overage a paid plan may accrue per period
	// (0: none); once reached, ingest is refused until the period ends.
	SpendCapCents int64 `json:"spend_cap_cents,omitempty"`
	// Suspended tenants are refused ingest and queries (operator action).
	Suspended       bool   `json:"suspended,omitempty"`
	SuspendedReason string `json:"suspended_reason,omitempty"`
	// Deleted marks a tenant whose account deletion is under way.
	Deleted bool `json:"deleted,omitempty"`
}

// PlanChange is one change of a tenant's plan.
type PlanChange struct {
	From string    `json:"from"`
	To   string    `json:"to"`
	At   time.Time `json:"at"`
}

// User is a person who logs in to manage a tenant.
type User struct {
	ID           string    `json:"id"`
	Email        string    `json:"email"`
	TenantID     string    `json:"tenant_id"`
	PasswordHash string    `json:"password_hash"` // bcrypt
	CreatedAt    time.Time `json:"created_at"`
}

// NormalizeEmail returns the canonical form e-mail uniqueness is decided on.
func NormalizeEmail(email string) string { return strings.ToLower(strings.TrimSpace(email)) }

// EmailKey returns the users-bucket key for an e-mail address: a hash, since
// KV keys cannot hold "@" and the address should not be a key in clear.
func EmailKey(email string) string {
	h := sha256.Sum256([]byte(NormalizeEmail(email)))
	return "e" + hex.EncodeToString(h[:])
}

// Directory is the in-memory copy of the tenants bucket. It is safe for
// concurrent use.
type Directory struct {
	mu sync.RWMutex
	m  map[string]Tenant
}

// NewDirectory returns an empty directory.
func NewDirectory() *Directory { return &Directory{m: map[string]Tenant{}} }

// Apply records a KV change of the tenants bucket.
func (d *Directory) Apply(id string, value []byte, deleted bool) error {
	d.mu.Lock()
	defer d.mu.Unlock()
	if deleted {
		delete(d.m, id)
		return nil
	}
	var t Tenant
	if err := json.Unmarshal(value, &t); err != nil {
		return fmt.Errorf("decode tenant %s: %w", id, err)
	}
	d.m[id] = t
	return nil
}

// Get returns a tenant by id.
func (d *Directory) Get(id string) (Tenant, bool) {
	d.mu.RLock()
	defer d.mu.RUnlock()
	t, ok := d.m[id]
	return t, ok
}

// RetentionDays returns the tenant's retention class, DefaultRetentionDays
// when the tenant is unknown or sets none.
func (d *Directory) RetentionDays(id string) int {
	if t, ok := d.Get(id); ok && t.RetentionDays > 0 {
		return t.RetentionDays
	}
	return DefaultRetentionDays
}

// All returns every tenant, in no particular order.
func (d *Directory) All() []Tenant {
	d.mu.RLock()
	defer d.mu.RUnlock()
	out := make([]Tenant, 0, len(d.m))
	for _, t := range d.m {
		out = append(out, t)
	}
	return out
}
