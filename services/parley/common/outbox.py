"""The transactional outbox: events a request stored, published after its commit, surely.

A writer that is not itself driven by a replayable log (the api, changing membership) inserts its
stored events into `event_outbox` in the same transaction as the change. After the commit it wakes
the drainer, which publishes the oldest entries and deletes them. If Redis or Kafka is away, the
request has long succeeded; the drainer logs the failure and tries again with exponential backoff,
and the events go out, in order, once the servers are back. One drainer at a time across all
replicas (a transaction-scoped advisory lock), so a chat's events leave in seq order.
"""

from __future__ import annotations

import asyncio
import contextlib
import uuid
from collections.abc import Awaitable, Callable, Sequence
from datetime import UTC, datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine
from sqlmodel import Field, SQLModel

from parley.common.backoff import Backoff
from parley.common.events import StoredEventType, parse_stored_event

# Any constant no other advisory lock of the platform uses; "outbox" in ASCII.
DRAIN_LOCK = 0x6F7574626F78


def utcnow() -> datetime:
    return datetime.now(UTC)


class OutboxEntry(SQLModel, table=True):
    __tablename__ = "event_outbox"

    id: int | None = Field(
        default=None, sa_column=sa.Column(sa.BigInteger, sa.Identity(always=True), primary_key=True)
    )
    chat_id: uuid.UUID
    event: dict[str, Any] = Field(sa_column=sa.Column(JSONB, nullable=False))
    created_at: datetime = Field(
        default_factory=utcnow, sa_column=sa.Column(sa.DateTime(timezone=True), nullable=False)
    )


outbox: sa.Table = OutboxEntry.__table__  # type: ignore[attr-defined]

Publish = Callable[[Sequence[StoredEventType]], Awaitable[None]]


async def enqueue(conn: AsyncConnection, events: Sequence[StoredEventType]) -> None:
    """In the transaction that stored the events."""
    if events:
        await conn.execute(
            sa.insert(outbox),
            [{"chat_id": e.chat_id, "event": e.model_dump(mode="json"), "created_at": e.at} for e in events],
        )


class OutboxDrainer:
    def __init__(
        self,
        engine: AsyncEngine,
        publish: Publish,
        *,
        batch_size: int = 200,
        poll_seconds: float = 5.0,
        min_backoff: float = 0.2,
        max_backoff: float = 30.0,
    ) -> None:
        self.engine = engine
        self.publish = publish
        self.batch_size = batch_size
        self.poll_seconds = poll_seconds
        self.backoff = Backoff("outbox: publishing", minimum=min_backoff, maximum=max_backoff)
        self._wake = asyncio.Event()
        self._stopping = False
        self._task: asyncio.Task[None] | None = None

    @property
    def failures(self) -> int:
        """Consecutive failed attempts, for health and tests."""
        return self.backoff.failures

    @property
    def task(self) -> asyncio.Task[None] | None:
        """The drainer's task while started (for the liveness check)."""
        return self._task

    def wake(self) -> None:
        """Something was committed to the outbox: drain now rather than at the next poll."""
        self._wake.set()

    def start(self) -> None:
        self._task = asyncio.create_task(self.run(), name="outbox-drainer")

    async def stop(self) -> None:
        # A flag as well as the cancellation: a library awaited inside the loop may swallow a
        # cancellation (seen with redis-py's pipeline), and the loop must end regardless.
        self._stopping = True
        self._wake.set()
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None

    async def run(self) -> None:
        while not self._stopping:
            try:
                await self.drain()
            except Exception as exc:
                delay = self.backoff.failed(exc)
                if not self._stopping:
                    await asyncio.sleep(delay)
                continue
            self.backoff.succeeded()
            # asyncio.timeout, not wait_for: on 3.11 wait_for can swallow a cancellation that
            # arrives just as the wake-up does.
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(self.poll_seconds):
                    await self._wake.wait()
            if not self._stopping:
                self._wake.clear()

    async def drain(self) -> int:
        """Publish until the outbox is empty; returns how many were published. Raises when a
        publish fails (the entries stay for the next attempt)."""
        total = 0
        while True:
            published = await self._drain_batch()
            total += published
            if published < self.batch_size:
                return total

    async def _drain_batch(self) -> int:
        async with self.engine.begin() as conn:
            await conn.execute(sa.select(sa.func.pg_advisory_xact_lock(DRAIN_LOCK)))
            rows = (
                await conn.execute(
                    sa.select(outbox.c.id, outbox.c.event).order_by(outbox.c.id).limit(self.batch_size)
                )
            ).all()
            if not rows:
                return 0
            await self.publish([parse_stored_event(row.event) for row in rows])
            await conn.execute(sa.delete(outbox).where(outbox.c.id.in_([row.id for row in rows])))
            return len(rows)
