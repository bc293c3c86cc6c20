#!/usr/bin/env bash
# Rebuilds the tiny random-weight test token classifier in models/pii/tiny-ner/ (model.onnx,
# tokenizer.json, config.toml, golden.jsonl, MODEL.md); see build.py for what each file is.
#
#   infra/models/tiny_ner/build.sh           rebuild the committed files in place
#   infra/models/tiny_ner/build.sh --check   build twice into temporary folders and fail unless
#                                            both builds and the committed files are byte for
#                                            byte the same
#
# The tokenizer is models/toxicity/tiny-bert/tokenizer.json, copied. Python packages come from
# PyPI into the virtual environment target/model-venv-tiny (git-ignored) that
# infra/models/tiny_classifier/build.sh uses too, at the same pinned versions; the output is
# reproducible for these versions. Set PYTHON to choose the interpreter that makes it.
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
repo="$(cd "$here/../../.." && pwd)"
venv="$repo/target/model-venv-tiny"
out="$repo/models/pii/tiny-ner"
pins=(
  "numpy==2.3.5"
  "onnx==1.23.2"
  "onnxruntime==1.31.1"
  "protobuf==7.36.2"
  "tokenizers==0.22.2"
)

# (Re)make the environment when it is missing or was made with other pins.
stamp="$venv/.pins"
if [ ! -x "$venv/bin/python" ] || [ "$(cat "$stamp" 2>/dev/null)" != "${pins[*]}" ]; then
  echo "build.sh: making $venv" >&2
  rm -rf "$venv"
  "${PYTHON:-python3}" -m venv "$venv"
  "$venv/bin/python" -m pip install --quiet --disable-pip-version-check "${pins[@]}"
  printf '%s' "${pins[*]}" >"$stamp"
fi

# Keep the build single-threaded and free of environment-dependent hashing.
export PYTHONHASHSEED=0 RAYON_NUM_THREADS=1 TOKENIZERS_PARALLELISM=false OMP_NUM_THREADS=1

case "${1:-}" in
  "")
    "$venv/bin/python" "$here/build.py" --out "$out"
    echo "build.sh: wrote $out ($(du -sk "$out" | cut -f1) KiB)" >&2
    ;;
  --check)
    scratch="$(mktemp -d)"
    trap 'rm -rf "$scratch"' EXIT
    "$venv/bin/python" "$here/build.py" --out "$scratch/first"
    "$venv/bin/python" "$here/build.py" --out "$scratch/second"
    diff -r "$scratch/first" "$scratch/second" >/dev/null \
      || { echo "build.sh: two builds differ" >&2; diff -rq "$scratch/first" "$scratch/second" >&2; exit 1; }
    if [ -d "$out" ]; then
      diff -r "$scratch/first" "$out" >/dev/null \
        || { echo "build.sh: the committed files differ from a fresh build" >&2; diff -rq "$scratch/first" "$out" >&2; exit 1; }
    fi
    echo "build.sh: two builds are byte-identical$([ -d "$out" ] && echo ", and equal to $out")" >&2
    ;;
  *)
    echo "usage: $0 [--check]" >&2
    exit 2
    ;;
esac
