"""Offline checks of a rendered fleet (the objects `kubectl kustomize` makes of an overlay).

Two layers, both pure functions from a list of Kubernetes objects (dicts) to a list of
problems (strings, empty when all is well), so the tests can feed them broken copies:
- keda_problems: KEDA's own rules for ScaledObject and TriggerAuthentication (keda.sh/v1alpha1),
  encoded from KEDA's CRDs and its metrics-api scaler, which kubernetes-validate has no schema
  for, plus the references between them and the built-in objects;
- fleet_problems: this project's contract between the coordinator CronJob (the template each
  run's Job is made from), the fleet endpoint (`coordinator fleet`), the worker pools and their
  triggers: nothing names a run; each pool scales on the fleet endpoint's backlog of its own pool
  (/pools/cpu, /pools/gpu) in the rendered namespace (README "Distributed run", infra/k8s/README.md).
Messages name the object and the field; they never print a Secret's value.
"""

from __future__ import annotations

import base64
import re
import urllib.parse
from typing import Any, Iterable

KEDA_API_VERSION = "keda.sh/v1alpha1"

# Worker pools by capability (shared/src/jobs.rs queue_capability: `*-gpu` queues need gpu, the
# others cpu) and the queues each serves; `coordinator fleet` serves each pool's backlog (jobs
# waiting + leased over every announced run's queues of that pool) at /pools/<pool>.
POOLS = {"cpu": ("map", "partition", "finalise"), "gpu": ("partition-gpu",)}
FLEET_NAME = "wildchat-fleet"
# The label Kubernetes (1.27+) sets on every pod of a Job: the Job's name, i.e. the run's version.
JOB_NAME_FIELD = "metadata.labels['batch.kubernetes.io/job-name']"
# Worker settings default (worker/src/service/settings.rs, README): lease_timeout_ms.
DEFAULT_LEASE_TIMEOUT_MS = 120_000
# `coordinator fleet --listen` default (coordinator/src/main.rs).
DEFAULT_FLEET_LISTEN = "127.0.0.1:9100"
ENV_REFERENCE = re.compile(r"\$\(([A-Za-z_][A-Za-z0-9_]*)\)")

# --- KEDA's CRD fields (keda.sh_scaledobjects.yaml, keda.sh_triggerauthentications.yaml).
SCALED_OBJECT_SPEC_FIELDS = {
    "scaleTargetRef", "pollingInterval", "cooldownPeriod", "initialCooldownPeriod",
    "idleReplicaCount", "minReplicaCount", "maxReplicaCount", "fallback", "advanced", "triggers",
}
SCALE_TARGET_FIELDS = {"name", "apiVersion", "kind", "envSourceContainerName"}
FALLBACK_FIELDS = {"failureThreshold", "replicas", "behavior"}
FALLBACK_BEHAVIORS = {"static", "currentReplicas", "currentReplicasIfHigher", "currentReplicasIfLower"}
ADVANCED_FIELDS = {"horizontalPodAutoscalerConfig", "restoreToOriginalReplicaCount", "scalingModifiers"}
HPA_CONFIG_FIELDS = {"name", "behavior"}
TRIGGER_FIELDS = {"type", "name", "metadata", "authenticationRef", "metricType", "useCachedMetrics"}
METRIC_TYPES = {"AverageValue", "Value", "Utilization"}
AUTHENTICATION_REF_FIELDS = {"name", "kind"}
AUTHENTICATION_KINDS = {"TriggerAuthentication", "ClusterTriggerAuthentication"}
TRIGGER_AUTHENTICATION_SPEC_FIELDS = {
    "secretTargetRef", "configMapTargetRef", "env", "hashiCorpVault", "azureKeyVault",
    "awsSecretManager", "gcpSecretManager", "podIdentity", "boundServiceAccountToken",
}
SECRET_TARGET_FIELDS = {"parameter", "name", "key"}
# pkg/scalers/metrics_api_scaler.go (metricsAPIScalerMetadata) and pkg/scalers/authentication.
METRICS_API_METADATA = {
    "url", "format", "valueLocation", "targetValue", "activationTargetValue",
    "unsafeSsl", "aggregateFromKubeServiceEndpoints", "aggregationType",
    "authMode", "method", "keyParamName",
}
METRICS_API_FORMATS = {"json", "xml", "yaml", "prometheus"}
METRICS_API_AGGREGATIONS = {"average", "sum", "max", "min"}
METRICS_API_AUTH_MODES = {"apiKey", "basic", "tls", "bearer", "oauth", "custom"}
METRICS_API_KEY_METHODS = {"header", "query"}
# Credentials KEDA takes from a TriggerAuthentication; literal in a trigger, they would be in git.
METRICS_API_SECRETS = {"apiKey", "username", "password", "bearerToken", "ca", "cert", "key", "clientSecret"}


def name_of(obj: dict[str, Any]) -> str:
    metadata = obj.get("metadata") or {}
    return f"{obj.get('kind', '?')}/{metadata.get('name', '?')}"


def namespace_of(obj: dict[str, Any]) -> str:
    return (obj.get("metadata") or {}).get("namespace") or "default"


def find(objects: Iterable[dict[str, Any]], kind: str, name: str, namespace: str) -> dict[str, Any] | None:
    for obj in objects:
        metadata = obj.get("metadata") or {}
        if obj.get("kind") == kind and metadata.get("name") == name and namespace_of(obj) == namespace:
            return obj
    return None


def of_kind(objects: Iterable[dict[str, Any]], kind: str) -> list[dict[str, Any]]:
    return [obj for obj in objects if obj.get("kind") == kind]


def as_number(value: Any) -> float | None:
    """A KEDA quantity in a string ("1", "0.5"), or None."""
    if not isinstance(value, str) or not re.fullmatch(r"-?[0-9]+(\.[0-9]+)?", value.strip()):
        return None
    return float(value)


