package scrub

import (
	"strings"
	"testing"
)

// FuzzText checks the scanners on arbitrary text: no panic, output equals
// input when nothing was counted, a second pass finds nothing more (the
// default detectors never match their own Replacement), and no Luhn-valid
// card number starting like one survives ungrouped.
func FuzzText(f *testing.F) {
	for _, s := range []string{
		"paid with 4111111111111111 ok",
		"card 4111 1111 1111 1111.",
		"qty 12 4111-1111-1111-1111 x 5500005555555559",
		"Authorization: Bearer eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxIn0.abc_DEF-123==",
		"key AKIAIOSFODNN7EXAMPLE ASIAY34FZKBOKMUTVV7A",
		"mail ana.b+x@example.co.uk. @@ a@b.c",
		`{"asctime": "2026-11-26 10:15:30,123", "levelname": "INFO", "message": "GET /api/orders/ 200"}`,
		"Traceback (most recent call last):\n  File \"/app/views.py\", line 42\nValueError: 1732612345678",
		"bearer bearer  BEARER x1234567-",
		`POST /login?user=bob&password=hunter2 {"api_key": "k-1\"x"} Authorization: Basic dXNlcg== password="abc`,
	} {
		f.Add(s)
	}
	all := Defaults()
	all.Emails = true
	s, err := Compile(all)
	if err != nil {
		f.Fatal(err)
	}
	f.Fuzz(func(t *testing.T, in string) {
		var c Counts
		out := s.Text(in, &c)
		if c.Total() == 0 && out != in {
			t.Fatalf("changed without counting: %q → %q", in, out)
		}
		if c.Total() > 0 && !strings.Contains(out, Replacement) {
			t.Fatalf("counted %v but no replacement in %q", c, out)
		}
		var c2 Counts
		if again := s.Text(out, &c2); again != out {
			t.Fatalf("second pass changed %q → %q (%v)", out, again, c2)
		}
		for i := 0; i+16 <= len(out); i++ {
			w := out[i : i+16]
			if isAllDigits(w) && w[0] >= '2' && w[0] <= '6' && luhn(w) &&
				(i == 0 || !isDigit(out[i-1])) && (i+16 == len(out) || !isDigit(out[i+16])) {
				t.Fatalf("card number %q survived in %q", w, out)
			}
		}
	})
}

func isAllDigits(s string) bool {
	for i := 0; i < len(s); i++ {
		if !isDigit(s[i]) {
			return false
		}
	}
	return true
}

// FuzzDecodeRules checks that any rules document either fails with an
// error or compiles into a scrubber that runs on any text.
func FuzzDecodeRules(f *testing.F) {
	for _, s := range []string{`{}`, `{"emails":true,"keys":["ssn"]}`, `{"keys":[]}`,
		`{"patterns":[{"name":"ssn","regexp":"\\d{3}-\\d{2}-\\d{4}"}]}`, `{"patterns":[{"name":"x","regexp":"(a"}]}`} {
		f.Add([]byte(s), "ssn 123-45-6789 password=x")
	}
	f.Fuzz(func(t *testing.T, doc []byte, text string) {
		r, err := DecodeRules(doc)
		if err != nil {
			return
		}
		s, err := Compile(r)
		if err != nil {
			t.Fatalf("DecodeRules accepted %q, Compile refused: %v", doc, err)
		}
		var c Counts
		_ = s.Text(text, &c)
	})
}
