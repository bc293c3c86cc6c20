"""Offline checks of a rendered fleet (the objects `kubectl kustomize` makes of an overlay).

Two layers, both pure functions from a list of Kubernetes objects (dicts) to a list of
problems (strings, empty when all is well), so the tests can feed them broken copies:
- keda_problems: KEDA's own rules for ScaledObject and TriggerAuthentication (keda.sh/v1alpha1),
  encoded from KEDA's CRDs and its redis-streams scaler, which kubernetes-validate has no schema
  for, plus the references between them and the built-in objects;
- fleet_problems: this project's contract between the coordinator Job, the worker pools and
  their triggers: each pool's triggers name exactly the Redis Streams of the coordinator's run
  that its capability serves (README "Distributed run"; queue/src/redis_queue.rs keys).
Messages name the object and the field; they never print a Secret's value.
"""

from __future__ import annotations

import base64
import re
import urllib.parse
from typing import Any, Iterable

KEDA_API_VERSION = "keda.sh/v1alpha1"

# Queue kinds (shared/src/jobs.rs) and the capability a worker needs to serve each
# (queue_capability: `*-gpu` queues need gpu, the others cpu).
QUEUE_KINDS = ("map", "partition", "finalise", "partition-gpu")
CPU_QUEUES = ("map", "partition", "finalise")
GPU_QUEUES = ("partition-gpu",)
# queue/src/redis_queue.rs: key_prefix "wildchat", consumer group "workers", the job stream of
# queue q is "<prefix>:{q}:jobs" and a run's queue is "<run id>/<kind>".
STREAM_KEY = re.compile(r"^wildchat:\{(?P<run>[^{}/]+)/(?P<kind>[a-z-]+)\}:jobs$")
CONSUMER_GROUP = "workers"
# Worker settings default (worker/src/service/settings.rs, README): lease_timeout_ms.
DEFAULT_LEASE_TIMEOUT_MS = 120_000
# shared::jobs::validate_name
RUN_ID = re.compile(r"^(?!\.)[A-Za-z0-9._-]{1,128}$")
DNS1123_SUBDOMAIN = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$")
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
# pkg/scalers/redis_streams_scaler.go and redis_scaler.go (redisConnectionInfo).
REDIS_STREAMS_METADATA = {
    "address", "addressFromEnv", "host", "hostFromEnv", "port", "portFromEnv",
    "username", "usernameFromEnv", "password", "passwordFromEnv",
    "stream", "consumerGroup", "pendingEntriesCount", "streamLength", "lagCount",
    "activationLagCount", "databaseIndex", "enableTLS", "unsafeSsl",
}
REDIS_INTEGER_METADATA = ("pendingEntriesCount", "streamLength", "lagCount", "activationLagCount", "databaseIndex")
REDIS_BOOLEAN_METADATA = ("enableTLS", "unsafeSsl")
REDIS_AUTH_PARAMETERS = {"address", "host", "port", "username", "password", "tls", "ca", "cert", "key", "keyPassword"}


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


def is_integer_string(value: Any) -> bool:
    return isinstance(value, str) and re.fullmatch(r"-?[0-9]+", value) is not None


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


def auth_parameters(auth: dict[str, Any] | None) -> set[str]:
    if auth is None:
        return set()
    spec = auth.get("spec") or {}
    return {reference.get("parameter") for reference in spec.get("secretTargetRef", []) if isinstance(reference, dict)}


