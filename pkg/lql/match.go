package lql

import (
	"strings"

	"github.com/sawmillhq/sawmill/pkg/event"
)

// matcher is a compiled node: match mirrors the node's SQL.
type matcher interface {
	match(e *event.Event) bool
}

func compileMatcher(n Node) matcher {
	switch n := n.(type) {
	case *Term:
		return termMatcher{newNeedle(n.Text)}
	case *Field:
		spec := lookupField(n.Name)
		switch spec.kind {
		case levelField:
			return exactMatcher{spec.col.get, canonicalLevel(n.Value)}
		case exactField:
			return exactMatcher{spec.col.get, n.Value}
		case textField:
			return textMatcher{spec.col.get, newNeedle(n.Value)}
		}
		return attrMatcher{n.Name, n.Value}
	case *Compare:
		if n.Name == "level" {
			lo, hi := severityRange(n.Op, n.Value)
			return severityMatcher{lo, hi}
		}
		return numMatcher{n.Name, compareFunc(n.Op), mustNumber(n.Value)}
	case *Wildcard, *Regex:
		var re textTest
		if w, ok := n.(*Wildcard); ok {
			re = newGlob(w)
		} else {
			re = compilePattern(patternOf(n))
		}
		name := patternName(n)
		switch spec := lookupField(name); {
		case name == "":
			return anyRegexMatcher{re}
		case spec.kind != attrField:
			return regexMatcher{spec.col.get, re}
		}
		return attrRegexMatcher{name, re}
	case *Exists:
		if spec := lookupField(n.Name); spec.kind != attrField {
			return nonEmptyMatcher{spec.col.get}
		}
		return hasMatcher{n.Name}
	case *Not:
		return notMatcher{compileMatcher(n.X)}
	case *And:
		return andMatcher(compileAll(n.Operands))
	case *Or:
		return orMatcher(compileAll(n.Operands))
	}
	return nil
}

func compileAll(ns []Node) []matcher {
	ms := make([]matcher, len(ns))
	for i, n := range ns {
		ms[i] = compileMatcher(n)
	}
	return ms
}

// termMatcher: the needle is in a text column or an attribute value.
type termMatcher struct{ n needle }

func (m termMatcher) match(e *event.Event) bool { return anyText(e, m.n.in) }

// anyText reports whether test holds for one of the texts a bare term
// searches: the text columns and the attribute values.
func anyText(e *event.Event, test func(string) bool) bool {
	for _, col := range textColumns {
		if test(col.get(e)) {
			return true
		}
	}
	for _, a := range e.Attrs {
		if test(a.Value) {
			return true
		}
	}
	return false
}

type exactMatcher struct {
	get   func(*event.Event) string
	value string
}

func (m exactMatcher) match(e *event.Event) bool { return m.get(e) == m.value }

type textMatcher struct {
	get func(*event.Event) string
	n   needle
}

func (m textMatcher) match(e *event.Event) bool { return m.n.in(m.get(e)) }

// attrMatcher: some attribute has exactly this key and value.
type attrMatcher struct{ key, value string }

func (m attrMatcher) match(e *event.Event) bool {
	for _, a := range e.Attrs {
		if a.Key == m.key && a.Value == m.value {
			return true
		}
	}
	return false
}

// severityMatcher: the severity number is within [lo, hi].
type severityMatcher struct{ lo, hi int32 }

func (m severityMatcher) match(e *event.Event) bool {
	return m.lo <= e.SeverityNumber && e.SeverityNumber <= m.hi
}

// numMatcher: some numeric attribute with the key compares with the number.
type numMatcher struct {
	key string
	cmp func(v, n float64) bool
	n   float64
}

func (m numMatcher) match(e *event.Event) bool {
	for _, a := range e.NumAttrs {
		if a.Key == m.key && m.cmp(a.Value, m.n) {
			return true
		}
	}
	return false
}

