"""Consumer lag per partition, as the broker sees it: a group's committed offset against the
partition's end offset, refreshed in the background into a Prometheus gauge.

It runs outside the consumer it measures (the socket runs one for the consumer's group), so the
lag keeps being reported, and keeps growing, while that consumer is stopped or stuck: which is
exactly when the `ParleyConsumerLagHigh` alert must fire. Hand-written: no kept exporter runs
inside a Python service (kafka-exporter and Burrow are separate Go servers).
"""

from __future__ import annotations

import asyncio
import logging

from aiokafka import AIOKafkaConsumer, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient
from prometheus_client import CollectorRegistry, Gauge

from parley.common.backoff import Backoff

log = logging.getLogger(__name__)


class LagMonitor:
    def __init__(
        self,
        bootstrap: str,
        watched: dict[str, str],
        registry: CollectorRegistry,
        *,
        interval: float = 5.0,
        client_id: str = "parley-lag",
    ) -> None:
        """`watched`: consumer group -> topic."""
        self.bootstrap = bootstrap
        self.watched = dict(watched)
        self.interval = interval
        self.client_id = client_id
        self.lag = Gauge(
            "parley_kafka_consumergroup_lag",
            "Records of a partition not yet committed by a consumer group (end offset - committed).",
            ["group", "topic", "partition"],
            registry=registry,
        )
        self.up = Gauge(
            "parley_kafka_lag_monitor_up", "1 when the last lag reading succeeded.", registry=registry
        )

    async def run(self) -> None:
        backoff = Backoff("the Kafka lag monitor", minimum=self.interval, maximum=60.0)
        while True:
            admin = AIOKafkaAdminClient(
                bootstrap_servers=self.bootstrap, client_id=self.client_id, request_timeout_ms=5000
            )
            offsets = AIOKafkaConsumer(
                bootstrap_servers=self.bootstrap, client_id=self.client_id, request_timeout_ms=5000
            )
            try:
                await admin.start()
                await offsets.start()
                while True:
                    await self.read(admin, offsets)
                    self.up.set(1)
                    backoff.succeeded()
                    await asyncio.sleep(self.interval)
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                self.up.set(0)
                await asyncio.sleep(backoff.failed(exc))
            finally:
                await asyncio.shield(_close(admin, offsets))

    async def read(self, admin: AIOKafkaAdminClient, offsets: AIOKafkaConsumer) -> None:
        described = await admin.describe_topics(list(set(self.watched.values())))
        partitions_of = {
            d["topic"]: {p["partition"] for p in d.get("partitions", [])}
            for d in described
            if not d.get("error_code")
        }
        for group, topic in self.watched.items():
            partitions = partitions_of.get(topic)
            if not partitions:
                continue
            tps = [TopicPartition(topic, p) for p in sorted(partitions)]
            ends = await offsets.end_offsets(tps)
            committed = await admin.list_consumer_group_offsets(group, partitions=tps)
            for tp in tps:
                done = committed.get(tp)
                position = done.offset if done is not None and done.offset >= 0 else 0
                self.lag.labels(group, topic, str(tp.partition)).set(max(0, ends[tp] - position))


async def _close(admin: AIOKafkaAdminClient, offsets: AIOKafkaConsumer) -> None:
    for close in (admin.close, offsets.stop):
        try:
            await close()
        except Exception as exc:
            log.debug("closing a lag monitor client: %r", exc)