def redis_streams_problems(trigger: dict[str, Any], where: str, auth: dict[str, Any] | None) -> list[str]:
    metadata = trigger.get("metadata") or {}
    problems = [
        f"{where}.metadata.{field}: not a redis-streams parameter"
        for field in sorted(set(metadata) - REDIS_STREAMS_METADATA)
    ]
    if not metadata.get("stream"):
        problems.append(f"{where}.metadata.stream is required")
    for field in REDIS_INTEGER_METADATA:
        if field in metadata and not is_integer_string(metadata[field]):
            problems.append(f"{where}.metadata.{field} must be an integer in a string, not {metadata[field]!r}")
    for field in REDIS_BOOLEAN_METADATA:
        if field in metadata and metadata[field] not in ("true", "false"):
            problems.append(f"{where}.metadata.{field} must be \"true\" or \"false\"")
    if "password" in metadata:
        problems.append(f"{where}.metadata.password: a literal password; take it from the TriggerAuthentication")
    parameters = auth_parameters(auth)
    has_address = any(field in metadata for field in ("address", "addressFromEnv", "host", "hostFromEnv")) or (
        parameters & {"address", "host"}
    )
    if not has_address:
        problems.append(f"{where}: no Redis address (metadata address/host or a TriggerAuthentication parameter)")
    unknown_parameters = parameters - REDIS_AUTH_PARAMETERS
    if unknown_parameters:
        problems.append(f"{where}: TriggerAuthentication parameters {sorted(unknown_parameters)} mean nothing to redis-streams")
    # KEDA picks the metric by consumerGroup: with it, lagCount (XINFO GROUPS lag) or else
    # pendingEntriesCount (XPENDING); without it, streamLength (XLEN). A threshold of the other
    # mode is silently ignored, so it is an error here.
    if "consumerGroup" in metadata:
        if "streamLength" in metadata:
            problems.append(f"{where}: streamLength is ignored by KEDA when consumerGroup is set")
        if "lagCount" in metadata and "pendingEntriesCount" in metadata:
            problems.append(f"{where}: pendingEntriesCount is ignored by KEDA when lagCount is set")
    else:
        for field in ("pendingEntriesCount", "lagCount"):
            if field in metadata:
                problems.append(f"{where}: {field} needs consumerGroup (without it KEDA scales on streamLength)")
    for field in ("pendingEntriesCount", "streamLength", "lagCount"):
        if is_integer_string(metadata.get(field)) and int(metadata[field]) < 1:
            problems.append(f"{where}.metadata.{field} must be at least 1")
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
        auth = None
        reference = trigger.get("authenticationRef")
        if reference is not None:
            problems += unknown_fields(reference, AUTHENTICATION_REF_FIELDS, f"{at}.authenticationRef")
            kind = reference.get("kind", "TriggerAuthentication") if isinstance(reference, dict) else None
            if kind not in AUTHENTICATION_KINDS:
                problems.append(f"{at}.authenticationRef.kind {kind!r} is not one of {sorted(AUTHENTICATION_KINDS)}")
            elif not isinstance(reference, dict) or not reference.get("name"):
                problems.append(f"{at}.authenticationRef.name is required")
            elif kind == "TriggerAuthentication":
                auth = find(objects, "TriggerAuthentication", reference["name"], namespace_of(scaled))
                if auth is None:
                    problems.append(
                        f"{at}: authenticationRef names TriggerAuthentication {reference['name']!r}, "
                        "which is not among the rendered objects"
                    )
        if trigger.get("type") == "redis-streams":
            problems += redis_streams_problems(trigger, at, auth)
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


def containers_of(workload: dict[str, Any]) -> list[dict[str, Any]]:
    return (((workload.get("spec") or {}).get("template") or {}).get("spec") or {}).get("containers") or []


def pod_spec_of(workload: dict[str, Any]) -> dict[str, Any]:
    return ((workload.get("spec") or {}).get("template") or {}).get("spec") or {}


def literal_env(container: dict[str, Any]) -> dict[str, str]:
    return {item["name"]: item["value"] for item in container.get("env") or [] if "value" in item}


def expand(text: str, env: dict[str, str]) -> str:
    """Kubernetes' $(VAR) expansion of container args from the container's literal env."""
    return ENV_REFERENCE.sub(lambda match: env.get(match.group(1), match.group(0)), text)


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


def coordinator_run(objects: list[dict[str, Any]]) -> tuple[dict[str, Any] | None, str | None, str | None, list[str]]:
    """The coordinator Job, its --run-id (default: --version), its --version, and problems."""
    jobs = [
        job for job in of_kind(objects, "Job")
        if any(container.get("name") == "coordinator" for container in containers_of(job))
    ]
    if len(jobs) != 1:
        return None, None, None, [f"expected one coordinator Job (a container named coordinator), found {len(jobs)}"]
    job = jobs[0]
    container = next(c for c in containers_of(job) if c.get("name") == "coordinator")
    env = literal_env(container)
    args = [expand(str(arg), env) for arg in container.get("args") or []]
    problems: list[str] = []
    if not args or args[0] != "run":
        problems.append(f"{name_of(job)}: the coordinator's args must start with `run`, not {args[:1]}")
    version = flag_value(args, "--version")
    run_id = flag_value(args, "--run-id") or version
    for label, value in (("--version", version), ("--run-id", run_id)):
        if value is None:
            problems.append(f"{name_of(job)}: no {label}")
        elif ENV_REFERENCE.search(value):
            problems.append(f"{name_of(job)}: {label} {value!r} names a variable the container does not set")
        elif value == "unset":
            problems.append(f"{name_of(job)}: {label} is still the base's placeholder 'unset' (is components/release listed?)")
        elif not RUN_ID.match(value):
            problems.append(f"{name_of(job)}: {label} {value!r} is not a valid name (1-128 of A-Z a-z 0-9 - _ ., not starting with '.')")
    name = (job.get("metadata") or {}).get("name", "")
    if not DNS1123_SUBDOMAIN.match(name) or len(name) > 63:
        problems.append(
            f"{name_of(job)}: not a valid Job name (lowercase a-z 0-9 - ., at most 63 characters); "
            "the run id is part of it, so keep it short and lowercase"
        )
    return job, run_id, version, problems


