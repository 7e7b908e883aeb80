package lql

import (
	"strings"
	"time"
)

// SearchTextColumn is the logs table's column holding every text a bare
// term searches — the text columns and the attribute values, joined by
// newlines — with ASCII letters lowered (migration 4 in pkg/store). One
// substring test on it rules a row out faster than a test per column.
const SearchTextColumn = "search_text"

// From returns the FROM and WHERE clauses that select the query's events of
// tenant in [from, to) from the logs table, and their arguments in order:
//
//	FROM logs [PREWHERE <Prewhere>] WHERE tenant_id = ? AND <time range> AND (<SQL>)
//
// The tenant predicate is always there. Callers may append " AND ..."
// conditions of their own, then GROUP BY, ORDER BY and so on.
func (q *Query) From(tenant string, from, to time.Time) (string, []any) {
	var c sqlCompiler
	c.b.WriteString(" FROM logs")
	if pre, args, ok := q.Prewhere(); ok {
		c.b.WriteString(" PREWHERE " + pre)
		c.args = append(c.args, args...)
	}
	// ts (seconds) prunes partitions and primary-key ranges; ts_ns is exact.
	c.b.WriteString(" WHERE tenant_id = ? AND ts >= toDateTime(?) AND ts <= toDateTime(?) AND ts_ns >= ? AND ts_ns < ?")
	c.args = append(c.args, tenant, from.Unix(), to.Unix(), from.UnixNano(), to.UnixNano())
	where, args := q.SQL()
	c.b.WriteString(" AND (" + where + ")")
	c.args = append(c.args, args...)
	return c.b.String(), c.args
}

// Prewhere returns a condition over SearchTextColumn that every row SQL
// selects also meets, and its arguments, for a PREWHERE clause: ClickHouse
// reads that one column first and the others only for the granules it
// leaves. It is a filter, not the query: callers still AND SQL into WHERE,
// so the rows selected are exactly SQL's. ok is false when no such
// condition helps (no positive term, or only negated or exact-field ones).
func (q *Query) Prewhere() (expr string, args []any, ok bool) {
	if q.root == nil {
		return "", nil, false
	}
	var c sqlCompiler
	if !c.prewhere(q.root) {
		return "", nil, false
	}
	return c.b.String(), c.args, true
}

// prewhere writes n's necessary condition over SearchTextColumn and
// reports whether it has one; when it has none, it writes nothing.
func (c *sqlCompiler) prewhere(n Node) bool {
	switch n := n.(type) {
	case *Term:
		return c.prewhereNeedle(newNeedle(n.Text))
	case *Field:
		if spec := lookupField(n.Name); spec.kind == textField {
			return c.prewhereNeedle(newNeedle(n.Value))
		}
		return false
	case *Wildcard:
		return c.prewhereWildcard(n)
	case *And:
		// Any operand's condition is necessary; AND those there are.
		var parts []sqlCompiler
		for _, x := range n.Operands {
			var p sqlCompiler
			if p.prewhere(x) {
				parts = append(parts, p)
			}
		}
		return c.join(parts, " AND ")
	case *Or:
		// Necessary only when every operand has one.
		parts := make([]sqlCompiler, 0, len(n.Operands))
		for _, x := range n.Operands {
			var p sqlCompiler
			if !p.prewhere(x) {
				return false
			}
			parts = append(parts, p)
		}
		return c.join(parts, " OR ")
	}
	return false // Not, and anything new: no condition
}

func (c *sqlCompiler) join(parts []sqlCompiler, sep string) bool {
	if len(parts) == 0 {
		return false
	}
	c.b.WriteByte('(')
	for i := range parts {
		if i > 0 {
			c.b.WriteString(sep)
		}
		c.b.WriteString(parts[i].b.String())
		c.args = append(c.args, parts[i].args...)
	}
	c.b.WriteByte(')')
	return true
}

// prewhereNeedle writes a case-sensitive substring test of the needle,
// ASCII-lowered, on SearchTextColumn. It is necessary for every needle
// contains accepts except a case-insensitive non-ASCII one (ClickHouse's
// lower leaves non-ASCII letters as they are, so "É" in a column would not
// be found by "é" in the lowered text): those get no condition.
//   - case-sensitive (position): the column holds the needle, so the
//     lowered text holds the lowered needle, lowering acting on ASCII bytes
//     alone and UTF-8's multi-byte sequences having no ASCII bytes;
//   - ASCII case-insensitive (positionCaseInsensitive): equal up to ASCII
//     case means equal once both are ASCII-lowered.
func (c *sqlCompiler) prewhereNeedle(n needle) bool {
	if n.fold && n.runes != nil || n.text == "" {
		return false
	}
	// LIKE rather than position: an ngram bloom-filter index on the column
	// (modern ClickHouse, pkg/store migration 5) serves LIKE.
	c.b.WriteString(SearchTextColumn + " LIKE ?")
	c.args = append(c.args, "%"+likeEscape(asciiLower(n.text))+"%")
	return true
}

// likeEscape escapes LIKE's metacharacters so that s matches itself.
func likeEscape(s string) string {
	if !strings.ContainsAny(s, `%_\`) {
		return s
	}
	var b strings.Builder
	for _, r := range s {
		if r == '%' || r == '_' || r == '\\' {
			b.WriteByte('\\')
		}
		b.WriteRune(r)
	}
	return b.String()
}

// prewhereWildcard writes, for a wildcard, the AND of prewhereNeedle's
// condition for each of its pieces between the '*'s: whatever text the
// wildcard matches (a column or an attribute value, all in
// SearchTextColumn) holds every piece, case-sensitively or, when folded,
// up to ASCII case. A folded piece with non-ASCII letters gets no condition,
// as in prewhereNeedle.
func (c *sqlCompiler) prewhereWildcard(n *Wildcard) bool {
	parts, _, fold := wildcardParts(n)
	var conds []sqlCompiler
	for _, part := range parts {
		var p sqlCompiler
		if p.prewhereNeedle(needle{text: part, fold: fold, runes: foldRunes(fold, part)}) {
			conds = append(conds, p)
		}
	}
	return c.join(conds, " AND ")
}

// foldRunes returns a non-nil slice when a folded text is not ASCII: all
// prewhereNeedle reads of needle.runes.
func foldRunes(fold bool, text string) []foldRune {
	if fold && !isASCII(text) {
		return []foldRune{}
	}
	return nil
}
