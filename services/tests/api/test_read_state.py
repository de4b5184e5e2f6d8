"""Read state: one position per member that only moves forward; unread counts and read receipts
come from it."""

from __future__ import annotations

import asyncio
import contextlib
import json
import uuid
from typing import Any

import httpx
import redis.asyncio as aioredis
from fastapi import FastAPI
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from parley.api.settings import ApiSettings
from parley.common.chat.channels import chat_channel

from tests.api.conftest import store
from tests.factories import MakePeople, Person, delete, send


async def _group_with_messages(
    app: FastAPI, client: httpx.AsyncClient, owner: Person, other: Person, count: int
) -> uuid.UUID:
    created = await client.post(
        "/chats/groups", json={"title": "Reads", "member_ids": [str(other.id)]}, headers=owner.auth
    )
    chat_id = uuid.UUID(created.json()["id"])
    if count:
        await store(app, *(send(chat_id, other.id, f"m{i}") for i in range(count)))
    return chat_id


async def _read(client: httpx.AsyncClient, who: Person, chat_id: uuid.UUID, seq: int) -> dict[str, Any]:
    response = await client.post(f"/chats/{chat_id}/read", json={"seq": seq}, headers=who.auth)
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


@settings(max_examples=15, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(marks=st.lists(st.integers(0, 30), min_size=1, max_size=12))
async def test_read_position_is_the_running_maximum(
    app: FastAPI, client: httpx.AsyncClient, make_people: MakePeople, marks: list[int]
) -> None:
    ada, bob = await make_people(f"ada{uuid.uuid4().hex[:6]}", f"bob{uuid.uuid4().hex[:6]}")
    chat_id = await _group_with_messages(app, client, ada, bob, 20)  # seqs 2..21 from bob
    position = 1  # chat.created is read by everyone in it
    for seq in marks:
        state = await _read(client, ada, chat_id, seq)
        position = max(position, min(seq, 21))
        assert state["last_read_seq"] == position
        assert state["unread_count"] == 21 - position


async def test_concurrent_marks_never_move_backwards(
    app: FastAPI, client: httpx.AsyncClient, make_people: MakePeople
) -> None:
    ada, bob = await make_people("ada", "bob")
    chat_id = await _group_with_messages(app, client, ada, bob, 50)
    # Two devices reporting out of order, many at once.
    marks = [seq for pair in zip(range(2, 52), range(51, 1, -1), strict=True) for seq in pair]
    results = await asyncio.gather(*(_read(client, ada, chat_id, seq) for seq in marks))
    assert max(r["last_read_seq"] for r in results) == 51
    final = await client.get(f"/chats/{chat_id}", headers=ada.auth)
    assert final.json()["last_read_seq"] == 51 and final.json()["unread_count"] == 0
    assert (await _read(client, ada, chat_id, 3))["last_read_seq"] == 51


async def test_unread_counts_and_read_receipts(
    app: FastAPI, client: httpx.AsyncClient, make_people: MakePeople
) -> None:
    ada, bob, cy, dan = await make_people("ada", "bob", "cy", "dan")
    members = [str(p.id) for p in (bob, cy, dan)]
    created = await client.post("/chats/groups", json={"title": "R", "member_ids": members}, headers=ada.auth)
    chat_id = uuid.UUID(created.json()["id"])
    await store(app, send(chat_id, bob.id, "2"), send(chat_id, bob.id, "3"), send(chat_id, ada.id, "4"))
    await store(app, send(chat_id, cy.id, "5"), delete(chat_id, cy.id, 5))  # cy's message, deleted (6)

    async def unread(who: Person) -> int:
        count: int = (await client.get(f"/chats/{chat_id}", headers=who.auth)).json()["unread_count"]
        return count

    # Sending a message means having read the chat up to it; deleted messages never count.
    assert [await unread(p) for p in (ada, bob, cy, dan)] == [0, 1, 0, 3]
    assert (await _read(client, dan, chat_id, 3))["unread_count"] == 1
    listed = (await client.get(f"/chats/{chat_id}/members", headers=bob.auth)).json()["members"]
    positions = {m["username"]: m["last_read_seq"] for m in listed}
    assert positions == {"ada": 4, "bob": 3, "cy": 5, "dan": 3}
    # Read receipts for the message at seq 4: who has read up to it.
    assert sorted(name for name, seq in positions.items() if seq >= 4) == ["ada", "cy"]


async def test_moving_the_read_position_is_published_live(
    app: FastAPI, client: httpx.AsyncClient, make_people: MakePeople, settings: ApiSettings, redis_url: str
) -> None:
    ada, bob = await make_people("ada", "bob")
    chat_id = await _group_with_messages(app, client, ada, bob, 3)
    redis = aioredis.from_url(redis_url)
    pubsub = redis.pubsub()
    await pubsub.subscribe(chat_channel(settings.redis_key_prefix, chat_id))
    try:
        await _read(client, ada, chat_id, 3)
        await _read(client, ada, chat_id, 2)  # no movement: nothing published
        await _read(client, ada, chat_id, 4)
        # A marker: the request publishes before it answers, so a receipt for the read of 2
        # would come before the marker's, not after it (no waiting for nothing to arrive).
        await store(app, send(chat_id, bob.id, "marker"))
        await _read(client, ada, chat_id, 5)
        # Only read positions matter here (the outbox may still be publishing chat.created).
        received = await _read_events(pubsub, 3, seconds=10)
    finally:
        await pubsub.aclose()
        await redis.aclose()
    assert [(e["type"], e["user_id"], e["last_read_seq"]) for e in received] == [
        ("read.updated", str(ada.id), 3),
        ("read.updated", str(ada.id), 4),
        ("read.updated", str(ada.id), 5),
    ]


async def _read_events(pubsub: aioredis.client.PubSub, count: int, seconds: float) -> list[dict[str, Any]]:
    """Up to `count` read.updated events within `seconds`."""
    found: list[dict[str, Any]] = []
    with contextlib.suppress(TimeoutError):
        async with asyncio.timeout(seconds):
            while len(found) < count:
                message = await pubsub.get_message(ignore_subscribe_messages=True, timeout=1)
                if message is not None and (event := json.loads(message["data"]))["type"] == "read.updated":
                    found.append(event)
    return found
