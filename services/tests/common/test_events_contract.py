"""The event schemas are the contract between services: every type survives JSON -> model -> JSON
unchanged, the unions pick the right class by `type`, and what is not a valid event is refused."""

from __future__ import annotations

import json
import typing
import uuid
from datetime import UTC, datetime
from typing import Any

import pydantic
import pytest
from parley.common import events
from parley.common.topics import Topics, chat_key

CHAT = uuid.UUID("7d1bd1a2-5b6f-4c39-9ad7-0f6c1b2c3d4e")
USER = uuid.UUID("0b7e2c9e-1f2a-4e33-8a44-5c6d7e8f9a0b")
OTHER = uuid.UUID("a1b2c3d4-e5f6-4a7b-8c9d-0e1f2a3b4c5d")
COMMAND = uuid.UUID("11111111-2222-4333-8444-555555555555")
AT = "2025-11-28T10:11:12.123456Z"

STORED_BASE = {"v": 1, "chat_id": str(CHAT), "seq": 7, "actor_id": str(USER), "at": AT, "command_id": None}
COMMAND_BASE = {
    "v": 1,
    "command_id": str(COMMAND),
    "chat_id": str(CHAT),
    "user_id": str(USER),
    "issued_at": AT,
}

COMMANDS: dict[type[events.Event], dict[str, Any]] = {
    events.SendMessage: {
        **COMMAND_BASE,
        "type": "send",
        "client_id": "c-1",
        "body": "hello\nworld",
        "attachments": [str(OTHER)],
        "reply_to_seq": 3,
    },
    events.EditMessage: {**COMMAND_BASE, "type": "edit", "message_seq": 4, "body": "fixed"},
    events.DeleteMessage: {**COMMAND_BASE, "type": "delete", "message_seq": 4},
    events.ReactToMessage: {
        **COMMAND_BASE,
        "type": "react",
        "message_seq": 4,
        "emoji": "👍🏽",
        "action": "remove",
    },
}

STORED: dict[type[events.Event], dict[str, Any]] = {
    events.ChatCreated: {
        **STORED_BASE,
        "type": "chat.created",
        "kind": "group",
        "title": "Team",
        "members": [{"user_id": str(USER), "role": "owner"}, {"user_id": str(OTHER), "role": "member"}],
    },
    events.ChatRenamed: {**STORED_BASE, "type": "chat.renamed", "title": "New name"},
    events.MemberAdded: {**STORED_BASE, "type": "member.added", "user_id": str(OTHER), "role": "member"},
    events.MemberRemoved: {**STORED_BASE, "type": "member.removed", "user_id": str(OTHER), "reason": "left"},
    events.MemberRoleChanged: {
        **STORED_BASE,
        "type": "member.role_changed",
        "user_id": str(OTHER),
        "role": "admin",
        "previous_role": "member",
    },
    events.MessageCreated: {
        **STORED_BASE,
        "command_id": str(COMMAND),
        "type": "message.created",
        "message": {
            "seq": 7,
            "sender_id": str(USER),
            "client_id": "c-1",
            "body": "hello",
            "attachments": [],
            "reply_to_seq": None,
            "created_at": AT,
        },
    },
    events.MessageEdited: {**STORED_BASE, "type": "message.edited", "message_seq": 5, "body": "edited"},
    events.MessageDeleted: {**STORED_BASE, "type": "message.deleted", "message_seq": 5},
    events.ReactionAdded: {
        **STORED_BASE,
        "type": "reaction.added",
        "message_seq": 5,
        "emoji": "🎉",
        "user_id": str(OTHER),
    },
    events.ReactionRemoved: {
        **STORED_BASE,
        "type": "reaction.removed",
        "message_seq": 5,
        "emoji": "🎉",
        "user_id": str(OTHER),
    },
}

EPHEMERAL: dict[type[events.Event], dict[str, Any]] = {
    events.ReadUpdated: {
        "v": 1,
        "type": "read.updated",
        "chat_id": str(CHAT),
        "user_id": str(USER),
        "last_read_seq": 9,
        "at": AT,
    },
    events.Typing: {"v": 1, "type": "typing", "chat_id": str(CHAT), "user_id": str(USER), "at": AT},
    events.CommandRejected: {
        "v": 1,
        "type": "command.rejected",
        "chat_id": str(CHAT),
        "user_id": str(USER),
        "command_id": str(COMMAND),
        "client_id": "c-1",
        "code": "not_a_member",
        "message": "Only members of a chat can write to it.",
    },
}


def _classes(annotated: Any) -> set[type]:
    union = typing.get_args(annotated)[0]
    return set(typing.get_args(union))


