"""The connection and presence events round-trip through their wire form, every one of them, and
keep the versioning rules of parley.common.events (unknown fields ignored, unknown versions and
types refused)."""

from __future__ import annotations

import json
import typing
import uuid
from datetime import UTC, datetime, timedelta, timezone

import pytest
from parley.common.events import (
    CONNECTION_EVENTS,
    PRESENCE_EVENTS,
    Connected,
    ConnectionActive,
    ConnectionAway,
    ConnectionEvent,
    Disconnected,
    Event,
    InstanceHeartbeat,
    InstanceStopped,
    PresenceChanged,
    PresenceEvent,
    encode,
    parse_connection_event,
    parse_presence_event,
)
from pydantic import ValidationError

USER = uuid.UUID("6a1f4c2e-0000-4000-8000-000000000001")
AT = datetime(2025, 3, 1, 12, 30, 15, 123456, tzinfo=UTC)
CONN = {"user_id": USER, "connection_id": "c-1", "instance_id": "socket-0-4242-abcd1234", "at": AT}

EXAMPLES: list[Event] = [
    Connected(**CONN),
    ConnectionAway(**CONN),
    ConnectionActive(**CONN),
    Disconnected(**CONN),
    InstanceHeartbeat(instance_id="socket-0-4242-abcd1234", at=AT, interval_seconds=10, connections=20000),
    InstanceStopped(instance_id="socket-0-4242-abcd1234", at=AT),
    PresenceChanged(user_id=USER, status="online", last_seen=AT, version=3, changed_at=AT),
    PresenceChanged(user_id=USER, status="away", last_seen=AT, version=4, changed_at=AT),
    PresenceChanged(user_id=USER, status="offline", last_seen=None, version=1, changed_at=AT),
]


def _members(union: typing.Any) -> set[type]:
    """The classes of a discriminated union (`Annotated[A | B, Field(discriminator=…)]`)."""
    inner = typing.get_args(union)[0]
    return set(typing.get_args(inner)) or {inner}


def test_every_event_of_both_unions_has_an_example() -> None:
    examples = {type(example) for example in EXAMPLES}
    assert _members(ConnectionEvent) | _members(PresenceEvent) == examples
    # The adapters parse what the unions name.
    assert CONNECTION_EVENTS.validate_json(encode(EXAMPLES[0])) == EXAMPLES[0]
    assert PRESENCE_EVENTS.validate_json(encode(EXAMPLES[-1])) == EXAMPLES[-1]


@pytest.mark.parametrize("event", EXAMPLES, ids=lambda e: type(e).__name__)
def test_round_trip(event: Event) -> None:
    wire = encode(event)
    parse = parse_presence_event if isinstance(event, PresenceChanged) else parse_connection_event
    back = parse(wire)
    assert back == event
    assert type(back) is type(event)
    assert json.loads(wire)["v"] == 1


def test_unknown_fields_are_ignored_and_unknown_versions_refused() -> None:
    body = json.loads(encode(Connected(**CONN)))
    assert parse_connection_event(json.dumps({**body, "device": "phone"})) == Connected(**CONN)
    with pytest.raises(ValidationError):
        parse_connection_event(json.dumps({**body, "v": 2}))
    with pytest.raises(ValidationError):
        parse_connection_event(json.dumps({**body, "type": "connection.teleported"}))


def test_a_presence_change_is_not_a_connection_event_and_back() -> None:
    change = encode(EXAMPLES[-1])
    with pytest.raises(ValidationError):
        parse_connection_event(change)
    with pytest.raises(ValidationError):
        parse_presence_event(encode(Connected(**CONN)))


def test_times_keep_their_instant_whatever_the_zone() -> None:
    local = AT.astimezone(timezone(timedelta(hours=5, minutes=30)))
    back = parse_connection_event(encode(Connected(**{**CONN, "at": local})))
    assert back.at == AT


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("at", "2025-03-01T12:30:15"),  # no zone: ambiguous across socket hosts
        ("connection_id", ""),
        ("connection_id", "has space"),
        ("connection_id", "x" * 65),
        ("instance_id", "a|b"),  # the separator of the Redis layout
        ("user_id", "not-a-uuid"),
    ],
)
def test_malformed_connection_events_are_refused(field: str, value: str) -> None:
    body = json.loads(encode(Connected(**CONN)))
    with pytest.raises(ValidationError):
        parse_connection_event(json.dumps({**body, field: value}))


@pytest.mark.parametrize(
    ("field", "value"),
    [("status", "busy"), ("version", 0), ("last_seen", "yesterday")],
)
def test_malformed_presence_changes_are_refused(field: str, value: object) -> None:
    body = json.loads(encode(EXAMPLES[6]))
    with pytest.raises(ValidationError):
        parse_presence_event(json.dumps({**body, field: value}))


@pytest.mark.parametrize(("field", "value"), [("interval_seconds", 0), ("connections", -1)])
def test_malformed_heartbeats_are_refused(field: str, value: object) -> None:
    body = json.loads(encode(EXAMPLES[4]))
    with pytest.raises(ValidationError):
        parse_connection_event(json.dumps({**body, field: value}))
