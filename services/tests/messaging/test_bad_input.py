"""Whatever a client sends, it gets an error frame with a stable code, and the connection and the
process stay healthy (the same connection still works afterwards)."""

from __future__ import annotations

import json
import uuid

import httpx
from parley.testing.wsclient import ChatClient

from tests.messaging.conftest import Platform


async def test_bad_frames_get_stable_error_codes_and_the_connection_stays_usable(platform: Platform) -> None:
    _, socket = platform.start_all("consumer", "socket")
    ada, bob, cy = await platform.people("ada", "bob", "cy")
    chat = await platform.group(ada, bob)
    cys_chat = await platform.group(cy)
    client = await platform.client(socket, ada)

    async def error_for(raw: str | bytes) -> dict[str, object]:
        start = len(client.frames)
        await client.ws.send(raw)
        return await client.expect("error", start=start)

    assert (await error_for("{not json"))["code"] == "bad_json"
    assert (await error_for('"a string"'))["code"] == "bad_frame"
    assert (await error_for("[]"))["code"] == "bad_frame"
    assert (await error_for('{"no": "type"}'))["code"] == "bad_frame"
    assert (await error_for('{"type": "teleport"}'))["code"] == "unknown_type"
    assert (await error_for(b"\x00\x01binary"))["code"] == "bad_frame"
    missing = await error_for(json.dumps({"type": "send", "chat_id": chat}))
    assert missing["code"] == "bad_frame" and missing["details"]
    not_uuid = await error_for(json.dumps({"type": "send", "chat_id": "x", "client_id": "c", "body": "b"}))
    assert not_uuid["code"] == "bad_frame"
    empty = await error_for(json.dumps({"type": "send", "chat_id": chat, "client_id": "e1", "body": "  "}))
    assert empty["code"] == "bad_frame" and empty["client_id"] == "e1"
    nul = await error_for(
        json.dumps({"type": "send", "chat_id": chat, "client_id": "n1", "body": "a\u0000b"})
    )
    assert nul["code"] == "bad_frame"

    # Over the soft limit: refused with an error, connection kept.
    big = json.dumps({"type": "send", "chat_id": chat, "client_id": "big", "body": "x" * 20_000})
    too_big = await error_for(big)
    assert too_big["code"] == "frame_too_large" and not too_big["retryable"]

    # Not a member: refused by the socket, nothing reaches Kafka.
    foreign = await error_for(
        json.dumps({"type": "send", "chat_id": cys_chat, "client_id": "f1", "body": "hi"})
    )
    assert foreign["code"] == "not_a_member" and foreign["client_id"] == "f1"
    nowhere = await error_for(
        json.dumps({"type": "send", "chat_id": str(uuid.uuid4()), "client_id": "f2", "body": "hi"})
    )
    assert nowhere["code"] == "not_a_member"
    typing = await error_for(json.dumps({"type": "typing", "chat_id": cys_chat}))
    assert typing["code"] == "not_a_member"

    # Still the same healthy connection: a ping and a real message go through.
    await client.send_json({"type": "ping", "ref": "r1"})
    assert (await client.expect("pong"))["ref"] == "r1"
    client_id = await client.send_message(chat, "still here")
    await client.expect("accepted", lambda f: f["client_id"] == client_id)
    await client.wait_until(lambda: len(client.messages(chat)) == 1, what="the message")
    assert await platform.stored(chat) == [(2, client_id, ada.id)]
    assert await platform.stored(cys_chat) == []

    # Above the hard limit the server closes, after saying why; the process is fine.
    start = len(client.frames)
    await client.ws.send(json.dumps({"type": "send", "body": "y" * 70_000}))
    await client.expect("error", lambda f: f["code"] == "frame_too_large", start=start)
    await client.wait_until(lambda: client.closed.done(), what="the close")
    assert client.ws.close_code == 1009
    async with httpx.AsyncClient() as http:
        assert (await http.get(f"{socket.url}/healthz", timeout=5)).json() == {
            "status": "ok",
            "stopped": [],
            "kafka": True,
        }
        metrics = (await http.get(f"{socket.url}/metrics", timeout=5)).text
        assert 'socket_errors_total{code="bad_json"} 1.0' in metrics
        assert (await http.get(f"{socket.url}/nothing-here", timeout=5)).status_code == 404
    again = await platform.client(socket, ada)
    assert again.hello is not None


async def test_tokens_are_checked_without_ever_being_in_the_url(platform: Platform) -> None:
    _, socket = platform.start_all("consumer", "socket")
    (ada,) = await platform.people("ada")
    chat = await platform.group(ada)

    # Each way a token may travel works.
    for via in ("frame", "subprotocol", "header"):
        client = await platform.client(socket, ada, via=via)
        assert client.hello is not None and client.hello["user_id"] == str(ada.id), via
        assert [c["chat_id"] for c in client.hello["chats"]] == [chat]

    # Before authenticating, only auth and ping are taken.
    anonymous = await ChatClient.connect(socket.ws_url, None, name="anon")
    platform.clients.append(anonymous)
    await anonymous.send_json({"type": "send", "chat_id": chat, "client_id": "a1", "body": "hi"})
    assert (await anonymous.expect("error"))["code"] == "not_authenticated"

    # An expired token: a stable code, and the connection waits for a good one.
    expired = platform.signer.token(ada.id, "ada", ttl=-120)
    await anonymous.send_json({"type": "auth", "token": expired})
    assert (await anonymous.expect("error", lambda f: f["frame_type"] == "auth"))["code"] == "token_expired"
    start = len(anonymous.frames)
    await anonymous.send_json({"type": "auth", "token": "not.a.jwt"})
    assert (await anonymous.expect("error", start=start))["code"] == "invalid_token"
    await anonymous.send_json({"type": "auth", "token": ada.token})
    hello = await anonymous.expect("hello")
    assert hello["user_id"] == str(ada.id) and hello["protocol"] == 1

    # A token signed by someone else's key.
    from parley.testing.tokens import Signer

    forged = Signer("messaging-test-key").token(ada.id, "ada")  # same kid, other key
    stranger = await ChatClient.connect(socket.ws_url, None, name="forger")
    platform.clients.append(stranger)
    await stranger.send_json({"type": "auth", "token": forged})
    assert (await stranger.expect("error"))["code"] == "invalid_token"

    # A fresher token on an open connection keeps it open past the old token's expiry.
    start = len(anonymous.frames)
    await anonymous.send_json({"type": "auth", "token": platform.signer.token(ada.id, "ada", ttl=3600)})
    renewed = await anonymous.expect("authenticated", start=start)
    assert renewed["expires_at"] > hello["expires_at"]

    # Too many failed attempts close the connection (4401).
    for _ in range(3):
        await stranger.send_json({"type": "auth", "token": "garbage"})
    await stranger.wait_until(lambda: stranger.closed.done(), what="the close")
    assert stranger.ws.close_code == 4401