def test_every_event_type_has_a_sample() -> None:
    """A new event type must come with a sample here (and so with a round-trip check)."""
    assert _classes(events.Command) == set(COMMANDS)
    assert _classes(events.StoredEvent) == set(STORED)
    assert _classes(events.LiveEvent) == set(STORED) | set(EPHEMERAL)


@pytest.mark.parametrize(("cls", "sample"), list(COMMANDS.items()), ids=lambda v: getattr(v, "__name__", ""))
def test_commands_round_trip(cls: type[events.Event], sample: dict[str, Any]) -> None:
    wire = json.dumps(sample).encode()
    parsed = events.parse_command(wire)
    assert type(parsed) is cls
    assert json.loads(events.encode(parsed)) == sample


@pytest.mark.parametrize(("cls", "sample"), list(STORED.items()), ids=lambda v: getattr(v, "__name__", ""))
def test_stored_events_round_trip(cls: type[events.Event], sample: dict[str, Any]) -> None:
    wire = json.dumps(sample).encode()
    for parsed in (
        events.parse_stored_event(wire),
        events.parse_stored_event(sample),
        events.parse_live_event(wire),
    ):
        assert type(parsed) is cls
        assert json.loads(events.encode(parsed)) == sample
        assert parsed.model_dump(mode="json") == sample


@pytest.mark.parametrize(("cls", "sample"), list(EPHEMERAL.items()), ids=lambda v: getattr(v, "__name__", ""))
def test_ephemeral_events_round_trip_and_are_not_stored_events(
    cls: type[events.Event], sample: dict[str, Any]
) -> None:
    wire = json.dumps(sample).encode()
    parsed = events.parse_live_event(wire)
    assert type(parsed) is cls
    assert json.loads(events.encode(parsed)) == sample
    with pytest.raises(pydantic.ValidationError):
        events.parse_stored_event(wire)


def test_unknown_fields_are_ignored_unknown_types_and_versions_refused() -> None:
    sample = {**STORED[events.MessageDeleted], "added_later": True}
    assert type(events.parse_stored_event(json.dumps(sample))) is events.MessageDeleted
    with pytest.raises(pydantic.ValidationError):
        events.parse_stored_event(json.dumps({**sample, "type": "message.exploded"}))
    with pytest.raises(pydantic.ValidationError):
        events.parse_stored_event(json.dumps({**sample, "v": 2}))
    with pytest.raises(pydantic.ValidationError):
        events.parse_command(json.dumps({**COMMANDS[events.DeleteMessage], "type": "message.deleted"}))


@pytest.mark.parametrize(
    "change",
    [
        {"body": "", "attachments": []},  # nothing to send
        {"body": "a\x00b"},  # NUL: PostgreSQL cannot store it
        {"body": "\ud800"},  # a lone surrogate cannot be encoded
        {"body": "x" * 4001},
        {"attachments": [str(uuid.uuid4()) for _ in range(11)]},
        {"client_id": "has space"},
        {"client_id": "x" * 65},
        {"reply_to_seq": 0},
        {"reply_to_seq": 2**63},
        {"issued_at": "2025-11-28T10:11:12"},  # naive
    ],
)
def test_invalid_send_commands_are_refused(change: dict[str, Any]) -> None:
    with pytest.raises(pydantic.ValidationError):
        events.parse_command(json.dumps({**COMMANDS[events.SendMessage], **change}))


def test_audience_of_membership_events() -> None:
    created = events.parse_stored_event(STORED[events.ChatCreated])
    assert events.audience(created) == [USER, OTHER]
    for cls in (events.MemberAdded, events.MemberRemoved, events.MemberRoleChanged):
        assert events.audience(events.parse_stored_event(STORED[cls])) == [OTHER]
    assert events.audience(events.parse_stored_event(STORED[events.MessageDeleted])) == []


def test_topic_names() -> None:
    topics = Topics("prod.chat")
    assert topics.all() == [
        "prod.chat.commands.v1",
        "prod.chat.events.v1",
        "prod.chat.connections.v1",
        "prod.chat.presence.v1",
        "prod.chat.notifications.v1",
        "prod.chat.notifications.dlq.v1",
        "prod.chat.attachments.jobs.v1",
    ]
    assert chat_key(CHAT) == str(CHAT).encode()


def test_timestamps_are_utc_on_the_wire() -> None:
    created = events.parse_stored_event(STORED[events.ChatRenamed])
    assert created.at == datetime(2025, 11, 28, 10, 11, 12, 123456, tzinfo=UTC)
