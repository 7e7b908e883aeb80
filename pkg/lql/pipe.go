package lql

import (
	"fmt"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"
)

// Limits on a pipeline, checked by Parse.
const (
	// MaxAggs is the most aggregations one stats or timechart computes.
	MaxAggs = 16
	// MaxGroupBy is the most fields one stats or timechart groups by.
	MaxGroupBy = 8
	// MaxStages is the most pipes one query holds.
	MaxStages = 16
	// MaxLimitRows is the largest N of "| limit N".
	MaxLimitRows = 100_000
	// MaxInterval is the widest timechart bucket.
	MaxInterval = 366 * 24 * time.Hour
)

// Pipeline is the part of a query after its first "|" outside quotes: at
// most one analysis pipe (stats or timechart), which must come first, then
// table pipes (sort, limit, fields) applied in order to its result.
type Pipeline struct {
	// Analysis is the stats or timechart pipe; nil when the pipeline has
	// only table pipes.
	Analysis *Analysis
	// Stages are the table pipes, *Sort, *Limit or *Fields, in order.
	Stages []Stage
}

// Stage is a table pipe: *Sort, *Limit or *Fields.
type Stage interface {
	// Pos is the byte offset of the stage's name in the query.
	Pos() int
	// String renders the stage in canonical LQL, without the "|".
	String() string
	stage()
}

// Analysis is "stats aggs [by fields]" (Interval 0) or "timechart
// interval aggs [by fields]".
type Analysis struct {
	Offset int
	// Interval is the time bucket width, a whole number of seconds; 0 for
	// stats.
	Interval time.Duration
	// Aggs are the aggregations, at least one (count() when none is given).
	Aggs []Agg
	// By are the group-by field names, as written, without duplicates.
	By []string
}

// Sort is "sort column [asc|desc]".
type Sort struct {
	Offset int
	Column string // a column name of the table, e.g. "count()", "level", "time"
	Desc   bool
}

// Limit is "limit N": keep the first N rows.
type Limit struct {
	Offset int
	N      int
}

// Fields is "fields a, b": keep these columns, in this order.
type Fields struct {
	Offset  int
	Columns []string
}

// Pos implements Stage.
func (s *Sort) Pos() int { return s.Offset }

// Pos implements Stage.
func (s *Limit) Pos() int { return s.Offset }

// Pos implements Stage.
func (s *Fields) Pos() int { return s.Offset }

func (*Sort) stage()   {}
func (*Limit) stage()  {}
func (*Fields) stage() {}

// String implements Stage.
func (s *Sort) String() string {
	if s.Desc {
		return "sort " + s.Column + " desc"
	}
	return "sort " + s.Column + " asc"
}

// String implements Stage.
func (s *Limit) String() string { return "limit " + strconv.Itoa(s.N) }

// String implements Stage.
func (s *Fields) String() string { return "fields " + strings.Join(s.Columns, ", ") }

// String renders the analysis in canonical LQL, without the "|".
func (a *Analysis) String() string {
	var b strings.Builder
	if a.Interval > 0 {
		b.WriteString("timechart " + FormatInterval(a.Interval) + " ")
	} else {
		b.WriteString("stats ")
	}
	for i, g := range a.Aggs {
		if i > 0 {
			b.WriteString(", ")
		}
		b.WriteString(g.String())
	}
	if len(a.By) > 0 {
		b.WriteString(" by " + strings.Join(a.By, ", "))
	}
	return b.String()
}

// String renders the pipeline in canonical LQL, starting with "| ".
func (p *Pipeline) String() string {
	var parts []string
	if p.Analysis != nil {
		parts = append(parts, p.Analysis.String())
	}
	for _, s := range p.Stages {
		parts = append(parts, s.String())
	}
	return "| " + strings.Join(parts, " | ")
}

// Column is a column of an analysis' result table.
type Column struct {
	// Name is "time", a group-by field name, or an aggregation's canonical
	// text such as "count()" or "p95(duration_ms)".
	Name string
	// Type is "time", "string" or "number".
	Type string
}

