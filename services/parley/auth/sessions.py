"""Refresh-token families: one per sign-in (a device's session), rotated on every use.

Presenting a token that was already rotated means two parties hold the same session (the token
leaked): the whole family is revoked, so the thief's newer token dies along with the victim's.
"""

from __future__ import annotations

import logging
import uuid
from dataclasses import dataclass
from datetime import timedelta

from sqlalchemy import update
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from parley.auth.errors import InvalidRefreshToken, RefreshTokenReused
from parley.auth.models import RefreshToken, User, utcnow
from parley.auth.tokens import hash_refresh_token, new_refresh_token

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Client:
    address: str
    user_agent: str | None


@dataclass(frozen=True)
class Issued:
    token: str
    family_id: uuid.UUID


class RefreshSessions:
    def __init__(self, ttl_seconds: int) -> None:
        self.ttl = timedelta(seconds=ttl_seconds)

    def _new(self, db: AsyncSession, user_id: uuid.UUID, family_id: uuid.UUID, client: Client) -> Issued:
        token = new_refresh_token()
        now = utcnow()
        db.add(
            RefreshToken(
                family_id=family_id,
                user_id=user_id,
                token_hash=hash_refresh_token(token),
                created_at=now,
                expires_at=now + self.ttl,
                user_agent=(client.user_agent or "")[:256] or None,
                client_address=client.address[:64],
            )
        )
        return Issued(token, family_id)

    def start(self, db: AsyncSession, user_id: uuid.UUID, client: Client) -> Issued:
        """A new family (the caller commits)."""
        return self._new(db, user_id, uuid.uuid4(), client)

    async def rotate(self, db: AsyncSession, presented: str, client: Client) -> tuple[User, Issued]:
        """Spend `presented` and return its successor (committed)."""
        row = (
            await db.exec(
                select(RefreshToken)
                .where(RefreshToken.token_hash == hash_refresh_token(presented))
                .with_for_update()
            )
        ).first()
        now = utcnow()
        if row is None or row.revoked_at is not None or row.expires_at <= now:
            raise InvalidRefreshToken()
        if row.used_at is not None:
            await self.revoke_family(db, row.family_id, "reuse")
            await db.commit()
            log.warning(
                "refresh token reuse: revoked family %s of user %s (presented from %s, %s)",
                row.family_id,
                row.user_id,
                client.address,
                client.user_agent,
            )
            raise RefreshTokenReused()
        user = await db.get(User, row.user_id)
        if user is None or user.disabled:
            await self.revoke_family(db, row.family_id, "account")
            await db.commit()
            raise InvalidRefreshToken()
        row.used_at = now
        db.add(row)
        issued = self._new(db, row.user_id, row.family_id, client)
        await db.commit()
        return user, issued

    async def revoke_family(self, db: AsyncSession, family_id: uuid.UUID, reason: str) -> None:
        await db.exec(
            update(RefreshToken)
            .where(col(RefreshToken.family_id) == family_id, col(RefreshToken.revoked_at).is_(None))
            .values(revoked_at=utcnow(), revoked_reason=reason)
        )

    async def revoke_by_token(self, db: AsyncSession, presented: str) -> None:
        """End the session `presented` belongs to (logout on this device); unknown tokens are ignored."""
        row = (
            await db.exec(
                select(RefreshToken).where(RefreshToken.token_hash == hash_refresh_token(presented))
            )
        ).first()
        if row is not None:
            await self.revoke_family(db, row.family_id, "logout")

    async def revoke_user(
        self, db: AsyncSession, user_id: uuid.UUID, reason: str, keep: uuid.UUID | None = None
    ) -> None:
        condition = [col(RefreshToken.user_id) == user_id, col(RefreshToken.revoked_at).is_(None)]
        if keep is not None:
            condition.append(col(RefreshToken.family_id) != keep)
        await db.exec(
            update(RefreshToken).where(*condition).values(revoked_at=utcnow(), revoked_reason=reason)
        )
