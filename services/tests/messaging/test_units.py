"""The socket's and consumer's pure parts: frame parsing, framing, RESP, rate limits, ids."""

from __future__ import annotations

import json
import ssl
import uuid
from datetime import UTC, datetime

import pytest
from aiokafka.partitioner import DefaultPartitioner
from hypothesis import given
from hypothesis import strategies as st
from parley.common.chat.store import Rejected, Stored
from parley.common.events import MessageCreated, MessageData
from parley.common.kafka import CachingPartitioner
from parley.consumer.publish import unique_events
from parley.socket import protocol
from parley.socket.chat_commands import command_id
from parley.socket.protocol import FrameError, parse_client_frame
from parley.socket.pubsub import RedisUnavailable, Subscriber, _Connection, tls_context
from parley.socket.ratelimit import TokenBucket
from parley.socket.wsserver import handshake_token, select_subprotocol, text_frame
from websockets.datastructures import Headers
from websockets.exceptions import NegotiationError
from websockets.frames import Frame, Opcode
from websockets.typing import Subprotocol

from tests.factories import send

CHAT = str(uuid.uuid4())


@pytest.mark.parametrize(
    ("raw", "code"),
    [
        ("{", "bad_json"),
        ("", "bad_json"),
        ("null", "bad_frame"),
        ("42", "bad_frame"),
        ('{"type": 1}', "unknown_type"),
        ('{"type": "nope"}', "unknown_type"),
        ("{}", "bad_frame"),
        ('{"type": "send"}', "bad_frame"),
        ('{"type": "read", "chat_id": "' + CHAT + '", "seq": -1}', "bad_frame"),
        ('{"type": "send", "chat_id": "' + CHAT + '", "client_id": "has space", "body": "x"}', "bad_frame"),
        ('{"type": "ping", "ref": "' + "r" * 65 + '"}', "bad_frame"),
    ],
)
def test_bad_frames_map_to_stable_codes(raw: str, code: str) -> None:
    with pytest.raises(FrameError) as caught:
        parse_client_frame(raw)
    assert caught.value.code == code


@given(st.binary(max_size=200))
def test_any_bytes_parse_or_fail_with_a_frame_error(raw: bytes) -> None:
    try:
        parse_client_frame(raw)
    except FrameError as exc:
        assert exc.code in {"bad_json", "bad_frame", "unknown_type"}


def test_good_frames_parse_and_unknown_fields_are_ignored() -> None:
    frame = parse_client_frame(
        json.dumps({"type": "send", "chat_id": CHAT, "client_id": "a.b:c-1", "body": "hi", "future": 1})
    )
    assert isinstance(frame, protocol.SendFrame) and frame.body == "hi"
    sync = parse_client_frame(json.dumps({"type": "sync", "chats": {CHAT: 4}}))
    assert isinstance(sync, protocol.SyncFrame) and sync.chats == {uuid.UUID(CHAT): 4}


def test_server_frames_are_compact_json() -> None:
    error = json.loads(protocol.error_frame("unavailable", "try again", client_id="c", retry_after_ms=5))
    assert error == {
        "type": "error",
        "code": "unavailable",
        "message": "try again",
        "retryable": True,
        "client_id": "c",
        "retry_after_ms": 5,
    }
    event = json.loads(protocol.event_frame(b'{"type":"message.created","seq":3}'))
    assert event == {"type": "event", "event": {"type": "message.created", "seq": 3}}


@pytest.mark.parametrize("size", [0, 1, 125, 126, 127, 65535, 65536, 70000])
def test_text_frames_match_the_reference_serializer(size: int) -> None:
    payload = b"x" * size
    assert text_frame(payload) == Frame(Opcode.TEXT, payload).serialize(mask=False)


def test_tokens_come_from_the_subprotocol_or_the_header_never_the_url() -> None:
    assert handshake_token(Headers([("Sec-WebSocket-Protocol", "parley.v1, parley.token.a.b.c")])) == "a.b.c"
    assert handshake_token(Headers([("Authorization", "Bearer t0k")])) == "t0k"
    assert handshake_token(Headers([("Authorization", "Basic abc")])) is None
    assert handshake_token(Headers()) is None


def test_subprotocol_negotiation() -> None:
    def select(*offered: str) -> Subprotocol | None:
        return select_subprotocol(None, [Subprotocol(o) for o in offered])  # type: ignore[arg-type]

    assert select("parley.v1") == "parley.v1"
    assert select("parley.token.x", "parley.v1") == "parley.v1"
    assert select() is None
    assert select("parley.token.x") is None
    with pytest.raises(NegotiationError):
        select("parley.v2")


