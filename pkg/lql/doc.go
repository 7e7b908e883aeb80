// Package lql provides LQL, Sawmill's log query language: a parser that turns a
// query string into an AST, a compiler from the AST to a ClickHouse boolean
// expression over the logs table, an in-memory matcher with exactly the
// semantics of that expression (the live tail filters events with it), and
// the pipes that turn matching events into tables ([Pipeline]), with the SQL
// expressions of their aggregations ([Agg.SQL], [GroupSQL]).
//
// It must not talk to ClickHouse, know about tenants or time ranges, or build
// whole statements: the caller wraps the expression from [Query.SQL] with its
// own tenant and time predicates, and assembles aggregation statements from
// the expressions this package gives. It must never put query text into SQL:
// every literal travels as a `?` argument.
//
// # Language
//
//	error                     bare term: case-insensitive substring of the message,
//	                          level, service, environment, host, logger, trace_id,
//	                          span_id, request_id, any attribute value, or the
//	                          exception's type, message or stack
//	"connection refused"      quoted phrase, the same with spaces; \" and \\ escape
//	level:warning             field:value (see Fields below)
//	user_id:"42"              field with a quoted value
//	status_code:>=500         comparison of a numeric attribute (<, <=, >, >=, =)
//	level:>=warning           severity range
//	time*out  path:/api/*     wildcards: '*' is any run of characters
//	/timeout \d+/             regular expression (RE2), bare or as a field value
//	has:request_id            existence of a field or attribute
//	a b  /  a AND b           both (implicit AND)
//	a OR b                    either
//	-a  /  NOT a              not a
//	(a OR b) -c               parentheses group
//
// Precedence, loosest first: OR, AND (explicit or implicit), NOT and "-".
// AND, OR and NOT are keywords only in upper case; quote them ("AND") to search
// for the words. An empty query (or one of only white space) matches every event.
//
// # Grammar
//
//	query   = [ or ] .
//	or      = and { "OR" and } .
//	and     = unary { [ "AND" ] unary } .
//	unary   = "NOT" unary | "-" primary | primary .   // no white space after "-"
//	primary = "(" or ")" | regex | field | term .
//	field   = "has:" ( name | phrase )
//	        | "level:" op level
//	        | name ":" ( regex | op number | word | phrase ) .
//	op      = "<" | "<=" | ">" | ">=" | "=" .
//	number  = /[+-]?([0-9]+(\.[0-9]*)?|\.[0-9]+)([eE][+-]?[0-9]+)?/ .
//	regex   = "/" pattern "/" .                   // see Regular expressions
//	term    = word | phrase .
//	name    = /[A-Za-z0-9_.@-]+/ .
//	word    = a run of characters other than white space, '"', '(', ')' and '|'
//	          that does not start with "-" and, unless right after "-",
//	          is not a keyword (so -OR excludes events containing "or") .
//	phrase  = '"' { any character but '"' and '\' | '\"' | '\\' } '"' .
//
// A word containing ':' is a field: the text before the first ':' is the
// name, the rest the value (which may contain more colons, as in
// url:http://example.com). Quote a term that contains ':' to search for it
// as text. White space is space, tab, CR and LF; other control characters
// and invalid UTF-8 are errors. The first '|' outside a quoted phrase or a
// regular expression ends the search expression and starts the pipes
// (below); quote a term to search for '|'. An unquoted field value that
// starts with '<', '>' or '=' is a comparison, one that contains '*' a
// wildcard: quote the value ("=5", "a*b") to compare it as text.
//
// # Fields
//
//	level                    severity; the value is any name event.ParseLevel
//	                         knows (warning, WARN, crit, err ...), matched on the
//	                         canonical name: level:warning finds level "warn"
//	message                  case-insensitive substring of the message
//	exception.type           case-insensitive substring of the exception type
//	exception.message        case-insensitive substring of the exception message
//	service, environment (or env), host, logger, trace_id, span_id, request_id
//	                         exact, case-sensitive equality
//	anything else            an attribute: the string attribute with exactly that
//	                         key has exactly that value (levelname:x and
//	                         message_id:x are attributes too)
//
// Field names are case-sensitive.
//
// # Comparisons
//
// name:<op><number>, op one of <, <=, >, >= and =, holds when a numeric
// attribute with that key compares so with the number (duration_ms:>1000,
// status_code:>=500, ratio:=0.5). Numbers are decimal (42, -0.5, .5, 1e3,
// +7), read as the nearest float64 and compared as float64, by IEEE rules:
// 9007199254740993 is 2^53, and nothing compares true with a stored NaN.
// Infinities, NaN, numbers beyond ±1.7976931348623157e308 and non-zero
// numbers closer to zero than 2.2250738585072014e-308 are errors. Only
// numeric attributes count (numbers sent as JSON numbers or OTLP ints and
// doubles); an attribute stored only as a string ("status_code": "500")
// never matches a comparison, though status_code:500 finds it. Comparing a
// column other than level is an error.
//
// level:<op><name> compares the severity number (OpenTelemetry's 1-24),
// each level name standing for its range of four (warn: 13-16):
// level:>=warn is 13-24, level:>warn 17-24, level:<warn 1-12,
// level:<=warn 1-16, level:=warn 13-16. Events without a severity (0)
// match no level comparison.
//
// # Wildcards
//
// A bare word or an unquoted field value containing '*' is a wildcard; '*'
// stands for any run of characters, none or many, newlines included. '?',
// '%', '_' and '\' are ordinary characters, and a quoted phrase or value has
// no wildcards. A bare wildcard (time*out) is searched like a term: some
// text of the event contains the pieces in order, compared
// case-insensitively by exactly a term's rules (below). On message,
// exception.type and exception.message the same holds for that field. On
// any other field (service:web-*, path:/api/*) the whole value must match,
// case-sensitively, as field:value compares. A bare wildcard needs a
// character besides '*'; name:* matches events with any value, the empty
// one included (use has:name for presence). level takes no wildcard.
//
// # Regular expressions
//
// /pattern/ alone, or as a field value (message:/timeout \d+/), is an RE2
// regular expression: bare, it is tried on every text a term searches;
// on a column, on its value; on any other name, on the values of the string
// attributes with that key. It matches anywhere in the text unless
// anchored. The pattern runs from the first '/' to the next '/' that '\'
// does not escape, which must be followed by the end, white space, '"',
// '(', ')' or '|'; otherwise the word is no regular expression
// (path:/api/*, /api/v1/orders). Write \/ for a '/' in a pattern; quote a
// value that starts and ends with '/' to search for it as text.
//
// Matching is case-sensitive unless the pattern says (?i); '.' matches any
// character, newline included, unless (?-s); '^' and '$' anchor the whole
// text unless (?m); \d, \w, \s, \b and [[:alpha:]] are ASCII; \pL and the
// like are Unicode classes. Flags go inline: (?i), (?m), (?s), (?U) and
// combinations, or scoped (?i:...). Under (?i) a letter matches its whole
// Unicode simple folding orbit — k matches K and the Kelvin sign, σ
// matches Σ and ς — unlike terms (below). The pattern is compiled with Go's
// regexp/syntax and sent to ClickHouse rendered with every class and case
// variant spelled out, so both engines run exactly the same expression.
// An invalid pattern is an error positioned at the offending part; a
// pattern is at most [MaxRegexBytes] bytes and its automata are bounded
// (long repetitions, like .{200} or \pL{100}, are refused); a query's
// patterns and wildcards compile to at most [MaxPatternBytes] bytes, a
// bare one counted once per text it searches (13 times).
//
// # Existence
//
// has:name holds when the event has the field: for level, message,
// service, environment (env), host, logger, trace_id, span_id,
// request_id, exception.type and exception.message, a non-empty value; for
// any other name, a string or numeric attribute with that key, whatever
// its value (even empty). Quote a key that is not a name: has:"odd key".
// -has:name holds when it has not. An attribute literally named "has" can
// only be searched for with has:"..." existence, not by value.
//
// # Pipes
//
// A search expression (possibly empty) may be followed by pipes that turn
// the matching events into a table:
//
//	level:error | stats count(), p95(duration_ms) by service
//	| timechart 1m count() by level
//	service:web | stats count() by host | sort count() desc | limit 5
//	| stats avg(duration_ms), max(duration_ms) by service | fields service, max(duration_ms)
//
//	pipeline  = "|" analysis { "|" table } | "|" table { "|" table } .
//	analysis  = "stats" [ aggs ] [ by ] | "timechart" interval [ aggs ] [ by ] .
//	aggs      = agg { [ "," ] agg } .          // none: count()
//	agg       = function "(" [ name ] ")" .
//	by        = "by" name { "," name } .
//	interval  = /[1-9][0-9]*[smhd]/ .           // 30s, 1m, 5m, 1h, 1d
//	table     = "sort" column [ "asc" | "desc" ] | "limit" N | "fields" column { "," column } .
//	column    = name | agg .                    // a column of the table, e.g. count(), service, time
//
// stats and timechart must be the first pipe; sort (ascending unless desc,
// stable, nulls last), limit (1 to [MaxLimitRows]) and fields (keep and
// order columns) apply in order to the table. Pipe names, "by", "asc",
// "desc" and function names are case-insensitive; field names are not. A
// plain search with only table pipes parses, but searches do not run it yet.
//
// Functions:
//
//	count()              events
//	rate()               events per second: count / the bucket's seconds
//	                     (timechart) or the time range's seconds (stats)
//	count_distinct(f)    distinct values of f: an event field (level,
//	                     service, host ...; empty values not counted) or a
//	                     string attribute (events without it not counted)
//	sum(f) avg(f) min(f) max(f)
//	p50(f) p90(f) p95(f) p99(f) (any p1 to p99)
//	                     over the numeric attribute f (duration_ms ...),
//	                     from the events that have it; percentiles are exact:
//	                     the value at 0-based position floor(p/100 × n) of the
//	                     n sorted values (ClickHouse's quantileExact)
//
// Over no events count, rate, count_distinct and sum are 0, the others
// have no value (null).
//
// Group-by fields are level, message, service, environment (or env), host,
// logger, trace_id, span_id, request_id, exception.type, exception.message,
// or else a string attribute key (the empty string for events without it).
//
// The table's columns are "time" (timechart only: each bucket's start, RFC
// 3339), the group-by fields, then one per aggregation named by its
// canonical text ("count()", "p95(duration_ms)"). Time buckets are aligned
// to the Unix epoch (so minutes, hours and days align in UTC), and every
// bucket the time range touches is present, empty ones filled. Only the N
// largest groups by the first aggregation are kept (ties by group value);
// the others make one more row ("other"), whose group-by columns are null
// and whose aggregations are computed over all their events together: the
// sum of the left-out groups for count, rate and sum, and the average,
// extremes, percentiles and distinct count of their pooled events for the
// others. N, the most time buckets and the default order (largest first,
// "other" last; timechart by time, then so) are set by the caller.
//
// # Limits
//
// A query is at most [MaxQueryBytes] bytes with at most [MaxTerms] terms,
// fields, comparisons, wildcards, regular expressions and existence tests,
// nested at most [MaxDepth] levels deep (parentheses and negations),
// with at most [MaxStages] pipes, [MaxAggs] aggregations and [MaxGroupBy]
// group-by fields.
//
// # Case-insensitive matching
//
// Substring matches compile to ClickHouse's positionCaseInsensitive (ASCII
// search texts, byte-wise) and positionCaseInsensitiveUTF8 (others), whose
// notion of case (Poco's old Unicode tables, compared byte-wise) differs from
// Go's and between ClickHouse releases. To give the same answer on ClickHouse
// 18.16, on current releases and in [Query.Match], a search text is matched
// case-insensitively only when every cased character in it is one whose
// behaviour was verified to agree everywhere: ASCII letters and most letters
// of Latin, Greek, Cyrillic, Armenian, Georgian Asomtavruli and Nuskhuri,
// Glagolitic, Coptic, fullwidth Latin, Deseret and Warang Citi (foldRanges;
// TestFoldTableAgainstClickHouse re-checks them). A character c of the search
// text then matches itself and whichever of its simple lower and upper case
// mappings encodes to as many UTF-8 bytes as c and lower-cases to what c
// does: "müller" matches "MÜLLER"; the Kelvin sign K matches only itself
// and k does not match it (but see below); σ and Σ match each other but not
// final ς, and ς matches only itself.
//
// A search text containing any other cased character — ß, ẞ, Greek ι, μ, θ,
// the title-case digraphs ǅ ǈ ǋ ǲ, the Kelvin, Ohm and Angstrom signs,
// Georgian Mkhedruli, Cherokee, Roman numerals, circled letters, scripts newer
// than Poco's tables — is matched case-sensitively instead (ClickHouse's
// position), because ClickHouse releases disagree on those characters: so
// "Straße" does not find "straße". Characters without case (digits,
// punctuation, CJK, emoji) always match only themselves.
//
// Wildcards on bare words and on message, exception.type and
// exception.message follow exactly these rules: each character of a folded
// wildcard compiles to the class of itself and its alternative. Regular
// expressions do not: (?i) folds by Unicode's simple case folding (see
// Regular expressions).
//
// One known difference remains: on current ClickHouse (not 18.16, not Match)
// a non-ASCII search text whose k, K, å, Å, ω or Ω is not its first character
// may also match the Kelvin sign, Angstrom sign or Ohm sign in an event, on
// some of ClickHouse's internal search paths ("5k" never does: ASCII search
// texts use the byte-wise function).
//
// The matcher assumes valid UTF-8, as event normalisation guarantees; an
// invalid byte in an event never matches a character of the search text.
package lql
