"""The auth service's tables (prefixed `auth_`: every service shares one schema)."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime

import sqlalchemy as sa
from sqlmodel import Field, SQLModel

USERNAME_UNIQUE = "uq_auth_users_username_key"
EMAIL_UNIQUE = "uq_auth_users_email_key"


def utcnow() -> datetime:
    return datetime.now(UTC)


def _timestamp(nullable: bool = False) -> sa.Column[datetime]:
    return sa.Column(sa.DateTime(timezone=True), nullable=nullable)


class User(SQLModel, table=True):
    __tablename__ = "auth_users"
    # Named, so a violation can be told apart (username or email taken).
    __table_args__ = (
        sa.UniqueConstraint("username_key", name=USERNAME_UNIQUE),
        sa.UniqueConstraint("email_key", name=EMAIL_UNIQUE),
    )

    id: uuid.UUID = Field(default_factory=uuid.uuid4, primary_key=True)
    username: str = Field(max_length=64)
    # Canonical forms (see identity.py): what uniqueness is decided on.
    username_key: str = Field(max_length=128)
    email: str = Field(max_length=254)
    email_key: str = Field(max_length=254)
    phone: str | None = Field(default=None, max_length=16)
    password_hash: str = Field(max_length=256)
    disabled: bool = Field(default=False)
    created_at: datetime = Field(default_factory=utcnow, sa_column=_timestamp())
    password_changed_at: datetime = Field(default_factory=utcnow, sa_column=_timestamp())


class RefreshToken(SQLModel, table=True):
    """One refresh token; the tokens rotated from one login form a family (one device's session).
    Only a SHA-256 of the token is stored: a database leak gives nobody a usable token."""

    __tablename__ = "auth_refresh_tokens"
    __table_args__ = (sa.UniqueConstraint("token_hash", name="uq_auth_refresh_tokens_token_hash"),)

    id: uuid.UUID = Field(default_factory=uuid.uuid4, primary_key=True)
    family_id: uuid.UUID = Field(index=True)
    user_id: uuid.UUID = Field(
        sa_column=sa.Column(
            sa.Uuid, sa.ForeignKey("auth_users.id", ondelete="CASCADE"), nullable=False, index=True
        )
    )
    token_hash: str = Field(max_length=64)
    created_at: datetime = Field(default_factory=utcnow, sa_column=_timestamp())
    expires_at: datetime = Field(sa_column=_timestamp())
    used_at: datetime | None = Field(default=None, sa_column=_timestamp(nullable=True))
    revoked_at: datetime | None = Field(default=None, sa_column=_timestamp(nullable=True))
    revoked_reason: str | None = Field(default=None, max_length=32)
    user_agent: str | None = Field(default=None, max_length=256)
    client_address: str | None = Field(default=None, max_length=64)
