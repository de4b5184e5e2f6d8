"""Commands end to end: resends stored once, edits/deletes/reactions with seqs of their own,
rejections from the consumer, typing and read positions, membership changes while connected."""

from __future__ import annotations

import json
import uuid

import redis.asyncio as aioredis
from parley.api.membership import add_members, remove_member
from parley.common.chat.publish import EventPublisher
from parley.common.kafka import KafkaProducer
from parley.testing.waiting import holds

from tests.messaging.conftest import Platform


async def test_a_resend_with_the_same_client_id_is_stored_once_with_the_same_id_and_seq(
    platform: Platform,
) -> None:
    _, left, right = platform.start_all("consumer", "socket", "socket")
    ada, bob = await platform.people("ada", "bob")
    chat = await platform.group(ada, bob)
    ada_client = await platform.client(left, ada)
    bob_client = await platform.client(right, bob)

    # Three sends of one message back to back (a client retrying before any answer), then one
    # more after it was stored, from another connection of the same user on another process.
    for _ in range(3):
        await ada_client.send_message(chat, "once", client_id="same-id")
    await bob_client.wait_until(lambda: len(bob_client.messages(chat)) == 1, what="the message")
    other_device = await platform.client(right, ada, name="ada-2")
    await other_device.send_message(chat, "once", client_id="same-id")
    resent = await other_device.expect("accepted")
    await ada_client.wait_until(
        lambda: sum(f["type"] == "accepted" for f in ada_client.frames) == 3, what="three accepts"
    )
    # A later message shows that nothing else arrived in between.
    marker = await ada_client.send_message(chat, "after")
    await bob_client.wait_until(lambda: len(bob_client.messages(chat)) == 2, what="the marker")

    accepts = [f for f in ada_client.frames if f["type"] == "accepted" and f["client_id"] == "same-id"]
    ids = {f["id"] for f in [*accepts, resent]}
    assert len(ids) == 1
    (message_id,) = ids
    stored = await platform.stored(chat)
    assert stored == [(2, "same-id", ada.id), (3, marker, ada.id)]
    for client in (ada_client, bob_client):
        first = client.messages(chat)[0]
        assert first["seq"] == 2 and first["command_id"] == message_id
        assert first["message"]["client_id"] == "same-id"
        assert client.duplicates == 0
    # A client that reconnects from before the message gets it once, with the same seq.
    late = await platform.client(left, bob, name="bob-late", resume={chat: 1})
    await late.expect("synced")
    assert [m["seq"] for m in late.messages(chat)] == [2, 3]
    assert late.messages(chat)[0]["command_id"] == message_id