def unknown_fields(mapping: Any, allowed: set[str], where: str) -> list[str]:
    if not isinstance(mapping, dict):
        return [f"{where} must be a mapping"]
    return [f"{where}.{field}: not a field KEDA knows" for field in sorted(set(mapping) - allowed)]


def non_negative_integer(mapping: dict[str, Any], field: str, where: str) -> list[str]:
    if field in mapping and (not isinstance(mapping[field], int) or isinstance(mapping[field], bool) or mapping[field] < 0):
        return [f"{where}.{field} must be a non-negative integer, not {mapping[field]!r}"]
    return []


def secret_keys(secret: dict[str, Any]) -> set[str]:
    return set(secret.get("data") or {}) | set(secret.get("stringData") or {})


def secret_value(secret: dict[str, Any], key: str) -> str | None:
    if key in (secret.get("stringData") or {}):
        return str(secret["stringData"][key])
    encoded = (secret.get("data") or {}).get(key)
    if encoded is None:
        return None
    try:
        return base64.b64decode(encoded).decode("utf-8").strip()
    except (ValueError, UnicodeDecodeError):
        return None


# ------------------------------------------------------------------------------------------------
# KEDA's rules


def trigger_authentication_problems(auth: dict[str, Any], objects: list[dict[str, Any]]) -> list[str]:
    where = name_of(auth)
    problems: list[str] = []
    if auth.get("apiVersion") != KEDA_API_VERSION:
        problems.append(f"{where}: apiVersion must be {KEDA_API_VERSION}, not {auth.get('apiVersion')!r}")
    spec = auth.get("spec")
    if not isinstance(spec, dict) or not spec:
        return problems + [f"{where}: spec is missing or empty"]
    problems += unknown_fields(spec, TRIGGER_AUTHENTICATION_SPEC_FIELDS, f"{where} spec")
    references = spec.get("secretTargetRef", [])
    if not isinstance(references, list):
        return problems + [f"{where} spec.secretTargetRef must be a list"]
    seen_parameters: set[str] = set()
    for index, reference in enumerate(references):
        at = f"{where} spec.secretTargetRef[{index}]"
        problems += unknown_fields(reference, SECRET_TARGET_FIELDS, at)
        if not isinstance(reference, dict):
            continue
        for field in sorted(SECRET_TARGET_FIELDS):
            if not isinstance(reference.get(field), str) or not reference.get(field):
                problems.append(f"{at}.{field} is required (a non-empty string)")
        parameter = reference.get("parameter")
        if parameter in seen_parameters:
            problems.append(f"{at}: parameter {parameter!r} is given twice")
        seen_parameters.add(parameter)
        secret = find(objects, "Secret", str(reference.get("name")), namespace_of(auth))
        if secret is None:
            problems.append(f"{at}: Secret {reference.get('name')!r} is not among the rendered objects")
        elif reference.get("key") not in secret_keys(secret):
            problems.append(f"{at}: Secret {reference.get('name')!r} has no key {reference.get('key')!r}")
    return problems


def metrics_api_problems(trigger: dict[str, Any], where: str) -> list[str]:
    metadata = trigger.get("metadata") or {}
    problems = [
        f"{where}.metadata.{field}: not a metrics-api parameter"
        + ("; take it from a TriggerAuthentication" if field in METRICS_API_SECRETS else "")
        for field in sorted(set(metadata) - METRICS_API_METADATA)
    ]
    url = metadata.get("url")
    if not url:
        problems.append(f"{where}.metadata.url is required")
    elif isinstance(url, str):
        parts = urllib.parse.urlsplit(url)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            problems.append(f"{where}.metadata.url {url!r} is not an http(s) URL")
    if not metadata.get("valueLocation"):
        problems.append(f"{where}.metadata.valueLocation is required (where the value is in the answer)")
    format_ = metadata.get("format", "json")
    if format_ not in METRICS_API_FORMATS:
        problems.append(f"{where}.metadata.format {format_!r} is not one of {sorted(METRICS_API_FORMATS)}")
    if "targetValue" not in metadata:
        problems.append(f"{where}.metadata.targetValue is required")
    for field in ("targetValue", "activationTargetValue"):
        if field in metadata and isinstance(metadata[field], str) and as_number(metadata[field]) is None:
            problems.append(f"{where}.metadata.{field} must be a number in a string, not {metadata[field]!r}")
    target = as_number(metadata.get("targetValue"))
    if target is not None and target <= 0:
        problems.append(f"{where}.metadata.targetValue must be above 0")
    for field in ("unsafeSsl", "aggregateFromKubeServiceEndpoints"):
        if field in metadata and metadata[field] not in ("true", "false"):
            problems.append(f"{where}.metadata.{field} must be \"true\" or \"false\"")
    if "aggregationType" in metadata and metadata["aggregationType"] not in METRICS_API_AGGREGATIONS:
        problems.append(f"{where}.metadata.aggregationType {metadata['aggregationType']!r} is not one of {sorted(METRICS_API_AGGREGATIONS)}")
    if "authMode" in metadata:
        modes = [mode.strip() for mode in str(metadata["authMode"]).split(",") if mode.strip()]
        unknown = [mode for mode in modes if mode not in METRICS_API_AUTH_MODES]
        if unknown or not modes:
            problems.append(f"{where}.metadata.authMode {metadata['authMode']!r}: not among {sorted(METRICS_API_AUTH_MODES)}")
        if not trigger.get("authenticationRef"):
            problems.append(f"{where}: authMode needs an authenticationRef holding the credentials")
    if "method" in metadata and metadata["method"] not in METRICS_API_KEY_METHODS:
        problems.append(f"{where}.metadata.method {metadata['method']!r} is not one of {sorted(METRICS_API_KEY_METHODS)} (the apiKey method)")
    return problems


