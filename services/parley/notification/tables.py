"""The notification service's tables (migration 0004_notification), as SQLAlchemy Core tables.

- `notification_preferences`: one row per user who changed a default.
- `notification_pending`: what a member has not been told about yet, one row per (user, chat):
  written idempotently from the events topic (a replayed batch changes nothing), removed when it
  goes into a delivery or stops mattering (read, muted, the user is back).
- `notification_deliveries`: what will be sent, recorded before it is sent, at most one per user,
  channel and digest window (the unique key), with its rendered content; the sender moves it from
  `pending` to `sent`, `undeliverable` or `failed`.
- `notification_undeliverable`: addresses a server refused for good (5xx): nothing more goes there.
"""

from __future__ import annotations

import sqlalchemy as sa
from sqlalchemy.dialects.postgresql import JSONB

metadata = sa.MetaData()

STATUSES = ("pending", "sent", "undeliverable", "failed")
CHANNELS = ("email", "sms")


def _ts(name: str, nullable: bool = False) -> sa.Column[object]:
    return sa.Column(name, sa.DateTime(timezone=True), nullable=nullable)


def _user_fk() -> sa.ForeignKeyConstraint:
    # By name: auth's table is not on this MetaData (the migrations' metadata has both).
    return sa.ForeignKeyConstraint(["user_id"], ["auth_users.id"], ondelete="CASCADE")


preferences = sa.Table(
    "notification_preferences",
    metadata,
    sa.Column("user_id", sa.Uuid, primary_key=True),
    sa.Column("email", sa.Boolean, nullable=False),
    sa.Column("sms", sa.Boolean, nullable=False),
    sa.Column("mentions_only", sa.Boolean, nullable=False),
    sa.Column("quiet_start", sa.Time, nullable=True),
    sa.Column("quiet_end", sa.Time, nullable=True),
    sa.Column("time_zone", sa.String(64), nullable=False),
    _ts("updated_at"),
    _user_fk(),
)

pending = sa.Table(
    "notification_pending",
    metadata,
    sa.Column("user_id", sa.Uuid, primary_key=True),
    sa.Column("chat_id", sa.Uuid, primary_key=True),
    sa.Column("first_seq", sa.BigInteger, nullable=False),
    sa.Column("last_seq", sa.BigInteger, nullable=False),
    sa.Column("urgent", sa.Boolean, nullable=False),
    sa.Column("mentioned", sa.Boolean, nullable=False),
    _ts("first_at"),
    _ts("due_at"),
    _user_fk(),
    sa.ForeignKeyConstraint(["chat_id"], ["chats.id"], ondelete="CASCADE"),
    sa.Index("ix_notification_pending_due_at", "due_at"),
)

deliveries = sa.Table(
    "notification_deliveries",
    metadata,
    sa.Column("id", sa.Uuid, primary_key=True),
    sa.Column("user_id", sa.Uuid, nullable=False),
    sa.Column("channel", sa.String(8), nullable=False),
    _ts("window_start"),
    sa.Column("address", sa.String(320), nullable=False),
    sa.Column("status", sa.String(16), nullable=False),
    sa.Column("attempts", sa.Integer, nullable=False),
    _ts("next_attempt_at"),
    sa.Column("subject", sa.Text, nullable=False),
    sa.Column("body_text", sa.Text, nullable=False),
    sa.Column("body_html", sa.Text, nullable=True),
    sa.Column("chats", JSONB, nullable=False),
    _ts("first_event_at"),
    _ts("created_at"),
    _ts("sent_at", nullable=True),
    sa.Column("last_error", sa.Text, nullable=True),
    _user_fk(),
    sa.UniqueConstraint("user_id", "channel", "window_start", name="uq_notification_deliveries_window"),
    sa.CheckConstraint("channel IN ('email', 'sms')", name="ck_notification_deliveries_channel"),
    sa.CheckConstraint(
        "status IN ('pending', 'sent', 'undeliverable', 'failed')", name="ck_notification_deliveries_status"
    ),
    sa.Index(
        "ix_notification_deliveries_due", "next_attempt_at", postgresql_where=sa.text("status = 'pending'")
    ),
)

undeliverable = sa.Table(
    "notification_undeliverable",
    metadata,
    sa.Column("channel", sa.String(8), primary_key=True),
    sa.Column("address", sa.String(320), primary_key=True),
    sa.Column("reason", sa.Text, nullable=False),
    _ts("at"),
)
