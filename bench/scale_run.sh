#!/usr/bin/env bash
# The scale run of issue G: generate N WildChat-shaped conversations (1,000,000 gives about
# 2.7M raw rows) and release them end to end, recording wall time, rows/s, peak RSS per
# process, bytes written, the time of each phase and each process's peak RSS within each phase.
#
# Usage: bench/scale_run.sh N [STORE_DIR]       (default STORE_DIR: target/scale-N[-distributed])
#   make scale-run N=1000000                     embedded: in-process queue and workers, local store
#   make scale-run N=1000000 MODE=distributed    a real redis-server and moto_server (S3) on
#                                                loopback ports and WORKERS (default 2) separate
#                                                `worker run` processes
# Needs a release build (`cargo build --release --bins`) and GNU time. WORKERS (embedded default:
# one per core) and PARTITIONS (default: the coordinator's choice, ~256 MiB of raw rows each,
# which bounds a job's memory whatever N is) pass through. Disk at N = 1M: about 41 GB (20 GB of
# raw objects, 21 GB written by the run); in distributed mode moto keeps objects over 1 MiB in
# temporary files under TMPDIR and smaller ones in its memory. Every server and worker this
# script starts is stopped by its own pid when it exits. Prints a Markdown summary and writes it
# to STORE_DIR/scale-run.md; STORE_DIR/rss.tsv is the RSS timeline (one sample per second).
set -euo pipefail

N="${1:?usage: bench/scale_run.sh N [STORE_DIR]}"
MODE="${MODE:-embedded}"
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
case "$MODE" in
  embedded) STORE="${2:-$ROOT/target/scale-$N}" ;;
  distributed) STORE="${2:-$ROOT/target/scale-$N-distributed}" ;;
  *) echo "error: MODE must be embedded or distributed, not '$MODE'" >&2; exit 2 ;;
esac
BIN_DIR="${BIN_DIR:-$ROOT/target/release}"
for binary in coordinator worker; do
  [ -x "$BIN_DIR/$binary" ] || { echo "error: $BIN_DIR/$binary is missing: cargo build --release --bins" >&2; exit 2; }
done
[ -x /usr/bin/time ] || { echo "error: /usr/bin/time (GNU time) is needed for peak RSS" >&2; exit 2; }

rm -rf "$STORE"
mkdir -p "$STORE"
SALT="${WILDCHAT__IP_SALT:-$(head -c 16 /dev/urandom | od -An -tx1 | tr -d ' \n')}"
export WILDCHAT__IP_SALT="$SALT"

# Processes started here, by name and pid; all stopped on exit.
declare -A PIDS=()
SAMPLER=""
cleanup() {
  [ -n "$SAMPLER" ] && kill "$SAMPLER" 2>/dev/null || true
  for name in "${!PIDS[@]}"; do
    kill -TERM "${PIDS[$name]}" 2>/dev/null || true
  done
  for name in "${!PIDS[@]}"; do
    for _ in $(seq 1 100); do
      kill -0 "${PIDS[$name]}" 2>/dev/null || break
      sleep 0.1
    done
    kill -KILL "${PIDS[$name]}" 2>/dev/null || true
  done
}
trap cleanup EXIT

free_port() {
  python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1]); s.close()'
}

# Waits (at most $2 seconds) until the URL $1 answers 200.
wait_http() {
  for _ in $(seq 1 "$(( $2 * 10 ))"); do
    curl -fsS -o /dev/null "$1" 2>/dev/null && return 0
    sleep 0.1
  done
  echo "error: $1 did not answer within $2 s" >&2
  return 1
}

# One line per second: elapsed seconds since the run started, then name=RSS_KiB per process.
sample_rss() {
  local started="$1"
  shift
  while true; do
    local line
    line="$(echo "$(date +%s.%N) - $started" | bc)"
    for entry in "$@"; do
      local rss
      rss=$(awk '/^VmRSS:/ {print $2}' "/proc/${entry#*=}/status" 2>/dev/null || echo 0)
      line+=$'\t'"${entry%%=*}=${rss:-0}"
    done
    echo "$line"
    sleep 1
  done
}

