#!/usr/bin/env bash
# Where an embedded run's time goes: generate N conversations (default 20,000), release them with
# `coordinator run` (in-process queue and workers, local store) under `perf record -g`, and print
#   1. the run's own time per phase (its summary),
#   2. the share of CPU samples by stage (crate::module), by library (zstd, lingua, JSON, sha256,
#      regexes, Parquet, ONNX Runtime, kernel page zeroing, allocator...) and the hottest
#      functions (bench/profile_summary.py).
# Writes OUT_DIR (default target/profile-N): perf.data, profile.md (what is printed) and
# folded.txt (collapsed stacks, root first: the input of a flame graph tool such as
# `inferno-flamegraph folded.txt > flame.svg` or flamegraph.pl).
#
# Usage: bench/profile.sh [N]        or   make profile N=20000
# Needs `perf` (Debian: linux-perf) and a release build (`cargo build --release --bins`; the
# release profile keeps line tables, so stacks have names). FREQ (default 499) sets the sampling
# rate per core.
set -euo pipefail

N="${1:-20000}"
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
OUT_DIR="${OUT_DIR:-$ROOT/target/profile-$N}"
BIN_DIR="${BIN_DIR:-$ROOT/target/release}"
FREQ="${FREQ:-199}"
command -v perf >/dev/null || { echo "error: perf is needed (Debian: apt-get install linux-perf)" >&2; exit 2; }
[ -x "$BIN_DIR/coordinator" ] || { echo "error: $BIN_DIR/coordinator is missing: cargo build --release --bins" >&2; exit 2; }

rm -rf "$OUT_DIR"
mkdir -p "$OUT_DIR"
STORE="$OUT_DIR/store"
export WILDCHAT__IP_SALT="${WILDCHAT__IP_SALT:-$(head -c 16 /dev/urandom | od -An -tx1 | tr -d ' \n')}"
echo "profile: generating $N conversations" >&2
"$BIN_DIR/coordinator" generate --conversations "$N" --seed 1 --store "$STORE" >&2
echo "profile: coordinator run under perf record (-F $FREQ, call graph ${CALL_GRAPH:-dwarf,16384})" >&2
perf record -F "$FREQ" --call-graph "${CALL_GRAPH:-dwarf,16384}" -o "$OUT_DIR/perf.data" -- \
  "$BIN_DIR/coordinator" run --store "$STORE" --version "profile-$N" > "$OUT_DIR/summary.txt" 2> "$OUT_DIR/run.log"
{
  echo "# Profile of an embedded run of $N generated conversations"
  echo
  echo "\`bench/profile.sh $N\` on $(nproc) cores, $(date -u +%Y-%m-%d)."
  echo
  echo "The run's summary:"
  echo
  echo '```'
  cat "$OUT_DIR/summary.txt"
  echo '```'
  echo
  perf script --no-inline -i "$OUT_DIR/perf.data" -F comm,ip,sym,dso 2>/dev/null \
    | python3 "$ROOT/bench/profile_summary.py" --folded "$OUT_DIR/folded.txt"
} > "$OUT_DIR/profile.md"
cat "$OUT_DIR/profile.md"
echo "profile: $OUT_DIR/profile.md, flame graph input $OUT_DIR/folded.txt" >&2