async def test_the_subscriber_takes_messages_cut_anywhere_and_error_replies() -> None:
    got: list[tuple[bytes, bytes]] = []
    subscriber = Subscriber("redis://127.0.0.1:1", lambda channel, data: got.append((channel, data)))
    subscriber.refs[b"chan"] = 1
    replies: list[object] = []
    subscriber._reply = lambda value: (replies.append(value), Subscriber._reply(subscriber, value))  # type: ignore[method-assign]
    message = b"*3\r\n$7\r\nmessage\r\n$4\r\nchan\r\n$5\r\nhello\r\n"
    conn = _Connection(subscriber)
    for byte in message * 2 + b"-ERR no\r\n":
        conn.data_received(bytes([byte]))
    assert got == [(b"chan", b"hello")] * 2
    assert isinstance(replies[-1], RedisUnavailable) and str(replies[-1]) == "ERR no"


def test_rediss_urls_get_tls() -> None:
    assert tls_context("redis", {}) is None
    strict = tls_context("rediss", {})
    assert strict is not None and strict.check_hostname and strict.verify_mode == ssl.CERT_REQUIRED
    lax = tls_context("rediss", {"ssl_cert_reqs": ["none"]})
    assert lax is not None and not lax.check_hostname and lax.verify_mode == ssl.CERT_NONE


def test_token_bucket_allows_a_burst_then_the_rate() -> None:
    bucket = TokenBucket(rate=10, burst=3)
    now = bucket.stamp
    assert [bucket.take(now) for _ in range(3)] == [0.0, 0.0, 0.0]
    assert bucket.take(now) == pytest.approx(0.1)
    assert bucket.take(now + 0.1) == 0.0


def test_command_ids_are_stable_per_user_and_client_id() -> None:
    ada, bob = uuid.uuid4(), uuid.uuid4()
    assert command_id(ada, "x") == command_id(ada, "x")
    assert command_id(ada, "x") != command_id(bob, "x")
    assert command_id(ada, "x") != command_id(ada, "y")


def test_a_batch_publishes_each_stored_event_once_and_no_rejection_as_stored() -> None:
    chat, user = uuid.uuid4(), uuid.uuid4()
    first, resend = send(chat, user, client_id="c"), send(chat, user, client_id="c")
    now = datetime.now(UTC)
    event = MessageCreated(
        chat_id=chat,
        seq=2,
        actor_id=user,
        at=now,
        command_id=first.command_id,
        message=MessageData(seq=2, sender_id=user, client_id="c", body="hello", created_at=now),
    )
    outcomes = [
        Stored(first, event),
        Stored(resend, event, duplicate=True),
        Rejected(send(chat, user), "not_a_member", "no"),
    ]
    assert unique_events(outcomes) == [event]


def test_presence_frames_parse_and_build() -> None:
    user = uuid.uuid4()
    watch = parse_client_frame(json.dumps({"type": "watch", "user_ids": [str(user), str(user)]}))
    assert isinstance(watch, protocol.WatchFrame) and watch.user_ids == [user, user]
    status = parse_client_frame('{"type": "status", "status": "away"}')
    assert isinstance(status, protocol.StatusFrame) and status.status == "away"
    frame = json.loads(protocol.presence_frame([(user, "online", "2030-01-01T00:00:00Z", 3)]))
    assert frame == {
        "type": "presence",
        "users": [
            {"user_id": str(user), "status": "online", "last_seen": "2030-01-01T00:00:00Z", "version": 3}
        ],
    }


@given(st.binary(min_size=1, max_size=64), st.integers(min_value=1, max_value=64))
def test_the_caching_partitioner_partitions_like_kafkas_default(key: bytes, count: int) -> None:
    partitions = list(range(count))
    cached = CachingPartitioner(size=4)
    assert cached(key, partitions, partitions) == DefaultPartitioner()(key, partitions, partitions)
    assert cached(key, partitions, partitions) == DefaultPartitioner()(key, partitions, partitions)


@given(st.text(max_size=50))
def test_the_fast_multiline_check_refuses_exactly_what_the_slow_one_does(text: str) -> None:
    from parley.common.text import _refuse, multiline

    try:
        _refuse(text, frozenset({"Cc", "Cs"}), allowed="\n\t")
        slow_ok = True
    except ValueError:
        slow_ok = False
    try:
        multiline(text)
        fast_ok = True
    except ValueError:
        fast_ok = False
    assert fast_ok == slow_ok


def test_the_fast_multiline_check_at_the_edges_of_the_ranges() -> None:
    from parley.common.text import _refuse, multiline

    edges = [
        *map(chr, range(0x00, 0x21)),
        *map(chr, range(0x7E, 0xA1)),
        "\ud7ff",
        "\ud800",
        "\udfff",
        "\ue000",
    ]
    for char in edges:
        text = f"a{char}b"
        try:
            _refuse(text, frozenset({"Cc", "Cs"}), allowed="\n\t")
            expected = True
        except ValueError:
            expected = False
        try:
            multiline(text)
            got = True
        except ValueError:
            got = False
        assert got == expected, hex(ord(char))