def scaled_object_problems(scaled: dict[str, Any], objects: list[dict[str, Any]]) -> list[str]:
    where = name_of(scaled)
    problems: list[str] = []
    if scaled.get("apiVersion") != KEDA_API_VERSION:
        problems.append(f"{where}: apiVersion must be {KEDA_API_VERSION}, not {scaled.get('apiVersion')!r}")
    spec = scaled.get("spec")
    if not isinstance(spec, dict):
        return problems + [f"{where}: spec is missing"]
    problems += unknown_fields(spec, SCALED_OBJECT_SPEC_FIELDS, f"{where} spec")
    for field in ("pollingInterval", "cooldownPeriod", "initialCooldownPeriod", "idleReplicaCount",
                  "minReplicaCount", "maxReplicaCount"):
        problems += non_negative_integer(spec, field, f"{where} spec")
    minimum, maximum = spec.get("minReplicaCount", 0), spec.get("maxReplicaCount", 100)
    if isinstance(minimum, int) and isinstance(maximum, int) and minimum > maximum:
        problems.append(f"{where}: minReplicaCount {minimum} exceeds maxReplicaCount {maximum}")
    idle = spec.get("idleReplicaCount")
    if isinstance(idle, int) and isinstance(minimum, int) and idle >= minimum:
        problems.append(f"{where}: idleReplicaCount must be below minReplicaCount")

    target = spec.get("scaleTargetRef")
    if not isinstance(target, dict) or not target.get("name"):
        problems.append(f"{where}: spec.scaleTargetRef.name is required")
    else:
        problems += unknown_fields(target, SCALE_TARGET_FIELDS, f"{where} spec.scaleTargetRef")
        kind = target.get("kind", "Deployment")
        if kind == "Deployment" and target.get("apiVersion", "apps/v1") != "apps/v1":
            problems.append(f"{where}: scaleTargetRef.apiVersion of a Deployment is apps/v1")
        workload = find(objects, kind, target["name"], namespace_of(scaled))
        if workload is None:
            problems.append(f"{where}: scaleTargetRef names {kind} {target['name']!r}, which is not among the rendered objects")
        elif "replicas" in (workload.get("spec") or {}):
            problems.append(
                f"{where}: {name_of(workload)} sets spec.replicas; leave it out, or every `kubectl apply` "
                "resets the count KEDA chose"
            )

    fallback = spec.get("fallback")
    if fallback is not None:
        problems += unknown_fields(fallback, FALLBACK_FIELDS, f"{where} spec.fallback")
        if isinstance(fallback, dict):
            for field in ("failureThreshold", "replicas"):
                if field not in fallback:
                    problems.append(f"{where}: spec.fallback.{field} is required")
                problems += non_negative_integer(fallback, field, f"{where} spec.fallback")
            if "behavior" in fallback and fallback["behavior"] not in FALLBACK_BEHAVIORS:
                problems.append(f"{where}: spec.fallback.behavior {fallback['behavior']!r} is not one of {sorted(FALLBACK_BEHAVIORS)}")
    advanced = spec.get("advanced")
    if advanced is not None:
        problems += unknown_fields(advanced, ADVANCED_FIELDS, f"{where} spec.advanced")
        if isinstance(advanced, dict) and "horizontalPodAutoscalerConfig" in advanced:
            problems += unknown_fields(advanced["horizontalPodAutoscalerConfig"], HPA_CONFIG_FIELDS,
                                       f"{where} spec.advanced.horizontalPodAutoscalerConfig")

    triggers = spec.get("triggers")
    if not isinstance(triggers, list) or not triggers:
        return problems + [f"{where}: spec.triggers needs at least one trigger"]
    names: set[str] = set()
    for index, trigger in enumerate(triggers):
        at = f"{where} trigger[{index}]"
        problems += unknown_fields(trigger, TRIGGER_FIELDS, at)
        if not isinstance(trigger, dict):
            continue
        if not isinstance(trigger.get("type"), str) or not trigger.get("type"):
            problems.append(f"{at}.type is required")
        if not isinstance(trigger.get("metadata"), dict):
            problems.append(f"{at}.metadata is required (a mapping)")
            continue
        for key, value in trigger["metadata"].items():
            if not isinstance(value, str):
                problems.append(f"{at}.metadata.{key} must be a string (quote numbers), not {type(value).__name__}")
        if "name" in trigger:
            if trigger["name"] in names:
                problems.append(f"{at}: trigger name {trigger['name']!r} is used twice")
            names.add(trigger["name"])
        if "metricType" in trigger and trigger["metricType"] not in METRIC_TYPES:
            problems.append(f"{at}.metricType {trigger['metricType']!r} is not one of {sorted(METRIC_TYPES)}")
        if fallback is not None and trigger.get("metricType", "AverageValue") != "AverageValue":
            problems.append(f"{at}: spec.fallback works only with metricType AverageValue")
        reference = trigger.get("authenticationRef")
        if reference is not None:
            problems += unknown_fields(reference, AUTHENTICATION_REF_FIELDS, f"{at}.authenticationRef")
            kind = reference.get("kind", "TriggerAuthentication") if isinstance(reference, dict) else None
            if kind not in AUTHENTICATION_KINDS:
                problems.append(f"{at}.authenticationRef.kind {kind!r} is not one of {sorted(AUTHENTICATION_KINDS)}")
            elif not isinstance(reference, dict) or not reference.get("name"):
                problems.append(f"{at}.authenticationRef.name is required")
            elif kind == "TriggerAuthentication":
                if find(objects, "TriggerAuthentication", reference["name"], namespace_of(scaled)) is None:
                    problems.append(
                        f"{at}: authenticationRef names TriggerAuthentication {reference['name']!r}, "
                        "which is not among the rendered objects"
                    )
        if trigger.get("type") == "metrics-api":
            problems += metrics_api_problems(trigger, at)
    return problems


