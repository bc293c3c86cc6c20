"""The KEDA autoscaling of the rendered overlays, checked offline (`make validate-infra` runs it;
alone: `python3 infra/ci/test_keda.py`).

Acceptance: every overlay's manifests pass KEDA's rules (keda_rules.keda_problems) and the fleet
contract (keda_rules.fleet_problems): nothing names a run (the coordinator is a suspended CronJob
template whose Jobs take the version from their own name; no worker sets WILDCHAT__RUN), and each
pool scales on a metrics-api trigger asking the fleet endpoint (`coordinator fleet`, Service
wildchat-fleet in the overlay's namespace) for its own pool's backlog: the CPU pool /pools/cpu,
the GPU pool /pools/gpu. The second half breaks a rendered fleet on purpose, one mistake at a
time, and checks that the rules catch each one with a message that says what is wrong.
"""

from __future__ import annotations

import base64
import re
import sys
import unittest
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

import keda_rules  # noqa: E402
import validate_infra  # noqa: E402

OVERLAYS = validate_infra.overlays()


def one(objects: list[dict[str, Any]], kind: str, name: str) -> dict[str, Any]:
    found = [obj for obj in objects if obj.get("kind") == kind and obj["metadata"]["name"] == name]
    if len(found) != 1:
        raise AssertionError(f"expected one {kind}/{name}, found {len(found)}")
    return found[0]