def stream_kinds(scaled: dict[str, Any], run_id: str, where: str) -> tuple[list[str], list[str]]:
    kinds: list[str] = []
    problems: list[str] = []
    for index, trigger in enumerate((scaled.get("spec") or {}).get("triggers") or []):
        at = f"{where} trigger[{index}]"
        if trigger.get("type") != "redis-streams":
            problems.append(f"{at}: type {trigger.get('type')!r}; worker pools scale on redis-streams triggers")
            continue
        metadata = trigger.get("metadata") or {}
        stream = metadata.get("stream", "")
        match = STREAM_KEY.match(stream)
        if not match:
            problems.append(f"{at}: stream {stream!r} is not a job stream wildchat:{{<run id>/<kind>}}:jobs")
            continue
        if match["run"] != run_id:
            problems.append(f"{at}: stream {stream!r} is of run {match['run']!r}, but the coordinator runs {run_id!r}")
        if match["kind"] not in QUEUE_KINDS:
            problems.append(f"{at}: stream {stream!r}: {match['kind']!r} is not a queue kind ({', '.join(QUEUE_KINDS)})")
        if "consumerGroup" in metadata and metadata["consumerGroup"] != CONSUMER_GROUP:
            problems.append(f"{at}: consumerGroup {metadata['consumerGroup']!r}; the workers' group is {CONSUMER_GROUP!r}")
        if "pendingEntriesCount" in metadata and "lagCount" not in metadata:
            problems.append(
                f"{at}: pendingEntriesCount counts only leased jobs and never wakes a pool from zero; "
                "use streamLength (XLEN = waiting + leased, see base/worker-cpu-scaledobject.yaml)"
            )
        kinds.append(match["kind"])
    return kinds, problems


def probe_problems(container: dict[str, Any], where: str) -> list[str]:
    problems: list[str] = []
    listen = flag_value([str(arg) for arg in container.get("args") or []], "--listen") or literal_env(container).get("WILDCHAT__LISTEN")
    if not listen or not re.fullmatch(r".+:[0-9]+", listen):
        return [f"{where}: no --listen HOST:PORT, so /healthz and /metrics are off"]
    port = int(listen.rsplit(":", 1)[1])
    named_ports = {item.get("name"): item.get("containerPort") for item in container.get("ports") or []}
    for probe in ("readinessProbe", "livenessProbe"):
        http = (container.get(probe) or {}).get("httpGet")
        if not http or http.get("path") != "/healthz":
            problems.append(f"{where}: {probe} must be an httpGet of /healthz")
            continue
        probe_port = named_ports.get(http.get("port"), http.get("port"))
        if probe_port != port:
            problems.append(f"{where}: {probe} probes port {http.get('port')!r}, but the worker listens on {port}")
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


def queue_secret_problems(objects: list[dict[str, Any]]) -> list[str]:
    """The workers' WILDCHAT__QUEUE and KEDA's address/password must name the same Redis."""
    problems: list[str] = []
    for auth in of_kind(objects, "TriggerAuthentication"):
        references = {
            reference.get("parameter"): reference
            for reference in (auth.get("spec") or {}).get("secretTargetRef") or []
            if isinstance(reference, dict)
        }
        address_reference = references.get("address")
        if not address_reference:
            continue
        secret = find(objects, "Secret", address_reference.get("name", ""), namespace_of(auth))
        if secret is None or "WILDCHAT__QUEUE" not in secret_keys(secret):
            continue
        url = urllib.parse.urlsplit(secret_value(secret, "WILDCHAT__QUEUE") or "")
        where = f"{name_of(secret)} (used by {name_of(auth)})"
        if url.scheme not in ("redis", "rediss"):
            problems.append(f"{where}: WILDCHAT__QUEUE is not a redis:// or rediss:// URL")
            continue
        try:
            url_address = f"{url.hostname}:{url.port or 6379}"
        except ValueError:
            problems.append(f"{where}: WILDCHAT__QUEUE has an invalid port")
            continue
        if secret_value(secret, address_reference.get("key", "")) != url_address:
            problems.append(f"{where}: `{address_reference.get('key')}` and the host:port of WILDCHAT__QUEUE differ (values not shown)")
        password_reference = references.get("password")
        if password_reference:
            url_password = urllib.parse.unquote(url.password) if url.password is not None else ""
            if (secret_value(secret, password_reference.get("key", "")) or "") != url_password:
                problems.append(f"{where}: `{password_reference.get('key')}` and the password of WILDCHAT__QUEUE differ (values not shown)")
        if url.scheme == "rediss" and "tls" not in references:
            problems.append(f"{where}: WILDCHAT__QUEUE uses TLS (rediss://) but {name_of(auth)} gives KEDA no `tls` parameter")
    return problems


