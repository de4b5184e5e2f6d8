"""Attachments: the table the storage service writes, and the checks the consumer makes when a
message names attachments.

The storage service creates a row per upload (`uploading`), marks it `scanning` once the object is
complete and of an allowed type, `ready` once scanned (and previewed, for images), `failed` when any
check refused it, and `deleted` when its message was deleted (its objects are then removed by the
service's sweeper, which also removes the row).

A message may carry an attachment only if the attachment is the sender's, `ready`, uploaded for the
same chat, and not on a message already: otherwise the send is rejected and the sender told why.
Once on a message, an attachment is readable by whoever may read the message.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection
from sqlmodel import Field, SQLModel

from parley.common.chat.models import utcnow
from parley.common.events import SendMessage

STATUSES = ("uploading", "scanning", "ready", "failed", "deleted")


def _ts(nullable: bool = False) -> Any:
    return sa.Column(sa.DateTime(timezone=True), nullable=nullable)


class Attachment(SQLModel, table=True):
    __tablename__ = "attachments"
    __table_args__ = (
        sa.CheckConstraint(
            "status IN ('uploading', 'scanning', 'ready', 'failed', 'deleted')", name="ck_attachments_status"
        ),
        sa.CheckConstraint("size >= 0", name="ck_attachments_size"),
        # Quota and rate limit: one user's uploads, newest first.
        sa.Index("ix_attachments_uploader_id_created_at", "uploader_id", "created_at"),
        # The sweeper: unfinished uploads by age, deleted ones.
        sa.Index("ix_attachments_status_created_at", "status", "created_at"),
        # Deleting messages marks their attachments.
        sa.Index("ix_attachments_chat_id_message_seq", "chat_id", "message_seq"),
    )

    id: uuid.UUID = Field(default_factory=uuid.uuid4, primary_key=True)
    chat_id: uuid.UUID = Field(
        sa_column=sa.Column(sa.Uuid, sa.ForeignKey("chats.id", ondelete="CASCADE"), nullable=False)
    )
    uploader_id: uuid.UUID = Field(
        sa_column=sa.Column(sa.Uuid, sa.ForeignKey("auth_users.id", ondelete="CASCADE"), nullable=False)
    )
    object_key: str = Field(sa_column=sa.Column(sa.String(128), nullable=False, unique=True))
    file_name: str = Field(sa_column=sa.Column(sa.String(255), nullable=False))
    declared_type: str = Field(sa_column=sa.Column(sa.String(127), nullable=False))
    size: int = Field(sa_column=sa.Column(sa.BigInteger, nullable=False))
    status: str = Field(sa_column=sa.Column(sa.String(16), nullable=False))
    failure: str | None = Field(default=None, sa_column=sa.Column(sa.String(64), nullable=True))
    content_type: str | None = Field(default=None, sa_column=sa.Column(sa.String(127), nullable=True))
    upload_id: str | None = Field(default=None, sa_column=sa.Column(sa.String(1024), nullable=True))
    scanned: bool = Field(default=False)
    width: int | None = Field(default=None)
    height: int | None = Field(default=None)
    has_preview: bool = Field(default=False)
    message_seq: int | None = Field(default=None, sa_column=sa.Column(sa.BigInteger, nullable=True))
    created_at: datetime = Field(default_factory=utcnow, sa_column=_ts())
    completed_at: datetime | None = Field(default=None, sa_column=_ts(nullable=True))


attachments: sa.Table = Attachment.__table__  # type: ignore[attr-defined]


@dataclass
class _Row:
    chat_id: uuid.UUID
    uploader_id: uuid.UUID
    status: str
    message_seq: int | None


@dataclass
class AttachmentClaims:
    """The attachments a batch of sends names, loaded once (locked), checked per send in order and
    written once: two sends in one batch cannot take the same attachment."""

    rows: dict[uuid.UUID, _Row]
    taken: dict[uuid.UUID, tuple[uuid.UUID, int]] = field(default_factory=dict)

    @classmethod
    async def load(cls, conn: AsyncConnection, commands: Iterable[object]) -> AttachmentClaims:
        ids = {a for c in commands if isinstance(c, SendMessage) for a in c.attachments}
        if not ids:
            return cls({})
        result = await conn.execute(
            sa.select(
                attachments.c.id,
                attachments.c.chat_id,
                attachments.c.uploader_id,
                attachments.c.status,
                attachments.c.message_seq,
            )
            .where(attachments.c.id.in_(sorted(ids)))
            .order_by(attachments.c.id)
            .with_for_update()
        )
        return cls({r.id: _Row(r.chat_id, r.uploader_id, r.status, r.message_seq) for r in result})

    def problem(self, command: SendMessage) -> tuple[str, str] | None:
        """Why this send may not carry its attachments, or None."""
        if len(set(command.attachments)) != len(command.attachments):
            return "attachment_repeated", "An attachment appears twice in the message."
        for attachment_id in command.attachments:
            row = self.rows.get(attachment_id)
            if row is None or row.uploader_id != command.user_id:
                return "attachment_not_found", f"No attachment {attachment_id} of yours."
            if row.chat_id != command.chat_id:
                return "attachment_other_chat", f"Attachment {attachment_id} was uploaded for another chat."
            if row.message_seq is not None or attachment_id in self.taken:
                return "attachment_in_use", f"Attachment {attachment_id} is already on a message."
            if row.status != "ready":
                return "attachment_not_ready", f"Attachment {attachment_id} is {row.status}, not ready."
        return None

    def claim(self, command: SendMessage, seq: int) -> None:
        for attachment_id in command.attachments:
            self.taken[attachment_id] = (command.chat_id, seq)

    async def write(self, conn: AsyncConnection) -> None:
        if not self.taken:
            return
        await conn.execute(
            sa.update(attachments)
            .where(attachments.c.id == sa.bindparam("b_id"))
            .values(message_seq=sa.bindparam("b_seq")),
            [{"b_id": a, "b_seq": seq} for a, (_, seq) in self.taken.items()],
        )


async def release_attachments(conn: AsyncConnection, keys: Sequence[tuple[uuid.UUID, int]]) -> None:
    """Deleted messages: their attachments become `deleted` (unreadable at once); the storage
    service's sweeper removes the objects and the rows."""
    if not keys:
        return
    await conn.execute(
        sa.update(attachments)
        .where(sa.tuple_(attachments.c.chat_id, attachments.c.message_seq).in_(list(keys)))
        .values(status="deleted")
    )
