#!/usr/bin/env python3
"""Fetches the two run-time assets the images ship, from PyPI, the way infra/dev/setup.sh does.

Runs in a throw-away build stage (python:3.12-slim), so neither pip nor Python reaches a final
image:

  fetch_runtime.py onnxruntime --package onnxruntime==1.31.1 --dest DIR
      the shared library libonnxruntime.so.1.31.1 from the wheel (no Python needed to use it)
  fetch_runtime.py onnxruntime --package onnxruntime-gpu==1.31.1 --cuda --dest DIR
      the same plus libonnxruntime_providers_cuda.so and libonnxruntime_providers_shared.so
  fetch_runtime.py geoip --dest DIR
      GeoLite2-City from the PyPI package maxminddb-geolite2, named GeoLite2-City-<build date>.mmdb
      so that dated-database selection works (the date comes from the database's own metadata)
"""

import argparse
import datetime
import glob
import os
import shutil
import subprocess
import sys
import tempfile
import zipfile

ONNXRUNTIME_LIBRARY = "libonnxruntime.so.{version}"
CUDA_PROVIDERS = ("libonnxruntime_providers_cuda.so", "libonnxruntime_providers_shared.so")
GEOLITE2_PACKAGE = "maxminddb-geolite2==2018.703"
MAXMINDDB_PACKAGE = "maxminddb==3.2.0"


def fail(message: str) -> None:
    print(f"fetch_runtime: {message}", file=sys.stderr)
    sys.exit(1)


def pip(*arguments: str) -> None:
    command = [sys.executable, "-m", "pip", "--disable-pip-version-check", "--no-cache-dir", *arguments]
    result = subprocess.run(command, check=False)
    if result.returncode != 0:
        fail(f"pip {' '.join(arguments)} exited with {result.returncode}")


def fetch_onnxruntime(requirement: str, cuda: bool, destination: str) -> None:
    name, separator, version = requirement.partition("==")
    if not separator or not version:
        fail(f"--package must pin a version (NAME==VERSION), not {requirement!r}")
    members = [ONNXRUNTIME_LIBRARY.format(version=version)]
    if cuda:
        members.extend(CUDA_PROVIDERS)
    with tempfile.TemporaryDirectory() as wheel_directory:
        pip("download", "--quiet", "--no-deps", "--only-binary=:all:", "--dest", wheel_directory, requirement)
        wheel_prefix = name.replace("-", "_")
        wheels = glob.glob(os.path.join(wheel_directory, f"{wheel_prefix}-{version}-*.whl"))
        if len(wheels) != 1:
            fail(f"expected one wheel of {requirement} in {wheel_directory}, found {wheels}")
        os.makedirs(destination, exist_ok=True)
        with zipfile.ZipFile(wheels[0]) as archive:
            for member in members:
                try:
                    data = archive.read(f"onnxruntime/capi/{member}")
                except KeyError:
                    fail(f"{os.path.basename(wheels[0])} has no onnxruntime/capi/{member}")
                target = os.path.join(destination, member)
                with open(target, "wb") as out:
                    out.write(data)
                os.chmod(target, 0o755)
                print(f"fetch_runtime: {target} ({len(data)} bytes) from {requirement}", file=sys.stderr)


def fetch_geoip(destination: str) -> None:
    with tempfile.TemporaryDirectory() as site:
        pip("install", "--quiet", "--target", site, GEOLITE2_PACKAGE, MAXMINDDB_PACKAGE)
        sys.path.insert(0, site)
        import _maxminddb_geolite2  # noqa: PLC0415 (installed just above)
        import maxminddb  # noqa: PLC0415

        source = os.path.join(os.path.dirname(_maxminddb_geolite2.__file__), "GeoLite2-City.mmdb")
        with maxminddb.open_database(source) as reader:
            epoch = reader.metadata().build_epoch
        built = datetime.datetime.fromtimestamp(epoch, datetime.timezone.utc)
        os.makedirs(destination, exist_ok=True)
        target = os.path.join(destination, f"GeoLite2-City-{built:%Y-%m-%d}.mmdb")
        shutil.copyfile(source, target)
        os.chmod(target, 0o644)
        print(f"fetch_runtime: {target} from {GEOLITE2_PACKAGE}", file=sys.stderr)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    commands = parser.add_subparsers(dest="command", required=True)
    onnxruntime = commands.add_parser("onnxruntime", help="the ONNX Runtime shared library from its wheel")
    onnxruntime.add_argument("--package", required=True, help="onnxruntime==VERSION or onnxruntime-gpu==VERSION")
    onnxruntime.add_argument("--cuda", action="store_true", help="also the CUDA execution provider libraries")
    onnxruntime.add_argument("--dest", required=True)
    geoip = commands.add_parser("geoip", help="GeoLite2-City from maxminddb-geolite2")
    geoip.add_argument("--dest", required=True)
    arguments = parser.parse_args()
    if arguments.command == "onnxruntime":
        fetch_onnxruntime(arguments.package, arguments.cuda, arguments.dest)
    else:
        fetch_geoip(arguments.dest)


if __name__ == "__main__":
    main()
