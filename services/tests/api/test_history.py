"""History pages and sync, as properties over random chats (hypothesis): paging through history in
either direction yields each message once and in order, and a client that replays the changes
after any seq ends up with exactly the server's state."""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.api.conftest import store
from tests.factories import MakePeople, Person, delete, edit, react, send

# One chat per example; each example is a few dozen requests against the real database.
EXAMPLES = settings(
    max_examples=20,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)

# What happens in a chat: a message, or an edit / deletion / reaction aimed at an earlier one.
operations = st.lists(
    st.one_of(
        st.tuples(st.just("send"), st.integers(0, 1)),
        st.tuples(st.just("edit"), st.integers(0, 10_000)),
        st.tuples(st.just("delete"), st.integers(0, 10_000)),
        st.tuples(st.just("react"), st.integers(0, 10_000)),
        st.tuples(st.just("member"), st.integers(0, 1)),
    ),
    max_size=40,
)


@dataclass
class World:
    app: FastAPI
    client: httpx.AsyncClient
    ada: Person
    bob: Person
    spare: Person
    messages: list[int] = field(default_factory=list)


@pytest.fixture
async def world(app: FastAPI, client: httpx.AsyncClient, make_people: MakePeople) -> World:
    ada, bob, spare = await make_people("ada", "bob", "spare")
    return World(app, client, ada, bob, spare)


async def _chat_with(world: World, ops: list[tuple[str, int]]) -> tuple[uuid.UUID, list[int]]:
    """Plays the operations into a new chat; returns it and the seqs of its messages."""
    ada, bob = world.ada, world.bob
    created = await world.client.post(
        "/chats/groups", json={"title": "History", "member_ids": [str(bob.id)]}, headers=ada.auth
    )
    chat_id = uuid.UUID(created.json()["id"])
    sent: list[int] = []
    live: list[int] = []  # not deleted
    spare_in = False
    for index, (kind, n) in enumerate(ops):
        author = (ada, bob)[n % 2] if kind == "send" else ada
        if kind == "send":
            [event] = await store(world.app, send(chat_id, author.id, f"message {index}"))
            sent.append(event.seq)
            live.append(event.seq)
        elif kind == "member":
            url = f"/chats/{chat_id}/members"
            if spare_in:
                response = await world.client.delete(f"{url}/{world.spare.id}", headers=ada.auth)
            else:
                response = await world.client.post(
                    url, json={"user_ids": [str(world.spare.id)]}, headers=ada.auth
                )
            assert response.status_code in (200, 204)
            spare_in = not spare_in
        elif live:
            target = live[n % len(live)]
            if kind == "edit":
                # Only the sender edits: find out who that was from the seq's parity in `sent`.
                sender = await _sender(world, chat_id, target)
                await store(world.app, edit(chat_id, sender, target, f"edited {index}"))
            elif kind == "delete":
                await store(world.app, delete(chat_id, ada.id, target))  # the owner deletes anything
                live.remove(target)
            else:
                emoji = "👍🎉"[n % 2]
                present = await _reacted(world, chat_id, target, emoji)
                await store(world.app, react(chat_id, ada.id, target, emoji, "remove" if present else "add"))
    return chat_id, sent


async def _sender(world: World, chat_id: uuid.UUID, seq: int) -> uuid.UUID:
    page = await _get(world, chat_id, before_seq=seq + 1, limit=1)
    return uuid.UUID(page["messages"][0]["sender_id"])


async def _reacted(world: World, chat_id: uuid.UUID, seq: int, emoji: str) -> bool:
    page = await _get(world, chat_id, before_seq=seq + 1, limit=1)
    return any(r["emoji"] == emoji and r["me"] for r in page["messages"][0]["reactions"])


async def _get(world: World, chat_id: uuid.UUID, **params: Any) -> dict[str, Any]:
    response = await world.client.get(f"/chats/{chat_id}/messages", params=params, headers=world.ada.auth)
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


async def _history(world: World, chat_id: uuid.UUID, limit: int, order: str) -> list[dict[str, Any]]:
    """Walks back from the newest message, page by page; returns the messages newest first."""
    collected: list[dict[str, Any]] = []
    params: dict[str, Any] = {"limit": limit, "order": order}
    while True:
        page = await _get(world, chat_id, **params)
        seqs = [m["seq"] for m in page["messages"]]
        assert len(seqs) <= limit
        # Within a page, the order asked for.
        assert seqs == sorted(seqs, reverse=order == "newest_first")
        collected += sorted(page["messages"], key=lambda m: -m["seq"])
        if not page["has_more"]:
            assert page["next_before_seq"] is None
            return collected
        assert page["next_before_seq"] == min(seqs) and len(seqs) == limit
        params["before_seq"] = page["next_before_seq"]


