#!/usr/bin/env bash
# Rebuilds the tiny random-weight test classifier in models/toxicity/tiny-bert/ (model.onnx,
# tokenizer.json, config.toml, golden.jsonl, MODEL.md); see build.py for what each file is.
#
#   infra/models/tiny_classifier/build.sh           rebuild the committed files in place
#   infra/models/tiny_classifier/build.sh --check   build twice into temporary folders and
#                                                   fail unless both builds and the committed
#                                                   files are byte for byte the same
#
# Python packages come from PyPI into a virtual environment at target/model-venv-tiny
# (git-ignored), at the versions pinned in ../tiny_common.sh (shared with tiny_ner); the output
# is reproducible for these versions. Set PYTHON to choose the interpreter that makes the
# environment (default python3).
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
# shellcheck source=../tiny_common.sh
source "$here/../tiny_common.sh"
tiny_build "$here/build.py" "$tiny_common_repo/models/toxicity/tiny-bert" "${1:-}"
