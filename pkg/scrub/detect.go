package scrub

import "strings"

// Rule identifies what redacted a value, for metrics.
type Rule int

// The rules a Scrubber counts by.
const (
	RuleKey Rule = iota
	RuleCardNumber
	RuleBearerToken
	RuleAWSKey
	RuleEmail
	RulePattern
	numRules
)

var ruleNames = [numRules]string{"key", "card_number", "bearer_token", "aws_access_key", "email", "pattern"}

// String returns the rule's metric label.
func (r Rule) String() string {
	if r < 0 || r >= numRules {
		return "unknown"
	}
	return ruleNames[r]
}

// AllRules lists every Rule, for pre-binding metric labels.
func AllRules() []Rule {
	return []Rule{RuleKey, RuleCardNumber, RuleBearerToken, RuleAWSKey, RuleEmail, RulePattern}
}

// detector finds the next span to redact in s at or after from; start < 0
// when there is none. Detectors are plain scanners: no regexp, no
// allocation.
type detector struct {
	rule Rule
	// minLen is the shortest text the detector can match: most attribute
	// values are shorter than any secret and skip the scan.
	minLen int
	next   func(s string, from int) (start, end int)
}

func detectorsFor(r Rules) []detector {
	var ds []detector
	if r.CardNumbers {
		ds = append(ds, detector{RuleCardNumber, 13, nextCard})
	}
	if r.BearerTokens {
		ds = append(ds, detector{RuleBearerToken, len("bearer ") + 8, nextBearer})
	}
	if r.AWSKeys {
		ds = append(ds, detector{RuleAWSKey, 20, nextAWSKey})
	}
	if r.Emails {
		ds = append(ds, detector{RuleEmail, len("a@b.cc"), nextEmail})
	}
	return ds
}

func isDigit(c byte) bool { return c >= '0' && c <= '9' }
func isUpper(c byte) bool { return c >= 'A' && c <= 'Z' }
func isLetter(c byte) bool {
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z')
}

// maxGroups bounds the digit groups of one run considered together.
const maxGroups = 16

// nextCard finds a card number: 13 to 19 digits, either contiguous or in
// groups of at least 3 digits separated by one space or dash, starting with
// 2–6 (Mastercard 2-series, Amex/Diners/JCB, Visa, Mastercard,
// Discover/UnionPay/Maestro; this skips epoch timestamps, which start with
// 1) and passing the Luhn check.
func nextCard(s string, from int) (int, int) {
	for i := from; i < len(s); {
		if !isDigit(s[i]) {
			i++
			continue
		}
		// Collect the run's groups: [starts[k], ends[k]).
		var starts, ends [maxGroups]int
		n, digits := 0, 0
		j := i
		for n < maxGroups {
			g := j
			for j < len(s) && isDigit(s[j]) {
				j++
			}
			starts[n], ends[n] = g, j
			n++
			digits += j - g
			if j+1 < len(s) && (s[j] == ' ' || s[j] == '-') && isDigit(s[j+1]) {
				j++
				continue
			}
			break
		}
		if digits < 13 { // most runs: line numbers, ids, timestamps' parts
			i = ends[n-1]
			continue
		}
		if st, en := cardIn(s, starts[:n], ends[:n]); st >= 0 {
			return st, en
		}
		i = ends[n-1]
	}
	return -1, -1
}

// cardIn returns the first, longest sequence of groups that is a card
// number.
func cardIn(s string, starts, ends []int) (int, int) {
	for a := range starts {
		for b := len(starts) - 1; b >= a; b-- {
			if isCard(s, starts[a:b+1], ends[a:b+1]) {
				return starts[a], ends[b]
			}
		}
	}
	return -1, -1
}

func isCard(s string, starts, ends []int) bool {
	digits := 0
	for k := range starts {
		l := ends[k] - starts[k]
		if len(starts) > 1 && l < 3 {
			return false
		}
		digits += l
	}
	if digits < 13 || digits > 19 {
		return false
	}
	if c := s[starts[0]]; c < '2' || c > '6' {
		return false
	}
	return luhn(s[starts[0]:ends[len(ends)-1]])
}

