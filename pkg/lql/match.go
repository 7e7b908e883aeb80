package lql

import "github.com/sawmillhq/sawmill/pkg/event"

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

func (m termMatcher) match(e *event.Event) bool {
	for _, col := range textColumns {
		if m.n.in(col.get(e)) {
			return true
		}
	}
	for _, a := range e.Attrs {
		if m.n.in(a.Value) {
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
