"""Topics, bucket and index on the real Kafka, S3 server and OpenSearch: grown, a shrink refused,
two installations kept apart, removed on delete only when the deletion policy says so."""

from __future__ import annotations

import asyncio
import io
from typing import Any

import kubernetes
import pytest
from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from aiokafka.admin.config_resource import ConfigResource, ConfigResourceType
from opensearchpy import AsyncOpenSearch
from parley.testing import s3
from parley.testing.chatplatforms import (
    Platforms,
    alias_indices,
    bucket_exists,
    condition,
    index_template_exists,
    is_current,
    platform_spec,
    topic_partitions,
    wait_for,
)
from parley.testing.operator_process import OperatorProcess
from parley_operator.api.spec import SERVICE_NAMES
from parley_operator.names import Installation

pytestmark = pytest.mark.kube

NAME = "chat"


def partitions(infra: dict[str, Any], inst: Installation) -> dict[str, int]:
    return asyncio.run(topic_partitions(infra["kafka_bootstrap"], f"{inst.prefix}."))


def externals(infra: dict[str, Any], inst: Installation) -> dict[str, Any]:
    """What of the installation exists outside the cluster."""
    return {
        "topics": sorted(partitions(infra, inst)),
        "bucket": asyncio.run(bucket_exists(infra["s3"], inst.default_bucket)),
        "index": asyncio.run(alias_indices(infra["opensearch_url"], inst.messages_alias)),
        "template": asyncio.run(index_template_exists(infra["opensearch_url"], inst.messages_template)),
    }


GONE = {"topics": [], "bucket": False, "index": [], "template": False}


def first_generation(infra: dict[str, Any], inst: Installation) -> None:
    """What the search service does at its start (docs/search.md: it owns the index generations and
    the alias; the operator puts only the settings template and deletes the indices): generation 1
    with the alias. The operator must then leave it alone, or delete it with the platform."""

    async def create() -> None:
        client = AsyncOpenSearch(hosts=[infra["opensearch_url"]])
        try:
            await client.indices.create(
                index=inst.messages_index(1),
                body={"aliases": {inst.messages_alias: {"is_write_index": True}}},
            )
            settings = await client.indices.get_settings(index=inst.messages_index(1))
            # The operator's template gave it the spec's replicas (0; OpenSearch's default is 1).
            assert settings[inst.messages_index(1)]["settings"]["index"]["number_of_replicas"] == "0"
        finally:
            await client.close()

    asyncio.run(create())


def present(inst: Installation) -> dict[str, Any]:
    suffixes = (
        "attachments.jobs",
        "commands",
        "connections",
        "events",
        "notifications",
        "notifications.dlq",
        "presence",
    )
    return {
        "topics": sorted(f"{inst.prefix}.{s}.v1" for s in suffixes),
        "bucket": True,
        # Made by `first_generation` below, standing in for the search service.
        "index": [inst.messages_index(1)],
        "template": True,
    }


def test_a_topic_grows_and_a_shrink_is_refused_and_reported(
    operator: OperatorProcess, platforms: Platforms, namespace: str, infra: dict[str, Any]
) -> None:
    inst = Installation(namespace, NAME)
    events = inst.topic("events")
    platforms.create(namespace, NAME, platform_spec(infra["kafka_bootstrap"]))
    platforms.wait_ready(namespace, NAME)
    assert partitions(infra, inst)[events] == 1

    platforms.patch_spec(namespace, NAME, {"kafka": {"topics": {"events": {"partitions": 3}}}})
    wait_for(lambda: partitions(infra, inst)[events] == 3, 30, f"{events} to have 3 partitions")
    grown = platforms.wait_ready(namespace, NAME)
    assert condition(grown, "Degraded")["status"] == "False"

    platforms.patch_spec(namespace, NAME, {"kafka": {"topics": {"events": {"partitions": 2}}}})
    refused = platforms.wait(
        namespace,
        NAME,
        lambda p: is_current(p) and condition(p, "Degraded").get("reason") == "PartitionShrinkRefused",
        "the refused shrink to be reported",
    )
    message = condition(refused, "Degraded")["message"]
    assert f"topic {events} has 3 partitions, the spec asks for 2" in message
    # Declined, yet nothing is broken: the platform serves, the topic keeps its partitions.
    assert condition(refused, "Ready")["status"] == "True"
    assert partitions(infra, inst)[events] == 3
    others = {topic: n for topic, n in partitions(infra, inst).items() if topic != events}
    assert set(others.values()) == {1}