def keda_problems(objects: list[dict[str, Any]]) -> list[str]:
    """KEDA's rules for every ScaledObject and TriggerAuthentication among `objects`."""
    problems: list[str] = []
    for auth in of_kind(objects, "TriggerAuthentication"):
        problems += trigger_authentication_problems(auth, objects)
    targets: dict[tuple[str, str], str] = {}
    for scaled in of_kind(objects, "ScaledObject"):
        problems += scaled_object_problems(scaled, objects)
        target = ((scaled.get("spec") or {}).get("scaleTargetRef") or {}).get("name")
        if target:
            key = (namespace_of(scaled), target)
            if key in targets:
                problems.append(f"{name_of(scaled)} and ScaledObject/{targets[key]} both scale {target!r}")
            targets[key] = (scaled.get("metadata") or {}).get("name", "?")
    return problems


# ------------------------------------------------------------------------------------------------
# This project's fleet contract


def pod_template_of(workload: dict[str, Any]) -> dict[str, Any]:
    """The pod template of a Deployment or Job, or of the Jobs a CronJob makes."""
    spec = workload.get("spec") or {}
    if workload.get("kind") == "CronJob":
        spec = ((spec.get("jobTemplate") or {}).get("spec")) or {}
    return spec.get("template") or {}


def pod_spec_of(workload: dict[str, Any]) -> dict[str, Any]:
    return pod_template_of(workload).get("spec") or {}


def containers_of(workload: dict[str, Any]) -> list[dict[str, Any]]:
    return pod_spec_of(workload).get("containers") or []


def literal_env(container: dict[str, Any]) -> dict[str, str]:
    return {item["name"]: item["value"] for item in container.get("env") or [] if "value" in item}


def env_item(container: dict[str, Any], name: str) -> dict[str, Any] | None:
    return next((item for item in container.get("env") or [] if item.get("name") == name), None)


def flag_value(args: list[str], flag: str) -> str | None:
    for index, arg in enumerate(args):
        if arg.startswith(flag + "="):
            return arg.split("=", 1)[1]
        if arg == flag and index + 1 < len(args):
            return args[index + 1]
    return None


def settings_value(container: dict[str, Any], key: str, objects: list[dict[str, Any]], namespace: str) -> str | None:
    """A container's setting: its literal env, else a ConfigMap it takes with envFrom."""
    env = literal_env(container)
    if key in env:
        return env[key]
    for source in container.get("envFrom") or []:
        reference = source.get("configMapRef")
        if reference:
            config_map = find(objects, "ConfigMap", reference.get("name", ""), namespace)
            if config_map and key in (config_map.get("data") or {}):
                return config_map["data"][key]
    return None


def sets_setting(container: dict[str, Any], key: str, objects: list[dict[str, Any]], namespace: str) -> bool:
    """Whether the container gets `key` at all: env (any source) or a ConfigMap it takes."""
    return env_item(container, key) is not None or settings_value(container, key, objects, namespace) is not None


def queue_source(container: dict[str, Any]) -> tuple[str, str] | None:
    """Where WILDCHAT__QUEUE comes from: ("secret", "<name>/<key>"), ("literal", ...) or None."""
    item = env_item(container, "WILDCHAT__QUEUE")
    if item is None:
        return None
    reference = (item.get("valueFrom") or {}).get("secretKeyRef")
    if reference:
        return "Secret", f"{reference.get('name')}/{reference.get('key')}"
    return ("literal", "a literal value") if "value" in item else ("other", "another source")


def salt_source(workload: dict[str, Any], container: dict[str, Any]) -> str | None:
    """Where a pod's IP salt comes from: "Secret <name>/<key>" through WILDCHAT__IP_SALT (a
    secretKeyRef) or WILDCHAT__IP_SALT_FILE (a file on a mounted Secret volume); another
    description for any other source, None for no salt at all."""
    item = env_item(container, "WILDCHAT__IP_SALT")
    if item is not None:
        reference = (item.get("valueFrom") or {}).get("secretKeyRef")
        return f"Secret {reference.get('name')}/{reference.get('key')}" if reference else "a literal value"
    path = literal_env(container).get("WILDCHAT__IP_SALT_FILE")
    if not path:
        return None
    for mount in container.get("volumeMounts") or []:
        directory = str(mount.get("mountPath", "")).rstrip("/")
        if not path.startswith(directory + "/"):
            continue
        relative = path[len(directory) + 1:]
        volume = next((v for v in pod_spec_of(workload).get("volumes") or [] if v.get("name") == mount.get("name")), {})
        secret = volume.get("secret")
        if not secret:
            return f"volume {mount.get('name')!r}"
        key = next((str(i.get("key")) for i in secret.get("items") or [] if i.get("path") == relative), relative)
        return f"Secret {secret.get('secretName')}/{key}"
    return f"the file {path} on no mounted volume"


