"""The connections topic into presence state: a consumer group, so replicas share the partitions.

At least once: offsets are committed only after a batch was applied, and applying again is
harmless (the scripts set state, they do not count). While Redis is away the batch is retried,
with backoff, until it applies; while Kafka is away the consumer is made anew, with backoff.
Neither ever ends the service.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable, Sequence

from aiokafka import AIOKafkaConsumer
from pydantic import ValidationError

from parley.common.backoff import Backoff
from parley.common.events import parse_connection_event
from parley.common.worker import Worker
from parley.presence.store import AnyConnectionEvent

log = logging.getLogger(__name__)

Handler = Callable[[Sequence[AnyConnectionEvent]], Awaitable[object]]


class ConnectionsConsumer(Worker):
    name = "consumer"

    def __init__(
        self,
        *,
        bootstrap: str,
        topic: str,
        group_id: str,
        handle: Handler,
        batch_size: int = 500,
        max_backoff: float = 30.0,
    ) -> None:
        super().__init__()
        self.bootstrap = bootstrap
        self.topic = topic
        self.group_id = group_id
        self.handle = handle
        self.batch_size = batch_size
        self.kafka_backoff = Backoff("consuming the connections topic", maximum=max_backoff)
        self.apply_backoff = Backoff("applying connection events", maximum=max_backoff)
        self.applied = 0  # events applied since start, for tests and metrics

    async def run(self) -> None:
        while not self.stopping:
            consumer = AIOKafkaConsumer(
                self.topic,
                bootstrap_servers=self.bootstrap,
                group_id=self.group_id,
                client_id=self.group_id,
                enable_auto_commit=False,
                # A new group reads the topic from its start: news too old for a live instance
                # is recognised as such (see store), and nothing said before we joined is lost.
                auto_offset_reset="earliest",
            )
            try:
                await consumer.start()
                await self._consume(consumer)
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                await self.pause(self.kafka_backoff.failed(exc))
            finally:
                with contextlib.suppress(Exception):
                    await consumer.stop()

    async def _consume(self, consumer: AIOKafkaConsumer) -> None:
        while not self.stopping:
            batches = await consumer.getmany(timeout_ms=1000, max_records=self.batch_size)
            self.kafka_backoff.succeeded()
            records = [record for partition in batches.values() for record in partition]
            if not records:
                continue
            events = [
                event for event in (self._parse(record.value) for record in records) if event is not None
            ]
            if not await self._apply_until_done(events):
                return  # stopping: the batch comes again to whoever has the partition next
            await consumer.commit()

    @staticmethod
    def _parse(value: bytes | None) -> AnyConnectionEvent | None:
        if value is None:
            return None
        try:
            return parse_connection_event(value)
        except ValidationError as exc:
            # A record no version of us can read; holding the partition for it helps no one.
            log.error(
                "skipping a connection event that cannot be read: %s", exc.errors(include_input=False)[:3]
            )
            return None

    async def _apply_until_done(self, events: list[AnyConnectionEvent]) -> bool:
        """True once applied; False if the service is stopping first."""
        while not self.stopping:
            try:
                await self.handle(events)
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                await self.pause(self.apply_backoff.failed(exc))
                continue
            self.apply_backoff.succeeded()
            self.applied += len(events)
            return True
        return False
