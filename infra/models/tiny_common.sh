# Shared by infra/models/tiny_classifier/build.sh and infra/models/tiny_ner/build.sh (sourced):
# the pinned virtual environment target/model-venv-tiny (git-ignored) and the rebuild / --check
# logic. Set PYTHON to choose the interpreter that makes the environment (default python3).
#
#   tiny_build BUILD_PY OUT [--check]
#     no flag   run BUILD_PY --out OUT, rewriting the committed files in place
#     --check   build twice into temporary folders and fail unless both builds and the
#               committed files in OUT are byte for byte the same

tiny_common_repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
tiny_common_venv="$tiny_common_repo/target/model-venv-tiny"
# The output is reproducible for these versions.
tiny_common_pins=(
  "numpy==2.3.5"
  "onnx==1.23.2"
  "onnxruntime==1.31.1"
  "protobuf==7.36.2"
  "tokenizers==0.22.2"
)

# (Re)makes the environment when it is missing or was made with other pins.
tiny_venv() {
  local venv="$tiny_common_venv" stamp="$tiny_common_venv/.pins"
  if [ ! -x "$venv/bin/python" ] || [ "$(cat "$stamp" 2>/dev/null)" != "${tiny_common_pins[*]}" ]; then
    echo "build.sh: making $venv" >&2
    rm -rf "$venv"
    "${PYTHON:-python3}" -m venv "$venv"
    "$venv/bin/python" -m pip install --quiet --disable-pip-version-check "${tiny_common_pins[@]}"
    printf '%s' "${tiny_common_pins[*]}" >"$stamp"
  fi
}

tiny_build() {
  local build_py="$1" out="$2" mode="${3:-}"
  local python="$tiny_common_venv/bin/python"
  tiny_venv
  # Keep the build single-threaded and free of environment-dependent hashing.
  export PYTHONHASHSEED=0 RAYON_NUM_THREADS=1 TOKENIZERS_PARALLELISM=false OMP_NUM_THREADS=1
  case "$mode" in
    "")
      "$python" "$build_py" --out "$out"
      echo "build.sh: wrote $out ($(du -sk "$out" | cut -f1) KiB)" >&2
      ;;
    --check)
      tiny_common_scratch="$(mktemp -d)"
      trap 'rm -rf "$tiny_common_scratch"' EXIT
      local scratch="$tiny_common_scratch"
      "$python" "$build_py" --out "$scratch/first"
      "$python" "$build_py" --out "$scratch/second"
      diff -r "$scratch/first" "$scratch/second" >/dev/null \
        || { echo "build.sh: two builds differ" >&2; diff -rq "$scratch/first" "$scratch/second" >&2; return 1; }
      if [ -d "$out" ]; then
        diff -r "$scratch/first" "$out" >/dev/null \
          || { echo "build.sh: the committed files differ from a fresh build" >&2; diff -rq "$scratch/first" "$out" >&2; return 1; }
      fi
      echo "build.sh: two builds are byte-identical$([ -d "$out" ] && echo ", and equal to $out")" >&2
      ;;
    *)
      echo "usage: $0 [--check]" >&2
      return 2
      ;;
  esac
}
