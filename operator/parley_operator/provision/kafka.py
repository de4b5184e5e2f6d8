"""Kafka topics of an installation: create, grow partitions, never shrink (reported instead).

As Strimzi's topic operator does: settings are changed incrementally (IncrementalAlterConfigs sets
only the keys that differ and leaves a topic's other settings alone), and a replication factor that
differs from the spec is reported in the status (reassigning replicas is the cluster admin's call),
not ignored. A topic without a replication factor in the spec gets as many replicas as the cluster
has brokers, at most 3 (so the smallest ChatPlatform works on a one-broker development Kafka).

The plan is pure; `KafkaTopics` is the thin part that talks to the brokers through aiokafka's admin
client.
"""

from __future__ import annotations

import asyncio
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from aiokafka.admin import AIOKafkaAdminClient, NewPartitions, NewTopic
from aiokafka.admin.config_resource import ConfigResource, ConfigResourceType
from aiokafka.protocol.api import Request, RequestStruct, Response
from aiokafka.protocol.types import Array, Boolean, Int8, Int16, Int32, Schema, String

from parley_operator.api.spec import ChatPlatformSpec, TopicSpec
from parley_operator.api.status import InfrastructureProblem
from parley_operator.names import TOPICS, Installation
from parley_operator.provision.errors import InfraError, unreachable

TOPIC_ALREADY_EXISTS = 36
UNKNOWN_TOPIC = 3
DEFAULT_REPLICATION_FACTOR = 3
"""Replicas of a topic whose spec names none, when the cluster has that many brokers."""


@dataclass(frozen=True)
class TopicWant:
    name: str
    partitions: int
    replication_factor: int | None = None
    """None: as many replicas as brokers, at most DEFAULT_REPLICATION_FACTOR (chosen at creation)."""
    retention_hours: int | None = None

    def replicas(self, brokers: int) -> int:
        if self.replication_factor is not None:
            return self.replication_factor
        return max(1, min(DEFAULT_REPLICATION_FACTOR, brokers))

    def configs(self, replicas: int) -> dict[str, str]:
        """The topic's settings, for a topic with that many replicas."""
        configs = {"cleanup.policy": "delete"}
        if self.retention_hours is not None:
            configs["retention.ms"] = str(self.retention_hours * 3_600_000)
        # With acks=all, one replica may be down and writes still succeed; never more than the replicas.
        configs["min.insync.replicas"] = str(max(1, min(2, replicas - 1)))
        return configs


@dataclass(frozen=True)
class ExistingTopic:
    partitions: int
    replicas: int


@dataclass(frozen=True)
class TopicPlan:
    create: list[TopicWant]
    grow: list[tuple[TopicWant, int]]
    """Topics to extend to the wanted partitions, with the partitions they have."""
    refuse_shrink: list[tuple[TopicWant, int]]
    """Topics asked to have fewer partitions than they do: Kafka cannot, and keys would move."""
    keep: list[TopicWant]


def wanted_topics(spec: ChatPlatformSpec, inst: Installation) -> list[TopicWant]:
    sizing = spec.kafka.topics
    by_suffix: dict[str, TopicSpec] = {suffix: getattr(sizing, suffix.replace(".", "_")) for suffix in TOPICS}
    return [
        TopicWant(inst.topic(suffix), t.partitions, t.replication_factor, t.retention_hours)
        for suffix, t in by_suffix.items()
    ]


def plan_topics(wants: list[TopicWant], existing: Mapping[str, int]) -> TopicPlan:
    """`existing`: partitions of each topic that exists (topics not there are absent)."""
    plan = TopicPlan([], [], [], [])
    for want in wants:
        have = existing.get(want.name)
        if have is None:
            plan.create.append(want)
        elif want.partitions > have:
            plan.grow.append((want, have))
        elif want.partitions < have:
            plan.refuse_shrink.append((want, have))
        else:
            plan.keep.append(want)
    return plan


