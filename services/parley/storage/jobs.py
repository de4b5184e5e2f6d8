"""The job loop: completed uploads from the jobs topic, scanned, previewed, made readable.

A consumer group (replicas share the partitions), offsets committed after a batch is done. A job
whose attachment is no longer `scanning` is skipped, so a replayed job is harmless. What fails
because a server is away (S3, clamd, PostgreSQL) is retried with backoff, the batch not
committed; what fails because of the file (malware, a picture Pillow refuses) fails the
attachment, and nothing a file holds ends the loop.
"""

from __future__ import annotations

import asyncio
import logging
import uuid
from collections.abc import Awaitable, Callable, Sequence
from typing import Any

import sqlalchemy as sa
from pydantic import ValidationError

from parley.common.chat.attachments import attachments
from parley.common.events import parse_attachment_event
from parley.common.group_consumer import GroupConsumer, Record
from parley.storage import previews, types
from parley.storage.clamd import Clamd
from parley.storage.service import Storage, preview_key, thumbnail_key

log = logging.getLogger(__name__)


class Processor:
    """One attachment's scan and preview."""

    def __init__(self, storage: Storage, clamd: Clamd | None) -> None:
        self.storage = storage
        self.clamd = clamd
        self.done = 0  # for tests and the bench

    async def process(self, attachment_id: uuid.UUID) -> None:
        storage, s = self.storage, self.storage.settings
        async with storage.engine.connect() as conn:
            row = (
                await conn.execute(sa.select(attachments).where(attachments.c.id == attachment_id))
            ).first()
        if row is None or row.status != "scanning":
            return
        key = row.object_key
        if await storage.store.size(key) is None:
            # Gone from the bucket behind our back: waiting would hold the partition for ever.
            await storage.fail(attachment_id, "object_missing")
            return
        scanned = False
        if self.clamd is not None:
            async with storage.store.stream(key) as chunks:
                verdict = await self.clamd.scan(chunks)
            if verdict.too_large:
                await storage.fail(attachment_id, "too_large_to_scan")
                return
            if not verdict.clean:
                log.warning("attachment %s is malware (%s): deleted", attachment_id, verdict.signature)
                await storage.fail(attachment_id, "malware")
                return
            scanned = True
        values: dict[str, Any] = {"status": "ready", "scanned": scanned}
        if row.content_type in types.IMAGES:
            if row.size > s.storage_max_image_bytes:
                await storage.fail(attachment_id, "image_too_large")
                return
            data = await storage.store.read(key)
            try:
                rendered = await asyncio.to_thread(
                    previews.render, data, row.content_type, max_pixels=s.storage_max_image_pixels
                )
            except previews.ImageRefused as exc:
                log.info("attachment %s refused: %s", attachment_id, exc.reason)
                await storage.fail(attachment_id, exc.reason)
                return
            await storage.store.put(preview_key(key), rendered.preview, "image/jpeg")
            await storage.store.put(thumbnail_key(key), rendered.thumbnail, "image/jpeg")
            await storage.store.put(key, rendered.original, row.content_type)
            values.update(
                width=rendered.width, height=rendered.height, has_preview=True, size=len(rendered.original)
            )
            storage.metrics.previews.inc()
        async with storage.engine.begin() as conn:
            await conn.execute(
                sa.update(attachments)
                .where(attachments.c.id == attachment_id, attachments.c.status == "scanning")
                .values(**values)
            )
        storage.metrics.ready.inc()
        self.done += 1


class JobWorker(GroupConsumer):
    """The jobs topic, as a consumer group: a batch's jobs run `concurrency` at a time."""

    name = "jobs"

    def __init__(
        self,
        *,
        bootstrap: str,
        topic: str,
        group_id: str,
        process: Callable[[uuid.UUID], Awaitable[None]],
        concurrency: int = 4,
        max_backoff: float = 30.0,
    ) -> None:
        super().__init__(
            bootstrap=bootstrap,
            topic=topic,
            group_id=group_id,
            batch_size=concurrency * 4,
            max_backoff=max_backoff,
            # A topic made just before (tests, a fresh installation) may have no partitions in
            # the first metadata: look again after seconds, not after the default 5 minutes.
            options={"metadata_max_age_ms": 10_000},
        )
        self.process = process
        self.concurrency = concurrency

    async def handle(self, records: Sequence[Record]) -> None:
        """Every job of the batch; if some fail, the batch is handed again, and the jobs already
        done are skipped at once (their attachment is no longer `scanning`)."""
        ids = list(dict.fromkeys(i for i in (self._parse(r.value) for r in records) if i is not None))
        limit = asyncio.Semaphore(self.concurrency)

        async def one(attachment_id: uuid.UUID) -> bool:
            async with limit:
                try:
                    await self.process(attachment_id)
                except asyncio.CancelledError:
                    raise
                except Exception as exc:
                    log.warning("attachment %s: %s (retried)", attachment_id, exc)
                    return False
                return True

        failed = sum(not ok for ok in await asyncio.gather(*(one(i) for i in ids)))
        if failed:
            raise RuntimeError(f"{failed} job(s) failed")

    @staticmethod
    def _parse(value: bytes | None) -> uuid.UUID | None:
        if value is None:
            return None
        try:
            return parse_attachment_event(value).attachment_id
        except ValidationError as exc:
            log.error(
                "skipping an attachment job that cannot be read: %s", exc.errors(include_input=False)[:3]
            )
            return None
