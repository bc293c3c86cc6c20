#!/usr/bin/env bash
# The sha256 of every release shard of a fixed-seed embedded run: generate N conversations
# (seed S), run the pipeline with a fixed salt and version, print "variant/shard sha256" lines.
# Used to show that a behaviour-preserving change leaves releases byte-identical: run it before
# and after and compare the output (docs/architecture.md, "Restructuring checks").
#   bench/shard_digests.sh [N] [SEED] [BIN_DIR]   (defaults 3000, 11, target/debug)
set -euo pipefail
N="${1:-3000}"
SEED="${2:-11}"
BIN_DIR="${3:-target/debug}"
WORK="$(mktemp -d)"
trap 'rm -rf "$WORK"' EXIT
"$BIN_DIR/coordinator" generate --conversations "$N" --seed "$SEED" --store "$WORK/store" > /dev/null 2>&1
# A fixed, test-only salt: the digests depend on it through hashed_ip.
printf '%s' 000102030405060708090a0b0c0d0e0f > "$WORK/salt.hex"
"$BIN_DIR/coordinator" run --store "$WORK/store" --version digests --workers 2 \
  --salt-file "$WORK/salt.hex" > "$WORK/summary.txt" 2>&1 || { cat "$WORK/summary.txt" >&2; exit 1; }
cd "$WORK/store/releases/digests"
find . -name '*.parquet' | sort | xargs sha256sum | awk '{print $2, $1}'
