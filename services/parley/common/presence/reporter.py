"""What a socket instance tells presence about its connections, through Kafka.

The socket calls `connected`, `away`, `active` and `disconnected` as things happen (plain calls that
never block or fail: the events are queued and sent in the background, retried while Kafka is
away) and `start()`/`stop()` with its own lifespan. One heartbeat per instance every `interval`
seconds covers all its connections, so 20,000 connections cost one small record per beat; a
connection's own events are sent once each.

While Kafka is away, only each connection's newest state waits: a connection that opened and
closed before anything was sent is never reported at all, so the backlog is bounded by the open
connections, not by the churn.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import re
import socket
import uuid
from collections.abc import Callable
from datetime import UTC, datetime
from typing import TypeVar

from parley.common.backoff import Backoff
from parley.common.events import (
    Connected,
    ConnectionActive,
    ConnectionAway,
    ConnectionEventType,
    Disconnected,
    Event,
    InstanceHeartbeat,
    InstanceStopped,
    encode,
)
from parley.common.kafka import KafkaProducer, Record
from parley.common.presence.timing import HEARTBEAT_SECONDS
from parley.common.topics import Topics, instance_key, user_key
from parley.common.worker import Worker

log = logging.getLogger(__name__)

Clock = Callable[[], datetime]
_E = TypeVar("_E", Connected, ConnectionAway, ConnectionActive, Disconnected)


def utcnow() -> datetime:
    return datetime.now(UTC)


def new_instance_id() -> str:
    """Unique per process start: host (the pod name on Kubernetes), pid and a random part, so a
    restarted process is never mistaken for the one that died."""
    host = re.sub(r"[^A-Za-z0-9._-]", "-", socket.gethostname())[:80] or "host"
    return f"{host}-{os.getpid()}-{uuid.uuid4().hex[:8]}"


class ConnectionReporter(Worker):
    """One worker (common.worker): heartbeats and the sending of connection events."""

    name = "presence-reporter"

    def __init__(
        self,
        producer: KafkaProducer,
        topics: Topics,
        *,
        instance_id: str | None = None,
        heartbeat_seconds: float = HEARTBEAT_SECONDS,
        batch_size: int = 500,
        min_backoff: float = 0.2,
        max_backoff: float = 10.0,
        clock: Clock = utcnow,
    ) -> None:
        super().__init__()
        self.producer = producer
        self.topics = topics
        self.instance_id = instance_id or new_instance_id()
        self.heartbeat_seconds = heartbeat_seconds
        self.batch_size = batch_size
        self.backoff = Backoff(
            "presence: sending connection events", minimum=min_backoff, maximum=max_backoff
        )
        self.clock = clock
        self._open: dict[str, uuid.UUID] = {}  # connection id -> user id
        self._pending: dict[str, ConnectionEventType] = {}  # connection id -> newest unsent event
        self._in_flight: set[str] = set()
        self._announced: set[str] = set()  # connections presence has been told of (acked)
        self._queued = asyncio.Event()
        self._idle = asyncio.Event()
        self._idle.set()
        self._closed = False
        self.heartbeat_failures = 0  # consecutive failed heartbeats

    @property
    def send_failures(self) -> int:
        """Consecutive failed sends of connection events."""
        return self.backoff.failures

    @property
    def connections(self) -> int:
        """Open connections of this instance."""
        return len(self._open)

    # --- what the socket calls ---------------------------------------------------------------

    def connected(self, user_id: uuid.UUID, connection_id: str) -> None:
        """Raises a pydantic ValidationError for a malformed connection id (a bug of the caller's);
        this and the other calls never fail otherwise."""
        event = self._event(Connected, user_id, connection_id)
        self._open[connection_id] = user_id
        self._queue(event)

    def away(self, user_id: uuid.UUID, connection_id: str) -> None:
        if self._open.get(connection_id) != user_id:
            log.debug("away for a connection not reported open: %s", connection_id)
            return
        self._queue(self._event(ConnectionAway, user_id, connection_id))

    def active(self, user_id: uuid.UUID, connection_id: str) -> None:
        if self._open.get(connection_id) != user_id:
            log.debug("active for a connection not reported open: %s", connection_id)
            return
        self._queue(self._event(ConnectionActive, user_id, connection_id))

    def disconnected(self, user_id: uuid.UUID, connection_id: str) -> None:
        if self._open.pop(connection_id, None) is None:
            return
        if connection_id not in self._announced and connection_id not in self._in_flight:
            # Presence never heard of it: say nothing at all.
            self._pending.pop(connection_id, None)
            self._update_idle()
            return
        self._queue(self._event(Disconnected, user_id, connection_id))

    def start(self) -> None:
        """Begin heartbeats (the first one now) and the sending of connection events."""
        if self.task is not None and not self.task.done():
            return
        self._closed = False
        super().start()

    async def run(self) -> None:
        sender = asyncio.create_task(self._sender(), name="presence-events")
        try:
            await self._heartbeats()  # until stopping
            await sender  # until closed, once what was queued is sent (stop)
        finally:
            sender.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await sender

    async def flush(self, within: float | None = None) -> bool:
        """Wait (at most `within` seconds) until every queued event was acknowledged by Kafka;
        False if that did not happen in time."""
        try:
            await asyncio.wait_for(self._idle.wait(), within)
        except TimeoutError:
            return False
        return True

    async def stop(self, grace: float = 5.0) -> None:
        """On a clean shutdown, after the connections were closed (or instead of closing them
        one by one): sends what is queued, then tells presence this instance is gone, so its
        users go offline now instead of when the heartbeats' time is up."""
        if self.task is None:
            return
        self._stopping.set()  # no more heartbeats; the sender goes on
        if not await self.flush(grace):
            log.warning("presence: %d connection event(s) unsent at shutdown", len(self._pending))
        self._closed = True  # the sender ends too, even if a library swallowed the cancel
        self._queued.set()
        await super().stop(grace)
        stopped = InstanceStopped(instance_id=self.instance_id, at=self.clock())
        try:
            await asyncio.wait_for(self.producer.send_many([self._record(stopped)]), grace)
        except Exception as exc:
            # Presence finds out anyway when the heartbeats' time is up.
            log.warning("presence: could not report the instance stopped: %r", exc)

    async def heartbeat(self) -> None:
        """One heartbeat now (the background loop sends them every `heartbeat_seconds`)."""
        beat = InstanceHeartbeat(
            instance_id=self.instance_id,
            at=self.clock(),
            interval_seconds=self.heartbeat_seconds,
            connections=len(self._open),
        )
        await self.producer.send_many([self._record(beat)])

    # --- internals -----------------------------------------------------------------------------

    def _event(self, kind: type[_E], user_id: uuid.UUID, connection_id: str) -> _E:
        return kind(
            user_id=user_id, connection_id=connection_id, instance_id=self.instance_id, at=self.clock()
        )

    def _queue(self, event: ConnectionEventType) -> None:
        # Re-assigning keeps the key's place; only the newest state of a connection matters.
        self._pending[event.connection_id] = event
        self._idle.clear()
        self._queued.set()

    def _update_idle(self) -> None:
        if not self._pending and not self._in_flight:
            self._idle.set()

    def _record(self, event: Event) -> Record:
        if isinstance(event, InstanceHeartbeat | InstanceStopped):
            return self.topics.connections, instance_key(event.instance_id), encode(event)
        assert isinstance(event, Connected | ConnectionAway | ConnectionActive | Disconnected)
        return self.topics.connections, user_key(event.user_id), encode(event)

    async def _heartbeats(self) -> None:
        loop = asyncio.get_running_loop()
        while not self.stopping:
            began = loop.time()
            try:
                await self.heartbeat()
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                self.heartbeat_failures += 1
                if self.heartbeat_failures == 1:
                    log.warning("presence: heartbeat failed (will keep trying): %r", exc)
            else:
                if self.heartbeat_failures:
                    log.info("presence: heartbeats sent again after %d failure(s)", self.heartbeat_failures)
                self.heartbeat_failures = 0
            # A steady beat: a slow send does not push the next one later.
            await self.pause(max(0.0, self.heartbeat_seconds - (loop.time() - began)))

    async def _sender(self) -> None:
        while not self._closed:
            await self._queued.wait()
            self._queued.clear()
            while self._pending and not self._closed:
                batch = self._take_batch()
                try:
                    await self.producer.send_many([self._record(event) for event in batch])
                except asyncio.CancelledError:
                    self._requeue(batch)
                    raise
                except Exception as exc:
                    self._requeue(batch)
                    await asyncio.sleep(self.backoff.failed(exc))
                    continue
                self._acknowledged(batch)
                self.backoff.succeeded()
            self._update_idle()

    def _take_batch(self) -> list[ConnectionEventType]:
        batch: list[ConnectionEventType] = []
        for connection_id in list(self._pending)[: self.batch_size]:
            batch.append(self._pending.pop(connection_id))
            self._in_flight.add(connection_id)
        return batch

    def _requeue(self, batch: list[ConnectionEventType]) -> None:
        for event in batch:
            self._in_flight.discard(event.connection_id)
            # A newer state queued meanwhile wins over the one that failed.
            self._pending.setdefault(event.connection_id, event)

    def _acknowledged(self, batch: list[ConnectionEventType]) -> None:
        for event in batch:
            self._in_flight.discard(event.connection_id)
            if isinstance(event, Disconnected):
                self._announced.discard(event.connection_id)
            else:
                self._announced.add(event.connection_id)
        self._update_idle()
