"""Test data: users straight into the user directory (auth's table; no password work), the people
the service tests act as (`Person`, made by the `make_people` fixture), commands."""

from __future__ import annotations

import uuid
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass
from datetime import UTC, datetime

import sqlalchemy as sa
from fastapi import FastAPI
from parley.common.db import Database
from parley.common.events import DeleteMessage, EditMessage, ReactToMessage, SendMessage
from parley.common.users.directory import username_key
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

_INSERT_USER = sa.text(
    "INSERT INTO auth_users (id, username, username_key, email, email_key, password_hash, disabled,"
    " created_at, password_changed_at) VALUES (:id, :username, :key, :email, :email, 'not-a-hash',"
    " false, now(), now())"
)


async def create_users(target: AsyncEngine | AsyncConnection, names: Iterable[str]) -> list[uuid.UUID]:
    rows = [
        {
            "id": uuid.uuid4(),
            "username": name,
            "key": username_key(name),
            "email": f"{name.lower()}@example.org",
        }
        for name in names
    ]
    if isinstance(target, AsyncEngine):
        async with target.begin() as conn:
            await conn.execute(_INSERT_USER, rows)
    else:
        await target.execute(_INSERT_USER, rows)
    return [row["id"] for row in rows]


@dataclass(frozen=True)
class Person:
    """A user of the directory with a token of the tests' signer."""

    id: uuid.UUID
    username: str
    token: str

    @property
    def auth(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token}"}


MakePeople = Callable[..., Awaitable[list[Person]]]


def database(app: FastAPI) -> Database:
    """The service app's database (its lifespan puts it in `app.state.db`)."""
    db = app.state.db
    assert isinstance(db, Database)
    return db


def _base(chat_id: uuid.UUID, user_id: uuid.UUID) -> dict[str, object]:
    return {
        "command_id": uuid.uuid4(),
        "chat_id": chat_id,
        "user_id": user_id,
        "issued_at": datetime.now(UTC),
    }


def send(
    chat_id: uuid.UUID,
    user_id: uuid.UUID,
    body: str = "hello",
    *,
    client_id: str | None = None,
    reply_to_seq: int | None = None,
) -> SendMessage:
    return SendMessage.model_validate(
        {
            **_base(chat_id, user_id),
            "client_id": client_id or uuid.uuid4().hex,
            "body": body,
            "reply_to_seq": reply_to_seq,
        }
    )


def edit(chat_id: uuid.UUID, user_id: uuid.UUID, seq: int, body: str) -> EditMessage:
    return EditMessage.model_validate({**_base(chat_id, user_id), "message_seq": seq, "body": body})


def delete(chat_id: uuid.UUID, user_id: uuid.UUID, seq: int) -> DeleteMessage:
    return DeleteMessage.model_validate({**_base(chat_id, user_id), "message_seq": seq})


def react(
    chat_id: uuid.UUID, user_id: uuid.UUID, seq: int, emoji: str = "👍", action: str = "add"
) -> ReactToMessage:
    return ReactToMessage.model_validate(
        {**_base(chat_id, user_id), "message_seq": seq, "emoji": emoji, "action": action}
    )


async def create_chat(
    engine: AsyncEngine, owner: uuid.UUID, members: Iterable[uuid.UUID] = (), *, kind: str = "group"
) -> uuid.UUID:
    """A chat as the api makes one (seq 1: chat.created), written directly."""
    from parley.common.chat.changes import insert_changes
    from parley.common.chat.models import chat_members, chats
    from parley.common.events import ChatCreated, MemberData

    chat_id = uuid.uuid4()
    now = datetime.now(UTC)
    roles = [(owner, "owner" if kind == "group" else "member"), *((m, "member") for m in members)]
    pair = sorted(user for user, _ in roles) if kind == "direct" else [None, None]
    async with engine.begin() as conn:
        await conn.execute(
            sa.insert(chats).values(
                id=chat_id,
                kind=kind,
                title="chat" if kind == "group" else None,
                direct_user_lo=pair[0],
                direct_user_hi=pair[1],
                created_by=owner,
                created_at=now,
                last_seq=1,
                last_activity_at=now,
                member_count=len(roles),
            )
        )
        await conn.execute(
            sa.insert(chat_members),
            [
                {
                    "chat_id": chat_id,
                    "user_id": u,
                    "role": r,
                    "joined_at": now,
                    "last_read_seq": 1,
                    "muted": False,
                }
                for u, r in roles
            ],
        )
        await insert_changes(
            conn,
            [
                ChatCreated(
                    chat_id=chat_id,
                    seq=1,
                    actor_id=owner,
                    at=now,
                    kind=kind,  # type: ignore[arg-type]
                    title="chat" if kind == "group" else None,
                    members=[MemberData(user_id=u, role=r) for u, r in roles],  # type: ignore[arg-type]
                )
            ],
        )
    return chat_id