def fleet_problems(objects: list[dict[str, Any]]) -> list[str]:
    """The coordinator, the worker pools and their triggers agree on one run, queue by queue."""
    job, run_id, _version, problems = coordinator_run(objects)
    if job is None or run_id is None:
        return problems
    namespace = namespace_of(job)
    coordinator = next(c for c in containers_of(job) if c.get("name") == "coordinator")
    problems += image_problems(job) + reference_problems(job, objects)
    analyse_on = settings_value(coordinator, "WILDCHAT__ANALYSE_ON", objects, namespace) or "cpu"
    if analyse_on not in ("cpu", "gpu"):
        problems.append(f"{name_of(job)}: WILDCHAT__ANALYSE_ON is {analyse_on!r}, not cpu or gpu")
    # Queues the coordinator fills: analyse jobs go to partition or partition-gpu.
    expected_queues = {"map", "finalise", "partition-gpu" if analyse_on == "gpu" else "partition"}

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
        problems += image_problems(pool) + reference_problems(pool, objects) + probe_problems(worker, where)
        run = settings_value(worker, "WILDCHAT__RUN", objects, namespace)
        if run != run_id:
            problems.append(f"{where}: WILDCHAT__RUN is {run!r}, but the coordinator runs {run_id!r}")
        capabilities = [part.strip() for part in (settings_value(worker, "WILDCHAT__CAPABILITIES", objects, namespace) or "cpu").split(",") if part.strip()]
        if capabilities not in (["cpu"], ["gpu"]):
            problems.append(f"{where}: WILDCHAT__CAPABILITIES must be exactly cpu or gpu for a pool, not {capabilities}")
            continue
        capability = capabilities[0]
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
        labels = ((pool.get("spec") or {}).get("template") or {}).get("metadata", {}).get("labels") or {}
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
        kinds, stream_issues = stream_kinds(scaled, run_id, name_of(scaled))
        problems += stream_issues
        if len(kinds) != len(set(kinds)):
            problems.append(f"{name_of(scaled)}: a stream is listed twice: {sorted(kinds)}")
        wanted = CPU_QUEUES if capability == "cpu" else GPU_QUEUES
        if sorted(set(kinds)) != sorted(wanted):
            problems.append(
                f"{name_of(scaled)}: a {capability} pool's triggers must be exactly the {', '.join(wanted)} "
                f"stream(s) of run {run_id!r}; they are {sorted(kinds)}"
            )
        slots = settings_value(worker, "WILDCHAT__SLOTS", objects, namespace) or "1"
        for trigger in (scaled.get("spec") or {}).get("triggers") or []:
            target = (trigger.get("metadata") or {}).get("streamLength")
            if target is not None and target != slots:
                problems.append(
                    f"{name_of(scaled)}: streamLength {target} per replica, but each worker runs "
                    f"{slots} job(s) at once (WILDCHAT__SLOTS); keep them equal"
                )
        for kind in kinds:
            if kind in served:
                problems.append(f"queue {kind!r} wakes two pools: {served[kind]} and {where}")
            served[kind] = where

    for queue in sorted(expected_queues - set(served)):
        problems.append(
            f"the coordinator (WILDCHAT__ANALYSE_ON={analyse_on}) fills the {queue!r} queue, "
            "but no pool's ScaledObject watches it: its jobs would wait at zero workers"
        )
    for queue in sorted(set(served) - expected_queues - {"partition"}):
        problems.append(
            f"{served[queue]} scales on the {queue!r} queue, which the coordinator "
            f"(WILDCHAT__ANALYSE_ON={analyse_on}) never fills"
        )
    problems += queue_secret_problems(objects)
    return problems
