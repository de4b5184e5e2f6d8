"""Kafka topics of an installation: create, grow partitions, never shrink (reported instead).

The plan is pure; `KafkaTopics` is the thin part that talks to the brokers through aiokafka's admin
client.
"""

from __future__ import annotations

import asyncio
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from aiokafka.admin import AIOKafkaAdminClient, NewPartitions, NewTopic
from aiokafka.admin.config_resource import ConfigResource, ConfigResourceType

from parley_operator.api.spec import ChatPlatformSpec, TopicSpec
from parley_operator.api.status import InfrastructureProblem
from parley_operator.names import TOPICS, Installation
from parley_operator.provision.errors import InfraError, unreachable

TOPIC_ALREADY_EXISTS = 36
UNKNOWN_TOPIC = 3


@dataclass(frozen=True)
class TopicWant:
    name: str
    partitions: int
    replication_factor: int
    configs: Mapping[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class TopicPlan:
    create: list[TopicWant]
    grow: list[tuple[TopicWant, int]]
    """Topics to extend to the wanted partitions, with the partitions they have."""
    refuse_shrink: list[tuple[TopicWant, int]]
    """Topics asked to have fewer partitions than they do: Kafka cannot, and keys would move."""
    keep: list[TopicWant]


def topic_configs(topic: TopicSpec) -> dict[str, str]:
    configs = {"cleanup.policy": "delete"}
    if topic.retention_hours is not None:
        configs["retention.ms"] = str(topic.retention_hours * 3_600_000)
    # With acks=all, one replica may be down and writes still succeed; never more than the replicas.
    configs["min.insync.replicas"] = str(max(1, min(2, topic.replication_factor - 1)))
    return configs


def wanted_topics(spec: ChatPlatformSpec, inst: Installation) -> list[TopicWant]:
    sizing = spec.kafka.topics
    by_suffix = {suffix: getattr(sizing, suffix.replace(".", "_")) for suffix in TOPICS}
    return [
        TopicWant(inst.topic(suffix), t.partitions, t.replication_factor, topic_configs(t))
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


def config_drift(want: Mapping[str, str], have: Mapping[str, str]) -> dict[str, str]:
    """The wanted settings a topic lacks or holds with another value."""
    return {key: value for key, value in want.items() if have.get(key) != value}


def existing_partitions(metadata: Sequence[Mapping[str, Any]]) -> dict[str, int]:
    """Partitions per topic from a Metadata response's topics (unknown topics left out)."""
    return {t["topic"]: len(t["partitions"]) for t in metadata if t.get("error_code", 0) != UNKNOWN_TOPIC}


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
        plan = plan_topics(wants, await _existing(admin))
        if plan.create:
            response = await admin.create_topics(
                [
                    NewTopic(
                        w.name,
                        num_partitions=w.partitions,
                        replication_factor=w.replication_factor,
                        topic_configs=dict(w.configs),
                    )
                    for w in plan.create
                ]
            )
            _raise_topic_errors(response.to_object())
        if plan.grow:
            await admin.create_partitions({w.name: NewPartitions(w.partitions) for w, _ in plan.grow})
        existing = [w for w, _ in plan.grow] + [w for w, _ in plan.refuse_shrink] + plan.keep
        await self._reconfigure(admin, existing)
        return shrink_problems(plan)

    async def _reconfigure(self, admin: AIOKafkaAdminClient, wants: list[TopicWant]) -> None:
        if not wants:
            return
        responses = await admin.describe_configs(
            [ConfigResource(ConfigResourceType.TOPIC, w.name) for w in wants]
        )
        have: dict[str, dict[str, str]] = {}
        for response in responses:
            for resource in response.to_object()["resources"]:
                entries = resource.get("config_entries") or []
                have[resource["resource_name"]] = {e["config_names"]: e["config_value"] for e in entries}
        drifted = [w for w in wants if config_drift(w.configs, have.get(w.name, {}))]
        if drifted:
            # AlterConfigs replaces a topic's settings: send the whole wanted set, not the difference.
            await admin.alter_configs(
                [ConfigResource(ConfigResourceType.TOPIC, w.name, dict(w.configs)) for w in drifted]
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


async def _existing(admin: AIOKafkaAdminClient) -> dict[str, int]:
    # Metadata for all topics: asking for named topics would let a broker with
    # auto.create.topics.enable create them with its default sizing.
    return existing_partitions(await admin.describe_topics(None))


def _raise_topic_errors(response: Mapping[str, Any]) -> None:
    failed = [
        f"{t['topic']}: {t.get('error_message') or 'error ' + str(t['error_code'])}"
        for t in response.get("topic_errors", [])
        if t["error_code"] not in (0, TOPIC_ALREADY_EXISTS)
    ]
    if failed:
        raise InfraError("kafka", "TopicCreationFailed", "could not create topics: " + "; ".join(failed))
