package scrub

import (
	"regexp"
	"strings"

	"github.com/sawmillhq/sawmill/pkg/event"
)

// Counts is how many values each Rule redacted, indexed by Rule.
type Counts [numRules]int

// Total is the number of redactions of every rule.
func (c *Counts) Total() int {
	n := 0
	for _, v := range c {
		n += v
	}
	return n
}

// Add adds o to c.
func (c *Counts) Add(o Counts) {
	for i, v := range o {
		c[i] += v
	}
}

// Scrubber is a compiled set of Rules. It is immutable and safe for
// concurrent use.
type Scrubber struct {
	rules     Rules
	keys      map[string]struct{} // folded keys
	keyBloom  [64]uint64          // keyHash bits of the keys: most non-keys miss here
	detectors []detector
	patterns  []*regexp.Regexp
}

// defaultScrubber is Defaults compiled; they are constant and valid.
var defaultScrubber = func() *Scrubber {
	s, err := Compile(Defaults())
	if err != nil {
		panic("scrub: default rules do not compile: " + err.Error())
	}
	return s
}()

// Default returns the compiled Defaults.
func Default() *Scrubber { return defaultScrubber }

// Rules returns the rules s was compiled from.
func (s *Scrubber) Rules() Rules { return s.rules }

// SensitiveKey reports whether an attribute key's value is redacted whole:
// whether its last dotted segment is one of the Keys.
func (s *Scrubber) SensitiveKey(key string) bool {
	if i := strings.LastIndexByte(key, '.'); i >= 0 {
		key = key[i+1:]
	}
	if len(key) == 0 || len(key) > MaxKeyBytes {
		return false
	}
	if h := keyHash(key); s.keyBloom[h/64]&(1<<(h%64)) == 0 {
		return false
	}
	var buf [MaxKeyBytes]byte
	_, ok := s.keys[string(foldKey(buf[:0], key))] // no allocation: map index by []byte conversion
	return ok
}

// Event redacts e in place: the values of sensitive attribute keys become
// Replacement (their numeric attributes are dropped), and the detectors and
// patterns replace the spans they match in the message, the string
// attribute values, and the exception message and stack. A numeric
// attribute whose string form was redacted is dropped too. It returns what
// it redacted. An event with nothing to redact is not modified and costs no
// allocation.
func (s *Scrubber) Event(e *event.Event) Counts {
	var c Counts
	e.Message = s.Text(e.Message, &c)
	e.Exception.Message = s.Text(e.Exception.Message, &c)
	e.Exception.Stack = s.Text(e.Exception.Stack, &c)
	attrsChanged := false
	for i := range e.Attrs {
		a := &e.Attrs[i]
		if s.SensitiveKey(a.Key) {
			a.Value = Replacement
			c[RuleKey]++
			attrsChanged = true
			continue
		}
		if v := s.Text(a.Value, &c); v != a.Value {
			a.Value = v
			attrsChanged = true
		}
	}
	if len(e.NumAttrs) > 0 {
		s.dropNumbers(e, attrsChanged, &c)
	}
	return c
}

// dropNumbers removes numeric attributes with a sensitive key or whose
// string form was redacted.
func (s *Scrubber) dropNumbers(e *event.Event, attrsChanged bool, c *Counts) {
	keep := e.NumAttrs[:0]
	for _, n := range e.NumAttrs {
		if s.SensitiveKey(n.Key) {
			if !hasAttr(e.Attrs, n.Key) {
				c[RuleKey]++ // counted here only when no string form was
			}
			continue
		}
		if attrsChanged && redactedAttr(e.Attrs, n.Key) {
			continue
		}
		keep = append(keep, n)
	}
	clear(e.NumAttrs[len(keep):])
	e.NumAttrs = keep
}

func hasAttr(attrs []event.Attr, key string) bool {
	for _, a := range attrs {
		if a.Key == key {
			return true
		}
	}
	return false
}

// redactedAttr reports whether the string attribute key was redacted; a
// formatted number never contains Replacement by itself.
func redactedAttr(attrs []event.Attr, key string) bool {
	for _, a := range attrs {
		if a.Key == key {
			return strings.Contains(a.Value, Replacement)
		}
	}
	return false
}

// Text returns t with every span the detectors and patterns match replaced
// by Replacement, adding what it replaced to c. It returns t itself, without
// allocating, when nothing matches.
func (s *Scrubber) Text(t string, c *Counts) string {
	if t == "" {
		return t
	}
	for _, d := range s.detectors {
		t = replaceSpans(t, d, c)
	}
	for _, re := range s.patterns {
		locs := re.FindAllStringIndex(t, -1)
		if len(locs) == 0 {
			continue
		}
		var b strings.Builder
		b.Grow(len(t))
		last := 0
		for _, l := range locs {
			if l[1] == l[0] {
				continue
			}
			b.WriteString(t[last:l[0]])
			b.WriteString(Replacement)
			last = l[1]
			c[RulePattern]++
		}
		b.WriteString(t[last:])
		t = b.String()
	}
	return t
}

func replaceSpans(t string, d detector, c *Counts) string {
	if len(t) < d.minLen {
		return t
	}
	st, en := d.next(t, 0)
	if st < 0 {
		return t
	}
	var b strings.Builder
	b.Grow(len(t))
	last := 0
	for st >= 0 {
		b.WriteString(t[last:st])
		b.WriteString(Replacement)
		last = en
		c[d.rule]++
		st, en = d.next(t, en)
	}
	b.WriteString(t[last:])
	return b.String()
}

// keyHash hashes a key's length and folded first and last bytes into
// 0..4095: cheap enough to run on every attribute key, and with a few dozen
// keys it rules out nearly every key that is not one of them.
func keyHash(key string) uint {
	first, last := foldByte(key[0]), foldByte(key[len(key)-1])
	return (uint(len(key))*7919 + uint(first)*131 + uint(last)) % 4096
}

func foldByte(c byte) byte {
	switch {
	case c >= 'A' && c <= 'Z':
		return c + 'a' - 'A'
	case c == '-':
		return '_'
	}
	return c
}
