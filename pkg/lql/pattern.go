package lql

import (
	"errors"
	"fmt"
	"math"
	"regexp"
	"regexp/syntax"
	"strconv"
	"strings"
	"unicode"
)

// Regular expressions and wildcards run on two engines: Go's regexp in
// Match and RE2 in ClickHouse's match(). Both implement RE2 syntax, but
// their Unicode tables (classes like \pL, case folding under (?i)) and
// defaults (ClickHouse's "." matches a newline) differ between ClickHouse
// releases and Go. So the pattern is never sent as written: it is parsed
// with Go's regexp/syntax ("." matching a newline, as in ClickHouse),
// every case-insensitive literal is replaced by the explicit class of its
// case variants (Go's simple folding orbit), and the tree is rendered back
// with regexp/syntax's String, in which every class is an explicit list of
// ranges and every flag explicit. Both engines then run that same rendered
// text, which leaves neither a table nor a default to disagree on.

// wildcardPattern returns the rendered regular expression of a wildcard:
//   - a bare word or a textField value (message:, exception.type:,
//     exception.message:) is searched like a term: some substring of the
//     text matches, '*' matching any run of characters and the rest
//     case-insensitively by exactly a term's rules (needle);
//   - any other field value must match the whole value, case-sensitively,
//     as field:value compares.
func wildcardPattern(n *Wildcard) string {
	parts, substring, fold := wildcardParts(n)
	var subs []*syntax.Regexp
	if !substring {
		subs = append(subs, &syntax.Regexp{Op: syntax.OpBeginText})
	}
	for i, part := range parts {
		if i > 0 {
			subs = append(subs, &syntax.Regexp{Op: syntax.OpStar, Sub: []*syntax.Regexp{{Op: syntax.OpAnyChar}}})
		}
		for _, r := range part {
			alt := r
			if fold {
				alt = foldAlternative(r)
			}
			subs = append(subs, runeClass(r, alt))
		}
	}
	if !substring {
		subs = append(subs, &syntax.Regexp{Op: syntax.OpEndText})
	}
	return (&syntax.Regexp{Op: syntax.OpConcat, Sub: subs}).String()
}

// wildcardParts returns the pieces of a wildcard between its '*'s, whether
// it is searched as a substring (a bare word, a textField value) rather
// than matched against a whole value, and whether its pieces fold (a
// substring whose cased characters all fold, as for a needle).
func wildcardParts(n *Wildcard) (parts []string, substring, fold bool) {
	parts = strings.Split(n.Value, "*")
	substring = n.Name == "" || lookupField(n.Name).kind == textField
	return parts, substring, substring && foldable(strings.Join(parts, ""))
}

// runeClass returns a node matching exactly the runes given.
func runeClass(rs ...rune) *syntax.Regexp {
	rs = uniqueRunes(rs)
	if len(rs) == 1 {
		return &syntax.Regexp{Op: syntax.OpLiteral, Rune: rs}
	}
	class := make([]rune, 0, 2*len(rs))
	for _, r := range rs {
		class = append(class, r, r)
	}
	return &syntax.Regexp{Op: syntax.OpCharClass, Rune: class}
}

// uniqueRunes sorts rs and drops repeats.
func uniqueRunes(rs []rune) []rune {
	out := make([]rune, 0, len(rs))
	for _, r := range rs {
		i := 0
		for i < len(out) && out[i] < r {
			i++
		}
		if i < len(out) && out[i] == r {
			continue
		}
		out = append(out[:i], append([]rune{r}, out[i:]...)...)
	}
	return out
}

// renderRegex parses a regular expression written at pos in the query and
// returns it rendered for both engines (see above), or a positioned error
// when it does not parse, uses what the engines do not share, or is too
// complex.
func renderRegex(pattern string, pos int) (string, error) {
	re, err := syntax.Parse(pattern, syntax.Perl|syntax.DotNL)
	if err != nil {
		var se *syntax.Error
		if errors.As(err, &se) {
			at := pos
			if i := strings.Index(pattern, se.Expr); i >= 0 && se.Expr != "" {
				at += i
			}
			return "", errorf(at, "invalid regular expression: %s: %q", se.Code, se.Expr)
		}
		return "", errorf(pos, "invalid regular expression: %v", err)
	}
	if regexCost(re) > maxRegexCost {
		return "", errorf(pos, "regular expression is too complex (over %d states): use fewer repetitions or smaller classes", maxRegexCost)
	}
	// Go's regexp takes time proportional to the text times the program:
	// bound the program, for the live tail's sake.
	if prog, err := syntax.Compile(re.Simplify()); err != nil || len(prog.Inst) > maxRegexInsts {
		return "", errorf(pos, "regular expression is too complex (over %d instructions): use fewer repetitions", maxRegexInsts)
	}
	unfold(re)
	return re.String(), nil
}

