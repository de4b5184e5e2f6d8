"""Recorded deliveries out through their channel, each sent once.

A sender task takes one due delivery at a time, row-locked (`FOR UPDATE SKIP LOCKED`, so tasks
and replicas never take the same one) in a transaction held across the attempt, and records the
outcome in the same transaction: `sent`; `undeliverable` after a 5xx (and the address is
remembered, so nothing more is sent there); after a temporary failure the attempt count and the
next attempt time (exponential, capped), `failed` (and a record on the DLQ topic) after the last
attempt. A process that dies mid-attempt leaves the row `pending`: its lock goes with its
connection and the next attempt sends the same content under the same Message-ID.

The one window left: the SMTP server accepted the mail and we die before our commit. Then the
mail is sent again (same Message-ID). It is the length of one reply and one commit; SMTP has no
way to ask whether a message was received.
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import sqlalchemy as sa
from prometheus_client import CollectorRegistry, Counter, Histogram
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncConnection

from parley.common.backoff import Backoff
from parley.common.db import Database
from parley.common.kafka import KafkaProducer
from parley.common.topics import user_key
from parley.common.worker import Worker
from parley.notification.channels import Channel, Outgoing, PermanentFailure, TemporaryFailure
from parley.notification.planner import unsubscribe_link
from parley.notification.tables import deliveries, undeliverable
from parley.notification.tokens import make_token

log = logging.getLogger(__name__)


class NotificationMetrics:
    def __init__(self, registry: CollectorRegistry | None = None) -> None:
        self.sent = Counter("notifications_sent_total", "Notifications sent.", ["channel"], registry=registry)
        self.deferred = Counter(
            "notifications_deferred_total",
            "Attempts that failed for now and will be retried.",
            ["channel"],
            registry=registry,
        )
        self.failed = Counter(
            "notifications_failed_total",
            "Notifications given up on, by reason.",
            ["channel", "reason"],
            registry=registry,
        )
        self.planned = Counter("notifications_planned_total", "Deliveries recorded.", registry=registry)
        self.digest_lag = Histogram(
            "notification_digest_lag_seconds",
            "From the first unread message a digest covers to the digest being sent.",
            buckets=(1, 5, 15, 30, 60, 120, 300, 600, 1800, 3600, 7200),
            registry=registry,
        )


def retry_delay(attempts: int, maximum: float) -> float:
    return float(min(2 ** max(attempts - 1, 0), maximum))


class Sender(Worker):
    name = "sender"

    def __init__(
        self,
        *,
        db: Database,
        channels: dict[str, Callable[[], Channel]],
        metrics: NotificationMetrics,
        public_url: str,
        token_secret: bytes,
        max_attempts: int,
        retry_max: float,
        idle: float,
        producer: KafkaProducer | None = None,
        dlq_topic: str | None = None,
        max_backoff: float = 30.0,
        index: int = 0,
    ) -> None:
        super().__init__()
        self.name = f"sender-{index}"
        self.db = db
        self.channels = channels
        self.metrics = metrics
        self.public_url = public_url
        self.token_secret = token_secret
        self.max_attempts = max_attempts
        self.retry_max = retry_max
        self.idle = idle
        self.producer = producer
        self.dlq_topic = dlq_topic
        self.backoff = Backoff(f"notification {self.name}", minimum=0.5, maximum=max_backoff)
        self._open: dict[str, Channel] = {}

    def _channel(self, name: str) -> Channel | None:
        if name not in self._open:
            make = self.channels.get(name)
            if make is None:
                return None
            self._open[name] = make()
        return self._open[name]

    async def run(self) -> None:
        try:
            while not self.stopping:
                try:
                    worked = await self.send_one()
                except asyncio.CancelledError:
                    raise
                except TemporaryFailure as exc:
                    # The server cannot be reached: wait before taking the next delivery.
                    await self.pause(self.backoff.failed(exc))
                    continue
                except Exception as exc:
                    await self.pause(self.backoff.failed(exc))
                    continue
                self.backoff.succeeded()
                if not worked:
                    waits = {
                        asyncio.ensure_future(self._wake.wait()),
                        asyncio.ensure_future(self._stopping.wait()),
                    }
                    try:
                        await asyncio.wait(waits, timeout=self.idle, return_when=asyncio.FIRST_COMPLETED)
                    finally:
                        for waiting in waits:
                            waiting.cancel()
                    self._wake.clear()
        finally:
            for channel in self._open.values():
                try:
                    await channel.close()
                except Exception:  # closing at shutdown
                    log.debug("closing a channel failed", exc_info=True)

    async def send_one(self) -> bool:
        """Attempt one due delivery; False when none was due. Re-raises a connection-level
        failure (after recording it) so the loop waits."""
        async with self.db.engine.connect() as conn, conn.begin():
            row = (
                await conn.execute(
                    sa.select(deliveries)
                    .where(
                        deliveries.c.status == "pending", deliveries.c.next_attempt_at <= datetime.now(UTC)
                    )
                    .order_by(deliveries.c.next_attempt_at)
                    .limit(1)
                    .with_for_update(skip_locked=True)
                )
            ).one_or_none()
            if row is None:
                return False
            channel = self._channel(row.channel)
            if channel is None:
                await self._finish(conn, row, "failed", f"no {row.channel} provider is configured")
                self.metrics.failed.labels(row.channel, "no_provider").inc()
                return True
            gone = (
                await conn.execute(
                    sa.select(undeliverable.c.reason).where(
                        undeliverable.c.channel == row.channel, undeliverable.c.address == row.address
                    )
                )
            ).scalar_one_or_none()
            if gone is not None:
                await self._finish(conn, row, "undeliverable", f"address refused before: {gone}")
                self.metrics.failed.labels(row.channel, "undeliverable").inc()
                return True
            token = make_token(self.token_secret, row.user_id, row.channel)
            item = Outgoing(
                delivery_id=row.id,
                user_id=row.user_id,
                address=row.address,
                subject=row.subject,
                text=row.body_text,
                html=row.body_html,
                unsubscribe_url=unsubscribe_link(self.public_url, token),
            )
            try:
                await channel.send(item)
            except PermanentFailure as exc:
                await conn.execute(
                    insert(undeliverable)
                    .values(
                        channel=row.channel,
                        address=row.address,
                        reason=exc.reason[:500],
                        at=datetime.now(UTC),
                    )
                    .on_conflict_do_nothing()
                )
                await self._finish(conn, row, "undeliverable", exc.reason)
                self.metrics.failed.labels(row.channel, "undeliverable").inc()
                return True
            except TemporaryFailure as exc:
                await self._retry(conn, row, exc.reason, unreachable=exc.connection)
                if exc.connection:
                    await conn.commit()
                    raise
                return True
            now = datetime.now(UTC)
            await conn.execute(
                sa.update(deliveries)
                .where(deliveries.c.id == row.id)
                .values(status="sent", sent_at=now, attempts=row.attempts + 1, last_error=None)
            )
            self.metrics.sent.labels(row.channel).inc()
            self.metrics.digest_lag.observe((now - row.first_event_at).total_seconds())
            return True

    async def _finish(self, conn: AsyncConnection, row: Any, status: str, reason: str) -> None:
        await conn.execute(
            sa.update(deliveries)
            .where(deliveries.c.id == row.id)
            .values(status=status, attempts=row.attempts + 1, last_error=reason[:1000])
        )

    async def _retry(self, conn: AsyncConnection, row: Any, reason: str, *, unreachable: bool) -> None:
        """A server that cannot be reached says nothing about this mail: such attempts are counted
        but never make it `failed` (an outage of any length loses nothing); the server's own
        temporary refusals (4xx) do, after `max_attempts`."""
        attempts = row.attempts + 1
        if attempts >= self.max_attempts and not unreachable:
            await self._finish(conn, row, "failed", reason)
            self.metrics.failed.labels(row.channel, "retries_exhausted").inc()
            await self._dead_letter(row, reason)
            return
        self.metrics.deferred.labels(row.channel).inc()
        await conn.execute(
            sa.update(deliveries)
            .where(deliveries.c.id == row.id)
            .values(
                attempts=attempts,
                last_error=reason[:1000],
                next_attempt_at=datetime.now(UTC) + timedelta(seconds=retry_delay(attempts, self.retry_max)),
            )
        )

    async def _dead_letter(self, row: Any, reason: str) -> None:
        if self.producer is None or self.dlq_topic is None:
            return
        record = {
            "delivery_id": str(row.id),
            "user_id": str(row.user_id),
            "channel": row.channel,
            "attempts": row.attempts + 1,
            "reason": reason[:1000],
        }
        try:
            await self.producer.send_many(
                [(self.dlq_topic, user_key(row.user_id), json.dumps(record).encode())]
            )
        except Exception:  # the row says `failed` either way; the DLQ is a copy for people
            log.warning("could not put delivery %s on the DLQ topic", row.id, exc_info=True)
