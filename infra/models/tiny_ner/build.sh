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
# infra/models/tiny_classifier/build.sh uses too, at the versions pinned in ../tiny_common.sh;
# the output is reproducible for these versions. Set PYTHON to choose the interpreter that
# makes it.
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
# shellcheck source=../tiny_common.sh
source "$here/../tiny_common.sh"
tiny_build "$here/build.py" "$tiny_common_repo/models/pii/tiny-ner" "${1:-}"
