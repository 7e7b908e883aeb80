package scrub

import "strings"

// nextKeyValue finds the value of a sensitive key written inline in text:
// password=hunter2, ?token=abc&, "api_key": "xyz", Authorization: Basic
// dXNlcg==. The key is the identifier before '=' or ':' (optionally
// quoted); the value is the quoted string after it, or the unquoted word
// (up to white space or one of &,;)}]"'), or the word after an auth scheme
// (Basic, Bearer, Digest, Token, ApiKey), which is kept. Values already
// redacted are skipped, so the scan is idempotent.
func (s *Scrubber) nextKeyValue(t string, from int) (int, int) {
	for i := from; i < len(t); {
		k := i
		for k < len(t) && t[k] != '=' && t[k] != ':' {
			k++
		}
		if k == len(t) {
			return -1, -1
		}
		i = k + 1
		e := k
		if e > from && (t[e-1] == '"' || t[e-1] == '\'') {
			e--
		}
		st := e
		for st > from && isKeyNameChar(t[st-1]) {
			st--
		}
		if st == e || !s.SensitiveKey(t[st:e]) {
			continue
		}
		if vs, ve := inlineValue(t, k+1); ve > vs {
			return vs, ve
		}
	}
	return -1, -1
}

func isKeyNameChar(c byte) bool {
	return isLetter(c) || isDigit(c) || c == '_' || c == '-' || c == '.'
}

// inlineValue returns the span of the value starting at or after v.
func inlineValue(t string, v int) (int, int) {
	for v < len(t) && t[v] == ' ' {
		v++
	}
	if v >= len(t) || strings.HasPrefix(t[v:], Replacement) {
		return v, v
	}
	if q := t[v]; q == '"' || q == '\'' {
		st := v + 1
		for j := st; j < len(t); j++ {
			switch t[j] {
			case '\\':
				j++
			case q:
				if t[st:j] == Replacement {
					return j, j
				}
				return st, j
			}
		}
		if t[st:] == Replacement {
			return len(t), len(t)
		}
		return st, len(t)
	}
	end := wordEnd(t, v)
	if isAuthScheme(t[v:end]) && end+1 < len(t) && t[end] == ' ' {
		// Keep the scheme: "Authorization: Basic [REDACTED]".
		return inlineValue(t, end+1)
	}
	return v, end
}

func wordEnd(t string, i int) int {
	for i < len(t) && !strings.ContainsRune(" \t\r\n&,;)}]\"'", rune(t[i])) {
		i++
	}
	return i
}

func isAuthScheme(w string) bool {
	for _, s := range []string{"basic", "bearer", "digest", "token", "apikey"} {
		if strings.EqualFold(w, s) {
			return true
		}
	}
	return false
}
