// Package lql provides LQL, Sawmill's log query language: a parser that turns a
// query string into an AST, a compiler from the AST to a ClickHouse boolean
// expression over the logs table, and an in-memory matcher with exactly the
// semantics of that expression (the live tail filters events with it).
//
// It must not talk to ClickHouse, know about tenants or time ranges, or build
// whole statements: the caller wraps the expression from [Query.SQL] with its
// own tenant and time predicates. It must never put query text into SQL: every
// literal travels as a `?` argument.
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
//	primary = "(" or ")" | field | term .
//	field   = name ":" ( word | phrase ) .            // no white space around ":"
//	term    = word | phrase .
//	name    = /[A-Za-z0-9_.@-]+/ .
//	word    = a run of characters other than white space, '"', '(' and ')'
//	          that does not start with "-" and, unless right after "-",
//	          is not a keyword (so -OR excludes events containing "or") .
//	phrase  = '"' { any character but '"' and '\' | '\"' | '\\' } '"' .
//
// A word containing ':' is a field: the text before the first ':' is the
// name, the rest the value (which may contain more colons, as in
// url:http://example.com). Quote a term that contains ':' to search for it
// as text. White space is space, tab, CR and LF; other control characters
// and invalid UTF-8 are errors. Characters that later versions of the
// language will give a meaning are reserved and rejected unless quoted: '*'
// (wildcards), '|' (pipes), and a field value starting with '<' or '>'
// (comparisons).
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
// # Limits
//
// A query is at most [MaxQueryBytes] bytes with at most [MaxTerms] terms and
// fields, nested at most [MaxDepth] levels deep (parentheses and negations).
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
// One known difference remains: on current ClickHouse (not 18.16, not Match)
// a non-ASCII search text whose k, K, å, Å, ω or Ω is not its first character
// may also match the Kelvin sign, Angstrom sign or Ohm sign in an event, on
// some of ClickHouse's internal search paths ("5k" never does: ASCII search
// texts use the byte-wise function).
//
// The matcher assumes valid UTF-8, as event normalisation guarantees; an
// invalid byte in an event never matches a character of the search text.
package lql
