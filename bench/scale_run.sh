#!/usr/bin/env bash
# The scale run of issue G: generate N WildChat-shaped conversations (1,000,000 gives about
# 2.7M raw rows) and release them end to end on the embedded default (in-process queue and
# workers, local store), recording wall time, rows/s, peak RSS, bytes written and the time of
# each phase.
#
# Usage: bench/scale_run.sh N [STORE_DIR]       (default STORE_DIR: target/scale-N)
#   make scale-run N=1000000
# Needs a release build (`cargo build --release -p coordinator`); WORKERS (default: one per
# core) and PARTITIONS (default: the coordinator's choice, ~256 MiB of raw rows each, which
# bounds a job's memory whatever N is) pass through. Disk: about 10 GB at N = 1M (a third of
# the generated objects are plain JSON lines, the rest gzip/zstd). Prints a Markdown summary
# and writes it to STORE_DIR/scale-run.md.
set -euo pipefail

N="${1:?usage: bench/scale_run.sh N [STORE_DIR]}"
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
STORE="${2:-$ROOT/target/scale-$N}"
BIN="${BIN:-$ROOT/target/release/coordinator}"
[ -x "$BIN" ] || { echo "error: $BIN is missing: cargo build --release -p coordinator" >&2; exit 2; }
[ -x /usr/bin/time ] || { echo "error: /usr/bin/time (GNU time) is needed for peak RSS" >&2; exit 2; }

rm -rf "$STORE"
mkdir -p "$STORE"
SALT="${WILDCHAT__IP_SALT:-$(head -c 16 /dev/urandom | od -An -tx1 | tr -d ' \n')}"
export WILDCHAT__IP_SALT="$SALT"

echo "scale run: generating $N conversations into $STORE" >&2
gen_start=$(date +%s.%N)
"$BIN" generate --conversations "$N" --seed 1 --store "$STORE" >&2
gen_end=$(date +%s.%N)
raw_bytes=$(du -sb "$STORE/raw" | cut -f1)

args=(run --store "$STORE" --version "scale-$N" --progress-secs 30)
[ -n "${WORKERS:-}" ] && args+=(--workers "$WORKERS")
[ -n "${PARTITIONS:-}" ] && args+=(--partitions "$PARTITIONS")
echo "scale run: $BIN ${args[*]}" >&2
/usr/bin/time -v -o "$STORE/time.txt" "$BIN" "${args[@]}" > "$STORE/summary.txt"

rss_kb=$(awk -F': ' '/Maximum resident set size/ {print $2}' "$STORE/time.txt")
wall=$(awk -F': ' '/Elapsed \(wall clock\)/ {print $2}' "$STORE/time.txt")
written=$(du -sb "$STORE/runs" "$STORE/releases" "$STORE/cache" 2>/dev/null | awk '{s+=$1} END {print s}')
lines=$(awk '/lines read/ {gsub(",", "", $NF); print $NF}' "$STORE/summary.txt")
{
  echo "## Scale run: $N conversations ($(date -u +%Y-%m-%dT%H:%MZ), $(nproc) cores)"
  echo
  echo "- generate: $(echo "$gen_end - $gen_start" | bc) s, $raw_bytes bytes of raw objects"
  echo "- run (embedded, one process): wall $wall, peak RSS $((rss_kb / 1024)) MiB, $lines raw lines"
  echo "- written by the run (runs/, releases/, cache/): $written bytes"
  echo
  echo '```'
  cat "$STORE/summary.txt"
  echo '```'
} | tee "$STORE/scale-run.md"