// unfold replaces each case-insensitive literal of re by literals and
// classes of each rune's simple folding orbit, which is what Go matches,
// and each capturing group by its contents (matching captures nothing, and
// group names are syntax the engines need not share).
func unfold(re *syntax.Regexp) {
	for _, sub := range re.Sub {
		unfold(sub)
	}
	if re.Op == syntax.OpCapture {
		*re = *re.Sub[0]
		return
	}
	if re.Op != syntax.OpLiteral || re.Flags&syntax.FoldCase == 0 {
		return
	}
	subs := make([]*syntax.Regexp, len(re.Rune))
	for i, r := range re.Rune {
		orbit := []rune{r}
		for f := unicode.SimpleFold(r); f != r; f = unicode.SimpleFold(f) {
			orbit = append(orbit, f)
		}
		subs[i] = runeClass(orbit...)
	}
	*re = syntax.Regexp{Op: syntax.OpConcat, Sub: subs}
	if len(subs) == 1 {
		*re = *subs[0]
	}
}

// regexCost bounds the size of the automaton RE2 builds for re, without
// building anything (simplifying (a{1000}){1000} would): a rune per literal
// rune, a class its ranges (RE2 compiles each to UTF-8 byte sequences), one
// for any other node, a repetition its operand as often as it may repeat.
// It stops counting past maxRegexCost.
func regexCost(re *syntax.Regexp) int {
	switch re.Op {
	case syntax.OpLiteral:
		return len(re.Rune)
	case syntax.OpCharClass:
		return 1 + len(re.Rune)/2
	case syntax.OpRepeat:
		n := re.Max
		if n < 0 { // x{n,}: n copies and a star
			n = re.Min + 1
		}
		sub := regexCost(re.Sub[0])
		if n > 0 && sub > (maxRegexCost+1)/n {
			return maxRegexCost + 1
		}
		return 1 + sub*n
	}
	n := 1
	for _, sub := range re.Sub {
		if n += regexCost(sub); n > maxRegexCost {
			return maxRegexCost + 1
		}
	}
	return n
}

// compilePattern compiles a rendered pattern for Match. Parse validated it,
// so an error is a bug.
func compilePattern(rendered string) *regexp.Regexp {
	re, err := regexp.Compile(rendered)
	if err != nil {
		panic(fmt.Sprintf("lql: rendered pattern %q does not compile: %v", rendered, err))
	}
	return re
}

// patternOf returns the rendered pattern of a Regex or Wildcard node that
// Parse accepted.
func patternOf(n Node) string {
	switch n := n.(type) {
	case *Wildcard:
		return wildcardPattern(n)
	case *Regex:
		s, err := renderRegex(n.Pattern, 0)
		if err != nil {
			panic(fmt.Sprintf("lql: accepted pattern %q: %v", n.Pattern, err))
		}
		return s
	}
	panic(fmt.Sprintf("lql: %T has no pattern", n))
}

// parseNumber parses the operand of a numeric comparison written at pos
// after op: decimal digits with an optional sign, fraction and exponent
// (42, -0.5, 1e3, .5). It rejects what would not survive the trip to
// ClickHouse unchanged: NaN and infinities (the events hold none), numbers
// beyond ±1.7976931348623157e308, and non-zero numbers closer to zero than
// 2.2250738585072014e-308 (ClickHouse 18.16 cannot read subnormal literals).
func parseNumber(s string, pos int, op string) (float64, error) {
	if !numberSyntax.MatchString(s) {
		if s == "" {
			return 0, errorf(pos, "expected a number after %q", op)
		}
		return 0, errorf(pos, "expected a number after %q, not %q; quote the value to search for %q", op, s, op+s)
	}
	f, err := strconv.ParseFloat(s, 64)
	if err != nil || math.IsInf(f, 0) {
		return 0, errorf(pos, "number %s is out of range (beyond ±1.7976931348623157e308)", s)
	}
	if f != 0 && math.Abs(f) < 0x1p-1022 {
		return 0, errorf(pos, "number %s is too close to zero (under 2.2250738585072014e-308): use 0", s)
	}
	return f, nil
}

// numberSyntax is the form of a comparison's number.
var numberSyntax = regexp.MustCompile(`^[+-]?(?:[0-9]+(?:\.[0-9]*)?|\.[0-9]+)(?:[eE][+-]?[0-9]+)?$`)

// mustNumber returns the number of a Compare that Parse accepted.
func mustNumber(s string) float64 {
	f, err := strconv.ParseFloat(s, 64)
	if err != nil {
		panic(fmt.Sprintf("lql: accepted number %q: %v", s, err))
	}
	return f
}
