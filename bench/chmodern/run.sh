#!/usr/bin/env bash
# Measures on chDB (ClickHouse 26.x) what the optional search_text ngram index
# (pkg/store migration 5) buys for a rare-term search and costs on insert.
# Uses the chDB that ../shared/tools/ch-modern-check installs.
set -euo pipefail
rows=${1:-3000000}
cache=${CH_MODERN_CACHE:-$HOME/.cache/ch-modern}
[ -d "$cache/node_modules/chdb" ] || { echo "run ../shared/tools/ch-modern-check once first (installs chDB)" >&2; exit 1; }
dir=$(cd "$(dirname "$0")" && pwd)
schema=$(mktemp)
trap 'rm -f "$schema"' EXIT
(cd "$dir/../.." && go run ./bench/chmodern) > "$schema"
for mode in noindex index; do
  NODE_PATH="$cache/node_modules" node "$dir/searchtext.js" "$schema" "$mode" "$rows"
done
