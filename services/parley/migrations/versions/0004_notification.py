"""notification: preferences, pending notifications, deliveries (recorded before sending),
undeliverable addresses

Revision ID: 0004_notification
Revises: 0003_storage
Create Date: 2026-12-02
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0004_notification"
down_revision: str | None = "0003_storage"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def _ts(name: str, nullable: bool = False) -> sa.Column[object]:
    return sa.Column(name, sa.DateTime(timezone=True), nullable=nullable)


def _user_fk() -> sa.ForeignKeyConstraint:
    return sa.ForeignKeyConstraint(["user_id"], ["auth_users.id"], ondelete="CASCADE")


def upgrade() -> None:
    op.create_table(
        "notification_preferences",
        sa.Column("user_id", sa.Uuid(), nullable=False),
        sa.Column("email", sa.Boolean(), nullable=False),
        sa.Column("sms", sa.Boolean(), nullable=False),
        sa.Column("mentions_only", sa.Boolean(), nullable=False),
        sa.Column("quiet_start", sa.Time(), nullable=True),
        sa.Column("quiet_end", sa.Time(), nullable=True),
        sa.Column("time_zone", sa.String(length=64), nullable=False),
        _ts("updated_at"),
        _user_fk(),
        sa.PrimaryKeyConstraint("user_id"),
    )
    op.create_table(
        "notification_pending",
        sa.Column("user_id", sa.Uuid(), nullable=False),
        sa.Column("chat_id", sa.Uuid(), nullable=False),
        sa.Column("first_seq", sa.BigInteger(), nullable=False),
        sa.Column("last_seq", sa.BigInteger(), nullable=False),
        sa.Column("urgent", sa.Boolean(), nullable=False),
        sa.Column("mentioned", sa.Boolean(), nullable=False),
        _ts("first_at"),
        _ts("due_at"),
        _user_fk(),
        sa.ForeignKeyConstraint(["chat_id"], ["chats.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("user_id", "chat_id"),
    )
    op.create_index("ix_notification_pending_due_at", "notification_pending", ["due_at"])
    op.create_table(
        "notification_deliveries",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("user_id", sa.Uuid(), nullable=False),
        sa.Column("channel", sa.String(length=8), nullable=False),
        _ts("window_start"),
        sa.Column("address", sa.String(length=320), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        _ts("next_attempt_at"),
        sa.Column("subject", sa.Text(), nullable=False),
        sa.Column("body_text", sa.Text(), nullable=False),
        sa.Column("body_html", sa.Text(), nullable=True),
        sa.Column("chats", postgresql.JSONB(), nullable=False),
        _ts("first_event_at"),
        _ts("created_at"),
        _ts("sent_at", nullable=True),
        sa.Column("last_error", sa.Text(), nullable=True),
        _user_fk(),
        sa.PrimaryKeyConstraint("id"),
        # One digest per user, channel and window: a second plan of the same window inserts nothing.
        sa.UniqueConstraint("user_id", "channel", "window_start", name="uq_notification_deliveries_window"),
        sa.CheckConstraint("channel IN ('email', 'sms')", name="ck_notification_deliveries_channel"),
        sa.CheckConstraint(
            "status IN ('pending', 'sent', 'undeliverable', 'failed')",
            name="ck_notification_deliveries_status",
        ),
    )
    op.create_index(
        "ix_notification_deliveries_due",
        "notification_deliveries",
        ["next_attempt_at"],
        postgresql_where=sa.text("status = 'pending'"),
    )
    op.create_table(
        "notification_undeliverable",
        sa.Column("channel", sa.String(length=8), nullable=False),
        sa.Column("address", sa.String(length=320), nullable=False),
        sa.Column("reason", sa.Text(), nullable=False),
        _ts("at"),
        sa.PrimaryKeyConstraint("channel", "address"),
    )


def downgrade() -> None:
    op.drop_table("notification_undeliverable")
    op.drop_index("ix_notification_deliveries_due", table_name="notification_deliveries")
    op.drop_table("notification_deliveries")
    op.drop_index("ix_notification_pending_due_at", table_name="notification_pending")
    op.drop_table("notification_pending")
    op.drop_table("notification_preferences")