def pools(objects: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    """capability -> the ScaledObject of the worker pool with that capability."""
    by_target = {obj["spec"]["scaleTargetRef"]["name"]: obj for obj in objects if obj["kind"] == "ScaledObject"}
    result = {}
    for deployment in objects:
        if deployment["kind"] != "Deployment" or deployment["metadata"]["name"] == keda_rules.FLEET_NAME:
            continue
        worker = keda_rules.containers_of(deployment)[0]
        capability = keda_rules.literal_env(worker)["WILDCHAT__CAPABILITIES"]
        result[capability] = by_target[deployment["metadata"]["name"]]
    return result


def namespace(objects: list[dict[str, Any]]) -> str:
    return one(objects, "Namespace", next(o["metadata"]["name"] for o in objects if o["kind"] == "Namespace"))["metadata"]["name"]


def coordinator(objects: list[dict[str, Any]]) -> dict[str, Any]:
    return keda_rules.containers_of(one(objects, "CronJob", "wildchat-coordinator"))[0]


class RenderedOverlays(unittest.TestCase):
    """What `kubectl apply -k overlays/<name>` would create."""

    def test_keda_rules_hold(self) -> None:
        for overlay in OVERLAYS:
            with self.subTest(overlay=overlay):
                self.assertEqual(keda_rules.keda_problems(validate_infra.rendered(overlay)), [])

    def test_fleet_contract_holds(self) -> None:
        for overlay in OVERLAYS:
            with self.subTest(overlay=overlay):
                self.assertEqual(keda_rules.fleet_problems(validate_infra.rendered(overlay)), [])

    def test_each_pool_scales_on_its_backlog_at_the_fleet_endpoint(self) -> None:
        for overlay in OVERLAYS:
            with self.subTest(overlay=overlay):
                objects = validate_infra.rendered(overlay)
                service = f"http://wildchat-fleet.{namespace(objects)}.svc.cluster.local:9100"
                for capability, scaled in pools(objects).items():
                    self.assertEqual(
                        [(t["type"], t["metadata"]["url"], t["metadata"]["valueLocation"], t["metadata"]["targetValue"])
                         for t in scaled["spec"]["triggers"]],
                        [("metrics-api", f"{service}/pools/{capability}", "backlog", "1")],
                    )
                    self.assertEqual(scaled["spec"]["triggers"][0]["metadata"].get("activationTargetValue"), "0")
                    self.assertNotIn("authenticationRef", scaled["spec"]["triggers"][0])
                self.assertEqual([o for o in objects if o["kind"] == "TriggerAuthentication"], [])

    def test_nothing_names_a_run(self) -> None:
        for overlay in OVERLAYS:
            with self.subTest(overlay=overlay):
                objects = validate_infra.rendered(overlay)
                self.assertEqual([keda_rules.name_of(o) for o in objects if o["kind"] == "Job"], [])
                cronjob = one(objects, "CronJob", "wildchat-coordinator")
                self.assertIs(cronjob["spec"]["suspend"], True)
                container = coordinator(objects)
                self.assertEqual(container["args"][:2], ["run", "--version=$(WILDCHAT_RELEASE_VERSION)"])
                self.assertNotIn("--run-id", " ".join(container["args"]))
                self.assertEqual(
                    keda_rules.env_item(container, "WILDCHAT_RELEASE_VERSION")["valueFrom"]["fieldRef"]["fieldPath"],
                    "metadata.labels['batch.kubernetes.io/job-name']",
                )
                for obj in objects:
                    if obj["kind"] in ("Deployment", "CronJob"):
                        for item in keda_rules.containers_of(obj):
                            self.assertIsNone(keda_rules.env_item(item, "WILDCHAT__RUN"), keda_rules.name_of(obj))
                self.assertFalse([o for o in objects if o["kind"] == "ConfigMap" and "RUN_ID" in (o.get("data") or {})])
                # KEDA no longer reads Redis: the queue secret's template holds only the URL.
                example = validate_infra.OVERLAYS_DIR / overlay / "secrets" / "queue.env.example"
                keys = {line.split("=", 1)[0] for line in example.read_text().splitlines() if "=" in line and not line.startswith("#")}
                self.assertEqual(keys, {"WILDCHAT__QUEUE"})

    def test_fleet_endpoint_serves_on_its_service(self) -> None:
        for overlay in OVERLAYS:
            with self.subTest(overlay=overlay):
                objects = validate_infra.rendered(overlay)
                fleet = keda_rules.containers_of(one(objects, "Deployment", "wildchat-fleet"))[0]
                self.assertEqual(fleet["args"], ["fleet", "--listen=0.0.0.0:9100"])
                self.assertEqual(one(objects, "Deployment", "wildchat-fleet")["spec"]["replicas"], 1)
                service = one(objects, "Service", "wildchat-fleet")
                self.assertEqual([(p["name"], p["port"], p["targetPort"]) for p in service["spec"]["ports"]], [("http", 9100, "http")])

    def test_prod_has_a_gpu_pool_and_routes_analyse_jobs_to_it(self) -> None:
        objects = validate_infra.rendered("prod")
        self.assertEqual(keda_rules.literal_env(coordinator(objects))["WILDCHAT__ANALYSE_ON"], "gpu")
        self.assertEqual(set(pools(objects)), {"cpu", "gpu"})

    def test_dev_is_cpu_only(self) -> None:
        objects = validate_infra.rendered("dev")
        self.assertEqual(keda_rules.literal_env(coordinator(objects))["WILDCHAT__ANALYSE_ON"], "cpu")
        self.assertEqual(set(pools(objects)), {"cpu"})


class SettingsNames(unittest.TestCase):
    """Every WILDCHAT__ variable the images and manifests set is one the binaries read: a
    misspelt one would be ignored silently (the worker ignores unknown environment keys)."""

    ROOT = validate_infra.ROOT

    @classmethod
    def worker_settings(cls) -> set[str]:
        source = (cls.ROOT / "worker/src/service/settings.rs").read_text()
        block = re.search(r"pub const KEYS: &\[&str\] = &\[(.*?)\];", source, re.S)
        assert block, "worker/src/service/settings.rs has no KEYS list"
        return {"WILDCHAT__" + key.upper() for key in re.findall(r'"([a-z_]+)"', block.group(1))} | cls.read_directly()

    @classmethod
    def read_directly(cls) -> set[str]:
        """Variables the crates read themselves (std::env, or a named constant such as
        the queue crate's WILDCHAT__REDIS_CA_FILE), whichever binary links them."""
        names: set[str] = set()
        for source in cls.ROOT.glob("*/src/**/*.rs"):
            names |= set(re.findall(r'(?:const [A-Z_]+: &str = |var(?:_os)?\()"(WILDCHAT__[A-Z_]+)"', source.read_text()))
        return names

    @classmethod
    def coordinator_settings(cls) -> set[str]:
        source = (cls.ROOT / "coordinator/src/main.rs").read_text()
        return set(re.findall(r'env = "(WILDCHAT__[A-Z_]+)"', source)) | cls.read_directly()

    # Container name -> the binary it runs (the fleet endpoint is `coordinator fleet`).
    BINARIES = {"worker": "worker", "coordinator": "coordinator", "fleet": "coordinator"}

    def test_coordinator_reads_the_fleet_settings(self) -> None:
        self.assertLessEqual({"WILDCHAT__LISTEN", "WILDCHAT__FLEET_INTERVAL_SECS", "WILDCHAT__QUEUE", "WILDCHAT__STORE"}, self.coordinator_settings())

    def test_pods_set_only_settings_their_binary_reads(self) -> None:
        known = {"worker": self.worker_settings(), "coordinator": self.coordinator_settings()}
        for overlay in OVERLAYS:
            objects = validate_infra.rendered(overlay)
            for obj in objects:
                if obj["kind"] not in ("Deployment", "Job", "CronJob"):
                    continue
                for container in keda_rules.containers_of(obj):
                    names = {item["name"] for item in container.get("env") or []}
                    for source in container.get("envFrom") or []:
                        reference = source.get("configMapRef")
                        if reference:
                            config_map = keda_rules.find(objects, "ConfigMap", reference["name"], keda_rules.namespace_of(obj))
                            names |= set((config_map or {}).get("data") or {})
                    with self.subTest(overlay=overlay, workload=keda_rules.name_of(obj)):
                        unknown = {name for name in names if name.startswith("WILDCHAT__")} - known["worker"] - known["coordinator"]
                        self.assertEqual(unknown, set(), "read by neither binary")
                        own = {item["name"] for item in container.get("env") or [] if item["name"].startswith("WILDCHAT__")}
                        binary = self.BINARIES[container["name"]]
                        self.assertEqual(own - known[binary], set(), f"not a {binary} setting")

    def test_images_set_only_settings_their_binary_reads(self) -> None:
        for dockerfile in sorted((self.ROOT / "infra/docker").glob("Dockerfile.*")):
            binary = "coordinator" if dockerfile.name.endswith("coordinator") else "worker"
            known = self.worker_settings() if binary == "worker" else self.coordinator_settings()
            final_stage = dockerfile.read_text().rsplit("\nFROM ", 1)[1]
            names = set(re.findall(r"\b(WILDCHAT__[A-Z_]+)=", final_stage))
            with self.subTest(dockerfile=dockerfile.name):
                self.assertEqual(names - known, set(), f"not a {binary} setting")


class BrokenFleets(unittest.TestCase):
    """One deliberate mistake in a rendered prod fleet, and the problem that must name it."""

    def setUp(self) -> None:
        self.objects = validate_infra.rendered("prod")
        self.cpu = one(self.objects, "ScaledObject", "wildchat-worker-cpu")
        self.gpu = one(self.objects, "ScaledObject", "wildchat-worker-gpu")
        self.cronjob = one(self.objects, "CronJob", "wildchat-coordinator")
        self.fleet = one(self.objects, "Deployment", "wildchat-fleet")
        self.service = one(self.objects, "Service", "wildchat-fleet")

    def problems(self) -> list[str]:
        return keda_rules.keda_problems(self.objects) + keda_rules.fleet_problems(self.objects)

    def assertProblem(self, *fragments: str) -> None:  # noqa: N802 (unittest style)
        problems = self.problems()
        matching = [problem for problem in problems if all(fragment in problem for fragment in fragments)]
        self.assertTrue(matching, f"no problem mentions {fragments}; got {problems}")

    def url(self, scaled: dict[str, Any], **metadata: str) -> dict[str, str]:
        trigger_metadata = scaled["spec"]["triggers"][0]["metadata"]
        trigger_metadata.update(metadata)
        return trigger_metadata

    # --- The coordinator template: nothing names a run.

    def test_a_coordinator_job_names_a_run(self) -> None:
        job = {"apiVersion": "batch/v1", "kind": "Job", "metadata": {"name": "release-2026-12", "namespace": "wildchat"},
               "spec": self.cronjob["spec"]["jobTemplate"]["spec"]}
        self.objects.append(job)
        self.assertProblem("Job/release-2026-12", "names one run", "--from=cronjob/wildchat-coordinator")

    def test_template_not_suspended(self) -> None:
        self.cronjob["spec"]["suspend"] = False
        self.assertProblem("CronJob/wildchat-coordinator", "spec.suspend must be true")

    def test_literal_version_names_a_run(self) -> None:
        coordinator(self.objects)["args"][1] = "--version=release-2026-12"
        self.assertProblem("--version 'release-2026-12' names a run")

    def test_version_from_a_literal_variable(self) -> None:
        item = keda_rules.env_item(coordinator(self.objects), "WILDCHAT_RELEASE_VERSION")
        del item["valueFrom"]
        item["value"] = "release-2026-12"
        self.assertProblem("--version comes from WILDCHAT_RELEASE_VERSION", "a literal value")

    def test_version_from_another_field(self) -> None:
        item = keda_rules.env_item(coordinator(self.objects), "WILDCHAT_RELEASE_VERSION")
        item["valueFrom"]["fieldRef"]["fieldPath"] = "metadata.name"
        self.assertProblem("fieldRef metadata.name", "batch.kubernetes.io/job-name")

    def test_version_from_an_unset_variable(self) -> None:
        coordinator(self.objects)["args"][1] = "--version=$(VERSION)"
        self.assertProblem("names a variable the container does not set")

    def test_fixed_run_id(self) -> None:
        coordinator(self.objects)["args"].append("--run-id=release-2026-11")
        self.assertProblem("--run-id 'release-2026-11' differs from --version")

    def test_two_coordinator_templates(self) -> None:
        import copy

        other = copy.deepcopy(self.cronjob)
        other["metadata"]["name"] = "wildchat-coordinator-2"
        self.objects.append(other)
        self.assertProblem("expected one coordinator CronJob template", "found 2")

    def test_worker_serving_one_run(self) -> None:
        deployment = one(self.objects, "Deployment", "wildchat-worker-gpu")
        keda_rules.containers_of(deployment)[0]["env"].append({"name": "WILDCHAT__RUN", "value": "release-2026-11"})
        self.assertProblem("Deployment/wildchat-worker-gpu", "sets WILDCHAT__RUN")

    def test_run_in_the_settings_config_map(self) -> None:
        settings = next(obj for obj in self.objects if obj["kind"] == "ConfigMap" and obj["metadata"]["name"].startswith("wildchat-settings"))
        settings["data"]["WILDCHAT__RUN"] = ""
        self.assertProblem("Deployment/wildchat-worker-cpu", "sets WILDCHAT__RUN")

    # --- The fleet endpoint and its Service.

    def test_no_fleet_endpoint(self) -> None:
        self.objects = [obj for obj in self.objects if not (obj["kind"] == "Deployment" and obj["metadata"]["name"] == "wildchat-fleet")]
        self.assertProblem("no Deployment 'wildchat-fleet'")

    def test_fleet_deployment_not_running_fleet(self) -> None:
        keda_rules.containers_of(self.fleet)[0]["args"] = ["run", "--listen=0.0.0.0:9100"]
        self.assertProblem("Deployment/wildchat-fleet", "no container runs `coordinator fleet`")

    def test_fleet_listening_on_loopback(self) -> None:
        keda_rules.containers_of(self.fleet)[0]["args"] = ["fleet"]
        self.assertProblem("Deployment/wildchat-fleet", "127.0.0.1:9100 (loopback only)")

    def test_fleet_probe_on_another_path(self) -> None:
        keda_rules.containers_of(self.fleet)[0]["readinessProbe"]["httpGet"]["path"] = "/metrics"
        self.assertProblem("Deployment/wildchat-fleet", "readinessProbe must be an httpGet of /healthz")

    def test_fleet_without_a_queue(self) -> None:
        container = keda_rules.containers_of(self.fleet)[0]
        container["env"] = [item for item in container["env"] if item["name"] != "WILDCHAT__QUEUE"]
        self.assertProblem("Deployment/wildchat-fleet", "no WILDCHAT__QUEUE")

    def test_fleet_counting_another_store(self) -> None:
        keda_rules.containers_of(self.fleet)[0]["env"].append({"name": "WILDCHAT__STORE", "value": "s3://other/wildchat"})
        self.assertProblem("Deployment/wildchat-worker-cpu", "WILDCHAT__STORE differs from the fleet endpoint's")

    def test_pool_on_another_queue_secret(self) -> None:
        worker = keda_rules.containers_of(one(self.objects, "Deployment", "wildchat-worker-cpu"))[0]
        keda_rules.env_item(worker, "WILDCHAT__QUEUE")["valueFrom"]["secretKeyRef"]["key"] = "OTHER_QUEUE"
        self.assertProblem("Deployment/wildchat-worker-cpu", "must share one queue")

    def test_no_service_for_the_fleet(self) -> None:
        self.objects.remove(self.service)
        self.assertProblem("no Service selects its pods")
        self.assertProblem("names Service 'wildchat-fleet', which is not a rendered Service")

    def test_service_port_that_misses_the_listen_port(self) -> None:
        self.service["spec"]["ports"][0]["targetPort"] = 9090
        self.assertProblem("port 9100 is not a port of Service 'wildchat-fleet' that reaches the fleet's --listen port")

    def test_queue_url_that_is_not_redis_without_showing_secrets(self) -> None:
        secret = next(obj for obj in self.objects if obj["kind"] == "Secret" and obj["metadata"]["name"].startswith("wildchat-queue"))
        secret["data"]["WILDCHAT__QUEUE"] = base64.b64encode(b"memory-secret-value").decode()
        self.assertProblem("WILDCHAT__QUEUE is not a redis:// or rediss:// URL")
        self.assertFalse(any("memory-secret-value" in problem for problem in self.problems()), "a secret value was printed")

    # --- Each pool's trigger: the fleet endpoint's backlog of its own pool.

    def test_trigger_still_on_redis_streams(self) -> None:
        self.cpu["spec"]["triggers"][0] = {"type": "redis-streams", "name": "map",
                                           "metadata": {"stream": "wildchat:{release-2026-11/map}:jobs", "streamLength": "1"}}
        self.assertProblem("type 'redis-streams'", "metrics-api")
        self.assertProblem("no pool scales on /pools/cpu")

    def test_namespace_placeholder_left_in(self) -> None:
        self.url(self.gpu, url="http://wildchat-fleet.NAMESPACE.svc.cluster.local:9100/pools/gpu")
        self.assertProblem("ScaledObject/wildchat-worker-gpu", "namespace 'NAMESPACE'", "components/namespace")

    def test_trigger_url_of_another_namespace(self) -> None:
        self.url(self.cpu, url="http://wildchat-fleet.wildchat-dev.svc.cluster.local:9100/pools/cpu")
        self.assertProblem("names namespace 'wildchat-dev'", "rendered in 'wildchat'")

    def test_trigger_url_without_a_namespace(self) -> None:
        self.url(self.cpu, url="http://wildchat-fleet:9100/pools/cpu")
        self.assertProblem("names no namespace", "its own namespace")

    def test_trigger_url_of_another_service(self) -> None:
        self.url(self.cpu, url="http://wildchat-coordinator.wildchat.svc.cluster.local:9100/pools/cpu")
        self.assertProblem("names Service 'wildchat-coordinator'")

    def test_trigger_url_on_another_port(self) -> None:
        self.url(self.cpu, url="http://wildchat-fleet.wildchat.svc.cluster.local:9090/pools/cpu")
        self.assertProblem("port 9090 is not a port of Service 'wildchat-fleet'")

    def test_gpu_pool_on_the_cpu_backlog(self) -> None:
        self.url(self.gpu, url="http://wildchat-fleet.wildchat.svc.cluster.local:9100/pools/cpu")
        self.assertProblem("a gpu pool must scale on /pools/gpu, not /pools/cpu")
        self.assertProblem("pool 'cpu' wakes two Deployments")
        self.assertProblem("WILDCHAT__ANALYSE_ON=gpu", "no pool scales on /pools/gpu", "would wait at zero workers")

    def test_trigger_path_that_is_not_a_pool(self) -> None:
        self.url(self.cpu, url="http://wildchat-fleet.wildchat.svc.cluster.local:9100/metrics")
        self.assertProblem("url path '/metrics' is not a pool's backlog")

    def test_value_location_other_than_backlog(self) -> None:
        self.url(self.cpu, valueLocation="runs")
        self.assertProblem("valueLocation 'runs'", "backlog")

    def test_format_other_than_json(self) -> None:
        self.url(self.cpu, format="prometheus")
        self.assertProblem("format 'prometheus'", "answers json")

    def test_target_per_replica_differs_from_slots(self) -> None:
        self.url(self.cpu, targetValue="4")
        self.assertProblem("targetValue 4 per replica", "WILDCHAT__SLOTS")

    def test_activation_that_never_wakes_a_pool_from_zero(self) -> None:
        self.url(self.gpu, activationTargetValue="1")
        self.assertProblem("activationTargetValue 1", "would not wake the pool from zero")

    def test_analyse_on_gpu_without_a_gpu_pool(self) -> None:
        self.objects = [obj for obj in self.objects if obj["metadata"]["name"] != "wildchat-worker-gpu"]
        self.assertProblem("WILDCHAT__ANALYSE_ON=gpu", "'partition-gpu' queue", "would wait at zero workers")

    # --- The run fingerprint: the coordinator loads the pools' salt and analyse model.

    def test_coordinator_without_the_salt(self) -> None:
        container = coordinator(self.objects)
        container["env"] = [item for item in container["env"] if item["name"] != "WILDCHAT__IP_SALT_FILE"]
        self.assertProblem("CronJob/wildchat-coordinator", "has no IP salt", "run fingerprint")

    def test_pool_with_another_salt_secret(self) -> None:
        pool = one(self.objects, "Deployment", "wildchat-worker-cpu")
        volume = next(v for v in keda_rules.pod_spec_of(pool)["volumes"] if v["name"] == "ip-salt")
        volume["secret"]["secretName"] = "wildchat-ip-salt-2027"
        self.objects.append({"apiVersion": "v1", "kind": "Secret",
                             "metadata": {"name": "wildchat-ip-salt-2027", "namespace": "wildchat"},
                             "stringData": {"ip-salt": "00"}})
        self.assertProblem("Deployment/wildchat-worker-cpu", "Secret wildchat-ip-salt-2027/ip-salt",
                           "the coordinator from Secret wildchat-ip-salt-")

    def test_coordinator_naming_another_model_than_the_gpu_pool(self) -> None:
        container = coordinator(self.objects)
        container["env"] = [item for item in container["env"] if item["name"] != "WILDCHAT__TOXICITY_CONFIG"]
        self.assertProblem("Deployment/wildchat-worker-gpu", "toxicity model /opt/wildchat/models/toxicity/config.toml",
                           "coordinator names the embedded default")

    def test_gpu_pool_that_analyse_jobs_never_reach(self) -> None:
        keda_rules.env_item(coordinator(self.objects), "WILDCHAT__ANALYSE_ON")["value"] = "cpu"
        self.assertProblem("Deployment/wildchat-worker-gpu scales on /pools/gpu", "never fills")

    # --- KEDA's own rules for metrics-api and ScaledObjects.

    def test_metrics_api_without_a_url(self) -> None:
        del self.cpu["spec"]["triggers"][0]["metadata"]["url"]
        self.assertProblem("metadata.url is required")

    def test_redis_streams_field_in_a_metrics_api_trigger(self) -> None:
        self.url(self.cpu, stream="wildchat:{release-2026-11/map}:jobs")
        self.assertProblem("metadata.stream: not a metrics-api parameter")

    def test_literal_credential_in_a_trigger(self) -> None:
        self.url(self.cpu, password="hunter2")
        self.assertProblem("metadata.password: not a metrics-api parameter", "TriggerAuthentication")

    def test_unquoted_number_in_trigger_metadata(self) -> None:
        self.cpu["spec"]["triggers"][0]["metadata"]["targetValue"] = 1
        self.assertProblem("metadata.targetValue must be a string")

    def test_target_value_that_is_not_a_number(self) -> None:
        self.url(self.cpu, targetValue="one")
        self.assertProblem("metadata.targetValue must be a number in a string")

    def test_auth_mode_without_authentication(self) -> None:
        self.url(self.cpu, authMode="bearer")
        self.assertProblem("authMode needs an authenticationRef")

    def test_authentication_that_does_not_exist(self) -> None:
        self.gpu["spec"]["triggers"][0]["authenticationRef"] = {"name": "fleet-auth"}
        self.assertProblem("TriggerAuthentication 'fleet-auth'", "not among the rendered objects")

    def test_gpu_pool_without_a_gpu(self) -> None:
        deployment = one(self.objects, "Deployment", "wildchat-worker-gpu")
        resources = keda_rules.containers_of(deployment)[0]["resources"]
        del resources["limits"]["nvidia.com/gpu"], resources["requests"]["nvidia.com/gpu"]
        self.assertProblem("needs an nvidia.com/gpu limit")

    def test_scale_target_that_does_not_exist(self) -> None:
        self.cpu["spec"]["scaleTargetRef"]["name"] = "wildchat-worker"
        self.assertProblem("ScaledObject/wildchat-worker-cpu", "scaleTargetRef names Deployment 'wildchat-worker'")

    def test_wrong_api_version(self) -> None:
        self.cpu["apiVersion"] = "keda.k8s.io/v1alpha1"
        self.assertProblem("apiVersion must be keda.sh/v1alpha1")

    def test_misspelt_field(self) -> None:
        self.cpu["spec"]["pollingIntervall"] = 15
        self.assertProblem("spec.pollingIntervall: not a field KEDA knows")

    def test_replicas_set_on_an_autoscaled_deployment(self) -> None:
        one(self.objects, "Deployment", "wildchat-worker-cpu")["spec"]["replicas"] = 3
        self.assertProblem("sets spec.replicas")

    def test_grace_period_shorter_than_the_lease(self) -> None:
        one(self.objects, "Deployment", "wildchat-worker-cpu")["spec"]["template"]["spec"]["terminationGracePeriodSeconds"] = 60
        self.assertProblem("terminationGracePeriodSeconds 60 must exceed the lease timeout")

    def test_probe_on_another_port(self) -> None:
        worker = keda_rules.containers_of(one(self.objects, "Deployment", "wildchat-worker-cpu"))[0]
        worker["livenessProbe"]["httpGet"]["port"] = 8080
        self.assertProblem("livenessProbe probes port 8080")

    def test_pool_without_a_disruption_budget(self) -> None:
        self.objects = [obj for obj in self.objects if not (obj["kind"] == "PodDisruptionBudget" and obj["metadata"]["name"] == "wildchat-worker-gpu")]
        self.assertProblem("Deployment/wildchat-worker-gpu", "expected one PodDisruptionBudget")

    def test_untagged_image(self) -> None:
        worker = keda_rules.containers_of(one(self.objects, "Deployment", "wildchat-worker-cpu"))[0]
        worker["image"] = "wildchat/worker-cpu"
        self.assertProblem("has no tag")

    def test_untagged_fleet_image(self) -> None:
        keda_rules.containers_of(self.fleet)[0]["image"] = "wildchat/coordinator:latest"
        self.assertProblem("Deployment/wildchat-fleet", "is :latest")


if __name__ == "__main__":
    unittest.main(verbosity=2)
