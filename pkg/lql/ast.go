package lql

import (
	"strings"
)

// Node is a node of a parsed query: *Term, *Field, *Compare, *Wildcard,
// *Regex, *Exists, *Not, *And or *Or. Nodes
// are read-only once parsed; a Query's matcher is built from them at Parse.
type Node interface {
	// Pos is the byte offset in the query where the node starts.
	Pos() int
	// String renders the node in canonical LQL: parsing it gives back a
	// node equal to this one, positions aside.
	String() string
	node()
}

// Term is a bare word or quoted phrase: a case-insensitive substring of any
// text of the event (see the package documentation).
type Term struct {
	// Offset is where the node starts in the query, in bytes (see Pos); for
	// an And or Or, where its first operand starts.
	Offset int
	// Text is the searched text, quotes and escapes removed. Never empty.
	Text string
}

// Field is name:value.
type Field struct {
	Offset int // as in Term
	// Name is the field name as written ("env", "level", "http.status").
	Name string
	// Value is the value as written, quotes and escapes removed; for level
	// it is a name event.ParseLevel knows. It may be empty (name:"").
	Value string
}

// Compare is name:<op><value>, a comparison: of the numeric attribute name
// with a number, or, for level, of the severity number with a level's range.
type Compare struct {
	Offset int // as in Term
	// Name is the field name as written ("duration_ms", "level").
	Name string
	// Op is "<", "<=", ">", ">=" or "=".
	Op string
	// Value is the number as written ("1e3", "-0.5"), or for level a name
	// event.ParseLevel knows.
	Value string
}

// Wildcard is a bare word or an unquoted field value containing '*', which
// stands for any run of characters (none included).
type Wildcard struct {
	Offset int // as in Term
	// Name is the field name, or "" for a bare word (searched like a Term).
	Name string
	// Value is the word or value as written, with at least one '*'.
	Value string
}

// Regex is /pattern/ (searched like a Term) or name:/pattern/: an RE2
// regular expression.
type Regex struct {
	Offset int // as in Term
	// Name is the field name, or "" for a bare regular expression.
	Name string
	// Pattern is the text between the slashes, exactly as written.
	Pattern string
}

// Exists is has:name: the event has the field (a non-empty column, or an
// attribute with that key, string or numeric).
type Exists struct {
	Offset int // as in Term
	// Name is the field name or attribute key.
	Name string
}

// Not negates X ("-x" or "NOT x").
type Not struct {
	Offset int // as in Term
	X      Node
}

// And holds when every operand holds. It has at least two operands.
type And struct {
	Offset   int // as in Term
	Operands []Node
}

// Or holds when any operand holds. It has at least two operands.
type Or struct {
	Offset   int // as in Term
	Operands []Node
}

// Pos implements Node.
func (n *Term) Pos() int { return n.Offset }

// Pos implements Node.
func (n *Field) Pos() int { return n.Offset }

// Pos implements Node.
func (n *Compare) Pos() int { return n.Offset }

// Pos implements Node.
func (n *Wildcard) Pos() int { return n.Offset }

// Pos implements Node.
func (n *Regex) Pos() int { return n.Offset }

// Pos implements Node.
func (n *Exists) Pos() int { return n.Offset }

// Pos implements Node.
func (n *Not) Pos() int { return n.Offset }

// Pos implements Node.
func (n *And) Pos() int { return n.Offset }

// Pos implements Node.
func (n *Or) Pos() int { return n.Offset }

func (*Term) node()     {}
func (*Field) node()    {}
func (*Compare) node()  {}
func (*Wildcard) node() {}
func (*Regex) node()    {}
func (*Exists) node()   {}
func (*Not) node()      {}
func (*And) node()      {}
func (*Or) node()       {}

// String implements Node: the text, quoted when it would not parse back as
// a bare word.
func (n *Term) String() string { return quoteIfNeeded(n.Text) }

// String implements Node: name:value, the value quoted when needed.
func (n *Field) String() string { return n.Name + ":" + quoteIfNeeded(n.Value) }

// String implements Node: name:<op><value>.
func (n *Compare) String() string { return n.Name + ":" + n.Op + n.Value }

// String implements Node: the word, or name:value.
func (n *Wildcard) String() string { return prefix(n.Name) + n.Value }

// String implements Node: /pattern/ or name:/pattern/.
func (n *Regex) String() string { return prefix(n.Name) + "/" + n.Pattern + "/" }

// String implements Node: has:name, the name quoted unless it is a valid
// field name.
func (n *Exists) String() string {
	for i := 0; i < len(n.Name); i++ {
		if !validNameByte(n.Name[i]) {
			return "has:" + quote(n.Name)
		}
	}
	if n.Name == "" {
		return `has:""`
	}
	return "has:" + n.Name
}

// prefix returns "name:", or "" for no name.
func prefix(name string) string {
	if name == "" {
		return ""
	}
	return name + ":"
}

// String implements Node: "-x", or "NOT -x" for a double negation: "-(-x)" would
// nest one level deeper than the query that was parsed.
func (n *Not) String() string {
	switch n.X.(type) {
	case *Term, *Field, *Compare, *Wildcard, *Regex, *Exists:
		return "-" + n.X.String()
	case *Not:
		return "NOT " + n.X.String()
	}
	return "-(" + n.X.String() + ")"
}

// String implements Node: operands separated by spaces, nested And and Or
// operands parenthesised so that the structure survives a round trip.
func (n *And) String() string {
	parts := make([]string, len(n.Operands))
	for i, x := range n.Operands {
		switch x.(type) {
		case *And, *Or:
			parts[i] = "(" + x.String() + ")"
		default:
			parts[i] = x.String()
		}
	}
	return strings.Join(parts, " ")
}

// String implements Node: operands separated by " OR ", nested Or operands
// parenthesised.
func (n *Or) String() string {
	parts := make([]string, len(n.Operands))
	for i, x := range n.Operands {
		if _, ok := x.(*Or); ok {
			parts[i] = "(" + x.String() + ")"
		} else {
			parts[i] = x.String()
		}
	}
	return strings.Join(parts, " OR ")
}

// quoteIfNeeded returns s as a bare word when it would parse back as one,
// otherwise as a quoted phrase.
func quoteIfNeeded(s string) string {
	if isBareWord(s) {
		return s
	}
	return quote(s)
}

// quote returns s as a quoted phrase.
func quote(s string) string {
	var b strings.Builder
	b.Grow(len(s) + 2)
	b.WriteByte('"')
	for i := 0; i < len(s); i++ {
		if s[i] == '"' || s[i] == '\\' {
			b.WriteByte('\\')
		}
		b.WriteByte(s[i])
	}
	b.WriteByte('"')
	return b.String()
}

// isBareWord reports whether s, written unquoted, parses as a single term or
// value with text s: not a keyword, no character that ends a word or makes
// it a field or wildcard, and no first character that makes it a negation,
// regular expression or comparison.
func isBareWord(s string) bool {
	if s == "" || isKeyword(s) || strings.IndexByte("-/<>=", s[0]) >= 0 {
		return false
	}
	return !strings.ContainsAny(s, " \t\r\n\"():*|\\")
}

func isKeyword(s string) bool { return s == "AND" || s == "OR" || s == "NOT" }
