package native

import (
	"bytes"
	"encoding/json"
	"reflect"
	"strings"
	"testing"
)

// refFields flattens the valid JSON object s with encoding/json, as the
// scanner should: the reference the scanner is fuzzed against.
func refFields(tb testing.TB, s string) []field {
	tb.Helper()
	var out []field
	var walk func(raw []byte, prefix string)
	walk = func(raw []byte, prefix string) {
		dec := json.NewDecoder(bytes.NewReader(raw))
		dec.UseNumber()
		if _, err := dec.Token(); err != nil {
			tb.Fatalf("reference: %v", err)
		}
		for dec.More() {
			tok, err := dec.Token()
			if err != nil {
				tb.Fatalf("reference: %v", err)
			}
			key := prefix + tok.(string)
			var v json.RawMessage
			if err := dec.Decode(&v); err != nil {
				tb.Fatalf("reference: %v", err)
			}
			v = bytes.TrimSpace(v)
			switch v[0] {
			case '{':
				walk(v, key+".")
			case '[':
				var b bytes.Buffer
				if err := json.Compact(&b, v); err != nil {
					tb.Fatalf("reference: %v", err)
				}
				out = append(out, field{key, b.String(), kindArray})
			case '"':
				var str string
				if err := json.Unmarshal(v, &str); err != nil {
					tb.Fatalf("reference: %v", err)
				}
				out = append(out, field{key, str, kindString})
			case 't', 'f':
				out = append(out, field{key, string(v), kindBool})
			case 'n':
			default:
				out = append(out, field{key, string(v), kindNumber})
			}
		}
	}
	walk([]byte(s), "")
	return out
}

// scanSeeds are inputs that exercise the scanner's corners.
var scanSeeds = []string{
	`{}`, ` { } `, `{"a":1}`, `{"a":{"b":{"c":[1, {"d" : [ ]}, "x y"]}},"e":null}`,
	`{"s":"\u00e9\ud83d\ude00\ud800\udc00\ud800x\udfff\\\"\/\b\f\n\r\t"}`,
	"{\"s\":\"\xff\xfe\xed\xa0\x80 ok\"}", `{"n":-0.5e+10,"m":0,"o":-0,"p":1E-2}`,
	`{"a":tru}`, `{"a":01}`, `{"a":1.}`, `{"a":-}`, `{"a":"\u12"}`, `{"a" 1}`, `{"a":1,}`,
	`{"a":[1,]}`, `{"a":[1 2]}`, `{"a":"x"}}`, `[1,2]`, `"str"`, `nul`, ``, ` `, `{"a":"b`,
	`{"":{"":""}}`, `{"k":{"x":1},"k":2}`,
	`{"a":` + strings.Repeat(`[`, 70) + strings.Repeat(`]`, 70) + `}`,
}

func FuzzScanner(f *testing.F) {
	for _, s := range append(scanSeeds, sampleLines...) {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		var p scanner
		p.reset(s)
		p.skipWS()
		isObject := p.pos < len(s) && s[p.pos] == '{'
		if isObject {
			p.object("")
		} else {
			p.scalar()
		}
		if p.err == nil && !p.atEnd() {
			p.failChar("after top-level value")
		}
		if p.err != nil && strings.Contains(p.err.msg, "nested deeper") {
			return // encoding/json allows deeper nesting; we refuse it on purpose
		}
		valid := json.Valid([]byte(s))
		if valid != (p.err == nil) {
			t.Fatalf("scanner error %v, but json.Valid = %v", p.err, valid)
		}
		if p.err != nil && (p.err.off < 0 || p.err.off > len(s)) {
			t.Fatalf("error offset %d outside input of %d bytes", p.err.off, len(s))
		}
		if !valid || !isObject {
			return
		}
		got := append([]field(nil), p.fields...)
		if want := refFields(t, s); !reflect.DeepEqual(got, want) && (len(got) > 0 || len(want) > 0) {
			t.Fatalf("fields\n got %+v\nwant %+v", got, want)
		}
		var q scanner
		q.reset(s)
		q.skipWS()
		if q.skip(); q.err != nil || !q.atEnd() {
			t.Fatalf("skip refused valid input: %v", q.err)
		}
	})
}
