#!/usr/bin/env bash
# Installs what the tests need on a fresh machine, only where it is missing:
# python3 with pyarrow and Hugging Face datasets (they read releases the way dataset users
# do) and gzip.
set -euo pipefail

if ! command -v python3 >/dev/null 2>&1; then
  echo "setup: installing python3" >&2
  apt-get update -qq && apt-get install -y -qq python3 python3-pip >/dev/null
fi
if ! python3 -c 'import pyarrow' >/dev/null 2>&1; then
  echo "setup: installing pyarrow" >&2
  python3 -m pip install --quiet --disable-pip-version-check pyarrow \
    || python3 -m pip install --quiet --disable-pip-version-check --break-system-packages pyarrow
fi
if ! python3 -c 'import datasets' >/dev/null 2>&1; then
  echo "setup: installing datasets" >&2
  python3 -m pip install --quiet --disable-pip-version-check datasets \
    || python3 -m pip install --quiet --disable-pip-version-check --break-system-packages datasets
fi
if ! command -v gzip >/dev/null 2>&1; then
  apt-get update -qq && apt-get install -y -qq gzip >/dev/null
fi
echo "setup: ok (python3 $(python3 -c 'import pyarrow; print("pyarrow", pyarrow.__version__)'))" >&2
