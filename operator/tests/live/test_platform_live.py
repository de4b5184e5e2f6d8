"""A ChatPlatform applied to the dev cluster: the operator (a separate process) builds every child,
the topics, the bucket and the index on the real servers, and keeps them as the spec says."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import kubernetes
import pytest
import yaml
from chatplatform_specs import BAD_SPECS
from parley.testing.chatplatforms import (
    Platforms,
    alias_indices,
    bucket_exists,
    condition,
    index_template_exists,
    is_current_and_ready,
    platform_spec,
    topic_partitions,
    wait_for,
)
from parley.testing.operator_process import OperatorProcess
from parley_operator.api.spec import SERVICE_NAMES, parse_spec
from parley_operator.names import Installation
from parley_operator.render import RenderInput, render_all

pytestmark = pytest.mark.kube

NAME = "acme"
REPLICAS = {"gateway": 2, "api": 3}


def _dynamic(api: Any) -> Any:
    dynamic: Any = kubernetes.dynamic.DynamicClient
    return dynamic(api)


def live_object(api: Any, obj: dict[str, Any]) -> dict[str, Any] | None:
    client = _dynamic(api)
    resource = client.resources.get(api_version=obj["apiVersion"], kind=obj["kind"])
    try:
        found = client.get(resource, name=obj["metadata"]["name"], namespace=obj["metadata"]["namespace"])
    except kubernetes.dynamic.exceptions.NotFoundError:
        return None
    return dict(found.to_dict())


def spec_with_replicas(infra: dict[str, Any]) -> dict[str, Any]:
    spec = platform_spec(infra["kafka_bootstrap"])
    for service, replicas in REPLICAS.items():
        spec["services"][service]["replicas"] = replicas
    return spec


def test_a_platform_comes_up_with_every_child_and_external_resource(
    operator: OperatorProcess, platforms: Platforms, namespace: str, infra: dict[str, Any], k8s_api: Any
) -> None:
    spec = spec_with_replicas(infra)
    created = platforms.create(namespace, NAME, spec)
    ready = platforms.wait_ready(namespace, NAME)
    status = ready["status"]

    assert status["phase"] == "Running" and status["version"] == "1.0.0"
    assert condition(ready, "Degraded")["status"] == "False"
    assert condition(ready, "InfrastructureReady")["reason"] == "Provisioned"
    # The dev stack's S3 server (versitygw) has no lifecycle API: noted, yet Ready.
    assert (condition(ready, "BucketLifecycle")["status"], condition(ready, "BucketLifecycle")["reason"]) == (
        "False",
        "LifecycleUnsupported",
    )
    for service in SERVICE_NAMES:
        want = REPLICAS.get(service, 1)
        assert status["services"][service] == {
            "desiredReplicas": want,
            "readyReplicas": want,
            "updatedReplicas": want,
        }, service

    # Every child the renderer makes exists, controlled by the platform.
    inst = Installation(namespace, NAME)
    expected = render_all(RenderInput.steady(parse_spec(spec), inst))
    uid = created["metadata"]["uid"]
    # The generated signing key is created once (the steady rendering does not hold it).
    signing_key = {
        "apiVersion": "v1",
        "kind": "Secret",
        "metadata": {"name": inst.signing_key_secret, "namespace": namespace},
    }
    children = [*expected.apply, signing_key]
    assert {o["kind"] for o in children} >= {
        "ServiceAccount",
        "ConfigMap",
        "Service",
        "Deployment",
        "NetworkPolicy",
        "Secret",
    }
    for child in children:
        found = live_object(k8s_api, child)
        assert found is not None, f"{child['kind']}/{child['metadata']['name']} missing"
        refs = found["metadata"].get("ownerReferences") or []
        assert [(r["kind"], r["name"], r["uid"], r["controller"]) for r in refs] == [
            ("ChatPlatform", NAME, uid, True)
        ], child["metadata"]["name"]
    apps: Any = kubernetes.client.AppsV1Api(k8s_api)
    for service in SERVICE_NAMES:
        deployment = apps.read_namespaced_deployment(inst.service(service), namespace)
        assert deployment.status.ready_replicas == REPLICAS.get(service, 1)
    # The migration Job of the first install ran and, its work done, is removed (by the pass after
    # the one that saw the rollout finish).
    batch: Any = kubernetes.client.BatchV1Api(k8s_api)
    wait_for(lambda: batch.list_namespaced_job(namespace).items == [], 30, "the finished Job removed")

    topics = asyncio.run(topic_partitions(infra["kafka_bootstrap"], f"{inst.prefix}."))
    assert topics == {
        f"{inst.prefix}.{suffix}.v1": 1
        for suffix in (
            "commands",
            "events",
            "connections",
            "presence",
            "notifications",
            "notifications.dlq",
            "attachments.jobs",
        )
    }
    assert status["infrastructure"]["bucket"] == inst.default_bucket
    assert asyncio.run(bucket_exists(infra["s3"], inst.default_bucket))
    # The search service makes the index generations and the alias (docs/search.md); its pods run on
    # kwok's pretend nodes here, so there is none yet. The operator put the settings template.
    assert asyncio.run(alias_indices(infra["opensearch_url"], inst.messages_alias)) == []
    assert asyncio.run(index_template_exists(infra["opensearch_url"], inst.messages_template))


@pytest.mark.parametrize(("title", "spec", "message"), BAD_SPECS, ids=[b[0] for b in BAD_SPECS])
def test_a_spec_the_schema_refuses_is_rejected_with_its_message(
    chatplatform_crd: None,
    platforms: Platforms,
    k8s_namespace: str,
    title: str,
    spec: dict[str, Any],
    message: str,
) -> None:
    with pytest.raises(kubernetes.client.ApiException) as refused:
        platforms.create(k8s_namespace, "refused", spec)
    assert refused.value.status == 422, title
    assert message in str(refused.value.body), title
    assert platforms.get(k8s_namespace, "refused") is None


def test_scaling_a_service_follows_the_spec(
    operator: OperatorProcess, platforms: Platforms, namespace: str, infra: dict[str, Any]
) -> None:
    platforms.create(namespace, NAME, platform_spec(infra["kafka_bootstrap"]))
    platforms.wait_ready(namespace, NAME)
    platforms.patch_spec(namespace, NAME, {"services": {"consumer": {"replicas": 4}}})
    # Ready holds on a scale-up too (the two pods serve while two more start): wait for the counts.
    four = {"desiredReplicas": 4, "readyReplicas": 4, "updatedReplicas": 4}
    platforms.wait(
        namespace,
        NAME,
        lambda p: is_current_and_ready(p) and p["status"]["services"]["consumer"] == four,
        "consumer up to 4 ready replicas",
    )
    platforms.patch_spec(namespace, NAME, {"services": {"consumer": {"replicas": 2}}})
    two = {"desiredReplicas": 2, "readyReplicas": 2, "updatedReplicas": 2}
    # Ready holds throughout (four pods serve while two go); the counts follow as the pods leave.
    scaled = platforms.wait(
        namespace,
        NAME,
        lambda p: is_current_and_ready(p) and p["status"]["services"]["consumer"] == two,
        "consumer down to 2 ready replicas",
    )
    assert scaled["status"]["phase"] == "Running"


def test_a_deleted_deployment_and_an_edited_service_are_repaired(
    operator: OperatorProcess, platforms: Platforms, namespace: str, infra: dict[str, Any], k8s_api: Any
) -> None:
    platforms.create(namespace, NAME, platform_spec(infra["kafka_bootstrap"]))
    platforms.wait_ready(namespace, NAME)
    inst = Installation(namespace, NAME)
    apps: Any = kubernetes.client.AppsV1Api(k8s_api)
    core: Any = kubernetes.client.CoreV1Api(k8s_api)

    old_uid = apps.read_namespaced_deployment(inst.service("presence"), namespace).metadata.uid
    apps.delete_namespaced_deployment(inst.service("presence"), namespace)

    def recreated() -> bool:
        try:
            dep = apps.read_namespaced_deployment(inst.service("presence"), namespace)
        except kubernetes.client.ApiException:
            return False
        return bool(dep.metadata.uid != old_uid and dep.status.ready_replicas == 1)

    wait_for(recreated, 30, "the deleted Deployment to be recreated and ready")

    # A hand edit of fields the operator owns: another port, a selector that matches nothing.
    service = inst.service("api")
    core.patch_namespaced_service(
        service,
        namespace,
        [
            {"op": "replace", "path": "/spec/ports/0/port", "value": 8080},
            {"op": "replace", "path": "/spec/selector", "value": {"x": "y"}},
        ],
        _content_type="application/json-patch+json",
    )

    def repaired() -> bool:
        try:
            spec = core.read_namespaced_service(service, namespace).spec
        except kubernetes.client.ApiException as error:
            if error.status == 404:  # recreated: the edit left a port list apply cannot merge
                return False
            raise
        return bool(
            [(p.port, p.target_port) for p in spec.ports] == [(80, "http")]
            and spec.selector == inst.selector("api")
        )

    wait_for(repaired, 30, "the edited Service to be repaired")
    assert platforms.wait_ready(namespace, NAME)["status"]["phase"] == "Running"


def _first_chatplatform() -> dict[str, Any]:
    """The example of docs/operator.md, as a user would apply it."""
    doc = (Path(__file__).parents[3] / "docs" / "operator.md").read_text()
    block = doc.split("<!-- first-chatplatform -->", 1)[1].split("```yaml", 1)[1].split("```", 1)[0]
    loaded: dict[str, Any] = yaml.safe_load(block)
    return loaded


def test_the_documented_first_chatplatform_becomes_ready_on_a_one_broker_kafka(
    operator: OperatorProcess, platforms: Platforms, namespace: str, infra: dict[str, Any], k8s_api: Any
) -> None:
    example = _first_chatplatform()
    spec = example["spec"]
    assert set(spec) == {"version", "kafka", "postgres", "redis", "s3", "opensearch"}
    assert spec["kafka"]["bootstrapServers"] == infra["kafka_bootstrap"]  # the dev stack's broker
    platforms.create(namespace, example["metadata"]["name"], {**spec, "deletionPolicy": "Delete"})
    ready = platforms.wait_ready(namespace, example["metadata"]["name"], timeout=120)
    assert condition(ready, "Degraded")["status"] == "False"
    prefix = f"{namespace}.{example['metadata']['name']}."
    partitions = asyncio.run(topic_partitions(infra["kafka_bootstrap"], prefix))
    assert {name.removeprefix(prefix): n for name, n in partitions.items()} == {
        "commands.v1": 12,
        "events.v1": 12,
        "connections.v1": 6,
        "presence.v1": 6,
        "notifications.v1": 6,
        "notifications.dlq.v1": 1,
        "attachments.jobs.v1": 6,
    }
    # Becoming Ready is posted as an Event on the ChatPlatform (kubectl describe shows it).
    core = kubernetes.client.CoreV1Api(k8s_api)
    name = example["metadata"]["name"]

    def ready_event() -> bool:
        events = core.list_namespaced_event(namespace, field_selector=f"involvedObject.name={name}").items
        return any(e.involved_object.kind == "ChatPlatform" and e.reason == "Ready" for e in events)

    wait_for(ready_event, 30, "a Ready event on the ChatPlatform")