def coordinator_template(objects: list[dict[str, Any]]) -> tuple[dict[str, Any] | None, dict[str, Any] | None, list[str]]:
    """The coordinator CronJob (the template each run's Job is made from), its coordinator
    container, and problems: it must be the only coordinator, suspended, and take --version (so
    the run id) from the name of the Job made from it, so that nothing rendered names a run."""
    problems: list[str] = []
    for job in of_kind(objects, "Job"):
        if any(container.get("name") == "coordinator" for container in containers_of(job)):
            problems.append(
                f"{name_of(job)}: a coordinator Job names one run; the fleet holds only the CronJob template "
                "(start each run with `kubectl create job <version> --from=cronjob/wildchat-coordinator`)"
            )
    templates = [
        cronjob for cronjob in of_kind(objects, "CronJob")
        if any(container.get("name") == "coordinator" for container in containers_of(cronjob))
    ]
    if len(templates) != 1:
        return None, None, problems + [f"expected one coordinator CronJob template (a container named coordinator), found {len(templates)}"]
    cronjob = templates[0]
    where = name_of(cronjob)
    spec = cronjob.get("spec") or {}
    if spec.get("suspend") is not True:
        problems.append(
            f"{where}: spec.suspend must be true: it is a template, and each run is a Job made from it by hand "
            "(a schedule firing would start a run named after the CronJob)"
        )
    container = next(c for c in containers_of(cronjob) if c.get("name") == "coordinator")
    args = [str(arg) for arg in container.get("args") or []]
    if not args or args[0] != "run":
        problems.append(f"{where}: the coordinator's args must start with `run`, not {args[:1]}")
    version = flag_value(args, "--version")
    if version is None:
        problems.append(f"{where}: no --version")
    else:
        reference = ENV_REFERENCE.fullmatch(version)
        item = env_item(container, reference.group(1)) if reference else None
        field = (((item or {}).get("valueFrom") or {}).get("fieldRef") or {}).get("fieldPath")
        if reference is None:
            problems.append(
                f"{where}: --version {version!r} names a run; take it from the Job's name "
                f"($(VAR) with VAR from the downward API {JOB_NAME_FIELD})"
            )
        elif item is None:
            problems.append(f"{where}: --version {version!r} names a variable the container does not set")
        elif field != JOB_NAME_FIELD:
            source = f"fieldRef {field}" if field else ("a literal value, which names a run" if "value" in item else "another source")
            problems.append(f"{where}: --version comes from {reference.group(1)}, set from {source}, not from the Job's name {JOB_NAME_FIELD}")
    run_id = flag_value(args, "--run-id")
    if run_id is not None and run_id != version:
        problems.append(f"{where}: --run-id {run_id!r} differs from --version; leave it out (it defaults to the version)")
    return cronjob, container, problems


def listen_port(listen: str | None) -> int | None:
    if not listen or not re.fullmatch(r".+:[0-9]+", listen):
        return None
    return int(listen.rsplit(":", 1)[1])


def probe_problems(container: dict[str, Any], where: str, port: int | None) -> list[str]:
    if port is None:
        return [f"{where}: no --listen HOST:PORT, so /healthz and /metrics are off"]
    problems: list[str] = []
    named_ports = {item.get("name"): item.get("containerPort") for item in container.get("ports") or []}
    for probe in ("readinessProbe", "livenessProbe"):
        http = (container.get(probe) or {}).get("httpGet")
        if not http or http.get("path") != "/healthz":
            problems.append(f"{where}: {probe} must be an httpGet of /healthz")
            continue
        probe_port = named_ports.get(http.get("port"), http.get("port"))
        if probe_port != port:
            problems.append(f"{where}: {probe} probes port {http.get('port')!r}, but the container listens on {port}")
    return problems


def reference_problems(workload: dict[str, Any], objects: list[dict[str, Any]]) -> list[str]:
    """Every Secret and ConfigMap (and key) a pod template takes must be rendered too."""
    where = name_of(workload)
    namespace = namespace_of(workload)
    problems: list[str] = []
    for container in containers_of(workload):
        for source in container.get("envFrom") or []:
            for kind, field in (("Secret", "secretRef"), ("ConfigMap", "configMapRef")):
                reference = source.get(field)
                if reference and not reference.get("optional") and not find(objects, kind, reference.get("name", ""), namespace):
                    problems.append(f"{where}: envFrom {kind} {reference.get('name')!r} is not among the rendered objects")
        for item in container.get("env") or []:
            for kind, field in (("Secret", "secretKeyRef"), ("ConfigMap", "configMapKeyRef")):
                reference = (item.get("valueFrom") or {}).get(field)
                if not reference or reference.get("optional"):
                    continue
                target = find(objects, kind, reference.get("name", ""), namespace)
                keys = secret_keys(target) if target and kind == "Secret" else set((target or {}).get("data") or {})
                if target is None:
                    problems.append(f"{where}: env {item['name']} takes {kind} {reference.get('name')!r}, which is not rendered")
                elif reference.get("key") not in keys:
                    problems.append(f"{where}: env {item['name']} takes key {reference.get('key')!r}, which {kind} {reference.get('name')!r} lacks")
    for volume in pod_spec_of(workload).get("volumes") or []:
        secret = volume.get("secret")
        if secret and not secret.get("optional"):
            target = find(objects, "Secret", secret.get("secretName", ""), namespace)
            if target is None:
                problems.append(f"{where}: volume {volume.get('name')!r} mounts Secret {secret.get('secretName')!r}, which is not rendered")
            else:
                for item in secret.get("items") or []:
                    if item.get("key") not in secret_keys(target):
                        problems.append(f"{where}: volume {volume.get('name')!r} wants key {item.get('key')!r} of Secret {secret.get('secretName')!r}")
    return problems


def image_problems(workload: dict[str, Any]) -> list[str]:
    problems: list[str] = []
    for container in containers_of(workload):
        image = str(container.get("image", ""))
        last = image.rsplit("/", 1)[-1]
        if "@sha256:" in image:
            continue
        if ":" not in last:
            problems.append(f"{name_of(workload)}: image {image!r} has no tag; set it in the overlay's `images`")
        elif last.endswith(":latest"):
            problems.append(f"{name_of(workload)}: image {image!r} is :latest; pin a tag or digest")
    return problems


