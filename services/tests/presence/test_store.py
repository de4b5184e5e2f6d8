"""The presence model in Redis, driven with explicit times (no waiting): devices, away, expiry,
revival, clean stops, forgetting, and the changes it records."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime

from parley.common.events import (
    Connected,
    ConnectionActive,
    ConnectionAway,
    ConnectionEventType,
    Disconnected,
    InstanceHeartbeat,
    InstanceStopped,
)
from parley.common.kafka import KafkaProducer
from parley.common.presence import PresenceKeys, read_presence
from parley.common.redis import Redis
from parley.presence.engine import SWEEP_BATCH, PresenceEngine
from parley.presence.outbox import KafkaOutbox
from parley.presence.store import AnyConnectionEvent, Change, PresenceStore

from tests.presence.conftest import TIMING

T0 = 1_750_000_000.0
TTL = TIMING.ttl


def at(seconds: float) -> datetime:
    return datetime.fromtimestamp(T0 + seconds, UTC)


def conn(
    kind: type[ConnectionEventType], user: uuid.UUID, connection: str, instance: str, t: float
) -> ConnectionEventType:
    return kind(user_id=user, connection_id=connection, instance_id=instance, at=at(t))


def beat(instance: str, t: float, interval: float = 10) -> InstanceHeartbeat:
    return InstanceHeartbeat(instance_id=instance, at=at(t), interval_seconds=interval, connections=1)


async def status(store: PresenceStore, user: uuid.UUID) -> tuple[str, float | None]:
    (presence,) = await read_presence(store.redis, store.keys, [user])
    return presence.status, presence.last_seen.timestamp() - T0 if presence.last_seen else None


async def apply(store: PresenceStore, t: float, *events: AnyConnectionEvent) -> list[Change]:
    """What the engine does with a batch, at time T0 + t."""
    changes = await store.apply(list(events), now=T0 + t)
    return changes + await store.settle(now=T0 + t)


async def sweep(store: PresenceStore, t: float) -> list[Change]:
    await store.sweep(now=T0 + t)
    return await store.settle(now=T0 + t)


def summary(changes: list[Change]) -> list[tuple[str, int]]:
    return [(change.status, change.version) for change in changes]


async def test_one_device_connects_and_disconnects(store: PresenceStore) -> None:
    alice = uuid.uuid4()
    assert await status(store, alice) == ("offline", None)
    changes = await apply(store, 1, conn(Connected, alice, "c1", "s1", 1))
    assert summary(changes) == [("online", 1)]
    assert changes[0].user_id == alice and changes[0].last_seen == T0 + 1
    assert await status(store, alice) == ("online", 1)
    changes = await apply(store, 5, conn(Disconnected, alice, "c1", "s1", 5))
    assert summary(changes) == [("offline", 2)]
    assert await status(store, alice) == ("offline", 5)


async def test_several_devices_a_user_is_online_while_any_is(store: PresenceStore) -> None:
    bob = uuid.uuid4()
    assert summary(await apply(store, 1, conn(Connected, bob, "phone", "s1", 1))) == [("online", 1)]
    # A second device, on another socket instance: no change.
    assert await apply(store, 2, conn(Connected, bob, "laptop", "s2", 2)) == []
    assert await apply(store, 3, conn(Disconnected, bob, "phone", "s1", 3)) == []
    assert await status(store, bob) == ("online", 3)
    assert summary(await apply(store, 4, conn(Disconnected, bob, "laptop", "s2", 4))) == [("offline", 2)]
    assert await status(store, bob) == ("offline", 4)


async def test_away_only_when_every_device_is_away(store: PresenceStore) -> None:
    carol = uuid.uuid4()
    await apply(store, 1, conn(Connected, carol, "a", "s1", 1), conn(Connected, carol, "b", "s1", 1))
    assert await apply(store, 2, conn(ConnectionAway, carol, "a", "s1", 2)) == []
    assert summary(await apply(store, 3, conn(ConnectionAway, carol, "b", "s1", 3))) == [("away", 2)]
    assert (await status(store, carol))[0] == "away"
    assert summary(await apply(store, 4, conn(ConnectionActive, carol, "a", "s1", 4))) == [("online", 3)]
    # The active device leaves: the one left is away.
    assert summary(await apply(store, 5, conn(Disconnected, carol, "a", "s1", 5))) == [("away", 4)]
    assert summary(await apply(store, 6, conn(Disconnected, carol, "b", "s1", 6))) == [("offline", 5)]


async def test_same_connection_id_on_two_instances_are_two_devices(store: PresenceStore) -> None:
    dave = uuid.uuid4()
    await apply(store, 1, conn(Connected, dave, "1", "s1", 1), conn(Connected, dave, "1", "s2", 1))
    assert await apply(store, 2, conn(Disconnected, dave, "1", "s1", 2)) == []
    assert (await status(store, dave))[0] == "online"


async def test_heartbeats_keep_an_instance_and_its_users_then_the_sweep_expires_it(
    store: PresenceStore,
) -> None:
    users = [uuid.uuid4() for _ in range(3)]
    await apply(store, 0, *(conn(Connected, user, f"c{i}", "s1", 0) for i, user in enumerate(users)))
    for t in (10, 20, 30, 40):
        await apply(store, t, beat("s1", t))
        assert await sweep(store, t + 1) == []
    assert await sweep(store, 40 + TTL - 0.1) == []
    assert [(await status(store, user))[0] for user in users] == ["online"] * 3
    # No heartbeat after t=40: the time is up at 40 + TTL.
    changes = await sweep(store, 40 + TTL + 0.1)
    assert sorted(summary(changes)) == [("offline", 2)] * 3
    assert {change.user_id for change in changes} == set(users)
    # last_seen: the instance's last heartbeat, the last moment it was known alive.
    assert all(change.last_seen == T0 + 40 for change in changes)
    assert await sweep(store, 200) == []


async def test_a_users_other_instance_keeps_them_online_when_one_dies(store: PresenceStore) -> None:
    erin = uuid.uuid4()
    await apply(store, 0, conn(Connected, erin, "a", "dies", 0), conn(Connected, erin, "b", "lives", 0))
    await apply(store, 25, beat("lives", 25))
    assert await sweep(store, TTL + 1) == []
    assert (await status(store, erin))[0] == "online"
    assert summary(await sweep(store, 25 + TTL + 1)) == [("offline", 2)]


async def test_the_lifetime_is_at_least_two_heartbeat_intervals(store: PresenceStore) -> None:
    frank = uuid.uuid4()
    await apply(store, 0, conn(Connected, frank, "c", "slow", 0), beat("slow", 0, interval=25))
    assert await sweep(store, 49) == []  # 2 x 25 > TTL (30)
    assert summary(await sweep(store, 51)) == [("offline", 2)]


async def test_a_late_heartbeat_revives_an_expired_instance(store: PresenceStore) -> None:
    """A socket paused (or presence lagging): its connections count again once it speaks."""
    gina = uuid.uuid4()
    await apply(store, 0, conn(Connected, gina, "c", "s1", 0))
    await apply(store, 1, conn(ConnectionAway, gina, "c", "s1", 1))
    assert summary(await sweep(store, TTL + 2)) == [("offline", 3)]
    changes = await apply(store, 100, beat("s1", 100))
    assert summary(changes) == [("away", 4)]  # its connection's own state, kept
    assert await status(store, gina) == ("away", 100)


async def test_old_news_does_not_make_a_dead_instance_live(store: PresenceStore) -> None:
    """A backlog replayed after presence was down: heartbeats and connects too old to count."""
    hank = uuid.uuid4()
    assert await apply(store, 500, beat("old", 10), conn(Connected, hank, "c", "old", 11)) == []
    assert await status(store, hank) == ("offline", None)
    # A fresh heartbeat of the same instance (it is alive after all): the connection counts.
    assert summary(await apply(store, 501, beat("old", 501))) == [("online", 1)]


async def test_times_from_the_future_are_capped_at_now(store: PresenceStore) -> None:
    ivan = uuid.uuid4()
    await apply(store, 0, conn(Connected, ivan, "c", "fast-clock", 1000))
    assert await status(store, ivan) == ("online", 0)
    assert summary(await sweep(store, TTL + 1)) == [("offline", 2)]


async def test_a_clean_stop_turns_its_users_offline_at_once_and_for_good(store: PresenceStore) -> None:
    jane, kim = uuid.uuid4(), uuid.uuid4()
    await apply(
        store,
        0,
        conn(Connected, jane, "j", "s1", 0),
        conn(Connected, kim, "k1", "s1", 0),
        conn(Connected, kim, "k2", "s2", 0),
    )
    changes = await apply(store, 5, InstanceStopped(instance_id="s1", at=at(5)))
    assert [(c.user_id, c.status) for c in changes] == [(jane, "offline")]
    assert changes[0].last_seen == T0 + 5
    assert (await status(store, kim))[0] == "online"
    # News of the stopped instance that arrives late (another partition) changes nothing.
    assert await apply(store, 6, conn(Connected, jane, "j2", "s1", 4), beat("s1", 4)) == []
    assert (await status(store, jane))[0] == "offline"


async def test_disconnect_of_an_unknown_connection_changes_nothing(store: PresenceStore) -> None:
    lena = uuid.uuid4()
    assert await apply(store, 1, conn(Disconnected, lena, "never", "s1", 1)) == []
    assert await status(store, lena) == ("offline", None)


async def test_replaying_events_is_harmless(store: PresenceStore) -> None:
    """At least once from Kafka: the same batch twice leaves the same state and no new changes."""
    mia = uuid.uuid4()
    batch = [
        conn(Connected, mia, "a", "s1", 1),
        conn(Connected, mia, "b", "s1", 2),
        conn(Disconnected, mia, "a", "s1", 3),
    ]
    assert summary(await apply(store, 3, *batch)) == [("online", 1)]
    assert await apply(store, 4, *batch) == []
    assert await status(store, mia) == ("online", 3)


async def test_forgetting_drops_what_a_long_dead_instance_held(
    store: PresenceStore, redis: Redis, keys: PresenceKeys
) -> None:
    nora = uuid.uuid4()
    await apply(store, 0, conn(Connected, nora, "c", "s1", 0))
    await sweep(store, TTL + 1)
    assert await redis.hlen(keys.connections(nora)) == 1  # kept: the instance may come back
    assert await store.forget(now=T0 + TTL + 1 + TIMING.forget - 1) == 0
    assert await store.forget(now=T0 + TTL + 2 + TIMING.forget) == 1
    assert await redis.exists(keys.connections(nora), keys.instance("s1")) == 0
    assert await redis.zscore(keys.expired, "s1") is None
    # The user's last-seen stays, with a TTL of its own.
    assert await status(store, nora) == ("offline", 0)  # its connect, the instance's last sign of life
    assert 0 < await redis.ttl(keys.user(nora)) <= TIMING.last_seen_retention


async def test_redis_ttls_online_users_never_expire_offline_ones_do(
    store: PresenceStore, redis: Redis, keys: PresenceKeys
) -> None:
    olga = uuid.uuid4()
    await apply(store, 0, conn(Connected, olga, "c", "s1", 0))
    assert await redis.ttl(keys.user(olga)) == -1
    assert await redis.ttl(keys.instance("s1")) > 0  # refreshed by every heartbeat
    await apply(store, 1, conn(Disconnected, olga, "c", "s1", 1))
    assert 0 < await redis.ttl(keys.user(olga)) <= TIMING.last_seen_retention
    await apply(store, 2, conn(Connected, olga, "c2", "s1", 2))
    assert await redis.ttl(keys.user(olga)) == -1


async def test_changes_go_to_the_outbox_with_the_state(
    store: PresenceStore, redis: Redis, keys: PresenceKeys
) -> None:
    pia = uuid.uuid4()
    await apply(store, 2, conn(Connected, pia, "c", "s1", 1), conn(ConnectionAway, pia, "c", "s1", 2))
    entries = [Change.parse(raw) for raw in await redis.lrange(keys.outbox, 0, -1)]
    assert [(e.user_id, e.status, e.version) for e in entries] == [(pia, "online", 1), (pia, "away", 2)]
    event = entries[1].event()
    assert event.status == "away" and event.version == 2 and event.last_seen == at(2)


async def test_a_big_instance_is_recomputed_in_chunks(store: PresenceStore) -> None:
    users = [uuid.uuid4() for _ in range(250)]
    await apply(store, 0, *(conn(Connected, user, "c", "big", 0) for user in users))
    await store.sweep(now=T0 + TTL + 1)
    remaining, first = await store.recompute_dirty(now=T0 + TTL + 1, limit=100)
    assert remaining == 150 and len(first) == 100
    rest = await store.settle(now=T0 + TTL + 1, chunk=100)
    assert {c.user_id for c in first + rest} == set(users)
    assert {c.status for c in first + rest} == {"offline"}


async def test_one_tick_expires_every_instance_whose_time_is_up(
    redis: Redis, keys: PresenceKeys, producer: KafkaProducer
) -> None:
    """More instances than one sweep script takes (a whole socket fleet restarted at once)."""
    clock = [T0]
    store = PresenceStore(redis, keys, TIMING, clock=lambda: clock[0])
    engine = PresenceEngine(store, KafkaOutbox(redis, keys, producer, "unused"))
    users = [uuid.uuid4() for _ in range(3 * SWEEP_BATCH + 2)]
    await engine.handle([conn(Connected, user, "c", f"s{n}", 0) for n, user in enumerate(users)])
    clock[0] = T0 + TTL + 1
    changes = await engine.tick()
    assert sorted(c.user_id for c in changes) == sorted(users)
    assert {c.status for c in changes} == {"offline"}
    assert await redis.zcard(keys.alive) == 0