async def _sync(world: World, chat_id: uuid.UUID, after: int, limit: int) -> tuple[list[Any], list[Any], int]:
    """Follows after_seq to the end: (changes, messages, last seq reached)."""
    changes: list[Any] = []
    messages: list[Any] = []
    while True:
        page = await _get(world, chat_id, after_seq=after, limit=limit)
        assert len(page["changes"]) <= limit
        changes += page["changes"]
        messages += page["messages"]
        after = page["next_after_seq"]
        if not page["has_more"]:
            return changes, messages, after


@EXAMPLES
@given(ops=operations, limit=st.integers(1, 7), order=st.sampled_from(["newest_first", "oldest_first"]))
async def test_history_pages_yield_each_message_once_in_order(
    world: World, ops: list[tuple[str, int]], limit: int, order: str
) -> None:
    chat_id, sent = await _chat_with(world, ops)
    walked = await _history(world, chat_id, limit, order)
    assert [m["seq"] for m in walked] == sorted(sent, reverse=True)


@EXAMPLES
@given(ops=operations, limit=st.integers(1, 7), split=st.integers(0, 200))
async def test_sync_from_any_seq_gives_exactly_the_missed_changes(
    world: World, ops: list[tuple[str, int]], limit: int, split: int
) -> None:
    chat_id, sent = await _chat_with(world, ops)
    everything, messages, last = await _sync(world, chat_id, 0, limit)
    last_seq = (await world.client.get(f"/chats/{chat_id}", headers=world.ada.auth)).json()["last_seq"]
    # Every change once, in seq order, nothing missing: 1..last_seq.
    assert [c["seq"] for c in everything] == list(range(1, last_seq + 1))
    assert last == last_seq
    # Forward paging yields each message once, in order.
    assert [m["seq"] for m in messages] == sorted(sent)

    # A client that knew the chat up to `after` and replays the rest has the server's state.
    after = split % (last_seq + 1)
    missed, _, _ = await _sync(world, chat_id, after, limit)
    assert missed == [c for c in everything if c["seq"] > after]
    state = replay(everything)
    current = {m["seq"]: m for m in await _history(world, chat_id, 200, "newest_first")}
    assert state.keys() == current.keys()
    for seq, message in current.items():
        assert state[seq]["body"] == message["body"]
        assert state[seq]["deleted"] == message["deleted"]
        reactions = {r["emoji"]: r["count"] for r in message["reactions"]}
        assert {e: len(users) for e, users in state[seq]["reactions"].items() if users} == reactions


def replay(changes: list[dict[str, Any]]) -> dict[int, dict[str, Any]]:
    """A client's reducer: the messages' state from the change log alone."""
    state: dict[int, dict[str, Any]] = {}
    for change in changes:
        kind = change["type"]
        if kind == "message.created":
            state[change["seq"]] = {"body": change["message"]["body"], "deleted": False, "reactions": {}}
        elif kind == "message.edited":
            state[change["message_seq"]]["body"] = change["body"]
        elif kind == "message.deleted":
            state[change["message_seq"]].update(body="", deleted=True, reactions={})
        elif kind == "reaction.added":
            state[change["message_seq"]]["reactions"].setdefault(change["emoji"], set()).add(
                change["user_id"]
            )
        elif kind == "reaction.removed":
            state[change["message_seq"]]["reactions"][change["emoji"]].discard(change["user_id"])
    return state


async def test_page_parameters(world: World) -> None:
    chat_id, _ = await _chat_with(world, [("send", 0)] * 5)
    page = await _get(world, chat_id, limit=2)
    assert [m["seq"] for m in page["messages"]] == [6, 5] and page["next_before_seq"] == 5
    assert page["changes"] is None and page["next_after_seq"] is None and page["last_seq"] == 6
    page = await _get(world, chat_id, limit=2, order="oldest_first", before_seq=5)
    assert [m["seq"] for m in page["messages"]] == [3, 4]
    sync = await _get(world, chat_id, after_seq=4)
    assert [c["seq"] for c in sync["changes"]] == [5, 6] and [m["seq"] for m in sync["messages"]] == [5, 6]
    assert (sync["next_after_seq"], sync["has_more"]) == (6, False)
    beyond = await _get(world, chat_id, after_seq=99)
    assert beyond["changes"] == [] and beyond["next_after_seq"] == 99

    url = f"/chats/{chat_id}/messages"
    for params in (
        {"before_seq": 3, "after_seq": 1},
        {"after_seq": 1, "order": "newest_first"},
        {"limit": 0},
        {"limit": 201},
        {"before_seq": -1},
        {"after_seq": 2**63},
        {"order": "sideways"},
    ):
        response = await world.client.get(url, params=params, headers=world.ada.auth)
        assert response.status_code == 422, (params, response.text)
