"""Live delivery across socket processes, in seq order, to every device of every member."""

from __future__ import annotations

import asyncio

from tests.messaging.conftest import Platform


async def test_a_message_sent_through_one_socket_reaches_members_on_another_in_seq_order(
    platform: Platform,
) -> None:
    _, left, right = platform.start_all("consumer", "socket", "socket")
    ada, bob, cy = await platform.people("ada", "bob", "cy")
    chat = await platform.group(ada, bob, cy)

    sender = await platform.client(left, ada)
    bob_here = await platform.client(left, bob, name="bob-left")
    bob_there = await platform.client(right, bob, name="bob-right")
    cy_there = await platform.client(right, cy)
    receivers = [sender, bob_here, bob_there, cy_there]

    client_ids = [await sender.send_message(chat, f"message {i}") for i in range(50)]

    for client in receivers:
        await client.wait_until(lambda c=client: len(c.messages(chat)) == 50, within=20, what="50 messages")
    expected = [m["message"]["client_id"] for m in sender.messages(chat)]
    assert sorted(expected) == sorted(client_ids)
    first_seq = sender.messages(chat)[0]["seq"]
    for client in receivers:
        got = client.messages(chat)
        assert [m["message"]["client_id"] for m in got] == expected, client.name
        assert [m["seq"] for m in got] == list(range(first_seq, first_seq + 50)), client.name
        assert client.out_of_order == [] and client.duplicates == 0, client.name
    # Accepted on Kafka's ack, delivered through the consumer: two paths, either may be first.
    await sender.wait_until(
        lambda: sum(f["type"] == "accepted" for f in sender.frames) >= 50, within=20, what="50 accepted"
    )
    accepted = [f for f in sender.frames if f["type"] == "accepted"]
    assert sorted(f["client_id"] for f in accepted) == sorted(client_ids)
    stored = await platform.stored(chat)
    assert [client_id for _, client_id, _ in stored] == expected
    await asyncio.sleep(0)
