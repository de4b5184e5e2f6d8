"""What the storage service does, apart from HTTP: start, complete and abort uploads, authorise
downloads, fail attachments, queue jobs.

Bytes never pass through here on the request path: clients PUT to presigned URLs, read through
presigned GETs; completing reads the stored object's size and its first 8 KiB only.
"""

from __future__ import annotations

import logging
import math
import secrets
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import quote

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from parley.common.chat.attachments import attachments
from parley.common.chat.models import chat_members
from parley.common.events import AttachmentUploaded, encode
from parley.common.kafka import KafkaProducer
from parley.common.topics import Topics
from parley.storage import types
from parley.storage.errors import (
    AttachmentNotFound,
    ChatNotFound,
    FileTooLarge,
    QuotaExceeded,
    TypeNotAllowed,
    UploadRefused,
    WrongState,
)
from parley.storage.metrics import StorageMetrics
from parley.storage.s3 import Store
from parley.storage.schemas import (
    AttachmentOut,
    Completion,
    Created,
    NewAttachment,
    PartUrl,
    UploadPlan,
    Variant,
)
from parley.storage.settings import StorageSettings

log = logging.getLogger(__name__)

LIVE = ("uploading", "scanning", "ready")
MAX_PARTS = 10_000


def preview_key(key: str) -> str:
    return f"{key}.preview.jpg"


def thumbnail_key(key: str) -> str:
    return f"{key}.thumbnail.jpg"


def new_key() -> str:
    """Unguessable (256 random bits) and says nothing about chat, user or file."""
    return f"a/{secrets.token_urlsafe(32)}"


def to_out(row: Any) -> AttachmentOut:
    return AttachmentOut(
        id=row.id,
        chat_id=row.chat_id,
        uploader_id=row.uploader_id,
        file_name=row.file_name,
        size=row.size,
        content_type=row.content_type or row.declared_type,
        status=row.status,
        failure=row.failure,
        scanned=row.scanned,
        width=row.width,
        height=row.height,
        has_preview=row.has_preview,
        message_seq=row.message_seq,
        created_at=row.created_at,
    )


