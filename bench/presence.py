"""Presence on this machine: what the state scripts cost in the dev stack's real Redis, and how
long one script holds Redis when a big socket instance dies or stops.

A key prefix of its own, deleted afterwards.

    .venv/bin/python bench/presence.py [--connections 20000] [--batch 500]
"""

from __future__ import annotations

import argparse
import asyncio
import time
import uuid
from datetime import UTC, datetime

from parley.common.events import Connected, Disconnected, InstanceHeartbeat, InstanceStopped
from parley.common.presence import PresenceKeys
from parley.common.redis import create_redis
from parley.devstack.stack import Stack
from parley.presence.store import PresenceStore, Timing
from parley.testing.slices import delete_prefix, unique

TIMING = Timing(ttl=30, forget=3600, last_seen_retention=86400, stopped_tombstone=86400, outbox_max=10**6)


def at(seconds: float) -> datetime:
    return datetime.fromtimestamp(seconds, UTC)


async def timed(name: str, count: int, unit: str, work: object) -> float:
    assert asyncio.iscoroutine(work)
    start = time.perf_counter()
    await work
    elapsed = time.perf_counter() - start
    print(f"{name:<48} {count:>7} {unit:<12} {elapsed * 1000:9.1f} ms  {count / elapsed:>10.0f} /s")
    return elapsed


async def main(connections: int, batch: int) -> None:
    url = Stack().up(["redis"])["redis"]["url"]
    prefix = unique("bench:") + ":"
    redis = create_redis(url)
    store = PresenceStore(redis, PresenceKeys(prefix), TIMING)
    now = time.time()
    users = [uuid.uuid4() for _ in range(connections)]
    try:

        async def connect(instance: str) -> None:
            for i in range(0, connections, batch):
                events = [
                    Connected(user_id=user, connection_id=f"c{i + n}", instance_id=instance, at=at(now))
                    for n, user in enumerate(users[i : i + batch])
                ]
                await store.apply(events, now=now)

        await timed(f"connects, {batch} per script", connections, "connections", connect("big"))
        beat = InstanceHeartbeat(
            instance_id="big", at=at(now + 1), interval_seconds=10, connections=connections
        )
        await timed("one heartbeat (covers them all)", 1, "heartbeat", store.apply([beat], now=now + 1))

        async def heartbeats() -> None:
            for n in range(1000):
                await store.apply(
                    [
                        InstanceHeartbeat(
                            instance_id="big", at=at(now + 1), interval_seconds=10, connections=n
                        )
                    ],
                    now=now + 1,
                )

        await timed("heartbeats, one per script, in a row", 1000, "heartbeats", heartbeats())

        await timed(
            "sweep: the instance's time is up (one script)",
            connections,
            "users marked",
            store.sweep(now=now + 100, limit=1),
        )

        async def settle_chunks() -> None:
            while True:
                remaining, _ = await store.recompute_dirty(now=now + 100, limit=1000)
                if remaining == 0:
                    return

        await timed("recompute its users, 1000 per script", connections, "users", settle_chunks())

        await connect("big2")
        await timed(
            "clean stop of an instance (one script)",
            connections,
            "connections",
            store.apply([InstanceStopped(instance_id="big2", at=at(now))], now=now),
        )
        await timed("recompute after the stop", connections, "users", settle_chunks())

        await connect("big3")

        async def disconnects() -> None:
            for i in range(0, connections, batch):
                events = [
                    Disconnected(user_id=user, connection_id=f"c{i + n}", instance_id="big3", at=at(now))
                    for n, user in enumerate(users[i : i + batch])
                ]
                await store.apply(events, now=now)

        await timed(f"disconnects, {batch} per script", connections, "connections", disconnects())
    finally:
        await redis.aclose()
        await delete_prefix(url, prefix)


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--connections", type=int, default=20_000)
    parser.add_argument("--batch", type=int, default=500)
    args = parser.parse_args()
    asyncio.run(main(args.connections, args.batch))