def fleet_endpoint(objects: list[dict[str, Any]], namespace: str) -> tuple[dict[str, Any] | None, int | None, dict[str, set[int]], list[str]]:
    """The wildchat-fleet Deployment (`coordinator fleet`), the port it listens on, the ports of
    each Service that reach it ({service: {port, ...}}), and problems."""
    deployment = find(objects, "Deployment", FLEET_NAME, namespace)
    if deployment is None:
        return None, None, {}, [
            f"no Deployment {FLEET_NAME!r} (`coordinator fleet`) in namespace {namespace!r}: "
            "the pools' triggers would have no backlog to ask for"
        ]
    where = name_of(deployment)
    problems = image_problems(deployment) + reference_problems(deployment, objects)
    container = next((c for c in containers_of(deployment) if [str(a) for a in c.get("args") or []][:1] == ["fleet"]), None)
    if container is None:
        return deployment, None, {}, problems + [f"{where}: no container runs `coordinator fleet` (args starting with fleet)"]
    listen = flag_value([str(arg) for arg in container.get("args") or []], "--listen") or settings_value(
        container, "WILDCHAT__LISTEN", objects, namespace) or DEFAULT_FLEET_LISTEN
    port = listen_port(listen)
    host = listen.rsplit(":", 1)[0].strip("[]") if port is not None else ""
    if port is not None and (host in ("localhost", "::1") or host.startswith("127.")):
        problems.append(f"{where}: `fleet` listens on {listen} (loopback only): KEDA and Prometheus cannot reach it; use --listen=0.0.0.0:PORT")
    problems += probe_problems(container, where, port)
    if queue_source(container) is None:
        problems.append(f"{where}: no WILDCHAT__QUEUE: the fleet endpoint reads the runs and queues in Redis")
    if (deployment.get("spec") or {}).get("replicas", 1) < 1:
        problems.append(f"{where}: spec.replicas must be at least 1: the triggers ask it")
    labels = pod_template_of(deployment).get("metadata", {}).get("labels") or {}
    named_ports = {item.get("name"): item.get("containerPort") for item in container.get("ports") or []}
    services: dict[str, set[int]] = {}
    for service in of_kind(objects, "Service"):
        selector = (service.get("spec") or {}).get("selector") or {}
        if namespace_of(service) != namespace or not selector or any(labels.get(k) != v for k, v in selector.items()):
            continue
        reaching = set()
        for item in (service.get("spec") or {}).get("ports") or []:
            target = item.get("targetPort", item.get("port"))
            if named_ports.get(target, target) == port:
                reaching.add(item.get("port"))
        services[(service.get("metadata") or {}).get("name", "?")] = reaching
    if not services:
        problems.append(f"{where}: no Service selects its pods: KEDA cannot reach the fleet endpoint")
    return deployment, port, services, problems


TRIGGER_HOST = re.compile(r"^(?P<service>[^.]+)\.(?P<namespace>[^.]+)(\.svc(\.cluster\.local)?)?$")


def fleet_trigger_problems(trigger: dict[str, Any], at: str, namespace: str, services: dict[str, set[int]]) -> tuple[str | None, list[str]]:
    """The pool a trigger asks the fleet endpoint for (cpu, gpu), and problems."""
    if trigger.get("type") != "metrics-api":
        return None, [f"{at}: type {trigger.get('type')!r}; worker pools scale on metrics-api triggers asking the fleet endpoint's backlog"]
    metadata = trigger.get("metadata") or {}
    problems: list[str] = []
    url = str(metadata.get("url", ""))
    parts = urllib.parse.urlsplit(url)
    if parts.scheme != "http":
        problems.append(f"{at}: url {url!r}: the fleet endpoint serves plain http")
    # The host as written (urlsplit's hostname is lower-cased, which would hide a placeholder).
    host = re.sub(r":[0-9]*$", "", parts.netloc.rsplit("@", 1)[-1])
    match = TRIGGER_HOST.match(host)
    if match is None:
        problems.append(
            f"{at}: url {url!r} names no namespace; KEDA's operator calls it from its own namespace, "
            f"so use http://{FLEET_NAME}.{namespace}.svc.cluster.local:PORT/pools/<pool>"
        )
    else:
        if match["namespace"] != namespace:
            problems.append(
                f"{at}: url {url!r} names namespace {match['namespace']!r}, but the fleet is rendered in "
                f"{namespace!r} (is components/namespace listed last among the overlay's components?)"
            )
        if match["service"] not in services:
            problems.append(f"{at}: url {url!r} names Service {match['service']!r}, which is not a rendered Service of the {FLEET_NAME} pods")
        else:
            try:
                port = parts.port or 80
            except ValueError:
                port = None
            if port not in services[match["service"]]:
                problems.append(
                    f"{at}: url {url!r}: port {port} is not a port of Service {match['service']!r} that reaches the fleet's "
                    f"--listen port (those are {sorted(services[match['service']])})"
                )
    pool_match = re.fullmatch(r"/pools/([a-z]+)", parts.path or "")
    pool = pool_match.group(1) if pool_match else None
    if pool not in POOLS:
        problems.append(f"{at}: url path {parts.path!r} is not a pool's backlog (/pools/cpu or /pools/gpu)")
        pool = None
    if metadata.get("format", "json") != "json":
        problems.append(f"{at}: format {metadata.get('format')!r}; the fleet endpoint's /pools/<pool> answers json")
    if metadata.get("valueLocation") != "backlog":
        problems.append(
            f"{at}: valueLocation {metadata.get('valueLocation')!r}; the fleet answers "
            '{"pool":..,"backlog":N,"runs":K} and the pool must scale on backlog (jobs waiting + leased)'
        )
    activation = as_number(metadata.get("activationTargetValue", "0"))
    if activation is not None and activation >= 1:
        problems.append(
            f"{at}: activationTargetValue {metadata.get('activationTargetValue')}: a backlog of one job would not "
            'wake the pool from zero; use "0"'
        )
    return pool, problems


