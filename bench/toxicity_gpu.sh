#!/usr/bin/env bash
# GPU benchmark of the transformer toxicity stage against PyTorch (the way Detoxify runs it).
#
# Usage (from anywhere; paths are relative to the repository root):
#   ORT_GPU_DIR=/path/to/onnxruntime-gpu/lib bench/toxicity_gpu.sh [options of toxicity_gpu.py]
# e.g.
#   ORT_GPU_DIR=$PWD/ort-gpu BIN=$PWD/toxicity bench/toxicity_gpu.sh --models bert,xlmr --limit 4000
#
# What it needs:
#   - an NVIDIA GPU and its driver (nvidia-smi);
#   - python3 with torch (CUDA build), transformers, tokenizers and onnx (onnxruntime, CPU, is
#     optional: with it the fp32 exports are checked against PyTorch; it is not used for timing);
#   - the `toxicity` binary: `cargo build --release -p toxicity` (BIN, default
#     target/release/toxicity);
#   - ORT_GPU_DIR: a folder holding the onnxruntime-gpu 1.31.1 libraries
#     libonnxruntime.so.1.31.1, libonnxruntime_providers_cuda.so and
#     libonnxruntime_providers_shared.so (from the PyPI wheel onnxruntime-gpu==1.31.1,
#     onnxruntime/capi/); ORT_DYLIB_PATH is set to $ORT_GPU_DIR/libonnxruntime.so.1.31.1;
#   - the CUDA 13 and cuDNN 9 libraries for that provider: by default the nvidia/*/lib folders
#     of python3's site-packages (the CUDA wheels torch installs) go on LD_LIBRARY_PATH; set
#     CUDA_LIB_DIRS (colon-separated) to use other folders instead.
# Environment:
#   BIN          the toxicity binary (default target/release/toxicity)
#   ORT_GPU_DIR  see above (not needed with --skip-ours)
#   OUT          output folder (default target/toxicity-gpu): toxicity_gpu.json, toxicity_gpu.md
#   WORK         working folder (default target/toxicity-gpu-work): texts.jsonl and the exported
#                models (about 2.5 GB for both models), kept apart from OUT
#   TEXTS        benchmark texts, {"text": ...} per line (default bench/data/toxicity_texts.jsonl)
#   TIME_LIMIT   seconds before the Python run is stopped (default 345, for a 6-minute slot);
#                what was measured by then is in OUT
# Options after the script name go to bench/toxicity_gpu.py (see --help there) and win over the
# defaults set here. Exits non-zero when anything failed.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"

BIN="${BIN:-target/release/toxicity}"
OUT="${OUT:-target/toxicity-gpu}"
WORK="${WORK:-target/toxicity-gpu-work}"
TEXTS="${TEXTS:-bench/data/toxicity_texts.jsonl}"
TIME_LIMIT="${TIME_LIMIT:-345}"
export PYTHONUNBUFFERED=1

say() { printf '[%s] toxicity_gpu.sh: %s\n' "$(date +%H:%M:%S)" "$*"; }
die() { say "error: $*" >&2; exit 2; }

skip_ours=false
own_texts=false
own_bin=false
for arg in "$@"; do
    case "$arg" in
        --skip-ours) skip_ours=true ;;
        --texts|--texts=*) own_texts=true ;;
        --bin|--bin=*) own_bin=true ;;
        -h|--help) exec python3 bench/toxicity_gpu.py --help ;;
    esac
done

command -v python3 >/dev/null || die "python3 is not on PATH"
$own_texts || [[ -f "$TEXTS" ]] || die "no benchmark texts at $TEXTS (set TEXTS or pass --texts)"

# CUDA 13 / cuDNN 9 libraries: the nvidia/*/lib folders of python3's site-packages by default.
if [[ -n "${CUDA_LIB_DIRS:-}" ]]; then
    cuda_dirs="$CUDA_LIB_DIRS"
else
    cuda_dirs="$(python3 - <<'PY'
import glob, os, site, sys
roots = list(site.getsitepackages()) + [site.getusersitepackages()] + [p for p in sys.path if p.endswith("-packages")]
seen = []
for root in roots:
    for pattern in ("nvidia/*/lib", "nvidia/*/lib64", "nvidia/*/*/lib"):
        for folder in sorted(glob.glob(os.path.join(root, pattern))):
            folder = os.path.realpath(folder)
            if folder not in seen and glob.glob(os.path.join(folder, "*.so*")):
                seen.append(folder)
print(":".join(seen))
PY
)"
fi
if [[ -n "$cuda_dirs" ]]; then
    export LD_LIBRARY_PATH="${cuda_dirs}${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}"
    say "CUDA library folders on LD_LIBRARY_PATH:"
    tr ':' '\n' <<<"$cuda_dirs" | sed 's/^/    /'
else
    say "warning: found no nvidia/*/lib folders in python3's site-packages; relying on the system's CUDA libraries"
fi

if ! $skip_ours; then
    $own_bin || [[ -x "$BIN" ]] || die "no toxicity binary at $BIN: run 'cargo build --release -p toxicity' or set BIN (or pass --skip-ours)"
    [[ -n "${ORT_GPU_DIR:-}" ]] || die "set ORT_GPU_DIR to the folder with the onnxruntime-gpu 1.31.1 libraries (or pass --skip-ours)"
    ORT_GPU_DIR="$(cd "$ORT_GPU_DIR" && pwd)"
    for library in libonnxruntime.so.1.31.1 libonnxruntime_providers_cuda.so libonnxruntime_providers_shared.so; do
        [[ -f "$ORT_GPU_DIR/$library" ]] || die "$ORT_GPU_DIR has no $library"
    done
    export ORT_DYLIB_PATH="$ORT_GPU_DIR/libonnxruntime.so.1.31.1"
    export LD_LIBRARY_PATH="$ORT_GPU_DIR${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}"
    say "ORT_DYLIB_PATH=$ORT_DYLIB_PATH"
    if command -v ldd >/dev/null; then
        if linked="$(ldd "$ORT_GPU_DIR/libonnxruntime_providers_cuda.so" 2>&1)"; then
            missing="$(grep 'not found' <<<"$linked" || true)"
            if [[ -n "$missing" ]]; then
                say "warning: libraries of the CUDA provider that are not found (its registration will fail):"
                sed 's/^/    /' <<<"$missing"
            else
                say "the CUDA provider's libraries all resolve"
            fi
        else
            say "warning: ldd cannot read $ORT_GPU_DIR/libonnxruntime_providers_cuda.so: $linked"
        fi
    fi
fi

say "GPUs:"
nvidia-smi -L || die "nvidia-smi failed: no NVIDIA GPU or driver"

python_args=(--texts "$TEXTS" --out "$OUT" --work "$WORK")
$skip_ours || $own_bin || python_args+=(--bin "$BIN")
say "python3 bench/toxicity_gpu.py ${python_args[*]} $*"
status=0
if command -v timeout >/dev/null; then
    timeout --signal=TERM --kill-after=15 "$TIME_LIMIT" \
        python3 bench/toxicity_gpu.py "${python_args[@]}" "$@" || status=$?
else
    python3 bench/toxicity_gpu.py "${python_args[@]}" "$@" || status=$?
fi
if [[ $status -eq 124 ]]; then
    say "stopped after ${TIME_LIMIT}s; partial results in $OUT/toxicity_gpu.json and $OUT/toxicity_gpu.md"
fi
if [[ $status -ne 0 ]]; then
    say "failed (exit $status)"
    exit "$status"
fi
say "done: $OUT/toxicity_gpu.md"
