"""The chat tables. Written by the api (chats, membership, read state) and the consumer (messages,
edits, deletions, reactions); see docs/api.md for why each column and index exists.

Every change to a chat takes the chat's next `seq` from `chats.last_seq` (see seq.py) and is
recorded in `chat_changes`, whoever makes it; `messages` and `message_reactions` hold the current
state that history pages read.
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects.postgresql import JSONB
from sqlmodel import Field, SQLModel

DIRECT_PAIR_UNIQUE = "uq_chats_direct_pair"
CLIENT_ID_UNIQUE = "uq_messages_sender_client_id"
COMMAND_ID_UNIQUE = "uq_chat_changes_command_id"


def utcnow() -> datetime:
    return datetime.now(UTC)


def _timestamp(nullable: bool = False) -> Any:
    return sa.Column(sa.DateTime(timezone=True), nullable=nullable)


def _chat_fk(name: str) -> Any:
    return sa.Column(
        name, sa.Uuid, sa.ForeignKey("chats.id", ondelete="CASCADE"), primary_key=True, nullable=False
    )


class Chat(SQLModel, table=True):
    __tablename__ = "chats"
    __table_args__ = (
        # A direct chat is keyed by its two users in a fixed order, so "the chat of A and B" is one
        # row whoever creates it first; NULLs (groups) never collide.
        sa.UniqueConstraint("direct_user_lo", "direct_user_hi", name=DIRECT_PAIR_UNIQUE),
        sa.CheckConstraint("kind IN ('direct', 'group')", name="ck_chats_kind"),
        sa.CheckConstraint(
            "(kind = 'direct') = (direct_user_lo IS NOT NULL AND direct_user_hi IS NOT NULL"
            " AND direct_user_lo < direct_user_hi)",
            name="ck_chats_direct_pair",
        ),
        sa.CheckConstraint("last_seq >= 0", name="ck_chats_last_seq"),
    )

    id: uuid.UUID = Field(default_factory=uuid.uuid4, primary_key=True)
    kind: str = Field(max_length=16)
    title: str | None = Field(default=None, max_length=128)
    direct_user_lo: uuid.UUID | None = Field(default=None)
    direct_user_hi: uuid.UUID | None = Field(default=None)
    created_by: uuid.UUID
    created_at: datetime = Field(default_factory=utcnow, sa_column=_timestamp())
    # The seq allocator: the last seq any change of this chat took. Its row lock serialises the
    # writers of this chat (and only of this chat).
    last_seq: int = Field(default=0, sa_column=sa.Column(sa.BigInteger, nullable=False))
    # What the chat list shows without scanning messages.
    last_message_seq: int | None = Field(default=None, sa_column=sa.Column(sa.BigInteger, nullable=True))
    last_activity_at: datetime = Field(default_factory=utcnow, sa_column=_timestamp())
    member_count: int = Field(default=0)


class ChatMember(SQLModel, table=True):
    __tablename__ = "chat_members"
    __table_args__ = (
        sa.CheckConstraint("role IN ('owner', 'admin', 'member')", name="ck_chat_members_role"),
        # "My chats": every chat of one user, from the index alone.
        sa.Index("ix_chat_members_user_id_chat_id", "user_id", "chat_id"),
    )

    chat_id: uuid.UUID = Field(sa_column=_chat_fk("chat_id"))
    user_id: uuid.UUID = Field(
        sa_column=sa.Column(
            sa.Uuid, sa.ForeignKey("auth_users.id", ondelete="CASCADE"), primary_key=True, nullable=False
        )
    )
    role: str = Field(max_length=16)
    joined_at: datetime = Field(default_factory=utcnow, sa_column=_timestamp())
    # Read state is one number per member: everything up to this seq is read. Unread counts and
    # read receipts are derived from it, never one row per message per reader.
    last_read_seq: int = Field(default=0, sa_column=sa.Column(sa.BigInteger, nullable=False))
    muted: bool = Field(default=False)
    muted_until: datetime | None = Field(default=None, sa_column=_timestamp(nullable=True))


class Message(SQLModel, table=True):
    __tablename__ = "messages"
    __table_args__ = (
        # Idempotency of sends: a client's resend (same client_id) is recognised before it takes a seq.
        sa.UniqueConstraint("sender_id", "client_id", name=CLIENT_ID_UNIQUE),
    )

    chat_id: uuid.UUID = Field(sa_column=_chat_fk("chat_id"))
    seq: int = Field(sa_column=sa.Column(sa.BigInteger, primary_key=True, nullable=False))
    sender_id: uuid.UUID
    client_id: str = Field(max_length=64)
    body: str = Field(sa_column=sa.Column(sa.Text, nullable=False))
    attachments: list[str] = Field(
        default_factory=list,
        sa_column=sa.Column(JSONB, nullable=False, server_default=sa.text("'[]'::jsonb")),
    )
    reply_to_seq: int | None = Field(default=None, sa_column=sa.Column(sa.BigInteger, nullable=True))
    created_at: datetime = Field(default_factory=utcnow, sa_column=_timestamp())
    edited_at: datetime | None = Field(default=None, sa_column=_timestamp(nullable=True))
    deleted_at: datetime | None = Field(default=None, sa_column=_timestamp(nullable=True))


class MessageReaction(SQLModel, table=True):
    __tablename__ = "message_reactions"
    __table_args__ = (
        sa.ForeignKeyConstraint(
            ["chat_id", "message_seq"],
            ["messages.chat_id", "messages.seq"],
            name="message_reactions_message_fkey",
            ondelete="CASCADE",
        ),
    )

    chat_id: uuid.UUID = Field(primary_key=True)
    message_seq: int = Field(sa_column=sa.Column(sa.BigInteger, primary_key=True, nullable=False))
    emoji: str = Field(primary_key=True, max_length=32)
    user_id: uuid.UUID = Field(primary_key=True)
    created_at: datetime = Field(default_factory=utcnow, sa_column=_timestamp())


class ChatChange(SQLModel, table=True):
    """The change log: one row per seq of a chat, holding the stored event exactly as it was
    published. `after_seq` sync reads it; a replayed command finds its event here."""

    __tablename__ = "chat_changes"
    __table_args__ = (sa.UniqueConstraint("command_id", name=COMMAND_ID_UNIQUE),)

    chat_id: uuid.UUID = Field(sa_column=_chat_fk("chat_id"))
    seq: int = Field(sa_column=sa.Column(sa.BigInteger, primary_key=True, nullable=False))
    type: str = Field(max_length=32)
    command_id: uuid.UUID | None = Field(default=None)
    event: dict[str, Any] = Field(sa_column=sa.Column(JSONB, nullable=False))


# Core handles on the tables: the write paths and the hot read paths use SQL expressions, not ORM
# objects (a batch of a hundred messages is one statement, not a hundred objects).
chats: sa.Table = Chat.__table__  # type: ignore[attr-defined]
chat_members: sa.Table = ChatMember.__table__  # type: ignore[attr-defined]
messages: sa.Table = Message.__table__  # type: ignore[attr-defined]
message_reactions: sa.Table = MessageReaction.__table__  # type: ignore[attr-defined]
chat_changes: sa.Table = ChatChange.__table__  # type: ignore[attr-defined]
