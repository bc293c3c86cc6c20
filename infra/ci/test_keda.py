"""The KEDA autoscaling of the rendered overlays, checked offline (`make validate-infra` runs it;
alone: `python3 infra/ci/test_keda.py`).

Acceptance: every overlay's manifests pass KEDA's rules (keda_rules.keda_problems) and the fleet
contract (keda_rules.fleet_problems), and each pool's triggers reference the right streams: the
CPU pool exactly map, partition and finalise of the coordinator Job's --run-id, the GPU pool only
partition-gpu. The second half breaks a rendered fleet on purpose, one mistake at a time, and
checks that the rules catch each one with a message that says what is wrong.
"""

from __future__ import annotations

import re
import sys
import unittest
from pathlib import Path
from typing import Any

import yaml

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
        if deployment["kind"] != "Deployment":
            continue
        worker = keda_rules.containers_of(deployment)[0]
        capability = keda_rules.literal_env(worker)["WILDCHAT__CAPABILITIES"]
        result[capability] = by_target[deployment["metadata"]["name"]]
    return result


def streams(scaled: dict[str, Any]) -> list[str]:
    return sorted(trigger["metadata"]["stream"] for trigger in scaled["spec"]["triggers"])


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

    def test_each_pool_triggers_on_its_streams_of_the_coordinators_run(self) -> None:
        for overlay in OVERLAYS:
            with self.subTest(overlay=overlay):
                objects = validate_infra.rendered(overlay)
                _job, run_id, _version, problems = keda_rules.coordinator_run(objects)
                self.assertEqual(problems, [])
                by_capability = pools(objects)
                self.assertEqual(
                    streams(by_capability["cpu"]),
                    sorted(f"wildchat:{{{run_id}/{kind}}}:jobs" for kind in ("map", "partition", "finalise")),
                )
                if "gpu" in by_capability:
                    self.assertEqual(streams(by_capability["gpu"]), [f"wildchat:{{{run_id}/partition-gpu}}:jobs"])
                for scaled in by_capability.values():
                    for trigger in scaled["spec"]["triggers"]:
                        self.assertEqual(trigger["type"], "redis-streams")
                        self.assertEqual(trigger["authenticationRef"]["name"], "wildchat-redis")

    def test_prod_has_a_gpu_pool_and_routes_analyse_jobs_to_it(self) -> None:
        objects = validate_infra.rendered("prod")
        job, run_id, version, _ = keda_rules.coordinator_run(objects)
        release = yaml.safe_load((validate_infra.OVERLAYS_DIR / "prod" / "release.yaml").read_text())["data"]
        self.assertEqual((run_id, version), (release["RUN_ID"], release["RELEASE_VERSION"]))
        self.assertEqual(job["metadata"]["name"], f"wildchat-coordinator-{release['RUN_ID']}")
        coordinator = keda_rules.containers_of(job)[0]
        self.assertEqual(keda_rules.literal_env(coordinator)["WILDCHAT__ANALYSE_ON"], "gpu")
        self.assertEqual(set(pools(objects)), {"cpu", "gpu"})

    def test_dev_is_cpu_only(self) -> None:
        objects = validate_infra.rendered("dev")
        job, _run_id, _version, _ = keda_rules.coordinator_run(objects)
        self.assertEqual(keda_rules.literal_env(keda_rules.containers_of(job)[0])["WILDCHAT__ANALYSE_ON"], "cpu")
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

    def test_pods_set_only_settings_their_binary_reads(self) -> None:
        known = {"worker": self.worker_settings(), "coordinator": self.coordinator_settings()}
        for overlay in OVERLAYS:
            objects = validate_infra.rendered(overlay)
            for obj in objects:
                if obj["kind"] not in ("Deployment", "Job"):
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
                        self.assertEqual(own - known[container["name"]], set(), f"not a {container['name']} setting")

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
        self.run_id = keda_rules.coordinator_run(self.objects)[1]

    def problems(self) -> list[str]:
        return keda_rules.keda_problems(self.objects) + keda_rules.fleet_problems(self.objects)

    def assertProblem(self, *fragments: str) -> None:  # noqa: N802 (unittest style)
        problems = self.problems()
        matching = [problem for problem in problems if all(fragment in problem for fragment in fragments)]
        self.assertTrue(matching, f"no problem mentions {fragments}; got {problems}")

    def test_gpu_pool_with_a_cpu_queue(self) -> None:
        extra = dict(self.gpu["spec"]["triggers"][0])
        extra["name"] = "partition"
        extra["metadata"] = dict(extra["metadata"], stream=f"wildchat:{{{self.run_id}/partition}}:jobs")
        self.gpu["spec"]["triggers"].append(extra)
        self.assertProblem("gpu pool's triggers must be exactly the partition-gpu")
        self.assertProblem("queue 'partition' wakes two pools")

    def test_cpu_pool_missing_a_queue(self) -> None:
        self.cpu["spec"]["triggers"].pop()  # finalise
        self.assertProblem("cpu pool's triggers must be exactly the map, partition, finalise")
        self.assertProblem("fills the 'finalise' queue", "no pool's ScaledObject watches it")

    def test_stream_of_another_run(self) -> None:
        self.cpu["spec"]["triggers"][0]["metadata"]["stream"] = "wildchat:{another-run/map}:jobs"
        self.assertProblem("is of run 'another-run'", f"coordinator runs '{self.run_id}'")

    def test_stream_that_is_not_a_job_stream(self) -> None:
        self.cpu["spec"]["triggers"][0]["metadata"]["stream"] = f"{self.run_id}/map"
        self.assertProblem("is not a job stream")

    def test_placeholder_run_id_left_in(self) -> None:
        job = next(obj for obj in self.objects if obj["kind"] == "Job")
        for item in keda_rules.containers_of(job)[0]["env"]:
            if item["name"] == "WILDCHAT_RUN_ID":
                item["value"] = "unset"
        self.assertProblem("placeholder 'unset'")

    def test_run_id_that_cannot_name_a_job(self) -> None:
        job = next(obj for obj in self.objects if obj["kind"] == "Job")
        job["metadata"]["name"] = "wildchat-coordinator-Release_2026"
        self.assertProblem("not a valid Job name")

    def test_worker_serving_another_run(self) -> None:
        deployment = one(self.objects, "Deployment", "wildchat-worker-gpu")
        for item in keda_rules.containers_of(deployment)[0]["env"]:
            if item["name"] == "WILDCHAT__RUN":
                item["value"] = "another-run"
        self.assertProblem("Deployment/wildchat-worker-gpu", "WILDCHAT__RUN is 'another-run'")

    def test_analyse_on_gpu_without_a_gpu_pool(self) -> None:
        self.objects = [
            obj for obj in self.objects
            if obj["metadata"]["name"] != "wildchat-worker-gpu"
        ]
        self.assertProblem("WILDCHAT__ANALYSE_ON=gpu", "'partition-gpu' queue", "would wait at zero workers")

    def test_gpu_pool_without_a_gpu(self) -> None:
        deployment = one(self.objects, "Deployment", "wildchat-worker-gpu")
        resources = keda_rules.containers_of(deployment)[0]["resources"]
        del resources["limits"]["nvidia.com/gpu"], resources["requests"]["nvidia.com/gpu"]
        self.assertProblem("needs an nvidia.com/gpu limit")

    def test_scale_target_that_does_not_exist(self) -> None:
        self.cpu["spec"]["scaleTargetRef"]["name"] = "wildchat-worker"
        self.assertProblem("ScaledObject/wildchat-worker-cpu", "scaleTargetRef names Deployment 'wildchat-worker'")

    def test_authentication_that_does_not_exist(self) -> None:
        self.gpu["spec"]["triggers"][0]["authenticationRef"]["name"] = "redis-auth"
        self.assertProblem("TriggerAuthentication 'redis-auth'", "not among the rendered objects")

    def test_authentication_key_the_secret_lacks(self) -> None:
        auth = one(self.objects, "TriggerAuthentication", "wildchat-redis")
        auth["spec"]["secretTargetRef"][1]["key"] = "redis-password"
        self.assertProblem("has no key 'redis-password'")

    def test_trigger_without_any_address(self) -> None:
        auth = one(self.objects, "TriggerAuthentication", "wildchat-redis")
        auth["spec"]["secretTargetRef"] = [ref for ref in auth["spec"]["secretTargetRef"] if ref["parameter"] != "address"]
        self.assertProblem("no Redis address")

    def test_wrong_api_version(self) -> None:
        self.cpu["apiVersion"] = "keda.k8s.io/v1alpha1"
        self.assertProblem("apiVersion must be keda.sh/v1alpha1")

    def test_misspelt_field(self) -> None:
        self.cpu["spec"]["pollingIntervall"] = 15
        self.assertProblem("spec.pollingIntervall: not a field KEDA knows")

    def test_unquoted_number_in_trigger_metadata(self) -> None:
        self.cpu["spec"]["triggers"][0]["metadata"]["streamLength"] = 1
        self.assertProblem("metadata.streamLength must be a string")

    def test_stream_length_with_a_consumer_group_is_ignored_by_keda(self) -> None:
        self.cpu["spec"]["triggers"][0]["metadata"]["consumerGroup"] = "workers"
        self.assertProblem("streamLength is ignored by KEDA when consumerGroup is set")

    def test_pending_entries_never_wake_a_pool_from_zero(self) -> None:
        metadata = self.gpu["spec"]["triggers"][0]["metadata"]
        del metadata["streamLength"]
        metadata.update(consumerGroup="workers", pendingEntriesCount="1")
        self.assertProblem("never wakes a pool from zero")

    def test_wrong_consumer_group(self) -> None:
        metadata = self.gpu["spec"]["triggers"][0]["metadata"]
        del metadata["streamLength"]
        metadata.update(consumerGroup="worker", lagCount="1", activationLagCount="0")
        self.assertProblem("consumerGroup 'worker'", "'workers'")

    def test_literal_password_in_a_trigger(self) -> None:
        self.cpu["spec"]["triggers"][0]["metadata"]["password"] = "hunter2"
        self.assertProblem("a literal password")

    def test_replicas_set_on_an_autoscaled_deployment(self) -> None:
        one(self.objects, "Deployment", "wildchat-worker-cpu")["spec"]["replicas"] = 3
        self.assertProblem("sets spec.replicas")

    def test_target_per_replica_differs_from_slots(self) -> None:
        for trigger in self.cpu["spec"]["triggers"]:
            trigger["metadata"]["streamLength"] = "4"
        self.assertProblem("streamLength 4 per replica", "WILDCHAT__SLOTS")

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

    def test_queue_url_and_keda_address_disagree_without_showing_secrets(self) -> None:
        import base64

        secret = next(obj for obj in self.objects if obj["kind"] == "Secret" and obj["metadata"]["name"].startswith("wildchat-queue"))
        secret["data"]["password"] = base64.b64encode(b"a-different-password").decode()
        problems = self.problems()
        self.assertProblem("`password` and the password of WILDCHAT__QUEUE differ")
        self.assertFalse(any("a-different-password" in problem for problem in problems), "a secret value was printed")


if __name__ == "__main__":
    unittest.main(verbosity=2)