def shrink_problems(plan: TopicPlan) -> list[InfrastructureProblem]:
    return [
        InfrastructureProblem(
            component="kafka",
            reason="PartitionShrinkRefused",
            message=(
                f"topic {want.name} has {have} partitions, the spec asks for {want.partitions}: "
                f"partitions cannot be removed, keeping {have}"
            ),
            blocking=False,
        )
        for want, have in plan.refuse_shrink
    ]


def replication_problems(
    wants: list[TopicWant], existing: Mapping[str, ExistingTopic]
) -> list[InfrastructureProblem]:
    """Topics whose replication factor differs from the one the spec names (a topic created with
    the cluster's choice is left alone). The operator does not move replicas: reported, not applied."""
    return [
        InfrastructureProblem(
            component="kafka",
            reason="ReplicationFactorDrift",
            message=(
                f"topic {want.name} has replication factor {have.replicas}, the spec asks for "
                f"{want.replication_factor}: the operator does not reassign replicas "
                "(kafka-reassign-partitions does)"
            ),
            blocking=False,
        )
        for want in wants
        if want.replication_factor is not None
        and (have := existing.get(want.name)) is not None
        and have.replicas != want.replication_factor
    ]


def config_drift(want: Mapping[str, str], have: Mapping[str, str]) -> dict[str, str]:
    """The wanted settings a topic lacks or holds with another value."""
    return {key: value for key, value in want.items() if have.get(key) != value}


def existing_topics(metadata: Sequence[Mapping[str, Any]]) -> dict[str, ExistingTopic]:
    """Partitions and replicas (of its first partition) per topic from a Metadata response's topics
    (unknown topics left out)."""
    return {
        t["topic"]: ExistingTopic(
            len(t["partitions"]), len(t["partitions"][0]["replicas"]) if t["partitions"] else 0
        )
        for t in metadata
        if t.get("error_code", 0) != UNKNOWN_TOPIC
    }


# IncrementalAlterConfigs (KIP-339), which aiokafka's admin client does not offer: version 0.
_SET = 0


class _IncrementalAlterConfigsResponse(Response):  # type: ignore[misc]  # aiokafka is untyped
    API_KEY = 44
    API_VERSION = 0
    SCHEMA = Schema(
        ("throttle_time_ms", Int32),
        (
            "responses",
            Array(
                ("error_code", Int16),
                ("error_message", String("utf-8")),
                ("resource_type", Int8),
                ("resource_name", String("utf-8")),
            ),
        ),
    )


class _IncrementalAlterConfigsStruct(RequestStruct):  # type: ignore[misc]
    API_KEY = 44
    API_VERSION = 0
    RESPONSE_TYPE = _IncrementalAlterConfigsResponse
    SCHEMA = Schema(
        (
            "resources",
            Array(
                ("resource_type", Int8),
                ("resource_name", String("utf-8")),
                (
                    "configs",
                    Array(("name", String("utf-8")), ("config_operation", Int8), ("value", String("utf-8"))),
                ),
            ),
        ),
        ("validate_only", Boolean),
    )


class IncrementalAlterConfigs(Request[_IncrementalAlterConfigsStruct]):  # type: ignore[misc]
    """Sets the given settings of each topic; every other setting stays as it is."""

    API_KEY = 44

    def __init__(self, changes: Mapping[str, Mapping[str, str]]) -> None:
        self.changes = changes

    def build(
        self, request_struct_class: type[_IncrementalAlterConfigsStruct]
    ) -> _IncrementalAlterConfigsStruct:
        resources = [
            (
                ConfigResourceType.TOPIC.value,
                topic,
                [(key, _SET, value) for key, value in sorted(settings.items())],
            )
            for topic, settings in sorted(self.changes.items())
        ]
        return request_struct_class(resources, False)


