"""Due pending notifications into deliveries: decide who is told, render the digest, record it.

One transaction per step: the due users' pending rows are locked (SKIP LOCKED, so replicas share
the work), each user's are checked (read since? muted? mentions only? back online? quiet hours?
already mailed in this window?), a digest covering all their unread chats is rendered and
inserted into `notification_deliveries` (unique per user, channel and window), and the rows it
covers are deleted, all in one commit. So a crash before the commit plans nothing, after it the
delivery exists exactly once; the sender sends what was recorded.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncConnection

from parley.common.chat.models import chat_members, chats, messages
from parley.common.db import Database
from parley.common.presence import PresenceKeys, read_presence
from parley.common.redis import Redis
from parley.notification.preferences import Preferences, from_row, quiet_until
from parley.notification.render import (
    COUNTED_MESSAGES,
    SHOWN_MESSAGES,
    DigestChat,
    DigestMessage,
    render_digest,
    render_sms,
)
from parley.notification.tables import deliveries, pending, preferences, undeliverable
from parley.notification.tokens import make_token

log = logging.getLogger(__name__)

# The columns of auth's users and the api's profiles this service reads (a read-only contract).
accounts = sa.table(
    "auth_users",
    sa.column("id", sa.Uuid),
    sa.column("username", sa.String),
    sa.column("email", sa.String),
    sa.column("phone", sa.String),
    sa.column("disabled", sa.Boolean),
)
profiles = sa.table("user_profiles", sa.column("user_id", sa.Uuid), sa.column("display_name", sa.String))


@dataclass(frozen=True)
class PlanConfig:
    delay: float
    urgent_delay: float
    interval: float
    batch: int
    public_url: str
    token_secret: bytes
    sms_enabled: bool
    email_enabled: bool = True


@dataclass
class PlanResult:
    users: int = 0
    deliveries: int = 0
    dropped: int = 0
    postponed: int = 0
    lag_seconds: list[float] | None = None


def window_start(now: datetime, interval: float) -> datetime:
    seconds = now.timestamp()
    return datetime.fromtimestamp(seconds - seconds % interval, UTC)


def chat_link(public_url: str, chat_id: uuid.UUID) -> str:
    return f"{public_url.rstrip('/')}/#/chat/{chat_id}"


def unsubscribe_link(public_url: str, token: str) -> str:
    return f"{public_url.rstrip('/')}/api/notifications/unsubscribe?token={token}"


class Planner:
    def __init__(self, db: Database, redis: Redis, keys: PresenceKeys, config: PlanConfig) -> None:
        self.db = db
        self.redis = redis
        self.keys = keys
        self.config = config

    async def step(self, now: datetime | None = None) -> PlanResult:
        now = now or datetime.now(UTC)
        result = PlanResult(lag_seconds=[])
        async with self.db.engine.begin() as conn:
            due = (
                sa.select(pending.c.user_id)
                .where(pending.c.due_at <= now)
                .group_by(pending.c.user_id)
                .order_by(sa.func.min(pending.c.due_at))
                .limit(self.config.batch)
                .scalar_subquery()
            )
            rows = (
                await conn.execute(
                    sa.select(pending).where(pending.c.user_id.in_(due)).with_for_update(skip_locked=True)
                )
            ).all()
            if not rows:
                return result
            by_user: dict[uuid.UUID, list[Any]] = {}
            for row in rows:
                by_user.setdefault(row.user_id, []).append(row)
            await self._plan(conn, by_user, now, result)
        return result

    async def _plan(
        self,
        conn: AsyncConnection,
        by_user: dict[uuid.UUID, list[Any]],
        now: datetime,
        result: PlanResult,
    ) -> None:
        cfg = self.config
        user_ids = list(by_user)
        chat_ids = list({row.chat_id for rows in by_user.values() for row in rows})
        prefs = {
            row.user_id: from_row(row)
            for row in await conn.execute(sa.select(preferences).where(preferences.c.user_id.in_(user_ids)))
        }
        account = {
            row.id: row
            for row in await conn.execute(
                sa.select(accounts, profiles.c.display_name)
                .select_from(accounts.outerjoin(profiles, profiles.c.user_id == accounts.c.id))
                .where(accounts.c.id.in_(user_ids))
            )
        }
        members = {
            (row.user_id, row.chat_id): row
            for row in await conn.execute(
                sa.select(
                    chat_members.c.user_id,
                    chat_members.c.chat_id,
                    chat_members.c.last_read_seq,
                    chat_members.c.muted,
                    chat_members.c.muted_until,
                ).where(chat_members.c.user_id.in_(user_ids), chat_members.c.chat_id.in_(chat_ids))
            )
        }
        chat_rows = {
            row.id: row
            for row in await conn.execute(
                sa.select(
                    chats.c.id, chats.c.kind, chats.c.title, chats.c.direct_user_lo, chats.c.direct_user_hi
                ).where(chats.c.id.in_(chat_ids))
            )
        }
        emails = [row.email for row in account.values()]
        bounced = set(
            (
                await conn.execute(
                    sa.select(undeliverable.c.address).where(
                        undeliverable.c.channel == "email", undeliverable.c.address.in_(emails)
                    )
                )
            ).scalars()
        )
        window = window_start(now, cfg.interval)
        taken = set(
            (
                await conn.execute(
                    sa.select(deliveries.c.user_id).where(
                        deliveries.c.user_id.in_(user_ids), deliveries.c.window_start == window
                    )
                )
            ).scalars()
        )
        presence = {p.user_id: p.status for p in await read_presence(self.redis, self.keys, user_ids)}

        delete: list[tuple[uuid.UUID, uuid.UUID]] = []
        postpone: dict[datetime, list[tuple[uuid.UUID, uuid.UUID]]] = {}
        planned: list[tuple[uuid.UUID, list[Any]]] = []
        for user_id, rows in by_user.items():
            result.users += 1
            who = account.get(user_id)
            pref = prefs.get(user_id) or from_row(None)
            can_email = who is not None and cfg.email_enabled and pref.email and who.email not in bounced
            can_sms = who is not None and pref.sms and bool(who.phone) and cfg.sms_enabled
            keep = []
            for row in rows:
                member = members.get((user_id, row.chat_id))
                chat = chat_rows.get(row.chat_id)
                muted = (
                    member is not None
                    and member.muted
                    and (member.muted_until is None or member.muted_until > now)
                )
                if (
                    who is None
                    or who.disabled
                    or not (can_email or can_sms)
                    or member is None
                    or chat is None
                    or member.last_read_seq >= row.last_seq
                    or muted
                    or (pref.mentions_only and chat.kind == "group" and not row.mentioned)
                ):
                    delete.append((user_id, row.chat_id))
                    result.dropped += 1
                else:
                    keep.append(row)
            if not keep:
                continue
            later: datetime | None = None
            if presence.get(user_id) == "online":
                # Back and connected: they see it live. Look again after the delay, in case they
                # leave without reading.
                later = now + timedelta(seconds=max(cfg.urgent_delay, 1.0))
            elif (quiet := quiet_until(pref, now)) is not None:
                later = quiet
            elif user_id in taken:
                later = window + timedelta(seconds=cfg.interval)
            if later is not None:
                postpone.setdefault(later, []).extend((user_id, row.chat_id) for row in keep)
                result.postponed += 1
                continue
            planned.append((user_id, keep))

        if planned:
            await self._deliver(
                conn, planned, account, chat_rows, members, prefs, bounced, window, now, result, delete
            )
        if delete:
            await conn.execute(
                sa.delete(pending).where(sa.tuple_(pending.c.user_id, pending.c.chat_id).in_(delete))
            )
        for when, keys in postpone.items():
            await conn.execute(
                sa.update(pending)
                .where(sa.tuple_(pending.c.user_id, pending.c.chat_id).in_(keys))
                .values(due_at=when)
            )

    async def _deliver(
        self,
        conn: AsyncConnection,
        planned: list[tuple[uuid.UUID, list[Any]]],
        account: dict[uuid.UUID, Any],
        chat_rows: dict[uuid.UUID, Any],
        members: dict[tuple[uuid.UUID, uuid.UUID], Any],
        prefs: dict[uuid.UUID, Preferences],
        bounced: set[str],
        window: datetime,
        now: datetime,
        result: PlanResult,
        delete: list[tuple[uuid.UUID, uuid.UUID]],
    ) -> None:
        cfg = self.config
        # The newest messages of each chat after the earliest read position among these users.
        since: dict[uuid.UUID, int] = {}
        for user_id, rows in planned:
            for row in rows:
                read = members[(user_id, row.chat_id)].last_read_seq
                since[row.chat_id] = min(since.get(row.chat_id, read), read)
        recent: dict[uuid.UUID, list[Any]] = {}
        for chat_id, after in since.items():
            recent[chat_id] = list(
                reversed(
                    (
                        await conn.execute(
                            sa.select(messages.c.seq, messages.c.sender_id, messages.c.body)
                            .where(
                                messages.c.chat_id == chat_id,
                                messages.c.seq > after,
                                messages.c.deleted_at.is_(None),
                            )
                            .order_by(messages.c.seq.desc())
                            .limit(COUNTED_MESSAGES)
                        )
                    ).all()
                )
            )
        people = {row.sender_id for rows in recent.values() for row in rows}
        for chat in chat_rows.values():
            if chat.kind == "direct":
                people.update({chat.direct_user_lo, chat.direct_user_hi})
        names = await self._names(conn, people)

        values: list[dict[str, object]] = []
        for user_id, rows in planned:
            who = account[user_id]
            pref = prefs.get(user_id) or from_row(None)
            digest_chats: list[DigestChat] = []
            for row in sorted(rows, key=lambda r: (not r.mentioned, not r.urgent, r.first_at)):
                read = members[(user_id, row.chat_id)].last_read_seq
                unread = [m for m in recent.get(row.chat_id, []) if m.seq > read and m.sender_id != user_id]
                delete.append((user_id, row.chat_id))
                if not unread:
                    continue
                chat = chat_rows[row.chat_id]
                if chat.kind == "direct":
                    other = chat.direct_user_hi if chat.direct_user_lo == user_id else chat.direct_user_lo
                    title = names.get(other, "a direct chat")
                else:
                    title = chat.title or "a group"
                digest_chats.append(
                    DigestChat(
                        chat_id=row.chat_id,
                        title=title,
                        link=chat_link(cfg.public_url, row.chat_id),
                        unread=len(unread),
                        mentioned=row.mentioned,
                        messages=[
                            DigestMessage(sender=names.get(m.sender_id, "someone"), body=m.body)
                            for m in unread[-SHOWN_MESSAGES:]
                        ],
                    )
                )
            if not digest_chats:
                result.dropped += 1
                continue
            first_at = min(row.first_at for row in rows)
            chats_json = [{"chat_id": str(c.chat_id), "unread": c.unread} for c in digest_chats]
            name = who.display_name or who.username
            if cfg.email_enabled and pref.email and who.email not in bounced:
                token = make_token(cfg.token_secret, user_id, "email")
                digest = render_digest(name, digest_chats, unsubscribe_link(cfg.public_url, token))
                values.append(
                    self._row(
                        user_id,
                        "email",
                        who.email,
                        window,
                        now,
                        first_at,
                        chats_json,
                        digest.subject,
                        digest.text,
                        digest.html,
                    )
                )
            if pref.sms and who.phone and cfg.sms_enabled:
                text = render_sms(digest_chats, cfg.public_url)
                values.append(
                    self._row(user_id, "sms", who.phone, window, now, first_at, chats_json, "", text, None)
                )
            assert result.lag_seconds is not None
            result.lag_seconds.append((now - first_at).total_seconds())
        if values:
            inserted = await conn.execute(
                insert(deliveries)
                .on_conflict_do_nothing(constraint="uq_notification_deliveries_window")
                .returning(deliveries.c.id),
                values,
            )
            result.deliveries += len(inserted.all())

    @staticmethod
    def _row(
        user_id: uuid.UUID,
        channel: str,
        address: str,
        window: datetime,
        now: datetime,
        first_at: datetime,
        chats_json: list[dict[str, object]],
        subject: str,
        text: str,
        html: str | None,
    ) -> dict[str, object]:
        return {
            "id": uuid.uuid4(),
            "user_id": user_id,
            "channel": channel,
            "window_start": window,
            "address": address,
            "status": "pending",
            "attempts": 0,
            "next_attempt_at": now,
            "subject": subject,
            "body_text": text,
            "body_html": html,
            "chats": chats_json,
            "first_event_at": first_at,
            "created_at": now,
        }

    @staticmethod
    async def _names(conn: AsyncConnection, ids: Iterable[uuid.UUID | None]) -> dict[uuid.UUID, str]:
        wanted = [i for i in ids if i is not None]
        if not wanted:
            return {}
        rows = await conn.execute(
            sa.select(accounts.c.id, accounts.c.username, profiles.c.display_name)
            .select_from(accounts.outerjoin(profiles, profiles.c.user_id == accounts.c.id))
            .where(accounts.c.id.in_(wanted))
        )
        return {row.id: row.display_name or row.username for row in rows}
