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
