package lql

import "github.com/sawmillhq/sawmill/pkg/textbloom"

// TextCond returns a condition every row SQL selects meets, as needles its
// search text holds — the text columns and the attribute values, joined by
// newlines, ASCII letters lowered (pkg/store SearchTextExpr) — for
// pkg/store's text blooms (Store.TextRanges), which narrow a search to the
// chunks of rows that may meet it. It is a filter, not the query: the rows
// selected are still exactly SQL's. ok is false when there is none (no
// positive term, or only negated or exact-field ones).
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

// foldRunes returns a non-nil slice when a folded text is not ASCII: all
// needleCond reads of needle.runes.
func foldRunes(fold bool, text string) []foldRune {
	if fold && !isASCII(text) {
		return []foldRune{}
	}
	return nil
}
