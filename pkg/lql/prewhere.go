package lql

import (
	"strings"
	"time"

	"github.com/sawmillhq/sawmill/pkg/textbloom"
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
// It is TextCond written as LIKE tests.
func (q *Query) Prewhere() (expr string, args []any, ok bool) {
	cond, ok := q.TextCond()
	if !ok {
		return "", nil, false
	}
	var c sqlCompiler
	c.like(cond)
	return c.b.String(), c.args, true
}

// TextCond returns the condition Prewhere tests, as needles the ASCII-
// lowered search text of every row SQL selects holds: for Prewhere, and
// for pkg/store's text blooms (Store.TextRanges). ok is false when there
// is none.
func (q *Query) TextCond() (textbloom.Cond, bool) {
	if q.root == nil {
		return textbloom.Cond{}, false
	}
	return textCond(q.root)
}

// textCond returns n's necessary condition on the search text, if it has
// one.
func textCond(n Node) (textbloom.Cond, bool) {
	switch n := n.(type) {
	case *Term:
		return needleCond(newNeedle(n.Text))
	case *Field:
		if spec := lookupField(n.Name); spec.kind == textField {
			return needleCond(newNeedle(n.Value))
		}
	case *Wildcard:
		// Whatever text the wildcard matches (a column or an attribute
		// value, all in the search text) holds every piece between the
		// '*'s, case-sensitively or, when folded, up to ASCII case.
		parts, _, fold := wildcardParts(n)
		var all []textbloom.Cond
		for _, part := range parts {
			if c, ok := needleCond(needle{text: part, fold: fold, runes: foldRunes(fold, part)}); ok {
				all = append(all, c)
			}
		}
		return textbloom.Cond{All: all}, len(all) > 0
	case *And:
		// Any operand's condition is necessary; AND those there are.
		var all []textbloom.Cond
		for _, x := range n.Operands {
			if c, ok := textCond(x); ok {
				all = append(all, c)
			}
		}
		return textbloom.Cond{All: all}, len(all) > 0
	case *Or:
		// Necessary only when every operand has one.
		anyOf := make([]textbloom.Cond, 0, len(n.Operands))
		for _, x := range n.Operands {
			c, ok := textCond(x)
			if !ok {
				return textbloom.Cond{}, false
			}
			anyOf = append(anyOf, c)
		}
		return textbloom.Cond{Any: anyOf}, len(anyOf) > 0
	}
	return textbloom.Cond{}, false // Not, and anything new: no condition
}

// needleCond is the needle, ASCII-lowered, as a condition on the search
// text. It is necessary for every needle contains accepts except a
// case-insensitive non-ASCII one (ClickHouse's lower leaves non-ASCII
// letters as they are, so "É" in a column would not be found by "é" in the
// lowered text): those get none.
//   - case-sensitive (position): the column holds the needle, so the
//     lowered text holds the lowered needle, lowering acting on ASCII bytes
//     alone and UTF-8's multi-byte sequences having no ASCII bytes;
//   - ASCII case-insensitive (positionCaseInsensitive): equal up to ASCII
//     case means equal once both are ASCII-lowered.
func needleCond(n needle) (textbloom.Cond, bool) {
	if n.fold && n.runes != nil || n.text == "" {
		return textbloom.Cond{}, false
	}
	return textbloom.Cond{Needle: asciiLower(n.text)}, true
}

// like writes cond as LIKE tests on SearchTextColumn. LIKE rather than
// position: an ngram bloom-filter index on the column (modern ClickHouse,
// pkg/store migration 5) serves LIKE.
func (c *sqlCompiler) like(cond textbloom.Cond) {
	parts, sep := cond.All, " AND "
	if cond.Any != nil {
		parts, sep = cond.Any, " OR "
	}
	if parts == nil {
		c.b.WriteString(SearchTextColumn + " LIKE ?")
		c.args = append(c.args, "%"+likeEscape(cond.Needle)+"%")
		return
	}
	parenList(c, parts, sep, c.like)
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

// foldRunes returns a non-nil slice when a folded text is not ASCII: all
// needleCond reads of needle.runes.
func foldRunes(fold bool, text string) []foldRune {
	if fold && !isASCII(text) {
		return []foldRune{}
	}
	return nil
}