// Columns returns the result table's columns: "time" (timechart only), the
// group-by fields, then one per aggregation.
func (a *Analysis) Columns() []Column {
	var cols []Column
	if a.Interval > 0 {
		cols = append(cols, Column{"time", "time"})
	}
	for _, f := range a.By {
		cols = append(cols, Column{f, "string"})
	}
	for _, g := range a.Aggs {
		cols = append(cols, Column{g.String(), "number"})
	}
	return cols
}

// CheckStages checks that every column the table pipes name exists at that
// point of the pipeline (fields drops the columns it does not list). The
// error is an *Error at the offending stage.
func (a *Analysis) CheckStages(stages []Stage) error {
	have := map[string]bool{}
	for _, c := range a.Columns() {
		have[c.Name] = true
	}
	names := func() string {
		var s []string
		for _, c := range a.Columns() {
			if have[c.Name] {
				s = append(s, c.Name)
			}
		}
		return strings.Join(s, ", ")
	}
	for _, st := range stages {
		switch st := st.(type) {
		case *Sort:
			if !have[st.Column] {
				return errorf(st.Offset, "sort: no column %q; the columns are %s", st.Column, names())
			}
		case *Fields:
			keep := map[string]bool{}
			for _, c := range st.Columns {
				if !have[c] {
					return errorf(st.Offset, "fields: no column %q; the columns are %s", c, names())
				}
				keep[c] = true
			}
			have = keep
		}
	}
	return nil
}

// pipeParser parses a pipeline. Like parser, each method starts at a
// non-space byte (or the end) and leaves pos after any white space.
type pipeParser struct {
	src string
	pos int
}

// parsePipeline parses src from the '|' at start to the end.
func parsePipeline(src string, start int) (*Pipeline, error) {
	p := &pipeParser{src: src, pos: start}
	pl := &Pipeline{}
	for n := 0; !p.eof(); n++ {
		if p.src[p.pos] != '|' {
			return nil, errorf(p.pos, "unexpected %s; separate pipes with \"|\"", p.describe())
		}
		if n == MaxStages {
			return nil, errorf(p.pos, "query has more than %d pipes", MaxStages)
		}
		p.pos++
		p.skipSpace()
		if err := p.stage(pl, n); err != nil {
			return nil, err
		}
	}
	if pl.Analysis != nil {
		if err := pl.Analysis.CheckStages(pl.Stages); err != nil {
			return nil, err
		}
	}
	return pl, nil
}

const pipeNames = "stats, timechart, sort, limit or fields"

func (p *pipeParser) stage(pl *Pipeline, n int) error {
	start := p.pos
	name := strings.ToLower(p.word())
	switch name {
	case "stats", "timechart":
		if n > 0 {
			return errorf(start, "%s must be the first pipe", name)
		}
		a, err := p.analysis(start, name == "timechart")
		if err != nil {
			return err
		}
		pl.Analysis = a
		return nil
	case "sort":
		s, err := p.sort(start)
		if err != nil {
			return err
		}
		pl.Stages = append(pl.Stages, s)
	case "limit":
		l, err := p.limit(start)
		if err != nil {
			return err
		}
		pl.Stages = append(pl.Stages, l)
	case "fields":
		f, err := p.fields(start)
		if err != nil {
			return err
		}
		pl.Stages = append(pl.Stages, f)
	case "":
		return errorf(start, "expected a pipe name (%s) after \"|\", found %s", pipeNames, p.describe())
	default:
		return errorf(start, "unknown pipe %q; use %s", name, pipeNames)
	}
	return nil
}

func (p *pipeParser) eof() bool { return p.pos >= len(p.src) }

func (p *pipeParser) skipSpace() {
	for !p.eof() && isSpace(p.src[p.pos]) {
		p.pos++
	}
}

// word consumes a run of name bytes and the white space after it, and
// returns the run ("" when there is none).
func (p *pipeParser) word() string {
	start := p.pos
	for !p.eof() && validNameByte(p.src[p.pos]) {
		p.pos++
	}
	w := p.src[start:p.pos]
	p.skipSpace()
	return w
}

