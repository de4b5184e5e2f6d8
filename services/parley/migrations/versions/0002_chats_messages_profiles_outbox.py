"""api: chats, members, messages, reactions, the change log, profiles, the event outbox

Revision ID: 0002
Revises: 0001
Create Date: 2025-12-01
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0002"
down_revision: str | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def _ts(name: str, nullable: bool = False) -> sa.Column[object]:
    return sa.Column(name, sa.DateTime(timezone=True), nullable=nullable)


def upgrade() -> None:
    op.create_index(
        "ix_auth_users_username_key_prefix",
        "auth_users",
        ["username_key"],
        postgresql_ops={"username_key": "text_pattern_ops"},
    )
    op.create_table(
        "user_profiles",
        sa.Column("user_id", sa.Uuid(), nullable=False),
        sa.Column("display_name", sa.String(length=64), nullable=True),
        sa.Column("avatar_attachment_id", sa.Uuid(), nullable=True),
        sa.Column("notification_preferences", postgresql.JSONB(), nullable=False),
        _ts("updated_at"),
        sa.ForeignKeyConstraint(
            ["user_id"], ["auth_users.id"], name="user_profiles_user_id_fkey", ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("user_id", name="user_profiles_pkey"),
    )
    op.create_table(
        "chats",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("title", sa.String(length=128), nullable=True),
        sa.Column("direct_user_lo", sa.Uuid(), nullable=True),
        sa.Column("direct_user_hi", sa.Uuid(), nullable=True),
        sa.Column("created_by", sa.Uuid(), nullable=False),
        _ts("created_at"),
        sa.Column("last_seq", sa.BigInteger(), nullable=False),
        sa.Column("last_message_seq", sa.BigInteger(), nullable=True),
        _ts("last_activity_at"),
        sa.Column("member_count", sa.Integer(), nullable=False),
        sa.CheckConstraint("kind IN ('direct', 'group')", name="ck_chats_kind"),
        sa.CheckConstraint(
            "(kind = 'direct') = (direct_user_lo IS NOT NULL AND direct_user_hi IS NOT NULL"
            " AND direct_user_lo < direct_user_hi)",
            name="ck_chats_direct_pair",
        ),
        sa.CheckConstraint("last_seq >= 0", name="ck_chats_last_seq"),
        sa.PrimaryKeyConstraint("id", name="chats_pkey"),
        sa.UniqueConstraint("direct_user_lo", "direct_user_hi", name="uq_chats_direct_pair"),
    )
    op.create_table(
        "chat_members",
        sa.Column("chat_id", sa.Uuid(), nullable=False),
        sa.Column("user_id", sa.Uuid(), nullable=False),
        sa.Column("role", sa.String(length=16), nullable=False),
        _ts("joined_at"),
        sa.Column("last_read_seq", sa.BigInteger(), nullable=False),
        sa.Column("muted", sa.Boolean(), nullable=False),
        _ts("muted_until", nullable=True),
        sa.CheckConstraint("role IN ('owner', 'admin', 'member')", name="ck_chat_members_role"),
        sa.ForeignKeyConstraint(
            ["chat_id"], ["chats.id"], name="chat_members_chat_id_fkey", ondelete="CASCADE"
        ),
        sa.ForeignKeyConstraint(
            ["user_id"], ["auth_users.id"], name="chat_members_user_id_fkey", ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("chat_id", "user_id", name="chat_members_pkey"),
    )
    op.create_index("ix_chat_members_user_id_chat_id", "chat_members", ["user_id", "chat_id"])
    op.create_table(
        "messages",
        sa.Column("chat_id", sa.Uuid(), nullable=False),
        sa.Column("seq", sa.BigInteger(), nullable=False),
        sa.Column("sender_id", sa.Uuid(), nullable=False),
        sa.Column("client_id", sa.String(length=64), nullable=False),
        sa.Column("body", sa.Text(), nullable=False),
        sa.Column("attachments", postgresql.JSONB(), server_default=sa.text("'[]'::jsonb"), nullable=False),
        sa.Column("reply_to_seq", sa.BigInteger(), nullable=True),
        _ts("created_at"),
        _ts("edited_at", nullable=True),
        _ts("deleted_at", nullable=True),
        sa.ForeignKeyConstraint(["chat_id"], ["chats.id"], name="messages_chat_id_fkey", ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("chat_id", "seq", name="messages_pkey"),
        sa.UniqueConstraint("sender_id", "client_id", name="uq_messages_sender_client_id"),
    )
    op.create_table(
        "message_reactions",
        sa.Column("chat_id", sa.Uuid(), nullable=False),
        sa.Column("message_seq", sa.BigInteger(), nullable=False),
        sa.Column("emoji", sa.String(length=32), nullable=False),
        sa.Column("user_id", sa.Uuid(), nullable=False),
        _ts("created_at"),
        sa.ForeignKeyConstraint(
            ["chat_id", "message_seq"],
            ["messages.chat_id", "messages.seq"],
            name="message_reactions_message_fkey",
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("chat_id", "message_seq", "emoji", "user_id", name="message_reactions_pkey"),
    )
    op.create_table(
        "chat_changes",
        sa.Column("chat_id", sa.Uuid(), nullable=False),
        sa.Column("seq", sa.BigInteger(), nullable=False),
        sa.Column("type", sa.String(length=32), nullable=False),
        sa.Column("command_id", sa.Uuid(), nullable=True),
        sa.Column("event", postgresql.JSONB(), nullable=False),
        sa.ForeignKeyConstraint(
            ["chat_id"], ["chats.id"], name="chat_changes_chat_id_fkey", ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("chat_id", "seq", name="chat_changes_pkey"),
        sa.UniqueConstraint("command_id", name="uq_chat_changes_command_id"),
    )
    op.create_table(
        "event_outbox",
        sa.Column("id", sa.BigInteger(), sa.Identity(always=True), nullable=False),
        sa.Column("chat_id", sa.Uuid(), nullable=False),
        sa.Column("event", postgresql.JSONB(), nullable=False),
        _ts("created_at"),
        sa.PrimaryKeyConstraint("id", name="event_outbox_pkey"),
    )


def downgrade() -> None:
    op.drop_table("event_outbox")
    op.drop_table("chat_changes")
    op.drop_table("message_reactions")
    op.drop_table("messages")
    op.drop_index("ix_chat_members_user_id_chat_id", table_name="chat_members")
    op.drop_table("chat_members")
    op.drop_table("chats")
    op.drop_table("user_profiles")
    op.drop_index("ix_auth_users_username_key_prefix", table_name="auth_users")
