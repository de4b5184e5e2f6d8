"""The storage service's sweep, every storage_sweep_seconds:

- uploads never completed, older than storage_upload_ttl_seconds: multipart upload aborted, object
  and row removed (versitygw, the dev stack's S3 server, has no lifecycle API, so this is the only
  cleanup there; on a server with one the operator also sets an abort-incomplete-multipart rule);
- attachments of deleted messages (`deleted`): objects and row removed;
- failed attachments older than the upload TTL: row removed (their objects went when they failed);
- attachments still `scanning` after storage_job_retry_seconds: their job queued again.
Several replicas may sweep at once: each row is claimed with SKIP LOCKED.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import sqlalchemy as sa

from parley.common.backoff import Backoff
from parley.common.chat.attachments import attachments
from parley.common.worker import Worker
from parley.storage.service import Storage, preview_key, thumbnail_key

BATCH = 200


class Sweeper(Worker):
    name = "sweeper"

    def __init__(self, storage: Storage) -> None:
        super().__init__()
        self.storage = storage
        self.removed = 0
        self.requeued = 0

    async def run(self) -> None:
        s = self.storage.settings
        await self.repeat(
            self.sweep,
            Backoff("sweeping attachments", maximum=s.storage_max_backoff_seconds),
            every=s.storage_sweep_seconds,
        )

    async def sweep(self, now: datetime | None = None) -> None:
        now = now or datetime.now(UTC)
        s = self.storage.settings
        ttl = now - timedelta(seconds=s.storage_upload_ttl_seconds)
        await self._remove(sa.and_(attachments.c.status == "uploading", attachments.c.created_at < ttl))
        await self._remove(attachments.c.status == "deleted")
        await self._remove(sa.and_(attachments.c.status == "failed", attachments.c.created_at < ttl))
        stuck = now - timedelta(seconds=s.storage_job_retry_seconds)
        async with self.storage.engine.connect() as conn:
            rows = (
                await conn.execute(
                    sa.select(attachments)
                    .where(attachments.c.status == "scanning", attachments.c.completed_at < stuck)
                    .limit(BATCH)
                )
            ).all()
        if rows:
            await self.storage.enqueue(list(rows))
            self.requeued += len(rows)

    async def _remove(self, where: sa.ColumnElement[bool]) -> None:
        store = self.storage.store
        while not self.stopping:
            async with self.storage.engine.begin() as conn:
                rows = (
                    await conn.execute(
                        sa.select(attachments.c.id, attachments.c.object_key, attachments.c.upload_id)
                        .where(where)
                        .limit(BATCH)
                        .with_for_update(skip_locked=True)
                    )
                ).all()
                for row in rows:
                    if row.upload_id is not None:
                        await store.abort_multipart(row.object_key, row.upload_id)
                    await store.remove(
                        row.object_key, preview_key(row.object_key), thumbnail_key(row.object_key)
                    )
                if rows:
                    await conn.execute(
                        sa.delete(attachments).where(attachments.c.id.in_([r.id for r in rows]))
                    )
            self.removed += len(rows)
            if len(rows) < BATCH:
                return
