#!/usr/bin/env bash
# Trains the multilingual toxicity model and writes models/toxicity/multilingual/ (model.onnx,
# config.toml, golden.jsonl, data.json, training.log) from the labelled sets of the shared data
# folder (toxicity-train/ and toxicity/jigsaw_sample.csv; benign chat prompts from
# conversations/ only to choose the threshold).
#
#   DATA=/path/to/data bash infra/models/multilingual_toxicity/build.sh
#
# DATA is the development data folder (toxicity-train/, toxicity/, conversations/; see its
# SOURCES.md); it is not part of the repository.
#
# Seeded and single-threaded: the same data and pins give the same weights. The virtual
# environment lives in target/model-venv-multi (git-ignored); features are cached in
# target/multilingual-toxicity/ between runs.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../../.." && pwd)"
HERE="$ROOT/infra/models/multilingual_toxicity"
OUT="$ROOT/models/toxicity/multilingual"
WORK="$ROOT/target/multilingual-toxicity"
VENV="$ROOT/target/model-venv-multi"
DATA="${DATA:?set DATA to the development data folder (with toxicity-train/)}"
PINS=(numpy==2.3.5 onnx==1.23.2 onnxruntime==1.31.1 protobuf==7.36.2)

if [[ ! -d "$DATA/toxicity-train" ]]; then
    echo "build.sh: no labelled data at $DATA/toxicity-train (set DATA=...)" >&2
    exit 1
fi
if [[ ! -x "$VENV/bin/python" ]] || [[ "$(cat "$VENV/.pins" 2>/dev/null)" != "${PINS[*]}" ]]; then
    rm -rf "$VENV"
    "${PYTHON:-python3}" -m venv "$VENV"
    "$VENV/bin/python" -m pip install --quiet --disable-pip-version-check "${PINS[@]}"
    printf '%s' "${PINS[*]}" > "$VENV/.pins"
fi
export PYTHONHASHSEED=0 OMP_NUM_THREADS=1 OPENBLAS_NUM_THREADS=1
cd "$HERE"
"$VENV/bin/python" train.py --data "$DATA" --out "$WORK/trained" --cache "$WORK/features"
"$VENV/bin/python" export.py --trained "$WORK/trained" --data "$DATA" --out "$OUT"
cp "$WORK/trained/training.log" "$WORK/trained/data.json" "$OUT/"
sha256sum "$OUT/model.onnx"
