"""Producing clients' commands to the commands topic, each answered exactly once: acked, or failed.

The producer is idempotent with acks=all, so an ack means the command is on every in-sync replica
and will be stored. Nothing here waits without a bound: a command not acked within the send
timeout is answered as failed (the client retries with the same client_id, which the consumer
stores once). Such a command may still reach Kafka later, when the broker comes back; that is
why the error is "retry", never "it was not taken".

One task feeds the producer from a queue; acks arrive as callbacks. A command therefore costs no
task of its own, whatever the rate.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections import deque
from collections.abc import Callable

from opentelemetry.context import Context

from parley.common import tracing
from parley.common.backoff import Backoff
from parley.common.kafka import CachingPartitioner, KafkaProducer

log = logging.getLogger(__name__)

# Called once per command: None when Kafka acked it, else why not.
Answer = Callable[[str | None], None]

PARTITIONS_REFRESH_SECONDS = 30.0

NOT_CONNECTED = "not_connected"
TIMED_OUT = "timed_out"
FAILED = "failed"


class _Pending:
    __slots__ = ("answer", "key", "timer", "trace", "value")

    def __init__(self, key: bytes, value: bytes, answer: Answer, trace: Context | None = None) -> None:
        self.key = key
        self.value = value
        self.trace = trace
        self.answer: Answer | None = answer
        self.timer: asyncio.TimerHandle | None = None

    def finish(self, outcome: str | None) -> None:
        answer, self.answer = self.answer, None
        if answer is None:
            return
        if self.timer is not None:
            self.timer.cancel()
        answer(outcome)

    def acked(self, future: asyncio.Future[object]) -> None:
        if future.cancelled():
            self.finish(FAILED)
        elif future.exception() is not None:
            log.warning("command not acked: %r", future.exception())
            self.finish(FAILED)
        else:
            self.finish(None)


class CommandProducer:
    def __init__(
        self,
        bootstrap: str,
        topic: str,
        *,
        client_id: str,
        send_timeout: float,
        retry_seconds: float = 1.0,
    ) -> None:
        self.bootstrap = bootstrap
        self.topic = topic
        self.client_id = client_id
        self.send_timeout = send_timeout
        self.retry_seconds = retry_seconds
        self._producer: KafkaProducer | None = None
        self._partitions: list[int] = []
        self._partitioner = CachingPartitioner()
        self._queue: deque[_Pending] = deque()
        self._wake = asyncio.Event()
        self._tasks: list[asyncio.Task[None]] = []

    @property
    def connected(self) -> bool:
        return self._producer is not None

    def start(self) -> None:
        self._tasks = [
            asyncio.create_task(self._connect(), name="kafka-connect"),
            asyncio.create_task(self._feed(), name="kafka-feed"),
        ]

    async def stop(self) -> None:
        for task in self._tasks:
            task.cancel()
        for task in self._tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task
        while self._queue:
            self._queue.popleft().finish(FAILED)
        producer, self._producer = self._producer, None
        if producer is not None:
            await producer.stop()

    def submit(self, key: bytes, value: bytes, answer: Answer, trace: Context | None = None) -> None:
        """Produce `value` (keyed: one key, one partition, one order); `answer` is called once.
        `trace`: the command's trace context, carried in the record's headers."""
        pending = _Pending(key, value, answer, trace)
        loop = asyncio.get_running_loop()
        if self._producer is None:
            loop.call_soon(pending.finish, NOT_CONNECTED)
            return
        pending.timer = loop.call_later(self.send_timeout, pending.finish, TIMED_OUT)
        self._queue.append(pending)
        self._wake.set()

    def _new_producer(self) -> KafkaProducer:
        return KafkaProducer(
            self.bootstrap,
            client_id=self.client_id,
            # No lingering: a chat message is latency-bound. Batches still form on their own
            # while a request is in flight.
            linger_ms=0,
            request_timeout_ms=max(1000, int(self.send_timeout * 1000)),
            metadata_max_age_ms=60_000,
        )

    async def _connect(self) -> None:
        """Start the producer, retrying while Kafka is away; the socket serves meanwhile (reads,
        typing, delivery) and answers commands with a retryable error. Then keep the topic's
        partition list current."""
        backoff = Backoff(
            "Kafka producer start", minimum=self.retry_seconds, maximum=max(self.retry_seconds, 10.0)
        )
        while self._producer is None:
            producer = self._new_producer()
            try:
                await asyncio.wait_for(producer.start(), timeout=max(self.send_timeout, 5.0))
                # Metadata of our topic now, so the first command does not wait for it.
                partitions = await asyncio.wait_for(producer.partitions_for(self.topic), timeout=5.0)
            except Exception as exc:
                delay = backoff.failed(exc)
                with contextlib.suppress(Exception):
                    await producer.stop()
                await asyncio.sleep(delay)
                continue
            backoff.succeeded()
            self._partitions = sorted(partitions)
            self._producer = producer
            log.info("Kafka producer connected to %s", self.bootstrap)
        while True:
            # A topic may grow; until then the partition count is what it was.
            await asyncio.sleep(PARTITIONS_REFRESH_SECONDS)
            with contextlib.suppress(Exception):
                self._partitions = sorted(await producer.partitions_for(self.topic))

    async def _feed(self) -> None:
        while True:
            await self._wake.wait()
            self._wake.clear()
            while self._queue:
                pending = self._queue.popleft()
                producer = self._producer
                if pending.answer is None:
                    continue  # timed out while queued
                if producer is None:
                    pending.finish(NOT_CONNECTED)
                    continue
                # The partition is chosen here (as Kafka's default partitioner would): aiokafka's
                # own choice recomputes the topic's partition sets on every record.
                partition = self._partitioner(pending.key, self._partitions, self._partitions)
                try:
                    with tracing.attached(pending.trace):
                        future = await producer.send(
                            self.topic, pending.value, key=pending.key, partition=partition
                        )
                except Exception as exc:
                    log.warning("command not produced: %r", exc)
                    pending.finish(FAILED)
                    continue
                future.add_done_callback(pending.acked)
