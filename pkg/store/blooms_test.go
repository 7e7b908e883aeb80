package store

import (
	"context"
	"fmt"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/sawmillhq/sawmill/pkg/event"
	"github.com/sawmillhq/sawmill/pkg/textbloom"
)

// textRecorder records the search text writeSearchText writes, lowered as
// ClickHouse's lower() lowers (ASCII only).
type textRecorder struct {
	cur  strings.Builder
	rows []string
}

func (r *textRecorder) Write(s string) {
	for i := 0; i < len(s); i++ {
		c := s[i]
		if 'A' <= c && c <= 'Z' {
			c += 'a' - 'A'
		}
		r.cur.WriteByte(c)
	}
}

func (r *textRecorder) EndRow() { r.rows = append(r.rows, r.cur.String()); r.cur.Reset() }

// bloomRows returns realistic rows of two tenants, with odd text (non-ASCII,
// no attributes, empty fields) mixed in, times rising over a day with a
// minute of jitter, as a writer sees them.
func bloomRows(seed uint64, n int) []Row {
	rng := rand.New(rand.NewPCG(seed, 1))
	rows := realisticRows(seed, "acme", 1, n, 100)
	for i := range rows {
		rows[i].Time = base.Add(time.Duration(i)*24*time.Hour/time.Duration(n) + time.Duration(rng.IntN(60))*time.Second).UnixNano()
		if i%3 == 0 {
			rows[i].Tenant = "globex"
		}
		switch i % 7 {
		case 1:
			rows[i].Attrs = nil
		case 2:
			rows[i].Message = "Ünïcödé ÉCHEC de connexion — ユーザー " + fmt.Sprint(i)
			rows[i].Service = ""
		}
	}
	return rows
}

// TestSearchTextMatchesServer: the text the blooms are built from is, byte
// for byte, the search_text ClickHouse computes for the same rows.
func TestSearchTextMatchesServer(t *testing.T) {
	ctx := context.Background()
	s := migratedStore(t)
	rows := bloomRows(3, 300)
	insert(t, s, rows)
	var rec textRecorder
	want := map[RowKey]string{}
	for i := range rows {
		writeSearchText(&rec, &rows[i])
		want[RowKey{rows[i].Seq, rows[i].Idx}] = rec.rows[i]
	}
	res, err := s.conn.Query(ctx, "SELECT seq, idx, search_text FROM logs")
	if err != nil {
		t.Fatal(err)
	}
	defer res.Close()
	n := 0
	for res.Next() {
		var k RowKey
		var text string
		if err := res.Scan(&k.Seq, &k.Idx, &text); err != nil {
			t.Fatal(err)
		}
		if text != want[k] {
			t.Fatalf("row %v: ClickHouse search_text\n%q\nGo\n%q", k, text, want[k])
		}
		n++
	}
	if n != len(rows) {
		t.Fatalf("read %d rows, stored %d", n, len(rows))
	}
}

// TestTextRanges: every stored row whose search text holds a needle lies in
// a range TextRanges returns for it (no false negatives, over many inserts
// and chunks of every size), the server's bit tests agree with the Go
// filter on every stored bloom, and a rare word is narrowed to a small part
// of the data (a TextRanges returning everything would pass the first
// check).
func TestTextRanges(t *testing.T) {
	ctx := context.Background()
	s := migratedStore(t)
	rows := bloomRows(4, 6000)
	for i := 500; i < len(rows); i += 1000 { // a rare word in 6 rows, 2 of globex
		rows[i].Message += " frobnicator-overflow"
	}
	for len(rows) > 0 { // inserts of 1 to 200 rows: chunks of every size
		n := min(len(rows), 1+rand.IntN(200))
		insert(t, s, rows[:n])
		rows = rows[n:]
	}
	all := readTexts(t, s)
	rng := rand.New(rand.NewPCG(5, 5))
	from, to := base.Add(-time.Hour), base.Add(26*time.Hour)
	check := func(tenant, needle string) (covered, total int) {
		t.Helper()
		ranges, ok, err := s.TextRanges(ctx, tenant, from, to, textbloom.Cond{Needle: needle})
		if err != nil {
			t.Fatal(err)
		}
		for _, r := range all {
			if r.tenant != tenant {
				continue
			}
			total++
			in := !ok || inRanges(ranges, r.ts)
			if in {
				covered++
			}
			if strings.Contains(r.text, asciiLowered(needle)) && !in {
				t.Fatalf("%s: row at %d holds %q but no range %v covers it", tenant, r.ts, needle, ranges)
			}
		}
		return covered, total
	}
	for q := range 300 {
		text := all[rng.IntN(len(all))].text
		i := rng.IntN(len(text))
		needle := text[i:min(len(text), i+3+rng.IntN(12))]
		check([]string{"acme", "globex"}[q%2], needle)
	}
	for _, tenant := range []string{"acme", "globex"} {
		// In 2 or 4 rows of 2,000 or 4,000, chunks of 70 rows on average.
		if covered, total := check(tenant, "FROBNICATOR-overflow"); covered*100 > total*15 {
			t.Errorf("%s: a rare word narrowed to %d of %d rows", tenant, covered, total)
		}
	}
	checkBloomSQL(t, s, rng, all)
}