// luhn reports whether the digits of s (separators ignored) pass the Luhn
// check.
func luhn(s string) bool {
	sum, double := 0, false
	for i := len(s) - 1; i >= 0; i-- {
		c := s[i]
		if !isDigit(c) {
			continue
		}
		d := int(c - '0')
		if double {
			d *= 2
			if d > 9 {
				d -= 9
			}
		}
		sum += d
		double = !double
	}
	return sum%10 == 0
}

// nextBearer finds the token after "Bearer " (or "BEARER "/"bearer "): at
// least 8 characters of RFC 6750's b64token alphabet, with a digit or
// punctuation among them so that prose ("Bearer authentication") is left
// alone.
func nextBearer(s string, from int) (int, int) {
	for i := from; i < len(s); {
		k := indexEarer(s[i:])
		if k < 0 {
			return -1, -1
		}
		k += i
		i = k + 5
		if k == 0 || (s[k-1] != 'b' && s[k-1] != 'B') || (k >= 2 && isLetter(s[k-2])) {
			continue
		}
		j := i
		for j < len(s) && s[j] == ' ' {
			j++
		}
		if j == i {
			continue
		}
		st := j
		mixed := false
		for j < len(s) && isTokenChar(s[j]) {
			if !isLetter(s[j]) {
				mixed = true
			}
			j++
		}
		for j < len(s) && s[j] == '=' {
			j++
			mixed = true
		}
		if j-st >= 8 && mixed {
			return st, j
		}
	}
	return -1, -1
}

// indexEarer finds "earer" or "EARER".
func indexEarer(s string) int {
	a, b := strings.Index(s, "earer"), strings.Index(s, "EARER")
	switch {
	case a < 0:
		return b
	case b < 0:
		return a
	}
	return min(a, b)
}

func isTokenChar(c byte) bool {
	return isLetter(c) || isDigit(c) || c == '-' || c == '.' || c == '_' || c == '~' || c == '+' || c == '/'
}

// nextAWSKey finds an AWS access key id: AKIA (long-term) or ASIA
// (temporary) followed by 16 upper-case letters or digits, not inside a
// longer such word.
func nextAWSKey(s string, from int) (int, int) {
	for i := from; i < len(s); {
		a, b := strings.Index(s[i:], "AKIA"), strings.Index(s[i:], "ASIA")
		k := a
		if k < 0 || (b >= 0 && b < k) {
			k = b
		}
		if k < 0 {
			return -1, -1
		}
		k += i
		i = k + 4
		end := k + 20
		if end > len(s) || (k > 0 && isKeyChar(s[k-1])) || (end < len(s) && isKeyChar(s[end])) {
			continue
		}
		ok := true
		for j := k + 4; j < end; j++ {
			if !isKeyChar(s[j]) {
				ok = false
				break
			}
		}
		if ok {
			return k, end
		}
	}
	return -1, -1
}

func isKeyChar(c byte) bool { return isUpper(c) || isDigit(c) }

// nextEmail finds local@domain.tld: a local part of letters, digits and
// ._%+-, a domain of labels with a dot, ending in a label of at least two
// letters.
func nextEmail(s string, from int) (int, int) {
	for i := from; i < len(s); {
		k := strings.IndexByte(s[i:], '@')
		if k < 0 {
			return -1, -1
		}
		k += i
		i = k + 1
		st := k
		for st > from && isLocalChar(s[st-1]) {
			st--
		}
		end := k + 1
		for end < len(s) && (isLetter(s[end]) || isDigit(s[end]) || s[end] == '.' || s[end] == '-') {
			end++
		}
		for end > k+1 && (s[end-1] == '.' || s[end-1] == '-') {
			end--
		}
		if st == k || end == k+1 || !validDomain(s[k+1:end]) {
			continue
		}
		return st, end
	}
	return -1, -1
}

func isLocalChar(c byte) bool {
	return isLetter(c) || isDigit(c) || c == '.' || c == '_' || c == '%' || c == '+' || c == '-'
}

func validDomain(d string) bool {
	dot := strings.LastIndexByte(d, '.')
	if dot <= 0 || d[0] == '.' || d[0] == '-' {
		return false
	}
	tld := d[dot+1:]
	if len(tld) < 2 {
		return false
	}
	for i := 0; i < len(tld); i++ {
		if !isLetter(tld[i]) {
			return false
		}
	}
	return true
}