def queue_url_problems(objects: list[dict[str, Any]], fleet: dict[str, Any]) -> list[str]:
    """The queue every pod shares must be a Redis URL (checked without printing it)."""
    container = next((c for c in containers_of(fleet) if env_item(c, "WILDCHAT__QUEUE")), None)
    reference = ((env_item(container, "WILDCHAT__QUEUE") or {}).get("valueFrom") or {}).get("secretKeyRef") if container else None
    if not reference:
        return []
    secret = find(objects, "Secret", reference.get("name", ""), namespace_of(fleet))
    if secret is None or reference.get("key") not in secret_keys(secret):
        return []
    url = urllib.parse.urlsplit(secret_value(secret, reference["key"]) or "")
    if url.scheme not in ("redis", "rediss"):
        return [f"{name_of(secret)}: {reference['key']} is not a redis:// or rediss:// URL (value not shown); the fleet shares one Redis"]
    try:
        url.port
    except ValueError:
        return [f"{name_of(secret)}: {reference['key']} has an invalid port (value not shown)"]
    return []


def fleet_problems(objects: list[dict[str, Any]]) -> list[str]:
    """The coordinator template, the fleet endpoint, the worker pools and their triggers: nothing
    names a run, and each pool scales on the fleet's backlog of its own pool."""
    cronjob, coordinator, problems = coordinator_template(objects)
    if cronjob is None or coordinator is None:
        return problems
    namespace = namespace_of(cronjob)
    problems += image_problems(cronjob) + reference_problems(cronjob, objects)
    analyse_on = settings_value(coordinator, "WILDCHAT__ANALYSE_ON", objects, namespace) or "cpu"
    if analyse_on not in ("cpu", "gpu"):
        problems.append(f"{name_of(cronjob)}: WILDCHAT__ANALYSE_ON is {analyse_on!r}, not cpu or gpu")

    fleet, _fleet_port, services, fleet_issues = fleet_endpoint(objects, namespace)
    problems += fleet_issues
    fleet_container = next((c for c in containers_of(fleet or {}) if [str(a) for a in c.get("args") or []][:1] == ["fleet"]), None)
    fleet_store = settings_value(fleet_container, "WILDCHAT__STORE", objects, namespace) if fleet_container else None
    fleet_queue = queue_source(fleet_container) if fleet_container else None
    if fleet is not None:
        problems += queue_url_problems(objects, fleet)

    def same_fleet(workload: dict[str, Any], container: dict[str, Any]) -> list[str]:
        """A pod of another store or queue than the fleet endpoint's would not be counted or served."""
        issues = []
        if fleet_container is None:
            return issues
        store = settings_value(container, "WILDCHAT__STORE", objects, namespace)
        if store != fleet_store:
            issues.append(
                f"{name_of(workload)}: WILDCHAT__STORE differs from the fleet endpoint's ({FLEET_NAME} counts only "
                "the runs of its store; workers serve only theirs)"
            )
        source = queue_source(container)
        if source != fleet_queue:
            issues.append(
                f"{name_of(workload)}: WILDCHAT__QUEUE comes from {source[1] if source else 'nowhere'}, the fleet "
                f"endpoint's from {fleet_queue[1] if fleet_queue else 'nowhere'}: every pod must share one queue"
            )
        return issues

    problems += same_fleet(cronjob, coordinator)
    # The run fingerprint: workers serve a run only with the salt and the analyse model its
    # coordinator loaded, so the coordinator must read the same ones as the pools.
    coordinator_salt = salt_source(cronjob, coordinator)
    if coordinator_salt is None:
        problems.append(
            f"{name_of(cronjob)}: the coordinator has no IP salt (WILDCHAT__IP_SALT_FILE on the workers' salt "
            "Secret): it records the salt's key id in the run fingerprint, and `coordinator run` refuses to start"
        )
    coordinator_model = settings_value(coordinator, "WILDCHAT__TOXICITY_CONFIG", objects, namespace) or "the embedded default"

    pools = [
        deployment for deployment in of_kind(objects, "Deployment")
        if any(c.get("name") == "worker" for c in containers_of(deployment))
    ]
    if not pools:
        return problems + ["no worker pool (a Deployment with a container named worker)"]
    scaled_by_target = {
        ((scaled.get("spec") or {}).get("scaleTargetRef") or {}).get("name"): scaled
        for scaled in of_kind(objects, "ScaledObject")
    }
    served: dict[str, str] = {}
    for pool in pools:
        where = name_of(pool)
        worker = next(c for c in containers_of(pool) if c.get("name") == "worker")
        port = listen_port(flag_value([str(arg) for arg in worker.get("args") or []], "--listen") or settings_value(worker, "WILDCHAT__LISTEN", objects, namespace))
        problems += image_problems(pool) + reference_problems(pool, objects) + probe_problems(worker, where, port)
        problems += same_fleet(pool, worker)
        if sets_setting(worker, "WILDCHAT__RUN", objects, namespace):
            problems.append(
                f"{where}: sets WILDCHAT__RUN; a pool serves every run the coordinators announce, so nothing in "
                "the fleet may name a run: leave it out"
            )
        capabilities = [part.strip() for part in (settings_value(worker, "WILDCHAT__CAPABILITIES", objects, namespace) or "cpu").split(",") if part.strip()]
        if capabilities not in (["cpu"], ["gpu"]):
            problems.append(f"{where}: WILDCHAT__CAPABILITIES must be exactly cpu or gpu for a pool, not {capabilities}")
            continue
        capability = capabilities[0]
        pool_salt = salt_source(pool, worker)
        if coordinator_salt is not None and pool_salt != coordinator_salt:
            problems.append(
                f"{where}: takes its IP salt from {pool_salt or 'nowhere'}, the coordinator from {coordinator_salt}: "
                "its run fingerprint would differ and it would leave every run's analyse jobs alone"
            )
        if capability == analyse_on:
            pool_model = settings_value(worker, "WILDCHAT__TOXICITY_CONFIG", objects, namespace) or "the embedded default"
            if pool_model != coordinator_model:
                problems.append(
                    f"{where}: runs the analyse jobs with toxicity model {pool_model}, but the coordinator names "
                    f"{coordinator_model} in the run fingerprint (WILDCHAT__TOXICITY_CONFIG): its workers would leave "
                    "every analyse job alone"
                )
        pod_spec = pod_spec_of(pool)
        lease_text = settings_value(worker, "WILDCHAT__LEASE_TIMEOUT_MS", objects, namespace) or str(DEFAULT_LEASE_TIMEOUT_MS)
        lease_ms = int(lease_text) if lease_text.isdigit() else None
        grace = pod_spec.get("terminationGracePeriodSeconds", 30)
        if lease_ms is None:
            problems.append(f"{where}: WILDCHAT__LEASE_TIMEOUT_MS {lease_text!r} is not a number of milliseconds")
        elif grace * 1000 <= lease_ms:
            problems.append(
                f"{where}: terminationGracePeriodSeconds {grace} must exceed the lease timeout "
                f"({lease_ms} ms) so a draining worker can finish its job"
            )
        limits = (worker.get("resources") or {}).get("limits") or {}
        device = settings_value(worker, "WILDCHAT__TOXICITY_DEVICE", objects, namespace) or "cpu"
        if capability == "gpu":
            if str(limits.get("nvidia.com/gpu", "0")) in ("0", ""):
                problems.append(f"{where}: a gpu pool needs an nvidia.com/gpu limit")
            if not device.startswith("cuda"):
                problems.append(f"{where}: a gpu pool must run toxicity on cuda (WILDCHAT__TOXICITY_DEVICE), not {device!r}")
            if not pod_spec.get("nodeSelector") and not pod_spec.get("affinity"):
                problems.append(f"{where}: a gpu pool needs a nodeSelector or affinity for GPU nodes")
            if not any(t.get("key") == "nvidia.com/gpu" for t in pod_spec.get("tolerations") or []):
                problems.append(f"{where}: a gpu pool should tolerate the nvidia.com/gpu taint of GPU nodes")
        else:
            if "nvidia.com/gpu" in limits:
                problems.append(f"{where}: a cpu pool asks for a GPU")
            if device != "cpu":
                problems.append(f"{where}: a cpu pool with WILDCHAT__TOXICITY_DEVICE {device!r}")
        labels = pod_template_of(pool).get("metadata", {}).get("labels") or {}
        budgets = [
            budget for budget in of_kind(objects, "PodDisruptionBudget")
            if namespace_of(budget) == namespace
            and ((budget.get("spec") or {}).get("selector") or {}).get("matchLabels")
            and all(labels.get(k) == v for k, v in budget["spec"]["selector"]["matchLabels"].items())
        ]
        if len(budgets) != 1:
            problems.append(f"{where}: expected one PodDisruptionBudget selecting its pods, found {len(budgets)}")

        scaled = scaled_by_target.get((pool.get("metadata") or {}).get("name"))
        if scaled is None:
            problems.append(f"{where}: no ScaledObject scales it")
            continue
        slots = settings_value(worker, "WILDCHAT__SLOTS", objects, namespace) or "1"
        asked: list[str] = []
        for index, trigger in enumerate((scaled.get("spec") or {}).get("triggers") or []):
            at = f"{name_of(scaled)} trigger[{index}]"
            asked_pool, issues = fleet_trigger_problems(trigger, at, namespace_of(scaled), services)
            problems += issues
            if asked_pool is None:
                continue
            asked.append(asked_pool)
            if asked_pool != capability:
                problems.append(
                    f"{at}: a {capability} pool must scale on /pools/{capability}, not /pools/{asked_pool} "
                    f"(its workers serve only the {', '.join(POOLS[capability])} queue(s))"
                )
            target = (trigger.get("metadata") or {}).get("targetValue")
            if as_number(target) is not None and not (slots.isdigit() and as_number(target) == int(slots)):
                problems.append(
                    f"{at}: targetValue {target} per replica, but each worker runs {slots} job(s) at once "
                    "(WILDCHAT__SLOTS); keep them equal"
                )
        if capability not in asked:
            problems.append(f"{name_of(scaled)}: no trigger asks the fleet endpoint for /pools/{capability}, the backlog of its pool")
        for asked_pool in sorted(set(asked)):
            if asked_pool in served and served[asked_pool] != where:
                problems.append(f"pool {asked_pool!r} wakes two Deployments: {served[asked_pool]} and {where}")
            served.setdefault(asked_pool, where)

    if "cpu" not in served:
        problems.append(
            "the coordinator fills the map and finalise queues, but no pool scales on /pools/cpu: "
            "its jobs would wait at zero workers"
        )
    if analyse_on == "gpu" and "gpu" not in served:
        problems.append(
            "the coordinator (WILDCHAT__ANALYSE_ON=gpu) fills the 'partition-gpu' queue, but no pool scales on "
            "/pools/gpu: its jobs would wait at zero workers"
        )
    if analyse_on != "gpu" and "gpu" in served:
        problems.append(
            f"{served['gpu']} scales on /pools/gpu, but the coordinator (WILDCHAT__ANALYSE_ON={analyse_on}) never "
            "fills the 'partition-gpu' queue: set WILDCHAT__ANALYSE_ON=gpu on the CronJob (components/gpu-pool)"
        )
    return problems
