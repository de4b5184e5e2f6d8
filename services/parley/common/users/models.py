"""Profiles: what a user tells others about themselves, and how they want to be notified.

A user without a row has the defaults (display name: their username). The notification service
reads the preferences, so the model lives here rather than in the api.
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import Any, Literal

import sqlalchemy as sa
from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy.dialects.postgresql import JSONB
from sqlmodel import Field as ColumnField
from sqlmodel import SQLModel

DISPLAY_NAME_MAX = 64


class NotificationPreferences(BaseModel):
    model_config = ConfigDict(extra="forbid")

    email: bool = Field(default=True, description="Email me about messages I have not read.")
    sms: bool = Field(default=False, description="Text me about messages I have not read.")
    delivery: Literal["immediate", "hourly_digest", "daily_digest"] = Field(
        default="immediate", description="One notification per message, or a digest."
    )


def utcnow() -> datetime:
    return datetime.now(UTC)


class UserProfile(SQLModel, table=True):
    __tablename__ = "user_profiles"

    user_id: uuid.UUID = ColumnField(
        sa_column=sa.Column(
            sa.Uuid, sa.ForeignKey("auth_users.id", ondelete="CASCADE"), primary_key=True, nullable=False
        )
    )
    display_name: str | None = ColumnField(default=None, max_length=DISPLAY_NAME_MAX)
    # An attachment of the storage service; the api stores the id, the storage service serves it.
    avatar_attachment_id: uuid.UUID | None = ColumnField(default=None)
    notification_preferences: dict[str, Any] = ColumnField(
        default_factory=lambda: NotificationPreferences().model_dump(),
        sa_column=sa.Column(JSONB, nullable=False),
    )
    updated_at: datetime = ColumnField(
        default_factory=utcnow, sa_column=sa.Column(sa.DateTime(timezone=True), nullable=False)
    )