class KafkaTopics:
    """Creates, grows and deletes an installation's topics."""

    def __init__(self, bootstrap_servers: str, timeout: float = 20.0) -> None:
        self.bootstrap_servers = bootstrap_servers
        self.timeout = timeout

    async def _admin(self) -> AIOKafkaAdminClient:
        admin = AIOKafkaAdminClient(
            bootstrap_servers=self.bootstrap_servers, request_timeout_ms=int(self.timeout * 1000)
        )
        await admin.start()
        return admin

    async def ensure(self, wants: list[TopicWant]) -> list[InfrastructureProblem]:
        """Brings the topics to the plan; returns the requests it declined (shrinks)."""
        try:
            async with asyncio.timeout(self.timeout * 3):
                admin = await self._admin()
                try:
                    return await self._ensure(admin, wants)
                finally:
                    await admin.close()
        except InfraError:
            raise
        except Exception as error:
            raise unreachable("kafka", error) from error

    async def _ensure(
        self, admin: AIOKafkaAdminClient, wants: list[TopicWant]
    ) -> list[InfrastructureProblem]:
        existing = await _existing(admin)
        plan = plan_topics(wants, {name: topic.partitions for name, topic in existing.items()})
        brokers = len((await admin.describe_cluster())["brokers"])
        if plan.create:
            response = await admin.create_topics(
                [
                    NewTopic(
                        w.name,
                        num_partitions=w.partitions,
                        replication_factor=w.replicas(brokers),
                        topic_configs=w.configs(w.replicas(brokers)),
                    )
                    for w in plan.create
                ]
            )
            _raise_topic_errors(response.to_object())
        if plan.grow:
            await admin.create_partitions({w.name: NewPartitions(w.partitions) for w, _ in plan.grow})
        kept = [w for w, _ in plan.grow] + [w for w, _ in plan.refuse_shrink] + plan.keep
        await self._reconfigure(admin, {w.name: w.configs(existing[w.name].replicas) for w in kept})
        return shrink_problems(plan) + replication_problems(kept, existing)

    async def _reconfigure(self, admin: AIOKafkaAdminClient, wants: Mapping[str, Mapping[str, str]]) -> None:
        if not wants:
            return
        responses = await admin.describe_configs(
            [ConfigResource(ConfigResourceType.TOPIC, name) for name in wants]
        )
        have: dict[str, dict[str, str]] = {}
        for response in responses:
            for resource in response.to_object()["resources"]:
                entries = resource.get("config_entries") or []
                have[resource["resource_name"]] = {e["config_names"]: e["config_value"] for e in entries}
        changes = {
            name: drift
            for name, configs in wants.items()
            if (drift := config_drift(configs, have.get(name, {})))
        }
        if changes:
            # Only what differs; a setting someone else gave the topic stays.
            response = await admin._send_request(IncrementalAlterConfigs(changes))
            failed = [
                f"{r['resource_name']}: {r.get('error_message') or 'error ' + str(r['error_code'])}"
                for r in response.to_object()["responses"]
                if r["error_code"] != 0
            ]
            if failed:
                raise InfraError(
                    "kafka", "KafkaError", "could not change topic settings: " + "; ".join(failed)
                )

    async def delete(self, names: list[str]) -> None:
        try:
            async with asyncio.timeout(self.timeout * 3):
                admin = await self._admin()
                try:
                    present = await _existing(admin)
                    doomed = [name for name in names if name in present]
                    if doomed:
                        await admin.delete_topics(doomed)
                finally:
                    await admin.close()
        except Exception as error:
            raise unreachable("kafka", error) from error


async def _existing(admin: AIOKafkaAdminClient) -> dict[str, ExistingTopic]:
    # Metadata for all topics: asking for named topics would let a broker with
    # auto.create.topics.enable create them with its default sizing.
    return existing_topics(await admin.describe_topics(None))


def _raise_topic_errors(response: Mapping[str, Any]) -> None:
    failed = [
        f"{t['topic']}: {t.get('error_message') or 'error ' + str(t['error_code'])}"
        for t in response.get("topic_errors", [])
        if t["error_code"] not in (0, TOPIC_ALREADY_EXISTS)
    ]
    if failed:
        raise InfraError("kafka", "TopicCreationFailed", "could not create topics: " + "; ".join(failed))