@dataclass
class Storage:
    settings: StorageSettings
    engine: AsyncEngine
    store: Store
    producer: KafkaProducer
    topics: Topics
    metrics: StorageMetrics

    # --- starting an upload ---------------------------------------------------------------

    async def create(self, me: uuid.UUID, new: NewAttachment, *, now: datetime | None = None) -> Created:
        s = self.settings
        now = now or datetime.now(UTC)
        declared = types.normalise(new.content_type)
        if declared not in types.ALLOWED:
            raise TypeNotAllowed(
                f"Files of type {declared} cannot be attached.", details={"allowed": sorted(types.ALLOWED)}
            )
        if new.size > s.storage_max_file_bytes:
            raise FileTooLarge(s.storage_max_file_bytes)
        multipart = new.size >= s.storage_multipart_threshold_bytes
        key = new_key()
        attachment_id = uuid.uuid4()
        async with self.engine.begin() as conn:
            await self._admit(conn, me, new, now)
            upload_id = await self.store.create_multipart(key, declared) if multipart else None
            row = (
                await conn.execute(
                    sa.insert(attachments)
                    .values(
                        id=attachment_id,
                        chat_id=new.chat_id,
                        uploader_id=me,
                        object_key=key,
                        file_name=new.file_name,
                        declared_type=declared,
                        size=new.size,
                        status="uploading",
                        upload_id=upload_id,
                        scanned=False,
                        has_preview=False,
                        created_at=now,
                    )
                    .returning(attachments)
                )
            ).one()
        expires = timedelta(seconds=s.storage_upload_url_seconds)
        if upload_id is None:
            plan = UploadPlan(
                kind="single", url=await self.store.presign_put(key, expires), expires_at=now + expires
            )
        else:
            part_size = max(s.storage_part_bytes, math.ceil(new.size / MAX_PARTS))
            count = math.ceil(new.size / part_size)
            parts = [
                PartUrl(part_number=n, url=await self.store.presign_part(key, upload_id, n, expires))
                for n in range(1, count + 1)
            ]
            plan = UploadPlan(kind="multipart", part_size=part_size, parts=parts, expires_at=now + expires)
        self.metrics.uploads.labels(plan.kind).inc()
        return Created(attachment=to_out(row), upload=plan)

    async def _admit(self, conn: AsyncConnection, me: uuid.UUID, new: NewAttachment, now: datetime) -> None:
        """Membership, quota, rate limit. The uploader's rows are locked first (through the
        advisory lock of their id), so two uploads at once cannot both fit a quota that holds one."""
        member = (
            await conn.execute(
                sa.select(sa.literal(1)).where(
                    chat_members.c.chat_id == new.chat_id, chat_members.c.user_id == me
                )
            )
        ).first()
        if member is None:
            raise ChatNotFound()
        await conn.execute(sa.select(sa.func.pg_advisory_xact_lock(sa.func.hashtextextended(str(me), 7))))
        s = self.settings
        used, recent = (
            await conn.execute(
                sa.select(
                    sa.func.coalesce(
                        sa.func.sum(attachments.c.size).filter(attachments.c.status.in_(LIVE)), 0
                    ),
                    sa.func.count().filter(attachments.c.created_at > now - timedelta(minutes=1)),
                ).where(attachments.c.uploader_id == me)
            )
        ).one()
        if recent >= s.storage_uploads_per_minute:
            from parley.common.errors import TooManyRequests

            raise TooManyRequests("Too many uploads; wait a little.", retry_after=60)
        if used + new.size > s.storage_quota_bytes:
            self.metrics.failures.labels("quota_exceeded").inc()
            raise QuotaExceeded(s.storage_quota_bytes, int(used))

    # --- completing ---------------------------------------------------------------------------

    async def complete(
        self, me: uuid.UUID, attachment_id: uuid.UUID, completion: Completion
    ) -> AttachmentOut:
        row = await self._own(me, attachment_id)
        if row.status != "uploading":
            if row.status in ("scanning", "ready"):
                return to_out(row)  # a repeated complete
            raise WrongState(f"The attachment is {row.status}.")
        key = row.object_key
        if row.upload_id is not None:
            if not completion.parts:
                raise UploadRefused("A multipart upload is completed with its parts.", code="parts_required")
            numbers = [p.part_number for p in completion.parts]
            if numbers != list(range(1, len(numbers) + 1)):
                raise UploadRefused("Parts must be numbered 1, 2, 3… in order.", code="parts_out_of_order")
            try:
                await self.store.complete_multipart(
                    key, row.upload_id, [(p.part_number, p.etag) for p in completion.parts]
                )
            except Exception as exc:
                from miniopy_async.error import S3Error

                if not isinstance(exc, S3Error):
                    raise
                if exc.code in ("NoSuchUpload",):
                    await self.fail(attachment_id, "upload_expired")
                    raise UploadRefused("The upload is gone.", code="upload_expired") from exc
                raise UploadRefused(f"S3 refused the parts: {exc.code}.", code="parts_refused") from exc
        size = await self.store.size(key)
        if size is None:
            raise UploadRefused("Nothing was uploaded yet.", code="not_uploaded")
        if size != row.size or size > self.settings.storage_max_file_bytes:
            await self.fail(attachment_id, "size_mismatch")
            raise UploadRefused(
                f"The file has {size} bytes, {row.size} were announced; it was deleted.",
                code="size_mismatch",
                details={"announced": row.size, "stored": size},
            )
        sniffed = types.sniff(await self.store.head_bytes(key, types.SNIFF_BYTES))
        if sniffed is None or sniffed not in types.ALLOWED or sniffed != row.declared_type:
            await self.fail(attachment_id, "type_mismatch")
            raise UploadRefused(
                f"The file is not {row.declared_type}; it was deleted.",
                code="type_mismatch",
                details={"declared": row.declared_type, "found": sniffed},
            )
        async with self.engine.begin() as conn:
            updated = (
                await conn.execute(
                    sa.update(attachments)
                    .where(attachments.c.id == attachment_id, attachments.c.status == "uploading")
                    .values(
                        status="scanning",
                        content_type=sniffed,
                        upload_id=None,
                        completed_at=datetime.now(UTC),
                    )
                    .returning(attachments)
                )
            ).first()
        if updated is None:
            return to_out(await self._own(me, attachment_id))
        self.metrics.uploaded_bytes.inc(size)
        await self.enqueue([updated])
        return to_out(updated)

    async def enqueue(self, rows: list[Any]) -> None:
        """Queue scan-and-preview jobs. A failure is only logged: the sweeper queues jobs of
        attachments still `scanning` after storage_job_retry_seconds again."""
        records = [
            (
                self.topics.attachment_jobs,
                str(row.id).encode(),
                encode(
                    AttachmentUploaded(
                        attachment_id=row.id,
                        chat_id=row.chat_id,
                        uploader_id=row.uploader_id,
                        content_type=row.content_type,
                    )
                ),
            )
            for row in rows
        ]
        try:
            await self.producer.send_many(records)
        except Exception as exc:
            log.warning("could not queue %d attachment job(s), the sweeper will: %s", len(rows), exc)

    async def abort(self, me: uuid.UUID, attachment_id: uuid.UUID) -> None:
        row = await self._own(me, attachment_id)
        if row.status != "uploading":
            raise WrongState(f"The attachment is {row.status}; only an upload in progress can be aborted.")
        if row.upload_id is not None:
            await self.store.abort_multipart(row.object_key, row.upload_id)
        await self.store.remove(row.object_key)
        async with self.engine.begin() as conn:
            await conn.execute(sa.delete(attachments).where(attachments.c.id == attachment_id))

    async def fail(self, attachment_id: uuid.UUID, reason: str) -> None:
        """Refused for good: the objects go, the row stays (`failed`, with the reason) for the
        uploader to see, until the sweeper removes it with the other old ones."""
        async with self.engine.begin() as conn:
            row = (
                await conn.execute(
                    sa.update(attachments)
                    .where(attachments.c.id == attachment_id)
                    .values(status="failed", failure=reason)
                    .returning(attachments.c.object_key, attachments.c.upload_id)
                )
            ).first()
        if row is None:
            return
        self.metrics.failures.labels(reason).inc()
        if row.upload_id is not None:
            await self.store.abort_multipart(row.object_key, row.upload_id)
        await self.store.remove(row.object_key, preview_key(row.object_key), thumbnail_key(row.object_key))

    # --- reading ------------------------------------------------------------------------------

    async def _own(self, me: uuid.UUID, attachment_id: uuid.UUID) -> Any:
        async with self.engine.connect() as conn:
            row = (
                await conn.execute(
                    sa.select(attachments).where(
                        attachments.c.id == attachment_id, attachments.c.uploader_id == me
                    )
                )
            ).first()
        if row is None:
            raise AttachmentNotFound()
        return row

    async def readable(self, me: uuid.UUID, attachment_id: uuid.UUID) -> Any:
        """The attachment if `me` may see it: a member of its chat, and it is on a message (not
        deleted), or it is their own upload. Anything else looks like no attachment at all."""
        async with self.engine.connect() as conn:
            row = (
                await conn.execute(
                    sa.select(attachments)
                    .join(
                        chat_members,
                        sa.and_(
                            chat_members.c.chat_id == attachments.c.chat_id, chat_members.c.user_id == me
                        ),
                    )
                    .where(
                        attachments.c.id == attachment_id,
                        attachments.c.status != "deleted",
                        sa.or_(attachments.c.uploader_id == me, attachments.c.message_seq.is_not(None)),
                    )
                )
            ).first()
        if row is None:
            raise AttachmentNotFound()
        return row

    async def download_url(self, me: uuid.UUID, attachment_id: uuid.UUID, variant: Variant) -> str:
        row = await self.readable(me, attachment_id)
        if row.status != "ready":
            raise WrongState(f"The attachment is {row.status}, not ready.", details={"status": row.status})
        key, content_type = row.object_key, row.content_type
        if variant != "original":
            if not row.has_preview:
                raise AttachmentNotFound()
            key = preview_key(key) if variant == "preview" else thumbnail_key(key)
            content_type = "image/jpeg"
        inline = content_type in types.INLINE
        disposition = (
            f"{'inline' if inline else 'attachment'}; filename*=UTF-8''{quote(row.file_name, safe='')}"
        )
        return await self.store.presign_get(
            key,
            timedelta(seconds=self.settings.storage_download_url_seconds),
            content_type=content_type,
            disposition=disposition,
        )