// TestTextRangesRows: each range counts the rows of the chunks in it,
// overlapping chunks merged into one range with their sum.
func TestTextRangesRows(t *testing.T) {
	ctx := context.Background()
	s := migratedStore(t)
	batch := func(seed uint64, n int, start, span time.Duration) []Row {
		rows := realisticRows(seed, "acme", seed, n, n)
		for i := range rows {
			rows[i].Time = base.Add(start + span*time.Duration(i)/time.Duration(n)).UnixNano()
		}
		return rows
	}
	insert(t, s, batch(1, 300, 0, 10*time.Minute))            // one chunk
	insert(t, s, batch(2, 50, 5*time.Minute, 10*time.Minute)) // overlaps it
	insert(t, s, batch(3, 1500, 2*time.Hour, 30*time.Minute)) // two chunks, 1024 and 476 rows
	insert(t, s, batch(4, 20, 5*time.Hour, 20*time.Second))   // apart
	ranges, ok, err := s.TextRanges(ctx, "acme", base, base.Add(6*time.Hour), textbloom.Cond{Needle: "production"})
	if err != nil || !ok {
		t.Fatalf("TextRanges: %v, %v", ok, err)
	}
	var got []int64
	for _, r := range ranges {
		got = append(got, r.Rows)
	}
	if want := []int64{350, 1500, 20}; !slices.Equal(got, want) {
		t.Fatalf("rows per range %v (%v), want %v", got, ranges, want)
	}
}

func asciiLowered(s string) string {
	var r textRecorder
	r.Write(s)
	return r.cur.String()
}

// checkBloomSQL compares, on every stored bloom, the server's evaluation of
// Cond.SQL with Cond.Match, for AND and OR conditions of random needles.
func checkBloomSQL(t *testing.T, s *Store, rng *rand.Rand, all []textRow) {
	t.Helper()
	for range 30 {
		pickNeedle := func() textbloom.Cond {
			text := all[rng.IntN(len(all))].text
			i := rng.IntN(len(text))
			return textbloom.Cond{Needle: text[i:min(len(text), i+3+rng.IntN(6))]}
		}
		cond := textbloom.Cond{All: []textbloom.Cond{pickNeedle(), {Any: []textbloom.Cond{pickNeedle(), pickNeedle()}}}}
		expr, ok := cond.SQL("bloom")
		if !ok {
			t.Fatalf("%+v has no SQL", cond)
		}
		res, err := s.conn.Query(context.Background(), "SELECT bloom, "+expr+" FROM text_blooms")
		if err != nil {
			t.Fatal(err)
		}
		for res.Next() {
			var bloom string
			var got uint8
			if err := res.Scan(&bloom, &got); err != nil {
				t.Fatal(err)
			}
			if want := cond.Match([]byte(bloom)); want != (got == 1) {
				t.Fatalf("%+v on a %d-byte bloom: server says %d, Go %v", cond, len(bloom), got, want)
			}
		}
		res.Close()
	}
}

type textRow struct {
	tenant string
	ts     int64
	text   string
}

func readTexts(t *testing.T, s *Store) []textRow {
	t.Helper()
	res, err := s.conn.Query(context.Background(), "SELECT tenant_id, toUnixTimestamp(ts), search_text FROM logs")
	if err != nil {
		t.Fatal(err)
	}
	defer res.Close()
	var out []textRow
	for res.Next() {
		var r textRow
		var ts uint32
		if err := res.Scan(&r.tenant, &ts, &r.text); err != nil {
			t.Fatal(err)
		}
		r.ts = int64(ts)
		out = append(out, r)
	}
	return out
}

func inRanges(rs []TimeRange, ts int64) bool {
	for _, r := range rs {
		if r.From <= ts && ts <= r.To {
			return true
		}
	}
	return false
}