async def test_edits_deletes_and_reactions_take_the_same_path_and_get_seqs(platform: Platform) -> None:
    _, socket = platform.start_all("consumer", "socket")
    ada, bob = await platform.people("ada", "bob")
    chat = await platform.group(ada, bob)
    ada_client = await platform.client(socket, ada)
    bob_client = await platform.client(socket, bob)

    await ada_client.send_message(chat, "first draft", client_id="m1")
    await bob_client.wait_until(lambda: len(bob_client.events.get(chat, [])) == 1, what="the message")
    seq = bob_client.events[chat][0]["seq"]
    await ada_client.send_json(
        {"type": "edit", "chat_id": chat, "client_id": "e1", "message_seq": seq, "body": "final"}
    )
    await bob_client.send_json(
        {"type": "react", "chat_id": chat, "client_id": "r1", "message_seq": seq, "emoji": "🎉"}
    )
    await bob_client.wait_until(lambda: len(bob_client.events[chat]) == 3, what="edit and reaction")
    # Not bob's message to edit: the consumer refuses, bob hears why.
    await bob_client.send_json(
        {"type": "edit", "chat_id": chat, "client_id": "e2", "message_seq": seq, "body": "mine"}
    )
    refused = await bob_client.expect("error", lambda f: f["code"] == "not_your_message")
    assert refused["chat_id"] == chat and refused["id"]
    await ada_client.send_json({"type": "delete", "chat_id": chat, "client_id": "d1", "message_seq": seq})
    await bob_client.wait_until(lambda: len(bob_client.events[chat]) == 4, what="the deletion")
    # Ada's frames come on her own connection, in their own time.
    await ada_client.wait_until(lambda: len(ada_client.events.get(chat, [])) == 4, what="ada's deletion")

    kinds = [(e["type"], e["seq"]) for e in bob_client.events[chat]]
    assert kinds == [
        ("message.created", seq),
        ("message.edited", seq + 1),
        ("reaction.added", seq + 2),
        ("message.deleted", seq + 3),
    ]
    assert await platform.change_seqs(chat) == list(range(1, seq + 4))
    assert [e["type"] for e in ada_client.events[chat]] == [k for k, _ in kinds]

    # Typing: others hear it, throttled, never stored. Read positions: every device hears them.
    for _ in range(5):
        await bob_client.send_json({"type": "typing", "chat_id": chat})
    typing = await ada_client.expect("typing")
    assert typing == {"type": "typing", "chat_id": chat, "user_id": str(bob.id)}
    await bob_client.send_json({"type": "read", "chat_id": chat, "seq": seq + 3})
    read = await ada_client.expect("read")
    assert read == {"type": "read", "chat_id": chat, "user_id": str(bob.id), "last_read_seq": seq + 3}
    await bob_client.expect("read")
    await holds(
        lambda: sum(f["type"] == "typing" for f in ada_client.frames),
        lambda typings: typings == 1,
        seconds=0.5,
        reason="the four throttled typing frames went before the read ada already got",
    )
    assert bob_client.find("typing") is None
    assert await platform.change_seqs(chat) == list(range(1, seq + 4))


async def test_membership_changes_reach_connected_users_and_their_permissions(platform: Platform) -> None:
    _, socket = platform.start_all("consumer", "socket")
    ada, bob = await platform.people("ada", "bob")
    chat = await platform.group(ada)
    ada_client = await platform.client(socket, ada)
    bob_client = await platform.client(socket, bob)
    assert bob_client.hello is not None and bob_client.hello["chats"] == []

    redis = aioredis.from_url(platform.env["PARLEY_REDIS_URL"])
    producer = KafkaProducer(platform.env["PARLEY_KAFKA_BOOTSTRAP"], client_id="test-api")
    publisher = EventPublisher(redis, platform.env["PARLEY_REDIS_KEY_PREFIX"], producer, platform.topics)
    try:
        # What the api does when ada adds bob: store, then publish (its outbox drainer).
        async with platform.engine.connect() as conn:
            _, events = await add_members(conn, ada.id, uuid.UUID(chat), [bob.id], max_members=100)
        await publisher.publish(events)
        await bob_client.wait_until(lambda: chat in bob_client.events, what="member.added")
        added = bob_client.events[chat][0]
        assert added["type"] == "member.added" and added["user_id"] == str(bob.id)
        client_id = await bob_client.send_message(chat, "hi, thanks for adding me")
        await bob_client.expect("accepted", lambda f: f["client_id"] == client_id)
        await ada_client.wait_until(lambda: len(ada_client.messages(chat)) == 1, what="bob's message")

        async with platform.engine.connect() as conn:
            events = await remove_member(conn, ada.id, uuid.UUID(chat), bob.id)
        await publisher.publish(events)
        await bob_client.wait_until(
            lambda: bob_client.events[chat][-1]["type"] == "member.removed", what="member.removed"
        )
        start = len(bob_client.frames)
        await bob_client.send_json({"type": "send", "chat_id": chat, "client_id": "late", "body": "?"})
        assert (await bob_client.expect("error", start=start))["code"] == "not_a_member"
        # And bob no longer hears the chat.
        await ada_client.send_message(chat, "bye")
        await ada_client.wait_until(lambda: len(ada_client.messages(chat)) == 2, what="ada's message")
        await holds(
            lambda: len(bob_client.messages(chat)),
            lambda count: count == 1,
            seconds=0.3,
            reason="ada already got her own 'bye', published to the same chat channel",
        )
    finally:
        await producer.stop()
        await redis.aclose()
    assert json.dumps(bob_client.frames)  # every frame was JSON
