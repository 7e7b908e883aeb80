package lql

import "testing"

// BenchmarkMatch measures the live tail's filter on a Django error event,
// for queries that fail or succeed late (every text searched) and early.
func BenchmarkMatch(b *testing.B) {
	e := rows[0].e
	for _, q := range []string{
		"nomatch",     // ASCII term, every column and attribute searched
		"Überweisung", // non-ASCII term, every column searched
		"refused",     // found in the exception message, late
		"error",       // found in the level, early
		"level:error service:web -host:web-2 user_id:42",
		`(timeout OR "connection refused") -level:debug`,
		"duration_ms:>1000 level:>=warn has:request_id",
		"time*out",             // wildcard, every text searched
		"http.path:/api/*",     // anchored wildcard on an attribute
		`/timeout \d+/`,        // regular expression, every text searched
		`message:/(?i)server/`, // on one field
		"",
	} {
		p := mustParse(b, q)
		b.Run(q, func(b *testing.B) {
			b.ReportAllocs()
			b.SetBytes(int64(e.Size()))
			for b.Loop() {
				p.Match(&e)
			}
		})
	}
}

// BenchmarkParse measures Parse, Match's compilation included.
func BenchmarkParse(b *testing.B) {
	const q = `level:error service:web (timeout OR "connection refused") -host:web-2 user_id:42`
	b.ReportAllocs()
	b.SetBytes(int64(len(q)))
	for b.Loop() {
		if _, err := Parse(q); err != nil {
			b.Fatal(err)
		}
	}
}