// peekWord returns the word at pos without consuming it.
func (p *pipeParser) peekWord() string {
	i := p.pos
	for i < len(p.src) && validNameByte(p.src[i]) {
		i++
	}
	return p.src[p.pos:i]
}

// punct consumes c and the white space after it, if c is next.
func (p *pipeParser) punct(c byte) bool {
	if p.eof() || p.src[p.pos] != c {
		return false
	}
	p.pos++
	p.skipSpace()
	return true
}

// stageEnd reports whether the current stage ends here.
func (p *pipeParser) stageEnd() bool { return p.eof() || p.src[p.pos] == '|' }

// describe names what is at pos, for error messages.
func (p *pipeParser) describe() string {
	if p.eof() {
		return "the end of the query"
	}
	r, _ := utf8.DecodeRuneInString(p.src[p.pos:])
	return strconv.QuoteRune(r)
}

// analysis parses the rest of "stats ..." or "timechart ...".
func (p *pipeParser) analysis(start int, timechart bool) (*Analysis, error) {
	a := &Analysis{Offset: start}
	if timechart {
		at := p.pos
		w := p.word()
		if w == "" {
			return nil, errorf(at, "timechart needs an interval first, e.g. \"timechart 1m count()\"")
		}
		d, err := ParseInterval(w)
		if err != nil {
			return nil, errorf(at, "timechart: %v", err)
		}
		a.Interval = d
	}
	for !p.stageEnd() && !strings.EqualFold(p.peekWord(), "by") {
		if len(a.Aggs) > 0 {
			p.punct(',')
		}
		at := p.pos
		g, err := p.agg()
		if err != nil {
			return nil, err
		}
		if len(a.Aggs) == MaxAggs {
			return nil, errorf(at, "more than %d aggregations", MaxAggs)
		}
		for _, x := range a.Aggs {
			if x.String() == g.String() {
				return nil, errorf(at, "%s appears twice", g.String())
			}
		}
		a.Aggs = append(a.Aggs, g)
	}
	if len(a.Aggs) == 0 {
		a.Aggs = []Agg{{Offset: p.pos, Func: "count"}}
	}
	if strings.EqualFold(p.peekWord(), "by") {
		byPos := p.pos
		p.word()
		if p.stageEnd() {
			return nil, errorf(byPos, "expected field names after \"by\"")
		}
		for {
			at := p.pos
			f := p.word()
			if f == "" {
				return nil, errorf(at, "expected a field name, found %s", p.describe())
			}
			if err := checkGroupField(f, timechart); err != nil {
				return nil, errorf(at, "%v", err)
			}
			for _, x := range a.By {
				if x == f {
					return nil, errorf(at, "%s appears twice after \"by\"", f)
				}
			}
			if len(a.By) == MaxGroupBy {
				return nil, errorf(at, "more than %d group-by fields", MaxGroupBy)
			}
			a.By = append(a.By, f)
			if !p.punct(',') {
				break
			}
		}
	}
	if !p.stageEnd() {
		return nil, errorf(p.pos, "unexpected %s in %s", p.describe(), a.kind())
	}
	return a, nil
}

func (a *Analysis) kind() string {
	if a.Interval > 0 {
		return "timechart"
	}
	return "stats"
}

// agg parses "func(field)" or "func()".
func (p *pipeParser) agg() (Agg, error) {
	start := p.pos
	name := p.word()
	if name == "" {
		return Agg{}, errorf(start, "expected an aggregation such as count(), found %s", p.describe())
	}
	if !p.punct('(') {
		return Agg{}, errorf(p.pos, "expected \"(\" after %q: aggregations are written %s(...)", name, name)
	}
	argPos := p.pos
	field := p.word()
	if !p.punct(')') {
		return Agg{}, errorf(p.pos, "expected \")\" to close %s(, found %s", name, p.describe())
	}
	if _, ok := lookupAgg(name); !ok {
		return Agg{}, errorf(start, "%s", unknownAgg(name))
	}
	g, err := NewAgg(name, field)
	if err != nil {
		return Agg{}, errorf(argPos, "%v", err)
	}
	g.Offset = start
	return g, nil
}