# Peak RSS (VmHWM, KiB) of a running process.
peak_kib() { awk '/^VmHWM:/ {print $2}' "/proc/$1/status"; }

if [ "$MODE" = distributed ]; then
  command -v redis-server >/dev/null && command -v moto_server >/dev/null \
    || { echo "error: redis-server and moto_server are needed: bash infra/dev/setup.sh" >&2; exit 2; }
  REDIS_PORT=$(free_port)
  S3_PORT=$(free_port)
  redis-server --port "$REDIS_PORT" --bind 127.0.0.1 --save '' --appendonly no \
    > "$STORE/redis.log" 2>&1 &
  PIDS[redis]=$!
  # Objects over 1 MiB go to temporary files, so moto's memory holds only the small ones.
  MOTO_S3_DEFAULT_KEY_BUFFER_SIZE=1048576 moto_server -H 127.0.0.1 -p "$S3_PORT" > "$STORE/moto.log" 2>&1 &
  PIDS[moto]=$!
  export AWS_ENDPOINT_URL="http://127.0.0.1:$S3_PORT" AWS_ACCESS_KEY_ID=testing \
    AWS_SECRET_ACCESS_KEY=testing AWS_REGION=us-east-1
  unset AWS_PROFILE AWS_SESSION_TOKEN
  wait_http "$AWS_ENDPOINT_URL/moto-api/" 60
  for _ in $(seq 1 100); do
    redis-cli -p "$REDIS_PORT" ping >/dev/null 2>&1 && break
    sleep 0.1
  done
  python3 -c 'import boto3; boto3.client("s3").create_bucket(Bucket="scale")'
  STORE_URI="s3://scale/store"
  QUEUE_URI="redis://127.0.0.1:$REDIS_PORT"
else
  STORE_URI="$STORE"
fi

echo "scale run ($MODE): generating $N conversations into $STORE_URI" >&2
gen_start=$(date +%s.%N)
"$BIN_DIR/coordinator" generate --conversations "$N" --seed 1 --store "$STORE_URI" >&2
gen_end=$(date +%s.%N)

# Bytes under the store's prefixes: du for a local store, a listing for S3.
store_bytes() {
  if [ "$MODE" = distributed ]; then
    python3 - "$@" <<'EOF'
import sys, boto3
pages = boto3.client("s3").get_paginator("list_objects_v2")
total = 0
for prefix in sys.argv[1:]:
    for page in pages.paginate(Bucket="scale", Prefix="store/" + prefix + "/"):
        total += sum(item["Size"] for item in page.get("Contents", []))
print(total)
EOF
  else
    (cd "$STORE" && du -sb "$@" 2>/dev/null | awk '{s += $1} END {printf "%d\n", s}')
  fi
}
raw_bytes=$(store_bytes raw)

args=(run --store "$STORE_URI" --version "scale-$N" --progress-secs 30)
[ -n "${PARTITIONS:-}" ] && args+=(--partitions "$PARTITIONS")
processes=()
if [ "$MODE" = distributed ]; then
  args+=(--queue "$QUEUE_URI")
  cat > "$STORE/worker.toml" <<'EOF'
log = "info"
log_format = "json"
EOF
  for index in $(seq 1 "${WORKERS:-2}"); do
    port=$(free_port)
    "$BIN_DIR/worker" run --config "$STORE/worker.toml" --store "$STORE_URI" --queue "$QUEUE_URI" \
      --listen "127.0.0.1:$port" --name "w$index" > "$STORE/worker-$index.log" 2>&1 &
    PIDS[worker-$index]=$!
    wait_http "http://127.0.0.1:$port/healthz" 120
    processes+=("worker-$index=${PIDS[worker-$index]}")
  done
  processes+=("moto=${PIDS[moto]}" "redis=${PIDS[redis]}")
else
  [ -n "${WORKERS:-}" ] && args+=(--workers "$WORKERS")
fi

