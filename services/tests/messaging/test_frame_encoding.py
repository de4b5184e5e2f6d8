"""Server frames are encoded with orjson (issue 16: the socket's CPU per message); the bytes are
those the standard library's encoder wrote before (compact, UTF-8, `default=str`), checked over
generated frames. Floats are the one exception: orjson writes the shortest form that reads back
the same number (`1e16` where Python writes `1e+16`), so with floats the JSON is equal, not the
bytes."""

from __future__ import annotations

import json
import uuid
from datetime import UTC, datetime
from typing import Any
from unittest import mock

from hypothesis import given
from hypothesis import strategies as st
from parley.socket import protocol


def previous_dump(frame: dict[str, Any]) -> bytes:
    """The encoding before orjson (protocol._dump as it was)."""
    return json.dumps(frame, separators=(",", ":"), ensure_ascii=False, default=str).encode()


def previous(builder: Any, *args: Any, **kwargs: Any) -> bytes:
    with mock.patch.object(protocol, "_dump", previous_dump):
        result: bytes = builder(*args, **kwargs)
    return result


text = st.text(st.characters(blacklist_categories=("Cs",)))  # lone surrogates are no UTF-8 either way
scalars = (
    st.none()
    | st.booleans()
    | st.integers()  # beyond 64 bits too: orjson refuses them, the encoder falls back
    | text
    | st.uuids()
    | st.datetimes(timezones=st.just(UTC))  # default=str: '2026-01-01 00:00:00+00:00', as before
)
json_like = st.recursive(
    scalars,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(text, inner, max_size=4),
    max_leaves=20,
)
finite = st.floats(allow_nan=False, allow_infinity=False)


@given(st.dictionaries(text, json_like, max_size=6))
def test_frames_without_floats_are_the_same_bytes(frame: dict[str, Any]) -> None:
    assert protocol._dump(frame) == previous_dump(frame)


@given(st.dictionaries(text, json_like | finite, max_size=6))
def test_frames_with_floats_are_the_same_json(frame: dict[str, Any]) -> None:
    assert json.loads(protocol._dump(frame)) == json.loads(previous_dump(frame))


@given(finite)
def test_floats_read_back_the_same(value: float) -> None:
    assert json.loads(protocol._dump({"x": value}))["x"] == value


@given(
    code=text,
    message=text,
    client_id=st.none() | text,
    chat_id=st.none() | st.uuids() | text,
    command_id=st.none() | st.uuids(),
    frame_type=st.none() | text,
    retry_after_ms=st.none() | st.integers(min_value=0, max_value=2**40),
    details=st.none() | json_like,
)
def test_error_frames_are_the_same_bytes(**kwargs: Any) -> None:
    code, message = kwargs.pop("code"), kwargs.pop("message")
    expected = previous(protocol.error_frame, code, message, **kwargs)
    assert protocol.error_frame(code, message, **kwargs) == expected


@given(text, st.uuids(), st.uuids(), text, text, st.integers(min_value=0, max_value=2**62))
def test_the_other_frames_are_the_same_bytes(
    client_id: str, chat_id: uuid.UUID, cid: uuid.UUID, a: str, b: str, seq: int
) -> None:
    for builder, args in [
        (protocol.accepted_frame, (client_id, chat_id, cid)),
        (protocol.typing_frame, (a, b)),
        (protocol.read_frame, (a, b, seq)),
        (protocol.synced_frame, ({chat_id: seq, cid: 0},)),
        (protocol.authenticated_frame, (seq,)),
        (protocol.presence_frame, ([protocol.PresenceEntry(chat_id, "online", a, seq)],)),
    ]:
        assert builder(*args) == previous(builder, *args)


@given(st.none() | text, st.floats(min_value=0, max_value=4e9))
def test_pong_frames_are_the_same_json(ref: str | None, server_time: float) -> None:
    assert json.loads(protocol.pong_frame(ref, server_time)) == json.loads(
        previous(protocol.pong_frame, ref, server_time)
    )


def test_hello_frames_are_the_same_bytes() -> None:
    kwargs: dict[str, Any] = {
        "connection_id": uuid.uuid4().hex,
        "user_id": uuid.uuid4(),
        "expires_at": int(datetime.now(UTC).timestamp()),
        "chats": [(uuid.uuid4(), 12, 10), (uuid.uuid4(), 0, 0)],
        "heartbeat_seconds": 25.0,
        "limits": {"max_frame_bytes": 16384, "commands_per_second": 5.0, "typing_interval_seconds": 3.0},
    }
    assert protocol.hello_frame(**kwargs) == previous(protocol.hello_frame, **kwargs)
