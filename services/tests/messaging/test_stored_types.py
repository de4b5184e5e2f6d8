"""Every stored event type is delivered live (issue 16): the hub's list is derived from the stored
events' union (common/events.py), so a new event type cannot be left out of live delivery."""

from __future__ import annotations

import json
import uuid
from datetime import UTC, datetime
from typing import get_args

import redis.asyncio as aioredis
from parley.common.chat.channels import chat_channel
from parley.common.events import (
    STORED_EVENT_TYPES,
    ChatRenamed,
    LiveEvent,
    StoredEventType,
    encode,
)
from parley.socket.hub import STORED_TYPES, Hub, UserState
from parley.socket.protocol import event_frame
from parley.socket.ratelimit import TokenBucket
from parley.socket.wsserver import text_frame

from tests.messaging.conftest import Platform


class Recorder:
    """A connection as the hub sees it (recipient.Recipient)."""

    def __init__(self) -> None:
        self.delivered: list[tuple[uuid.UUID, int, bytes]] = []
        self.pushed: list[bytes] = []

    def push(self, frame: bytes) -> bool:
        self.pushed.append(frame)
        return True

    def deliver(self, chat_id: uuid.UUID, seq: int, frame: bytes) -> None:
        self.delivered.append((chat_id, seq, frame))

    def follow(self, chat_id: uuid.UUID, cursor: int | None) -> None: ...

    def unfollow(self, chat_id: uuid.UUID) -> None: ...

    def catch_up(self, chat_id: uuid.UUID) -> None: ...


def _type_of(model: type) -> str:
    return str(model.model_fields["type"].default)  # type: ignore[attr-defined]


def test_the_stored_types_are_those_of_the_stored_events_union() -> None:
    models = get_args(StoredEventType)
    assert len(models) == len(STORED_EVENT_TYPES) == 10
    assert STORED_TYPES == STORED_EVENT_TYPES == {_type_of(model) for model in models}


def test_every_live_event_type_is_one_the_hub_handles() -> None:
    ephemeral = {"typing", "read.updated", "command.rejected"}
    live = {_type_of(model) for model in get_args(get_args(LiveEvent)[0])}
    assert live == STORED_TYPES | ephemeral


async def test_every_stored_event_type_is_delivered_live() -> None:
    hub = Hub(None, "redis://127.0.0.1:1", "t:", lambda: TokenBucket(1, 1))  # type: ignore[arg-type]
    chat_id, user_id, other = uuid.uuid4(), uuid.uuid4(), uuid.uuid4()
    user = UserState(user_id, TokenBucket(1, 1))
    user.ready.set_result(None)
    hub.users[user_id] = user
    hub._join_feed(user, chat_id)
    recorder = Recorder()
    user.connections.add(recorder)
    kinds = sorted(_type_of(model) for model in get_args(StoredEventType))
    sent = []
    for seq, kind in enumerate(kinds, start=1):
        event = {
            "type": kind,
            "v": 1,
            "chat_id": str(chat_id),
            "seq": seq,
            "at": datetime.now(UTC).isoformat(),
            "user_id": str(other),  # not connected here: membership changes touch nobody
            "members": [],
        }
        data = json.dumps(event, separators=(",", ":")).encode()
        sent.append(data)
        hub.on_message(chat_channel("t:", chat_id).encode(), data)
    assert [seq for _, seq, _ in recorder.delivered] == list(range(1, len(kinds) + 1))
    assert [frame for _, _, frame in recorder.delivered] == [text_frame(event_frame(d)) for d in sent]
    await hub.redis.aclose()


async def test_a_stored_event_published_on_redis_reaches_a_connection(
    platform: Platform, redis_url: str, redis_prefix: str
) -> None:
    """chat.renamed, published as the consumer would, to a real socket process's connection."""
    socket = platform.socket()
    ada, bob = await platform.people("ada", "bob")
    chat = await platform.group(ada, bob)
    client = await platform.client(socket, bob)
    last_seq = client.last_seq[chat]
    event = ChatRenamed(
        chat_id=uuid.UUID(chat), seq=last_seq + 1, actor_id=ada.id, at=datetime.now(UTC), title="renamed"
    )
    redis = aioredis.from_url(redis_url)
    try:
        await redis.publish(chat_channel(redis_prefix, uuid.UUID(chat)), encode(event))
    finally:
        await redis.aclose()
    await client.wait_until(
        lambda: any(e.get("type") == "chat.renamed" for e in client.events.get(chat, [])),
        within=10,
        what="chat.renamed",
    )
    (got,) = [e for e in client.events[chat] if e["type"] == "chat.renamed"]
    assert got["seq"] == last_seq + 1 and got["title"] == "renamed"