echo "scale run: $BIN_DIR/coordinator ${args[*]}" >&2
run_start=$(date +%s.%N)
/usr/bin/time -v -o "$STORE/time.txt" "$BIN_DIR/coordinator" "${args[@]}" > "$STORE/summary.txt" &
TIME_PID=$!
# GNU time's child is the coordinator.
for _ in $(seq 1 50); do
  COORDINATOR_PID=$(pgrep -P "$TIME_PID" || true)
  [ -n "$COORDINATOR_PID" ] && break
  sleep 0.1
done
sample_rss "$run_start" "coordinator=${COORDINATOR_PID:-0}" "${processes[@]}" > "$STORE/rss.tsv" &
SAMPLER=$!
status=0
wait "$TIME_PID" || status=$?
kill "$SAMPLER" 2>/dev/null || true
SAMPLER=""
[ "$status" -eq 0 ] || { echo "error: the run failed (exit $status); see $STORE/summary.txt and the logs" >&2; exit "$status"; }

declare -A PEAK=()
PEAK[coordinator]=$(awk -F': ' '/Maximum resident set size/ {print $2}' "$STORE/time.txt")
for entry in "${processes[@]}"; do
  PEAK[${entry%%=*}]=$(peak_kib "${entry#*=}")
done
wall=$(awk -F': ' '/Elapsed \(wall clock\)/ {print $2}' "$STORE/time.txt")
written=$(store_bytes runs releases cache)
lines=$(awk '/lines read/ {gsub(",", "", $NF); print $NF}' "$STORE/summary.txt")

# Peak RSS of each process within each phase, from the timeline and the summary's phase times.
phase_table() {
  awk -F'\t' '
    FNR == NR {
      if ($0 ~ /^  elapsed/) { in_phases = 1; next }
      if (in_phases && $0 ~ /^    [a-z]/) {
        n = split($0, parts, " "); seconds = parts[n]; sub(/s$/, "", seconds)
        name = parts[1]; for (i = 2; i < n; i++) name = name " " parts[i]
        phases[++count] = name; ends[count] = total + seconds; total += seconds
      } else if (in_phases) { in_phases = 0 }
      next
    }
    {
      phase = count
      for (i = 1; i <= count; i++) if ($1 <= ends[i]) { phase = i; break }
      for (f = 2; f <= NF; f++) {
        split($f, kv, "="); names[kv[1]] = 1
        if (kv[2] > peak[phase, kv[1]]) peak[phase, kv[1]] = kv[2]
      }
    }
    END {
      header = "| phase | seconds |"; rule = "| --- | ---: |"
      n = 0; for (name in names) ordered[++n] = name
      for (i = 1; i <= n; i++) for (j = i + 1; j <= n; j++) if (ordered[j] < ordered[i]) { t = ordered[i]; ordered[i] = ordered[j]; ordered[j] = t }
      for (i = 1; i <= n; i++) { header = header " " ordered[i] " peak RSS |"; rule = rule " ---: |" }
      print header; print rule
      for (p = 1; p <= count; p++) {
        line = sprintf("| %s | %.1f |", phases[p], ends[p] - (p > 1 ? ends[p - 1] : 0))
        # A phase shorter than the sampling interval has no sample: "-", not 0 MiB.
        for (i = 1; i <= n; i++) line = line (((p, ordered[i]) in peak) ? sprintf(" %.0f MiB |", peak[p, ordered[i]] / 1024) : " - |")
        print line
      }
    }' "$STORE/summary.txt" "$STORE/rss.tsv"
}

{
  echo "## Scale run ($MODE): $N conversations ($(date -u +%Y-%m-%dT%H:%MZ), $(nproc) cores)"
  echo
  echo "- generate: $(echo "$gen_end - $gen_start" | bc) s, $raw_bytes bytes of raw objects"
  echo "- run: wall $wall, $lines raw lines"
  for name in $(printf '%s\n' "${!PEAK[@]}" | sort); do
    echo "- peak RSS $name: $(( ${PEAK[$name]:-0} / 1024 )) MiB"
  done
  echo "- written by the run (runs/, releases/, cache/): $written bytes"
  echo
  echo "Peak RSS per phase (sampled once a second):"
  echo
  phase_table
  echo
  echo '```'
  cat "$STORE/summary.txt"
  echo '```'
} | tee "$STORE/scale-run.md"
