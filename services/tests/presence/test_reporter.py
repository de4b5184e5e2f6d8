"""The socket's ConnectionReporter against the dev stack's Kafka: what it produces, how it keys
it, one heartbeat per instance whatever its number of connections, and Kafka being away."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Callable

import pytest
from aiokafka import ConsumerRecord
from parley.common.events import (
    Connected,
    ConnectionActive,
    ConnectionAway,
    Disconnected,
    InstanceHeartbeat,
    InstanceStopped,
    parse_connection_event,
)
from parley.common.kafka import KafkaProducer
from parley.common.presence import ConnectionReporter
from parley.common.topics import Topics
from pydantic import ValidationError

from tests.presence.conftest import closed_port, read_topic


def stopped(instance: bytes) -> Callable[[list[ConsumerRecord]], bool]:
    """Read until the instance's stop: its partition holds nothing of it after that."""

    def seen(records: list[ConsumerRecord]) -> bool:
        return any(
            r.key == instance and isinstance(parse_connection_event(r.value), InstanceStopped)
            for r in records
        )

    return seen


async def test_connection_events_keyed_by_user_instance_events_by_instance(
    kafka_bootstrap: str, topics: Topics, producer: KafkaProducer
) -> None:
    reporter = ConnectionReporter(producer, topics, instance_id="sock-a", heartbeat_seconds=60)
    user = uuid.uuid4()
    reporter.start()
    reporter.connected(user, "c1")
    assert await reporter.flush(10)
    reporter.away(user, "c1")
    assert await reporter.flush(10)
    reporter.active(user, "c1")
    assert await reporter.flush(10)
    reporter.disconnected(user, "c1")
    assert await reporter.flush(10)
    assert reporter.connections == 0
    await reporter.stop()

    records = await read_topic(kafka_bootstrap, topics.connections, until=stopped(b"sock-a"))
    by_user = [r for r in records if r.key == str(user).encode()]
    events = [parse_connection_event(r.value) for r in by_user]
    assert [type(e) for e in events] == [Connected, ConnectionAway, ConnectionActive, Disconnected]
    assert {(e.user_id, e.connection_id, e.instance_id) for e in events} == {(user, "c1", "sock-a")}  # type: ignore[union-attr]
    instance = [parse_connection_event(r.value) for r in records if r.key == b"sock-a"]
    assert [type(e) for e in instance] == [InstanceHeartbeat, InstanceStopped]
    assert len(records) == 6


async def test_only_the_newest_state_of_a_connection_waits(
    kafka_bootstrap: str, topics: Topics, producer: KafkaProducer
) -> None:
    """Before anything is sent: a connection that opened and closed is never reported; one that
    opened and went away is reported once, as away."""
    reporter = ConnectionReporter(producer, topics, instance_id="sock-b", heartbeat_seconds=60)
    brief, idle = uuid.uuid4(), uuid.uuid4()
    reporter.connected(brief, "b")
    reporter.connected(idle, "i")
    reporter.disconnected(brief, "b")
    reporter.away(idle, "i")
    reporter.away(uuid.uuid4(), "unknown")  # never opened: ignored
    reporter.start()
    assert await reporter.flush(10)
    await reporter.stop()
    records = await read_topic(kafka_bootstrap, topics.connections, until=stopped(b"sock-b"))
    events = [parse_connection_event(r.value) for r in records]
    per_connection = [e for e in events if not isinstance(e, InstanceHeartbeat | InstanceStopped)]
    assert [(type(e), e.user_id) for e in per_connection] == [(ConnectionAway, idle)]


async def test_one_heartbeat_covers_twenty_thousand_connections(
    kafka_bootstrap: str, topics: Topics, producer: KafkaProducer
) -> None:
    reporter = ConnectionReporter(producer, topics, instance_id="sock-big", heartbeat_seconds=0.5)
    users = [uuid.uuid4() for _ in range(20_000)]
    for n, user in enumerate(users):
        reporter.connected(user, f"c{n}")
    loop = asyncio.get_running_loop()
    began = loop.time()
    reporter.start()
    assert await reporter.flush(60)
    await asyncio.sleep(1.2)  # at least two more beats
    await reporter.stop()
    beating = loop.time() - began
    records = await read_topic(
        kafka_bootstrap,
        topics.connections,
        until=lambda rs: stopped(b"sock-big")(rs) and sum(r.key != b"sock-big" for r in rs) >= 20_000,
        within=60,
    )
    beats = [parse_connection_event(r.value) for r in records if r.key == b"sock-big"]
    heartbeats = [e for e in beats if isinstance(e, InstanceHeartbeat)]
    # One record per beat (not one per connection), each counting them all once they were open.
    assert 3 <= len(heartbeats) <= beating / 0.5 + 1
    assert heartbeats[-1].connections == 20_000
    assert sum(1 for r in records if r.key != b"sock-big") == 20_000


async def test_kafka_away_nothing_fails_and_everything_goes_out_once_it_is_back(
    kafka_bootstrap: str, topics: Topics, producer: KafkaProducer
) -> None:
    away = KafkaProducer(
        f"127.0.0.1:{closed_port()}", client_id="presence-tests-away", request_timeout_ms=1000
    )
    reporter = ConnectionReporter(
        away, topics, instance_id="sock-c", heartbeat_seconds=0.2, min_backoff=0.05, max_backoff=0.2
    )
    user = uuid.uuid4()
    reporter.start()
    reporter.connected(user, "c")  # a plain call: it neither blocks nor raises
    assert not await reporter.flush(1.5)
    assert reporter.send_failures >= 1
    assert reporter.heartbeat_failures >= 1
    reporter.producer = producer  # Kafka is back
    assert await reporter.flush(15)
    assert reporter.send_failures == 0
    await reporter.stop()
    await away.stop()
    records = await read_topic(kafka_bootstrap, topics.connections, until=stopped(b"sock-c"))
    connects = [parse_connection_event(r.value) for r in records if r.key == str(user).encode()]
    assert [type(e) for e in connects] == [Connected]


async def test_stop_without_kafka_gives_up_in_time(topics: Topics) -> None:
    away = KafkaProducer(
        f"127.0.0.1:{closed_port()}", client_id="presence-tests-away", request_timeout_ms=500
    )
    reporter = ConnectionReporter(away, topics, heartbeat_seconds=60)
    reporter.start()
    reporter.connected(uuid.uuid4(), "c")
    loop = asyncio.get_running_loop()
    started = loop.time()
    await reporter.stop(grace=1.0)
    assert loop.time() - started < 4
    await away.stop()


@pytest.mark.parametrize("instance_id", [None, "pod-7"])
def test_instance_ids(instance_id: str | None, producer: KafkaProducer) -> None:
    topics = Topics("x")
    first = ConnectionReporter(producer, topics, instance_id=instance_id)
    second = ConnectionReporter(producer, topics, instance_id=instance_id)
    if instance_id is None:
        # A new one per reporter, so a restarted process is never taken for the dead one.
        assert first.instance_id != second.instance_id
        InstanceStopped(instance_id=first.instance_id, at="2025-01-01T00:00:00Z")  # a valid id
    else:
        assert first.instance_id == instance_id


def test_a_malformed_connection_id_is_the_callers_bug(producer: KafkaProducer) -> None:
    reporter = ConnectionReporter(producer, Topics("x"), instance_id="sock-d")
    with pytest.raises(ValidationError):
        reporter.connected(uuid.uuid4(), "has/slash")
    assert reporter.connections == 0
