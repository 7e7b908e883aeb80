// Command chmodern prints Sawmill's ClickHouse schema (every migration in
// pkg/store, one statement per line ending in ';') for bench/chmodern/run.sh,
// which measures on chDB — ClickHouse 26.x as a library, from npm — what the
// optional search_text ngram index buys and costs.
//
//	bench/chmodern/run.sh [rows]     # default 3,000,000
package main

import (
	"fmt"
	"strings"

	"github.com/sawmillhq/sawmill/pkg/store"
)

func main() {
	for _, m := range store.Migrations {
		fmt.Println(strings.Join(strings.Fields(m.SQL), " ") + ";")
	}
}
