"""Seq allocation with many writers at once: the consumer's multi-chat batches, single-chat
changes the way the api makes them, and writers that roll back after taking seqs. Afterwards every
chat's change log is exactly 1..last_seq: no gaps, no duplicates."""

from __future__ import annotations

import asyncio
import random
import uuid
from datetime import UTC, datetime

import pytest
import sqlalchemy as sa
from parley.common.chat.changes import append_changes
from parley.common.chat.seq import ChatNotFound, lock_chat, take_seqs
from parley.common.chat.store import Stored, store_commands
from parley.common.db import Database
from parley.common.events import ChatRenamed

from tests.factories import create_chat, create_users, send


class Boom(Exception):
    pass


async def test_concurrent_writers_leave_no_gaps_and_no_duplicates(db: Database) -> None:
    ada, bob = await create_users(db.engine, ["ada", "bob"])
    chats = [await create_chat(db.engine, ada, [bob]) for _ in range(3)]
    rng = random.Random(7)
    stored: list[tuple[uuid.UUID, int]] = []

    async def consumer(batches: int) -> None:
        for _ in range(batches):
            # Chats in random order within a batch: the locks are still taken in id order.
            commands = [send(rng.choice(chats), rng.choice([ada, bob])) for _ in range(6)]
            async with db.engine.begin() as conn:
                outcomes = await store_commands(conn, commands)
            stored.extend((o.event.chat_id, o.event.seq) for o in outcomes if isinstance(o, Stored))

    async def api_writer(changes: int) -> None:
        for n in range(changes):
            chat_id = rng.choice(chats)
            async with db.engine.begin() as conn:
                assert await lock_chat(conn, chat_id) is not None
                now = datetime.now(UTC)
                events = await append_changes(
                    conn,
                    chat_id,
                    [
                        lambda seq, c=chat_id, at=now, t=f"title {n}": ChatRenamed(
                            chat_id=c, seq=seq, actor_id=ada, at=at, title=t
                        )
                    ],
                )
            stored.extend((e.chat_id, e.seq) for e in events)

    async def quitter(attempts: int) -> None:
        for _ in range(attempts):
            with pytest.raises(Boom):
                async with db.engine.begin() as conn:
                    await take_seqs(conn, rng.choice(chats), 3)
                    await asyncio.sleep(0.001)
                    raise Boom()

    await asyncio.gather(
        *(consumer(8) for _ in range(4)), *(api_writer(10) for _ in range(3)), *(quitter(5) for _ in range(2))
    )

    assert len(stored) == len(set(stored)) == 4 * 8 * 6 + 3 * 10
    async with db.engine.connect() as conn:
        for chat_id in chats:
            last_seq = (
                await conn.execute(sa.text("SELECT last_seq FROM chats WHERE id = :c"), {"c": chat_id})
            ).scalar_one()
            logged = (
                (
                    await conn.execute(
                        sa.text("SELECT seq FROM chat_changes WHERE chat_id = :c ORDER BY seq"),
                        {"c": chat_id},
                    )
                )
                .scalars()
                .all()
            )
            assert logged == list(range(1, last_seq + 1))
            assert sorted(seq for c, seq in stored if c == chat_id) == list(range(2, last_seq + 1))


async def test_take_seqs_on_a_missing_chat(db: Database) -> None:
    async with db.engine.begin() as conn:
        with pytest.raises(ChatNotFound):
            await take_seqs(conn, uuid.uuid4())
        with pytest.raises(ValueError, match="at least 1"):
            await take_seqs(conn, uuid.uuid4(), 0)