// compareFunc returns the comparison of a Compare's operator, IEEE like
// ClickHouse's on Float64 (false whenever NaN is involved).
func compareFunc(op string) func(v, n float64) bool {
	switch op {
	case "<":
		return func(v, n float64) bool { return v < n }
	case "<=":
		return func(v, n float64) bool { return v <= n }
	case ">":
		return func(v, n float64) bool { return v > n }
	case ">=":
		return func(v, n float64) bool { return v >= n }
	}
	return func(v, n float64) bool { return v == n }
}

// textTest is a compiled regular expression (*regexp.Regexp) or
// wildcard (*glob).
type textTest interface {
	MatchString(h string) bool
}

// glob is a wildcard matched without a regular expression, in time linear
// in the text for each piece (Go's regexp would take time proportional to
// the text times the pattern's length): exactly what its compiled pattern
// (wildcardPattern) matches, as FuzzWildcard checks.
type glob struct {
	// substring: the pieces, the empty ones left out, must occur in
	// order without overlapping; else the value is parts[0], then the
	// middle parts in order, then the last part.
	substring bool
	parts     []string
	pieces    []needle
}

func newGlob(w *Wildcard) *glob {
	parts, substring, fold := wildcardParts(w)
	g := &glob{substring: substring, parts: parts}
	for _, p := range parts {
		switch {
		case p == "":
		case fold:
			g.pieces = append(g.pieces, newNeedle(p))
		default:
			g.pieces = append(g.pieces, needle{text: p})
		}
	}
	return g
}

// MatchString reports whether the wildcard matches h. Taking each piece's
// first occurrence after the previous one is enough: any later one leaves
// less room for the pieces after it.
func (g *glob) MatchString(h string) bool {
	if g.substring {
		for i := range g.pieces {
			j := g.pieces[i].index(h)
			if j < 0 {
				return false
			}
			h = h[j+len(g.pieces[i].text):]
		}
		return true
	}
	first, last := g.parts[0], g.parts[len(g.parts)-1]
	if len(h) < len(first)+len(last) || !strings.HasPrefix(h, first) || !strings.HasSuffix(h, last) {
		return false
	}
	h = h[len(first) : len(h)-len(last)]
	for _, p := range g.parts[1 : len(g.parts)-1] {
		j := strings.Index(h, p)
		if j < 0 {
			return false
		}
		h = h[j+len(p):]
	}
	return true
}

// anyRegexMatcher: a text column or an attribute value matches.
type anyRegexMatcher struct{ re textTest }

func (m anyRegexMatcher) match(e *event.Event) bool { return anyText(e, m.re.MatchString) }

type regexMatcher struct {
	get func(*event.Event) string
	re  textTest
}

func (m regexMatcher) match(e *event.Event) bool { return m.re.MatchString(m.get(e)) }

// attrRegexMatcher: some string attribute with the key has a value that
// matches.
type attrRegexMatcher struct {
	key string
	re  textTest
}

func (m attrRegexMatcher) match(e *event.Event) bool {
	for _, a := range e.Attrs {
		if a.Key == m.key && m.re.MatchString(a.Value) {
			return true
		}
	}
	return false
}

type nonEmptyMatcher struct{ get func(*event.Event) string }

func (m nonEmptyMatcher) match(e *event.Event) bool { return m.get(e) != "" }

// hasMatcher: a string or numeric attribute has the key.
type hasMatcher struct{ key string }

func (m hasMatcher) match(e *event.Event) bool {
	for _, a := range e.Attrs {
		if a.Key == m.key {
			return true
		}
	}
	for _, a := range e.NumAttrs {
		if a.Key == m.key {
			return true
		}
	}
	return false
}

type notMatcher struct{ m matcher }

func (m notMatcher) match(e *event.Event) bool { return !m.m.match(e) }

type andMatcher []matcher

func (ms andMatcher) match(e *event.Event) bool {
	for _, m := range ms {
		if !m.match(e) {
			return false
		}
	}
	return true
}

type orMatcher []matcher

func (ms orMatcher) match(e *event.Event) bool {
	for _, m := range ms {
		if m.match(e) {
			return true
		}
	}
	return false
}