def test_two_installations_stay_apart_and_delete_removes_only_its_own(
    operator: OperatorProcess, platforms: Platforms, namespaces: Any, infra: dict[str, Any], k8s_api: Any
) -> None:
    first, second = namespaces.new(), namespaces.new()
    for namespace in (first, second):
        platforms.create(namespace, NAME, platform_spec(infra["kafka_bootstrap"], deletionPolicy="Delete"))
    for namespace in (first, second):
        platforms.wait_ready(namespace, NAME)
    one, two = Installation(first, NAME), Installation(second, NAME)
    first_generation(infra, one)
    first_generation(infra, two)
    assert externals(infra, one) == present(one) and externals(infra, two) == present(two)
    assert not set(present(one)["topics"]) & set(present(two)["topics"])
    assert one.default_bucket != two.default_bucket

    # An object in the bucket: Delete empties it first (S3 removes only empty buckets).
    client = s3.minio_client(infra["s3"])

    async def put() -> None:
        async with client:
            await client.put_object(one.default_bucket, "attachments/a.txt", io.BytesIO(b"hello"), 5)

    asyncio.run(put())
    platforms.delete(first, NAME)
    platforms.wait_gone(first, NAME, timeout=60)
    assert externals(infra, one) == GONE
    assert externals(infra, two) == present(two)
    assert platforms.wait_ready(second, NAME)["status"]["phase"] == "Running"
    # The children went with their owner (the garbage collector follows the owner references).
    apps: Any = kubernetes.client.AppsV1Api(k8s_api)
    wait_for(lambda: not apps.list_namespaced_deployment(first).items, 30, "the Deployments to be collected")
    assert len(apps.list_namespaced_deployment(second).items) == len(SERVICE_NAMES)


def test_delete_with_retain_keeps_topics_bucket_and_index(
    operator: OperatorProcess, platforms: Platforms, namespace: str, infra: dict[str, Any]
) -> None:
    inst = Installation(namespace, NAME)
    platforms.create(namespace, NAME, platform_spec(infra["kafka_bootstrap"], deletionPolicy="Retain"))
    platforms.wait_ready(namespace, NAME)
    first_generation(infra, inst)
    platforms.delete(namespace, NAME)
    platforms.wait_gone(namespace, NAME, timeout=60)
    # Kept for a later installation, or for someone to remove by hand (the fixture does).
    assert externals(infra, inst) == present(inst)


async def _make_topic(bootstrap: str, name: str, configs: dict[str, str]) -> None:
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
    await admin.start()
    try:
        await admin.create_topics(
            [NewTopic(name, num_partitions=1, replication_factor=1, topic_configs=configs)]
        )
    finally:
        await admin.close()


async def _topic_configs(bootstrap: str, name: str) -> dict[str, str]:
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
    await admin.start()
    try:
        (response,) = await admin.describe_configs([ConfigResource(ConfigResourceType.TOPIC, name)])
        (resource,) = response.to_object()["resources"]
        return {e["config_names"]: e["config_value"] for e in resource["config_entries"]}
    finally:
        await admin.close()


def test_settings_change_one_by_one_and_a_replication_factor_drift_is_reported(
    operator: OperatorProcess, platforms: Platforms, namespace: str, infra: dict[str, Any]
) -> None:
    inst = Installation(namespace, NAME)
    presence = inst.topic("presence")
    # There before the platform, with one replica and a setting of someone else's.
    asyncio.run(_make_topic(infra["kafka_bootstrap"], presence, {"segment.ms": "3600000"}))
    spec = platform_spec(infra["kafka_bootstrap"])
    spec["kafka"]["topics"]["presence"] = {"partitions": 1, "replicationFactor": 2, "retentionHours": 5}
    platforms.create(namespace, NAME, spec)
    drifted = platforms.wait(
        namespace,
        NAME,
        lambda p: is_current(p) and condition(p, "Degraded").get("reason") == "ReplicationFactorDrift",
        "the replication factor drift to be reported",
    )
    assert (
        f"topic {presence} has replication factor 1, the spec asks for 2"
        in condition(drifted, "Degraded")["message"]
    )
    assert condition(platforms.wait_ready(namespace, NAME), "Ready")["status"] == "True"
    configs = asyncio.run(_topic_configs(infra["kafka_bootstrap"], presence))
    assert configs["retention.ms"] == str(5 * 3_600_000)
    assert configs["segment.ms"] == "3600000"  # not ours: kept (the old full replace dropped it)
