package main

import (
	"testing"
	"time"

	"github.com/sawmillhq/sawmill/pkg/auth"
)

// expiredToken returns a validly signed session that expired a minute ago.
func expiredToken(t *testing.T, s *auth.Sessions) string {
	t.Helper()
	tok, _, err := s.IssueAt(time.Now().Add(-2*time.Hour), "u1", "t1", []auth.Scope{auth.ScopeAdmin})
	if err != nil {
		t.Fatal(err)
	}
	return tok
}
