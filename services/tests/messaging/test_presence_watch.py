"""The socket's presence watch list against the dev stack's Redis: channels follow the watchers,
snapshots are read after the subscription is live, and no connection gets an older version of a
user's presence after a newer one."""

from __future__ import annotations

import asyncio
import json
import uuid
from collections.abc import AsyncIterator, Coroutine
from datetime import UTC, datetime
from typing import Any

import pytest
from parley.common.events import PresenceChanged, encode
from parley.common.presence import PresenceKeys
from parley.common.redis import Redis, create_redis
from parley.socket.presence import PresenceWatch
from parley.socket.pubsub import Subscriber


class Recorder:
    """Stands in for a Session: what PresenceWatch reads of it and writes to it."""

    def __init__(self) -> None:
        self.watching: frozenset[uuid.UUID] | None = None
        self.frames: list[dict[str, Any]] = []
        self.errors: list[str] = []

    def push(self, frame: bytes) -> bool:
        # A ready WebSocket text frame: 2 or 4 header bytes, then the JSON.
        self.frames.append(json.loads(frame[frame.index(b"{") :]))
        return True

    def error(self, code: str, message: str, **_: object) -> None:
        self.errors.append(code)

    def entries(self, user: uuid.UUID) -> list[tuple[str, int]]:
        return [
            (u["status"], u["version"]) for f in self.frames for u in f["users"] if u["user_id"] == str(user)
        ]


@pytest.fixture
async def watch(redis_url: str, redis_prefix: str) -> AsyncIterator[tuple[PresenceWatch, Redis]]:
    redis = create_redis(redis_url)
    presence: PresenceWatch

    def on_message(channel: bytes, data: bytes) -> None:
        presence.changed(json.loads(data))

    tasks: list[asyncio.Task[None]] = []

    def spawn(coro: Coroutine[Any, Any, None], name: str) -> None:
        tasks.append(asyncio.create_task(coro, name=name))

    subscriber = Subscriber(redis_url, on_message)
    await subscriber.start()
    presence = PresenceWatch(subscriber, redis, PresenceKeys(redis_prefix), spawn)
    yield presence, redis
    for task in tasks:
        task.cancel()
    await subscriber.stop()
    await redis.aclose()


def _changed(user: uuid.UUID, status: str, version: int) -> bytes:
    now = datetime.now(UTC)
    return encode(
        PresenceChanged(user_id=user, status=status, last_seen=now, version=version, changed_at=now)  # type: ignore[arg-type]
    )


async def _until(condition: Any, within: float = 5.0) -> None:
    async with asyncio.timeout(within):
        while not condition():  # noqa: ASYNC110  (set by callbacks of the subscriber)
            await asyncio.sleep(0.01)


async def test_changes_reach_watchers_newest_first_wins(watch: tuple[PresenceWatch, Redis]) -> None:
    presence, redis = watch
    keys = presence.keys
    ada, bob = uuid.uuid4(), uuid.uuid4()
    await redis.hset(keys.user(ada), mapping={"status": "online", "last_seen": 1_900_000_000, "version": 4})
    one, two = Recorder(), Recorder()
    presence.watch(one, [ada, bob])  # type: ignore[arg-type]
    presence.watch(two, [ada])  # type: ignore[arg-type]
    await _until(lambda: one.frames and two.frames)
    assert one.entries(ada) == [("online", 4)] and one.entries(bob) == [("offline", 0)]
    assert one.frames[0]["users"][0]["last_seen"] == "2030-03-17T17:46:40Z"

    await redis.publish(keys.channel(ada), _changed(ada, "away", 6))
    await redis.publish(keys.channel(ada), _changed(ada, "online", 5))  # published late: older
    await redis.publish(keys.channel(bob), _changed(bob, "online", 1))
    await _until(lambda: one.entries(bob)[-1:] == [("online", 1)])
    assert one.entries(ada) == [("online", 4), ("away", 6)]
    assert two.entries(ada) == [("online", 4), ("away", 6)]
    assert two.entries(bob) == []

    # A snapshot never goes back behind what this process already forwarded (Redis still says 4).
    three = Recorder()
    presence.watch(three, [ada])  # type: ignore[arg-type]
    await _until(lambda: three.frames)
    assert three.entries(ada) == [("away", 6)]


async def test_channels_follow_the_watchers(watch: tuple[PresenceWatch, Redis]) -> None:
    presence, _ = watch
    ada, bob = uuid.uuid4(), uuid.uuid4()
    one, two = Recorder(), Recorder()
    presence.watch(one, [ada, bob])  # type: ignore[arg-type]
    presence.watch(two, [bob])  # type: ignore[arg-type]
    await _until(lambda: one.frames and two.frames)
    channels = presence.subscriber.refs
    assert {presence.keys.channel(u).encode() for u in (ada, bob)} <= set(channels)

    presence.watch(one, [bob])  # type: ignore[arg-type]
    assert presence.keys.channel(ada).encode() not in channels and set(presence.watchers) == {bob}
    presence.unwatch(two)  # type: ignore[arg-type]
    assert presence.watchers[bob] == {one}
    presence.unwatch(one)  # type: ignore[arg-type]
    assert presence.watchers == {} and presence.latest == {}
    assert presence.keys.channel(bob).encode() not in channels
