package ingest

import "github.com/sawmillhq/sawmill/pkg/apierr"

// suspended refuses a tenant the operator suspended, or whose account
// deletion is under way, with 403 permission_denied; nil otherwise. It
// reads only the edge's tenant directory (followed from the tenants
// bucket), so a suspension reaches every edge as fast as the KV watch
// delivers it. A tenant the directory does not know is let through: its
// record may not have arrived yet, and authentication already vouched for
// it.
func (e *Edge) suspended(tenantID string) error {
	if e.tenants == nil {
		return nil
	}
	t, ok := e.tenants.Get(tenantID)
	switch {
	case !ok:
		return nil
	case t.Deleted:
		return apierr.New(apierr.PermissionDenied, "tenant deleted")
	case t.Suspended:
		reason := t.SuspendedReason
		if reason == "" {
			reason = "contact support"
		}
		return apierr.New(apierr.PermissionDenied, "tenant suspended: %s", reason)
	}
	return nil
}
