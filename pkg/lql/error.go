package lql

import "fmt"

// Limits on a query, checked by Parse.
const (
	// MaxQueryBytes is the longest query, in bytes.
	MaxQueryBytes = 4096
	// MaxTerms is the most terms and fields a query may hold.
	MaxTerms = 64
	// MaxDepth is the deepest nesting of parentheses and negations. It keeps
	// the generated SQL within ClickHouse's parser limits.
	MaxDepth = 32
	// MaxRegexBytes is the longest regular expression, in bytes between
	// the slashes.
	MaxRegexBytes = 1024
	// MaxPatternBytes bounds the regular expressions and wildcards of a
	// query once compiled (classes like \pL expand to their ranges), a
	// bare one counted once per text it searches: every copy travels in
	// the SQL, which must stay within ClickHouse's max_query_size.
	MaxPatternBytes = 64 << 10
	// maxRegexCost bounds the automaton of a regular expression (see
	// regexCost), well within RE2's default memory budget in ClickHouse.
	maxRegexCost = 10_000
	// maxRegexInsts bounds a regular expression's program in Go's regexp,
	// whose matching time can be the text's length times the program's:
	// the worst takes ~50 ms on a 32 KiB text and ~0.5 s on a 256 KiB
	// message (the most an event holds) here, while realistic patterns (a
	// UUID's is ~40 instructions) take microseconds.
	maxRegexInsts = 200
)

// Error is a query the parser rejects. Its message is safe to show to the
// user who wrote the query.
type Error struct {
	// Pos is the byte offset in the query where the problem is.
	Pos int
	// Msg says what is wrong, in lower case.
	Msg string
}

// Error returns "at <Pos>: <Msg>".
func (e *Error) Error() string { return fmt.Sprintf("at %d: %s", e.Pos, e.Msg) }

func errorf(pos int, format string, args ...any) *Error {
	return &Error{Pos: pos, Msg: fmt.Sprintf(format, args...)}
}
