#!/usr/bin/env bash
# Rebuild models/toxicity/profanity-check/ (model.onnx, golden.jsonl, MODEL.md)
# from the alt-profanity-check wheel on PyPI.
#
#   bash infra/models/profanity_check/build.sh          # rebuild in place
#   bash infra/models/profanity_check/build.sh --check  # rebuild twice in a
#       temporary folder and require both runs and the committed files to be
#       byte-identical
#
# The virtual environment lives in target/model-venv (git-ignored); PYTHON
# picks the interpreter that creates it (Python >= 3.11, default python3).
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../../.." && pwd)"
HERE="$ROOT/infra/models/profanity_check"
OUT="$ROOT/models/toxicity/profanity-check"
VENV="$ROOT/target/model-venv"
# The project's shared/ data folder sits beside the repository.
JIGSAW="${JIGSAW:-$ROOT/testdata/toxicity/jigsaw_sample.csv}"

# Direct pins first, then everything they pull in, so a rebuild resolves to
# the same wheels. scikit-learn must be the version that pickled the shipped
# model (alt-profanity-check 1.9.1 requires exactly 1.9.1).
PACKAGES=(
    alt-profanity-check==1.9.1
    scikit-learn==1.9.1
    skl2onnx==1.20.0
    onnx==1.23.2
    onnxruntime==1.31.1
    regex==2026.11.19
    numpy==2.4.6
    scipy==1.17.1
    joblib==1.6.0
    threadpoolctl==3.8.0
    cloudpickle==3.1.3
    narwhals==2.29.0
    protobuf==7.36.2
    ml_dtypes==0.6.0
    typing_extensions==4.16.0
    flatbuffers==25.12.19
    packaging==26.4
)

if [[ ! -f "$JIGSAW" ]]; then
    echo "build.sh: jigsaw sample not found at $JIGSAW (set JIGSAW=...)" >&2
    exit 1
fi

if [[ ! -x "$VENV/bin/python" ]]; then
    "${PYTHON:-python3}" -m venv "$VENV"
fi
"$VENV/bin/python" -m pip install --quiet --disable-pip-version-check \
    --only-binary=:all: "${PACKAGES[@]}"

export PYTHONHASHSEED=0 OMP_NUM_THREADS=1
build() {
    "$VENV/bin/python" "$HERE/build.py" --jigsaw "$JIGSAW" --out "$1"
    # The sparse form the pipeline runs (see sparse.py), checked against the same golden file.
    "$VENV/bin/python" "$HERE/sparse.py" "$1/model.onnx" "$1/model-sparse.onnx" "$1/golden.jsonl"
}

if [[ "${1:-}" == "--check" ]]; then
    TMP="$(mktemp -d)"
    trap 'rm -rf "$TMP"' EXIT
    build "$TMP/a"
    build "$TMP/b"
    status=0
    diff -r "$TMP/a" "$TMP/b" >/dev/null || { echo "build.sh: two runs differ" >&2; status=1; }
    diff -r "$TMP/a" "$OUT" >/dev/null || { echo "build.sh: $OUT differs from a rebuild" >&2; status=1; }
    [[ $status == 0 ]] && echo "build.sh: two rebuilds and $OUT are byte-identical"
    exit $status
fi

build "$OUT"
