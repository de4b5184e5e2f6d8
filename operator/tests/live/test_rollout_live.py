"""A new version: its migration Job runs first, the Deployments follow only after it succeeded, and
a failing Job stops the rollout. (The dev cluster's kwok finishes Job pods: Succeeded, or Failed when
the image tag contains `fail`.)"""

from __future__ import annotations

import time
from typing import Any

import kubernetes
import pytest
from parley.testing.chatplatforms import Platforms, condition, is_current, platform_spec, wait_for
from parley.testing.operator_process import OperatorProcess
from parley.testing.waiting import holds_sync
from parley_operator.api.spec import SERVICE_NAMES
from parley_operator.names import VERSION_ANNOTATION, Installation
from parley_operator.rollout import JobState, job_state

pytestmark = pytest.mark.kube

NAME = "acme"


def versions(apps: Any, inst: Installation) -> dict[str, tuple[str, str]]:
    """(version annotation, container image) of each service's Deployment."""
    found = {}
    for dep in apps.list_namespaced_deployment(inst.namespace).items:
        service = dep.metadata.name.removeprefix(f"{inst.name}-")
        image = dep.spec.template.spec.containers[0].image
        found[service] = ((dep.metadata.annotations or {}).get(VERSION_ANNOTATION, ""), image)
    return found


def image_of(service: str, version: str) -> str:
    """The gateway is the operator's own Envoy (its own image, rolled with the same release)."""
    return f"parley-envoy:{version}" if service == "gateway" else f"parley:{version}"


def released(version: str) -> dict[str, tuple[str, str]]:
    return {s: (version, image_of(s, version)) for s in SERVICE_NAMES}


def read_job(batch: Any, namespace: str, name: str) -> dict[str, Any] | None:
    try:
        job = batch.read_namespaced_job(name, namespace)
    except kubernetes.client.ApiException as error:
        if error.status == 404:
            return None
        raise
    return dict(batch.api_client.sanitize_for_serialization(job))


def test_a_new_version_migrates_first_then_rolls_out(
    operator: OperatorProcess, platforms: Platforms, namespace: str, infra: dict[str, Any], k8s_api: Any
) -> None:
    inst = Installation(namespace, NAME)
    apps: Any = kubernetes.client.AppsV1Api(k8s_api)
    batch: Any = kubernetes.client.BatchV1Api(k8s_api)
    platforms.create(namespace, NAME, platform_spec(infra["kafka_bootstrap"]))
    platforms.wait_ready(namespace, NAME)
    assert versions(apps, inst) == released("1.0.0")

    platforms.patch_spec(namespace, NAME, {"version": "1.1.0"})
    job_name = inst.migration_job("1.1.0")
    job_seen: dict[str, Any] | None = None
    job_when_services_moved: JobState | None = None
    deadline = time.monotonic() + 60
    while True:
        # The Deployments first, then the Job: in a correct rollout the Job has succeeded (or is gone)
        # by the time moved services are seen. Read the other way round, the Job could finish and
        # the services move between the two reads, and a correct rollout would look premature.
        running = versions(apps, inst)
        job = read_job(batch, namespace, job_name)
        job_seen = job or job_seen
        if job_when_services_moved is None and any(v == "1.1.0" for v, _ in running.values()):
            job_when_services_moved = job_state(job)
        platform = platforms.must_get(namespace, NAME)
        if (
            is_current(platform)
            and condition(platform, "Ready").get("status") == "True"
            and platform["status"].get("version") == "1.1.0"
        ):
            break
        assert time.monotonic() < deadline, f"no rollout to 1.1.0 within 60s: {platform.get('status')}"
        time.sleep(0.05)

    assert job_seen is not None, "the migration Job never appeared"
    container = job_seen["spec"]["template"]["spec"]["containers"][0]
    assert (container["image"], container["args"]) == ("parley:1.1.0", ["migrate"])
    # The services moved only once the Job had succeeded (it is removed after the rollout).
    assert job_when_services_moved in (JobState.SUCCEEDED, JobState.ABSENT)
    if job_when_services_moved is JobState.ABSENT:
        assert job_state(job_seen) is JobState.SUCCEEDED
    assert versions(apps, inst) == released("1.1.0")
    wait_for(lambda: read_job(batch, namespace, job_name) is None, 30, "the finished Job to be removed")


def test_a_failing_migration_stops_the_rollout_until_a_good_version(
    operator: OperatorProcess, platforms: Platforms, namespace: str, infra: dict[str, Any], k8s_api: Any
) -> None:
    inst = Installation(namespace, NAME)
    apps: Any = kubernetes.client.AppsV1Api(k8s_api)
    batch: Any = kubernetes.client.BatchV1Api(k8s_api)
    spec = platform_spec(infra["kafka_bootstrap"], migration={"backoffLimit": 0})
    platforms.create(namespace, NAME, spec)
    platforms.wait_ready(namespace, NAME)

    platforms.patch_spec(namespace, NAME, {"version": "1.1.0-fail"})
    blocked = platforms.wait(
        namespace,
        NAME,
        lambda p: is_current(p) and condition(p, "Degraded").get("reason") == "MigrationFailed",
        "the failed migration to be reported",
        # Seconds with backoffLimit 0; were the field pruned by an older CRD someone else applied to
        # this shared cluster, the Job controller's retries (10s, 20s, 40s) would take over a minute.
        timeout=120,
    )
    assert blocked["status"]["phase"] == "Degraded" and blocked["status"]["version"] == "1.0.0"
    assert inst.migration_job("1.1.0-fail") in condition(blocked, "Degraded")["message"]
    assert condition(blocked, "Progressing")["status"] == "False"
    failed_job = read_job(batch, namespace, inst.migration_job("1.1.0-fail"))
    assert failed_job is not None and job_state(failed_job) is JobState.FAILED
    # Passes go on (resync every 5s, child events): the services stay where they were.
    holds_sync(
        lambda: versions(apps, inst) == released("1.0.0"),
        seconds=6,
        reason="a full pass runs every 5 s: one has run by then",
    )

    platforms.patch_spec(namespace, NAME, {"version": "1.1.0"})
    ready = platforms.wait_running(namespace, NAME, "1.1.0")
    assert condition(ready, "Degraded")["status"] == "False"
    assert versions(apps, inst) == released("1.1.0")
    wait_for(
        lambda: batch.list_namespaced_job(namespace).items == [],
        30,
        "the failed and the finished Job removed",
    )