// TestTextRangesCoverEarlierRows: rows stored before text_blooms existed
// (no blooms) are covered by migration 7's blooms, and deleting a tenant
// and dropping a partition take the blooms too.
func TestTextRangesCoverEarlierRows(t *testing.T) {
	ctx := context.Background()
	s := migratedStore(t)
	old := event.Event{Time: base.UnixNano(), Message: "written by an old writer: frobnicator"}
	// A row as a writer of an earlier release stored it: logs only.
	if err := s.conn.Exec(ctx, "INSERT INTO logs (tenant_id, ts, ts_ns, retention_days, message) SELECT 'acme', toDateTime(?), ?, 7, ?",
		base.Unix(), old.Time, old.Message); err != nil {
		t.Fatal(err)
	}
	cond := textbloom.Cond{Needle: "frobnicator"}
	window := func() ([]TimeRange, bool) {
		t.Helper()
		rs, ok, err := s.TextRanges(ctx, "acme", base.Add(-time.Hour), base.Add(time.Hour), cond)
		if err != nil {
			t.Fatal(err)
		}
		return rs, ok
	}
	if rs, ok := window(); !ok || len(rs) != 0 {
		t.Fatalf("before migration 7 ran again: ranges %v, %v; want none (the row is not covered)", rs, ok)
	}
	if err := s.conn.Exec(ctx, Migrations[6].SQL); err != nil {
		t.Fatal(err)
	}
	if rs, ok := window(); !ok || !inRanges(rs, base.Unix()) {
		t.Fatalf("after migration 7: ranges %v, %v; want one covering %d", rs, ok, base.Unix())
	}
	if err := s.DropLogPartition(ctx, Partition{RetentionDays: 7, Day: base.Truncate(24 * time.Hour)}); err != nil {
		t.Fatal(err)
	}
	var n uint64
	if err := s.conn.QueryRow(ctx, "SELECT count() FROM text_blooms").Scan(&n); err != nil || n != 0 {
		t.Fatalf("text_blooms rows after the partition drop: %d, %v; want 0", n, err)
	}
	insert(t, s, bloomRows(6, 50))
	if err := s.DeleteTenantLogs(ctx, "globex"); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(30 * time.Second)
	for {
		if err := s.conn.QueryRow(ctx, "SELECT count() FROM text_blooms WHERE tenant_id = 'globex'").Scan(&n); err != nil {
			t.Fatal(err)
		}
		if n == 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d blooms of a deleted tenant left", n)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// TestUpgradeCoversOldRows: a database at migration 5 (search_text stored,
// no text_blooms) with rows an old writer stored is upgraded by Migrate:
// the old rows are covered by blooms, new rows get their own, and
// search_text reads the same as an ALIAS.
func TestUpgradeCoversOldRows(t *testing.T) {
	ctx := context.Background()
	s := openStore(t, Config{})
	migrateTo(t, s, 5)
	old := realisticRows(9, "acme", 1, 200, 100)
	old[7].Message = "an old frobnicator line"
	insertOld(t, s, old) // as an old writer: rows, no blooms
	if err := s.Migrate(ctx); err != nil {
		t.Fatalf("upgrade: %v", err)
	}
	if ok, err := s.MigrationsApplied(ctx); err != nil || !ok {
		t.Fatalf("after the upgrade, migrations applied = %v, %v", ok, err)
	}
	fresh := realisticRows(10, "acme", 3, 10, 100)
	for i := range fresh { // hours after the old rows: their chunk covers none
		fresh[i].Time += int64(3 * time.Hour)
	}
	fresh[3].Message = "a new frobnicator line"
	insert(t, s, fresh)
	rs, ok, err := s.TextRanges(ctx, "acme", base.Add(-time.Hour), base.Add(5*time.Hour), textbloom.Cond{Needle: "frobnicator"})
	if err != nil || !ok {
		t.Fatalf("text ranges: %v, %v", ok, err)
	}
	for _, r := range []Row{old[7], fresh[3]} {
		if sec := r.Time / 1e9; !inRanges(rs, sec) {
			t.Errorf("row at %d (%q) not covered by %v", sec, r.Message, rs)
		}
	}
	var kind string
	if err := s.conn.QueryRow(ctx, "SELECT default_kind FROM system.columns WHERE database = currentDatabase() AND table = 'logs' AND name = 'search_text'").Scan(&kind); err != nil || kind != "ALIAS" {
		t.Fatalf("search_text is %q (%v), want ALIAS", kind, err)
	}
	var n uint64
	if err := s.conn.QueryRow(ctx, "SELECT count() FROM logs WHERE search_text LIKE '%frobnicator%'").Scan(&n); err != nil || n != 2 {
		t.Fatalf("rows whose search_text holds the word: %d (%v), want 2", n, err)
	}
}

// migrateTo brings s's new database to the schema of an earlier release:
// migrations 1 to version, as Migrate applied them on 18.16.
func migrateTo(t *testing.T, s *Store, version uint32) {
	t.Helper()
	ctx := context.Background()
	if err := s.conn.Exec(ctx, migrationsTable); err != nil {
		t.Fatal(err)
	}
	for _, m := range Migrations {
		if m.Version > version || !s.wants(m, 18) {
			continue
		}
		if err := s.conn.Exec(ctx, m.SQL); err != nil {
			t.Fatalf("migration %d: %v", m.Version, err)
		}
		if err := s.recordMigration(ctx, m); err != nil {
			t.Fatal(err)
		}
	}
}

// insertOld stores rows as a writer of an earlier release did: the rows
// alone, without blooms.
func insertOld(t *testing.T, s *Store, rows []Row) {
	t.Helper()
	cols, err := newColumns(rows)
	if err != nil {
		t.Fatal(err)
	}
	if err := s.insertRows(context.Background(), cols, len(rows)); err != nil {
		t.Fatal(err)
	}
}
