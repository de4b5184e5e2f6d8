"""A topic read as a Kafka consumer group, the one loop of the services that follow a topic
(notification's events, presence's connections, search's events, storage's attachment jobs).

At least once: a batch's offsets are committed only after `handle` took it. While `handle`
fails (its server is away) the same batch is handed again, with backoff, until it succeeds; on
a stop in between nothing is committed and the batch comes again to whoever has the partition
next, so `handle` must be harmless to repeat. While Kafka is away the consumer is made anew, with
backoff. Neither ends the loop. A record no version of us can read is for `handle` to skip (log
it): holding the partition for it helps no one.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from abc import abstractmethod
from collections.abc import Sequence
from functools import partial
from typing import Any, TypeAlias

from aiokafka import AIOKafkaConsumer, ConsumerRecord, TopicPartition
from aiokafka.structs import OffsetAndMetadata

from parley.common.backoff import Backoff
from parley.common.worker import Worker

log = logging.getLogger(__name__)

Record: TypeAlias = ConsumerRecord[bytes, bytes]


class GroupConsumer(Worker):
    name = "group-consumer"

    def __init__(
        self,
        *,
        bootstrap: str,
        topic: str,
        group_id: str,
        batch_size: int = 500,
        max_backoff: float = 30.0,
        handle_backoff_minimum: float = 0.2,
        options: dict[str, Any] | None = None,
    ) -> None:
        """`options`: more AIOKafkaConsumer arguments (fetch sizes, poll intervals)."""
        super().__init__()
        self.bootstrap = bootstrap
        self.topic = topic
        self.group_id = group_id
        self.batch_size = batch_size
        self.options = options or {}
        self.kafka_backoff = Backoff(f"consuming {topic}", maximum=max_backoff)
        self.handle_backoff = Backoff(
            f"handling records of {topic}", minimum=handle_backoff_minimum, maximum=max_backoff
        )
        self.connected = False  # a consumer is started (for status pages)
        self.last_error: str | None = None  # the last failure's, Kafka's or `handle`'s

    @abstractmethod
    async def handle(self, records: Sequence[Record]) -> None:
        """Take one batch (never empty); raise to have it handed again after a backoff."""

    async def run(self) -> None:
        while not self.stopping:
            consumer = AIOKafkaConsumer(
                self.topic,
                bootstrap_servers=self.bootstrap,
                group_id=self.group_id,
                client_id=self.group_id,
                enable_auto_commit=False,
                # A new group reads the topic from its start: nothing said before it joined is lost.
                auto_offset_reset="earliest",
                **self.options,
            )
            try:
                await consumer.start()
                self.connected = True
                await self._consume(consumer)
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                self.last_error = f"kafka: {exc!r}"
                await self.pause(self.kafka_backoff.failed(exc))
            finally:
                self.connected = False
                with contextlib.suppress(Exception):
                    await asyncio.shield(consumer.stop())

    async def _consume(self, consumer: AIOKafkaConsumer) -> None:
        while not self.stopping:
            batches = await consumer.getmany(timeout_ms=1000, max_records=self.batch_size)
            self.kafka_backoff.succeeded()
            records = [record for partition in batches.values() for record in partition]
            if not records:
                continue
            if not await self.until_done(partial(self._handle, records), self.handle_backoff):
                return  # stopping: the batch comes again to whoever has the partition next
            offsets = {tp: OffsetAndMetadata(rs[-1].offset + 1, "") for tp, rs in batches.items() if rs}
            await self._commit(consumer, offsets)

    async def _handle(self, records: Sequence[Record]) -> None:
        try:
            await self.handle(records)
        except Exception as exc:
            self.last_error = f"handle: {exc!r}"
            raise

    @staticmethod
    async def _commit(consumer: AIOKafkaConsumer, offsets: dict[TopicPartition, OffsetAndMetadata]) -> None:
        try:
            await consumer.commit(offsets)
        except Exception as exc:  # the next commit covers these; a crash replays them (harmless)
            log.warning("offsets not committed this time: %r", exc)