// column parses a column reference: a name or an aggregation's text.
func (p *pipeParser) column() (string, error) {
	start := p.pos
	w := p.peekWord()
	if w == "" {
		return "", errorf(start, "expected a column name, found %s", p.describe())
	}
	end := start + len(w)
	rest := strings.TrimLeft(p.src[end:], " \t\r\n")
	if strings.HasPrefix(rest, "(") {
		g, err := p.agg()
		if err != nil {
			return "", err
		}
		return g.String(), nil
	}
	p.word()
	return w, nil
}

func (p *pipeParser) sort(start int) (*Sort, error) {
	if p.stageEnd() {
		return nil, errorf(p.pos, "sort needs a column, e.g. \"sort count() desc\"")
	}
	col, err := p.column()
	if err != nil {
		return nil, err
	}
	s := &Sort{Offset: start, Column: col}
	at := p.pos
	switch d := strings.ToLower(p.word()); d {
	case "", "asc":
	case "desc":
		s.Desc = true
	default:
		return nil, errorf(at, "sort: expected asc or desc after the column, found %q", d)
	}
	if !p.stageEnd() {
		return nil, errorf(p.pos, "unexpected %s in sort", p.describe())
	}
	return s, nil
}

func (p *pipeParser) limit(start int) (*Limit, error) {
	at := p.pos
	w := p.word()
	n, err := strconv.Atoi(w)
	if err != nil || n < 1 || n > MaxLimitRows || w[0] == '+' {
		return nil, errorf(at, "limit needs a whole number from 1 to %d", MaxLimitRows)
	}
	if !p.stageEnd() {
		return nil, errorf(p.pos, "unexpected %s in limit", p.describe())
	}
	return &Limit{Offset: start, N: n}, nil
}

func (p *pipeParser) fields(start int) (*Fields, error) {
	f := &Fields{Offset: start}
	for {
		at := p.pos
		col, err := p.column()
		if err != nil {
			return nil, err
		}
		if len(f.Columns) == MaxAggs+MaxGroupBy+1 {
			return nil, errorf(at, "fields lists too many columns")
		}
		for _, c := range f.Columns {
			if c == col {
				return nil, errorf(at, "fields: %s appears twice", col)
			}
		}
		f.Columns = append(f.Columns, col)
		if !p.punct(',') {
			break
		}
	}
	if !p.stageEnd() {
		return nil, errorf(p.pos, "unexpected %s in fields; separate columns with \",\"", p.describe())
	}
	return f, nil
}

// ParseInterval parses a timechart interval: a whole number followed by s,
// m, h or d ("30s", "1m", "5m", "1h", "1d"), from 1s to MaxInterval.
func ParseInterval(s string) (time.Duration, error) {
	units := map[byte]time.Duration{'s': time.Second, 'm': time.Minute, 'h': time.Hour, 'd': 24 * time.Hour}
	bad := fmt.Errorf("invalid interval %q; write a whole number and s, m, h or d, e.g. 30s, 1m, 1h, 1d", s)
	if len(s) < 2 {
		return 0, bad
	}
	unit, ok := units[s[len(s)-1]]
	digits := s[:len(s)-1]
	if !ok || digits[0] < '1' || digits[0] > '9' || len(digits) > 9 {
		return 0, bad
	}
	n, err := strconv.Atoi(digits)
	if err != nil {
		return 0, bad
	}
	d := time.Duration(n) * unit
	if d > MaxInterval {
		return 0, fmt.Errorf("interval %s is longer than %s", s, FormatInterval(MaxInterval))
	}
	return d, nil
}

// FormatInterval renders a whole number of seconds in the largest unit
// ParseInterval reads that divides it: 90s, 5m, 1h, 1d.
func FormatInterval(d time.Duration) string {
	for _, u := range []struct {
		d time.Duration
		s string
	}{{24 * time.Hour, "d"}, {time.Hour, "h"}, {time.Minute, "m"}} {
		if d%u.d == 0 {
			return strconv.FormatInt(int64(d/u.d), 10) + u.s
		}
	}
	return strconv.FormatInt(int64(d/time.Second), 10) + "s"
}
