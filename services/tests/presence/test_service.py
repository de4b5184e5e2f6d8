"""The presence service running (in-process, its real lifespan) on the dev stack's Kafka and Redis,
fed by a ConnectionReporter as the socket will use it: devices, away, disconnects, a clean stop and
an instance whose heartbeats stop; changes seen on the Redis channels and the presence topic."""

from __future__ import annotations

import time
import uuid

import httpx
from parley.common.kafka import KafkaProducer
from parley.common.presence import ConnectionReporter
from parley.common.topics import Topics
from parley.presence.settings import PresenceSettings
from parley.testing.tokens import Signer
from parley.testing.waiting import eventually, holds

from tests.presence.conftest import (
    HEARTBEAT,
    SWEEP,
    TTL,
    ChannelWatch,
    presence_topic,
    rest_presence,
    running,
    statuses,
)


def reporter(producer: KafkaProducer, topics: Topics, instance: str) -> ConnectionReporter:
    return ConnectionReporter(producer, topics, instance_id=instance, heartbeat_seconds=HEARTBEAT)


async def test_devices_away_and_disconnects_reach_rest_redis_and_kafka(
    client: httpx.AsyncClient,
    viewer: dict[str, str],
    producer: KafkaProducer,
    topics: Topics,
    kafka_bootstrap: str,
    channel_watch: ChannelWatch,
) -> None:
    socket_a, socket_b = reporter(producer, topics, "sock-a"), reporter(producer, topics, "sock-b")
    socket_a.start()
    socket_b.start()
    alice, bob = uuid.uuid4(), uuid.uuid4()

    async def now() -> dict[uuid.UUID, tuple[str, str | None]]:
        return await rest_presence(client, viewer, alice, bob)

    assert await now() == {alice: ("offline", None), bob: ("offline", None)}
    socket_a.connected(alice, "phone")
    socket_b.connected(alice, "laptop")  # a second device, on another socket instance
    socket_a.connected(bob, "phone")
    await eventually(now, statuses("online", "online"), within=10)

    socket_a.disconnected(alice, "phone")
    socket_b.away(alice, "laptop")
    presence, _ = await eventually(now, statuses("away", "online"), within=10)
    socket_b.active(alice, "laptop")
    await eventually(now, statuses("online", "online"), within=10)
    socket_b.disconnected(alice, "laptop")
    presence, _ = await eventually(now, statuses("offline", "online"), within=10)
    assert presence[alice][1] is not None  # last seen: when the laptop went

    # Heartbeats keep bob's connection alive well past the TTL.
    await holds(
        now,
        lambda presence: presence[bob][0] == "online",
        seconds=TTL * 2,
        reason="without heartbeats the connection would be swept within the TTL",
        every=0.25,
    )

    await socket_a.stop()
    await socket_b.stop()
    await eventually(now, statuses("offline", "offline"), within=10)

    # The sockets' view: alice online (once, whichever device came first), away, online, offline.
    expected_alice = [("online", 1), ("away", 2), ("online", 3), ("offline", 4)]
    await channel_watch.until(alice, expected_alice)
    await channel_watch.until(bob, [("online", 1), ("offline", 2)])
    # Notifications' view: the same changes on the presence topic, keyed by user.
    events = await presence_topic(kafka_bootstrap, topics, lambda evs: len(evs) >= 6)
    assert [(e.status, e.version) for e in events if e.user_id == alice] == expected_alice
    assert [(e.status, e.version) for e in events if e.user_id == bob] == [("online", 1), ("offline", 2)]


async def test_an_instance_that_stops_heartbeating_loses_its_users_within_the_ttl(
    client: httpx.AsyncClient,
    viewer: dict[str, str],
    producer: KafkaProducer,
    topics: Topics,
    channel_watch: ChannelWatch,
) -> None:
    """In-process: the reporter's heartbeats are cancelled without a stop record (what a crash
    looks like from outside). The separate-process version kills a real process."""
    hung = reporter(producer, topics, "sock-hung")
    steady = reporter(producer, topics, "sock-steady")
    hung.start()
    steady.start()
    carol, dave = uuid.uuid4(), uuid.uuid4()
    hung.connected(carol, "c")
    hung.connected(dave, "d1")
    steady.connected(dave, "d2")
    await eventually(
        lambda: rest_presence(client, viewer, carol, dave), statuses("online", "online"), within=10
    )
    assert await hung.flush(5)
    assert hung.task is not None
    hung.task.cancel()  # the process froze: nothing more from it, not even a stop
    gone = time.monotonic()
    await eventually(
        lambda: rest_presence(client, viewer, carol, dave),
        statuses("offline", "online"),
        within=TTL + SWEEP + 5,
    )
    took = time.monotonic() - gone
    # Its last beat was at most a heartbeat before it froze, two on a machine slow to send it;
    # no later than the TTL plus one sweep, give or take the consumer's latency on a busy machine.
    assert took >= TTL - 2 * HEARTBEAT, "offline before the instance's time was up"
    assert took <= TTL + SWEEP + 3
    await steady.stop()


async def test_replicas_share_the_work_and_a_dead_instance_is_announced_once(
    settings: PresenceSettings,
    signer: Signer,
    viewer: dict[str, str],
    producer: KafkaProducer,
    topics: Topics,
    kafka_bootstrap: str,
) -> None:
    """Two presence replicas: one consumer group, both sweeping; each user's going offline is
    produced once."""
    users = [uuid.uuid4() for _ in range(30)]
    async with running(settings, signer) as (_, first), running(settings, signer) as _:
        socket = reporter(producer, topics, "sock-many")
        socket.start()
        for n, user in enumerate(users):
            socket.connected(user, f"c{n}")
        await eventually(
            lambda: rest_presence(first, viewer, *users[:5]), statuses(*["online"] * 5), within=15
        )
        assert await socket.flush(5)
        assert socket.task is not None
        socket.task.cancel()
        await presence_topic(
            kafka_bootstrap, topics, lambda evs: sum(e.status == "offline" for e in evs) >= len(users)
        )
        # Everything there is after a while longer: room for a duplicate to show up.
        events = await presence_topic(kafka_bootstrap, topics, lambda evs: False, within=TTL + 1)
    per_user = {user: [(e.status, e.version) for e in events if e.user_id == user] for user in users}
    assert all(seen == [("online", 1), ("offline", 2)] for seen in per_user.values()), per_user
