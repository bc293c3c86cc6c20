#!/usr/bin/env bash
# Offline validation of the container images and the Kubernetes manifests (`make validate-infra`,
# run by .ci/run): hadolint, the build context, kustomize rendering of every overlay, Kubernetes
# API schemas and KEDA's rules. Needs the tools infra/dev/setup.sh installs; see
# infra/ci/validate_infra.py for the steps. Exits non-zero, naming each problem, on any failure.
set -euo pipefail
cd "$(dirname "$0")/../.."
exec python3 infra/ci/validate_infra.py "$@"
