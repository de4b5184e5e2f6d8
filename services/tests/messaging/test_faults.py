"""The guarantees under faults, with real processes killed for real (SIGKILL: no shutdown code runs).

- The consumer killed twice while 2,000 messages flow in 20 chats: every accepted message stored
  exactly once, each chat's seqs without a gap, every connected member gets all of them in order.
- A socket process killed mid-stream: its clients reconnect to another and, from their last seqs,
  get exactly what they missed; unanswered sends, sent again, are stored once.
- Kafka stopped and started: sends meanwhile get a retryable error, never an `accepted`; nothing
  that was accepted is lost.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
import uuid
from typing import Any

import httpx
import pytest
from parley.devstack.stack import Stack
from parley.testing.waiting import eventually
from parley.testing.wsclient import ChatClient, Sender

from tests.messaging.conftest import Person, Platform

pytestmark = pytest.mark.timeout(240)


async def paced(count: int, per_second: float) -> None:
    """Sleep so that `count` things at `per_second` take their time (used between sends)."""
    await asyncio.sleep(count / per_second)


def assert_exact_delivery(client: ChatClient, chat: str, expected: list[str]) -> None:
    got = [m["message"]["client_id"] for m in client.messages(chat)]
    assert got == expected, f"{client.name}: {len(got)} of {len(expected)} in {chat}"
    assert client.out_of_order == [], client.name
    assert client.duplicates == 0, client.name


async def test_consumer_killed_twice_while_2000_messages_flow(platform: Platform) -> None:
    consumer, *sockets = platform.start_all("consumer", "socket", "socket")
    people = await platform.people(*(f"user{i}" for i in range(10)))
    chats: list[tuple[str, list[Person]]] = []
    for i in range(20):
        members = [people[i % 10], people[(i + 1) % 10], people[(i + 3) % 10]]
        chats.append((await platform.group(*members, title=f"chat {i}"), members))
    clients = {person.id: await platform.client(sockets[n % 2], person) for n, person in enumerate(people)}
    senders = {person.id: Sender(clients[person.id]) for person in people}

    per_chat, rate = 100, 200.0  # 2,000 messages over ~10 s

    async def send_all(chat: str, members: list[Person]) -> list[str]:
        ids = []
        for n in range(per_chat):
            sender = senders[members[n % len(members)].id]
            ids.append(await sender.send(chat, f"message {n}"))
            await paced(len(chats), rate)
        return ids

    async def kill_twice() -> None:
        for pause in (2.5, 3.0):
            await asyncio.sleep(pause)
            consumer.kill()
            await asyncio.sleep(1.0)
            await asyncio.to_thread(consumer.start)

    started = time.monotonic()
    sent, _ = await asyncio.gather(
        asyncio.gather(*(send_all(chat, members) for chat, members in chats)), kill_twice()
    )
    for sender in senders.values():
        await sender.all_accepted(within=60)
    accepted = {cid for sender in senders.values() for cid in sender.accepted}
    assert len(accepted) == 2000
    # Accepted means Kafka has it; stored and delivered follows. Wait for every member to have
    # every message, then compare with what was stored.
    for chat, members in chats:
        for person in members:
            client = clients[person.id]
            await client.wait_until(
                lambda c=client, ch=chat: len(c.messages(ch)) >= per_chat, within=60, what=f"{chat}"
            )

    for (chat, members), client_ids in zip(chats, sent, strict=True):
        stored = await platform.stored(chat)
        stored_ids = [client_id for _, client_id, _ in stored]
        assert sorted(stored_ids) == sorted(client_ids), chat  # each accepted one, once
        assert [seq for seq, _, _ in stored] == list(range(2, per_chat + 2)), chat
        assert await platform.change_seqs(chat) == list(range(1, per_chat + 2)), chat
        for person in members:
            assert_exact_delivery(clients[person.id], chat, stored_ids)
    print(f"2,000 messages, consumer killed twice: all delivered in {time.monotonic() - started:.1f} s")


async def test_clients_of_a_killed_socket_catch_up_exactly_on_another(platform: Platform) -> None:
    _, doomed, survivor = platform.start_all("consumer", "socket", "socket")
    steady, moving, watcher1, watcher2 = await platform.people("steady", "moving", "watcher1", "watcher2")
    chat = await platform.group(steady, moving, watcher1, watcher2)
    steady_sender = Sender(await platform.client(survivor, steady))
    moving_sender = Sender(await platform.client(doomed, moving))
    watchers = [await platform.client(doomed, w) for w in (watcher1, watcher2)]

    async def stream(sender: Sender, count: int, per_second: float) -> None:
        for n in range(count):
            await sender.send(chat, f"{n}")
            await paced(1, per_second)

    async def kill_and_move() -> list[tuple[ChatClient, int]]:
        await asyncio.sleep(1.0)
        doomed.kill()
        moved = []
        for old in watchers:
            await old.wait_until(lambda o=old: o.closed.done(), what="the lost connection")
            resume_from = old.last_seq[chat]
            new = await platform.client(
                survivor, watcher1 if old is watchers[0] else watcher2, resume={chat: resume_from}
            )
            moved.append((new, resume_from))
        await moving_sender.client.wait_until(
            lambda: moving_sender.client.closed.done(), what="the lost connection"
        )
        moving_sender.attach(await platform.client(survivor, moving, name="moving-2"))
        return moved

    _, _, moved = await asyncio.gather(
        stream(steady_sender, 300, 100.0), stream(moving_sender, 100, 50.0), kill_and_move()
    )
    await steady_sender.all_accepted()
    await moving_sender.all_accepted()
    for new, _ in moved:  # accepted is Kafka's ack; stored and delivered comes right after
        await new.wait_until(lambda n=new: n.last_seq[chat] >= 401, within=30, what="all 400")
    stored_ids = [client_id for _, client_id, _ in await platform.stored(chat)]
    assert len(stored_ids) == 400 == len(set(stored_ids))
    assert set(stored_ids) == set(steady_sender.accepted) | set(moving_sender.accepted)

    for old, (new, resume_from) in zip(watchers, moved, strict=True):
        before = [m["message"]["client_id"] for m in old.messages(chat)]
        after = [m["message"]["client_id"] for m in new.messages(chat)]
        # Exactly what it missed: from the seq after its last one, nothing twice, nothing left out.
        assert new.messages(chat)[0]["seq"] == resume_from + 1
        assert new.duplicates == 0 and new.out_of_order == []
        assert before + after == stored_ids
        assert new.find("synced") is not None


@pytest.mark.disruptive  # stops the dev stack's Kafka, which every other test shares
async def test_kafka_outage_answers_retryable_errors_and_loses_nothing_accepted(platform: Platform) -> None:
    _, socket = platform.start_all("consumer", "socket")
    ada, bob = await platform.people("ada", "bob")
    chat = await platform.group(ada, bob)
    ada_client = await platform.client(socket, ada)
    bob_client = await platform.client(socket, bob)
    sender = Sender(ada_client)

    before = [await sender.send(chat, f"before {n}") for n in range(10)]
    await sender.all_accepted()

    kafka = Stack().component("kafka")
    during: list[str] = []
    answers: dict[str, dict[str, object]] = {}
    try:
        await asyncio.to_thread(kafka.down)
        start = len(ada_client.frames)
        for n in range(5):
            client_id = uuid.uuid4().hex
            during.append(client_id)
            await ada_client.send_message(chat, f"during {n}", client_id)
        await ada_client.wait_until(
            lambda: all(
                ada_client.find(kind, lambda f, c=c: f.get("client_id") == c, start)
                for c in during
                for kind in ("error",)
            ),
            within=15,
            what="an answer to every send during the outage",
        )
        for client_id in during:
            answers[client_id] = (
                ada_client.find("error", lambda f, c=client_id: f.get("client_id") == c, start) or {}
            )
        # Nothing was accepted while Kafka was away.
        assert ada_client.find("accepted", lambda f: f["client_id"] in during, start) is None
        # The socket keeps serving what does not need Kafka.
        late = await platform.client(socket, bob, name="bob-2")
        assert late.hello is not None
    finally:
        await asyncio.to_thread(kafka.up)

    assert {a["code"] for a in answers.values()} == {"unavailable"}
    assert all(a["retryable"] for a in answers.values())
    # The client sends them again, same client_ids; plus new ones.
    for n, client_id in enumerate(during):
        await sender.send(chat, f"during {n}", client_id)
    after = [await sender.send(chat, f"after {n}") for n in range(10)]
    await sender.all_accepted(within=90)

    accepted = set(sender.accepted)
    assert accepted == set(before) | set(during) | set(after)
    await bob_client.wait_until(lambda: len(bob_client.messages(chat)) == 25, within=60, what="25 messages")
    stored_ids = [client_id for _, client_id, _ in await platform.stored(chat)]
    assert sorted(stored_ids) == sorted(accepted)  # nothing accepted lost, nothing twice
    assert [m["message"]["client_id"] for m in bob_client.messages(chat)] == stored_ids
    with contextlib.suppress(Exception):
        await late.close()


async def test_a_killed_consumer_stores_again_within_seconds_of_its_start(platform: Platform) -> None:
    """Issue 18's fast takeover: SIGKILL the consumer while commands flow, start it again (same
    static member id), and measure where the time to its first stored message goes."""
    consumer, socket = platform.start_all("consumer", "socket")
    ada, bob = await platform.people("ada", "bob")
    chat = await platform.group(ada, bob)
    sender = Sender(await platform.client(socket, ada))
    stop = asyncio.Event()

    async def steady() -> None:
        n = 0
        while not stop.is_set():
            if len(sender.pending) < 20:
                await sender.send(chat, f"m{n}")
                n += 1
            await asyncio.sleep(0.02)

    traffic = asyncio.create_task(steady())
    try:
        await eventually(lambda: platform.stored(chat), lambda rows: len(rows) >= 20, within=60)
        consumer.kill()
        await asyncio.sleep(1.0)  # commands go on being accepted meanwhile, into Kafka
        before = len(await platform.stored(chat))
        spawned = time.time()
        consumer.spawn()
        _, took = await eventually(lambda: platform.stored(chat), lambda rows: len(rows) > before, within=60)
        async with httpx.AsyncClient(timeout=5) as http:

            async def consumer_status() -> dict[str, Any]:
                body: dict[str, Any] = (await http.get(f"{consumer.url}/status")).json()
                return body

            # The batch is counted after its publish, a moment after its rows are committed.
            status, _ = await eventually(
                consumer_status, lambda s: s.get("first_stored_at") is not None, within=30
            )
    finally:
        stop.set()
        await traffic
    await sender.all_accepted(within=60)
    marks = [spawned, status.get("started_at"), status.get("joined_at"), status.get("first_stored_at")]
    steps = ("spawn_to_worker_started_s", "worker_started_to_joined_s", "joined_to_first_stored_s")
    figures: dict[str, float | None] = {"spawn_to_first_stored_s": round(took, 2)}
    for name, start, end in zip(steps, marks, marks[1:], strict=False):
        figures[name] = round(end - start, 2) if start is not None and end is not None else None
    print(f"consumer restart: {figures}")
    # What the consumer itself does after its start takes seconds at most: rejoining (static
    # membership: its partitions back at once, no rebalance) and its first batch. The rest is the
    # process's start (imports), which on a loaded 2-core machine can be tens of seconds
    # (docs/recovery.md has the figures).
    assert figures["worker_started_to_joined_s"] is not None and figures["worker_started_to_joined_s"] < 5, (
        figures
    )
    assert figures["joined_to_first_stored_s"] is not None and figures["joined_to_first_stored_s"] < 5, (
        figures
    )
    # Accepted is Kafka's ack; stored follows: wait for all of them, then compare.
    want = len(sender.accepted)
    rows, _ = await eventually(lambda: platform.stored(chat), lambda rows: len(rows) >= want, within=60)
    stored_ids = [client_id for _, client_id, _ in rows]
    assert len(stored_ids) == len(set(stored_ids)) and set(stored_ids) == set(sender.accepted)
