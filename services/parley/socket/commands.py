"""Producing clients' commands to the commands topic, each answered exactly once: acked, or failed.

The producer is idempotent with acks=all, so an ack means the command is on every in-sync replica
and will be stored. Nothing here waits without a bound: a command not acked within the send
timeout is answered as failed (the client retries with the same client_id, which the consumer
stores once). Such a command may still reach Kafka later, when the broker comes back; that is
why the error is "retry", never "it was not taken".

One task feeds the producer from a queue; acks arrive as callbacks; one timer watches the oldest
command's deadline. A command therefore costs no task or timer of its own, whatever the rate. A
failed ack makes the wrapper replace its producer (see common/kafka.py); meanwhile commands are
answered `unavailable` (retryable) at once.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections import deque
from collections.abc import Callable

from opentelemetry.context import Context

from parley.common import tracing
from parley.common.backoff import Backoff, RepeatedLog
from parley.common.kafka import CachingPartitioner, KafkaProducer
from parley.common.worker import Worker

log = logging.getLogger(__name__)

# Called once per command: None when Kafka acked it, else why not.
Answer = Callable[[str | None], None]

PARTITIONS_REFRESH_SECONDS = 30.0

NOT_CONNECTED = "not_connected"
TIMED_OUT = "timed_out"
FAILED = "failed"


class _Pending:
    __slots__ = ("answer", "deadline", "key", "trace", "value")

    def __init__(self, key: bytes, value: bytes, answer: Answer, trace: Context | None = None) -> None:
        self.key = key
        self.value = value
        self.trace = trace
        self.answer: Answer | None = answer
        self.deadline = 0.0  # the loop's time by which it is answered, at the latest

    def finish(self, outcome: str | None) -> None:
        answer, self.answer = self.answer, None
        if answer is not None:
            answer(outcome)

    def acked(self, future: asyncio.Future[object]) -> None:
        if future.cancelled():
            self.finish(FAILED)
        elif future.exception() is not None:
            # Logged (once per interval, with a count) by the producer wrapper.
            self.finish(FAILED)
        else:
            self.finish(None)


class CommandProducer(Worker):
    """The commands' producer and its upkeep, one worker: start the Kafka producer (retrying while
    Kafka is away), replace it when it breaks (common.kafka: a failed record may leave its
    partition's sequence spent, which wedged the socket until restarted), keep the topic's
    partition list current, and feed the queue to it."""

    name = "command-producer"

    def __init__(
        self,
        bootstrap: str,
        topic: str,
        *,
        client_id: str,
        send_timeout: float,
        retry_seconds: float = 1.0,
    ) -> None:
        super().__init__()
        self.bootstrap = bootstrap
        self.topic = topic
        self.client_id = client_id
        self.send_timeout = send_timeout
        self.retry_seconds = retry_seconds
        self.kafka = KafkaProducer(
            bootstrap,
            client_id=client_id,
            # No lingering: a chat message is latency-bound. Batches still form on their own
            # while a request is in flight.
            linger_ms=0,
            request_timeout_ms=max(1000, int(send_timeout * 1000)),
            metadata_max_age_ms=60_000,
        )
        self._partitions: list[int] = []
        self._partitioner = CachingPartitioner()
        self._queue: deque[_Pending] = deque()
        # Every command has the same timeout, so deadlines come in submission order: one timer, for
        # the oldest unanswered command, instead of one per command (answered ones are dropped
        # from the front as they reach it).
        self._deadlines: deque[_Pending] = deque()
        self._timer: asyncio.TimerHandle | None = None
        self._fed = asyncio.Event()
        self._refused = RepeatedLog(log, "commands answered unavailable (no usable Kafka producer)")
        self._not_produced = RepeatedLog(log, "commands not produced")

    @property
    def connected(self) -> bool:
        return self.kafka.started and bool(self._partitions)

    async def stop(self, grace: float = 5.0) -> None:
        await super().stop(grace)
        while self._queue:
            self._queue.popleft().finish(FAILED)
        await self.kafka.stop()

    def submit(self, key: bytes, value: bytes, answer: Answer, trace: Context | None = None) -> None:
        """Produce `value` (keyed: one key, one partition, one order); `answer` is called once.
        `trace`: the command's trace context, carried in the record's headers."""
        pending = _Pending(key, value, answer, trace)
        loop = asyncio.get_running_loop()
        if not self.connected:
            self._refused.note(NOT_CONNECTED)
            self.wake()  # a broken producer is replaced now, not at the next refresh
            loop.call_soon(pending.finish, NOT_CONNECTED)
            return
        pending.deadline = loop.time() + self.send_timeout
        deadlines = self._deadlines
        while deadlines and deadlines[0].answer is None:
            deadlines.popleft()
        deadlines.append(pending)
        if self._timer is None:
            self._timer = loop.call_at(pending.deadline, self._expire)
        self._queue.append(pending)
        self._fed.set()

    def _expire(self) -> None:
        """The timer: answer every command past its deadline `timed_out`, then wait for the next."""
        self._timer = None
        loop = asyncio.get_running_loop()
        now = loop.time()
        deadlines = self._deadlines
        while deadlines:
            head = deadlines[0]
            if head.answer is not None and head.deadline > now:
                self._timer = loop.call_at(head.deadline, self._expire)
                return
            deadlines.popleft()
            head.finish(TIMED_OUT)  # (nothing if it was answered already)

    async def run(self) -> None:
        feeder = asyncio.create_task(self._feed(), name="command-feed")
        try:
            await self._keep_connected()
        finally:
            feeder.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await feeder

    async def _keep_connected(self) -> None:
        """Start (or replace) the producer while it is not usable; the socket serves meanwhile
        (reads, typing, delivery) and answers commands with a retryable error. Then keep the
        topic's partition list current, and look again whenever woken (a refused command)."""
        # Capped at 2 s: accepting again within seconds of Kafka's return (a refused start is cheap).
        backoff = Backoff(
            "Kafka producer start", minimum=self.retry_seconds, maximum=max(self.retry_seconds, 2.0)
        )
        await self.repeat(self._connect, backoff, every=PARTITIONS_REFRESH_SECONDS)

    async def _connect(self) -> None:
        was_connected = self.connected
        await asyncio.wait_for(self.kafka.start(), timeout=max(self.send_timeout, 5.0))
        # Metadata of our topic now, so the first command does not wait for it. A topic may
        # grow; until then the partition count is what it was.
        self._partitions = sorted(await asyncio.wait_for(self.kafka.partitions_for(self.topic), timeout=5.0))
        if not was_connected:
            log.info("Kafka producer connected to %s", self.bootstrap)
            self._refused.quiet()
            self._not_produced.quiet()

    async def _feed(self) -> None:
        while True:
            await self._fed.wait()
            self._fed.clear()
            while self._queue:
                pending = self._queue.popleft()
                if pending.answer is None:
                    continue  # timed out while queued
                # The partition is chosen here (as Kafka's default partitioner would): aiokafka's
                # own choice recomputes the topic's partition sets on every record.
                partition = self._partitioner(pending.key, self._partitions, self._partitions)
                try:
                    with tracing.attached(pending.trace):
                        future = await self.kafka.send(
                            self.topic, pending.value, key=pending.key, partition=partition
                        )
                except Exception as exc:
                    self._not_produced.note(exc)
                    self.wake()
                    pending.finish(FAILED)
                    continue
                future.add_done_callback(pending.acked)
