"""The consumer's write path: a batch of commands for many chats in one transaction."""

from __future__ import annotations

import asyncio
import uuid
from typing import Any

import sqlalchemy as sa
from parley.common.chat.store import Rejected, Stored, store_commands
from parley.common.db import Database
from parley.common.events import (
    MessageCreated,
    MessageDeleted,
    MessageEdited,
    ReactionAdded,
    ReactionRemoved,
    parse_stored_event,
)

from tests.factories import create_chat, create_users, delete, edit, react, send


async def _store(db: Database, commands: list[Any]) -> list[Stored | Rejected]:
    async with db.engine.begin() as conn:
        return await store_commands(conn, commands)


async def _rows(db: Database, sql: str, **params: Any) -> list[Any]:
    async with db.engine.connect() as conn:
        return list((await conn.execute(sa.text(sql), params)).all())


async def test_a_batch_for_several_chats_takes_consecutive_seqs_per_chat(db: Database) -> None:
    ada, bob = await create_users(db.engine, ["ada", "bob"])
    one = await create_chat(db.engine, ada, [bob])
    two = await create_chat(db.engine, bob, [ada])
    outcomes = await _store(
        db,
        [
            send(one, ada, "a"),
            send(two, bob, "b"),
            send(one, bob, "c"),
            send(two, ada, "d"),
            send(one, ada, "e"),
        ],
    )
    assert all(isinstance(o, Stored) and not o.duplicate for o in outcomes)
    seqs = [(o.event.chat_id, o.event.seq) for o in outcomes if isinstance(o, Stored)]
    assert seqs == [(one, 2), (two, 2), (one, 3), (two, 3), (one, 4)]

    chats = dict(
        (row.id, (row.last_seq, row.last_message_seq)) for row in await _rows(db, "SELECT * FROM chats")
    )
    assert chats == {one: (4, 4), two: (3, 3)}
    log = await _rows(db, "SELECT seq, type, event FROM chat_changes WHERE chat_id = :c ORDER BY seq", c=one)
    assert [(r.seq, r.type) for r in log] == [
        (1, "chat.created"),
        (2, "message.created"),
        (3, "message.created"),
        (4, "message.created"),
    ]
    # The log holds the events exactly as returned (and so as published).
    assert [parse_stored_event(r.event) for r in log[1:]] == [
        o.event for o in outcomes if isinstance(o, Stored) and o.event.chat_id == one
    ]
    bodies = await _rows(db, "SELECT body FROM messages WHERE chat_id = :c ORDER BY seq", c=one)
    assert [r.body for r in bodies] == ["a", "c", "e"]


async def test_a_resend_or_replay_takes_no_seq_and_returns_the_stored_event(db: Database) -> None:
    ada, bob = await create_users(db.engine, ["ada", "bob"])
    chat = await create_chat(db.engine, ada, [bob])
    first = send(chat, ada, "hi", client_id="c1")
    [stored] = await _store(db, [first])
    assert isinstance(stored, Stored)

    # A client resend: same client_id, new command id; a Kafka replay: the same command again;
    # and a repeat inside one batch.
    resend = send(chat, ada, "hi (again)", client_id="c1")
    fresh = send(chat, bob, "new")
    outcomes = await _store(db, [first, resend, fresh, fresh])
    assert [type(o) for o in outcomes] == [Stored] * 4
    assert [o.duplicate for o in outcomes if isinstance(o, Stored)] == [True, True, False, True]
    assert outcomes[0].event == outcomes[1].event == stored.event  # type: ignore[union-attr]
    assert outcomes[2].event.seq == 3 and outcomes[3].event == outcomes[2].event  # type: ignore[union-attr]
    assert [
        r.seq for r in await _rows(db, "SELECT seq FROM chat_changes WHERE chat_id = :c ORDER BY seq", c=chat)
    ] == [1, 2, 3]

    # The same for an edit replayed after a later edit: it must not revert the message.
    first_edit = edit(chat, ada, 2, "v2")
    await _store(db, [first_edit, edit(chat, ada, 2, "v3")])
    [replayed] = await _store(db, [first_edit])
    assert isinstance(replayed, Stored) and replayed.duplicate and replayed.event.seq == 4
    assert (await _rows(db, "SELECT body FROM messages WHERE chat_id = :c AND seq = 2", c=chat))[
        0
    ].body == "v3"


async def test_commands_that_cannot_be_stored_are_rejected_without_taking_a_seq(db: Database) -> None:
    ada, bob, eve = await create_users(db.engine, ["ada", "bob", "eve"])
    group = await create_chat(db.engine, ada, [bob])
    direct = await create_chat(db.engine, ada, [bob], kind="direct")
    [a_msg, b_msg, d_msg] = await _store(
        db, [send(group, ada, "a"), send(group, bob, "b"), send(direct, bob, "d")]
    )
    assert all(isinstance(o, Stored) for o in (a_msg, b_msg, d_msg))

    cases = [
        (send(uuid.uuid4(), ada), "chat_not_found"),
        (send(group, eve), "not_a_member"),
        (send(group, ada, reply_to_seq=99), "reply_target_not_found"),
        (edit(group, bob, 2, "not mine"), "not_your_message"),
        (edit(group, ada, 99, "nothing there"), "message_not_found"),
        (delete(group, bob, 2), "forbidden"),  # a plain member deletes someone else's message
        (delete(direct, ada, 2), "forbidden"),  # nobody deletes the other's message in a direct chat
        (react(group, ada, 3, "👍", "remove"), "not_reacted"),
        (react(group, eve, 3), "not_a_member"),
    ]
    outcomes = await _store(db, [command for command, _ in cases])
    assert [(o.code if isinstance(o, Rejected) else "stored") for o in outcomes] == [
        code for _, code in cases
    ]
    rejected = outcomes[1]
    assert isinstance(rejected, Rejected)
    assert rejected.event().code == "not_a_member" and rejected.event().user_id == eve
    assert [r.last_seq for r in await _rows(db, "SELECT last_seq FROM chats WHERE id = :c", c=group)] == [3]

    # The owner of a group may delete anyone's message; the sender their own.
    outcomes = await _store(db, [delete(group, ada, 3), delete(direct, bob, 2)])
    assert all(isinstance(o, Stored) for o in outcomes)


async def test_a_batch_sees_its_own_earlier_commands(db: Database) -> None:
    ada, bob = await create_users(db.engine, ["ada", "bob"])
    chat = await create_chat(db.engine, ada, [bob])
    outcomes = await _store(
        db,
        [
            send(chat, ada, "first"),  # 2
            send(chat, bob, "reply", reply_to_seq=2),  # 3
            edit(chat, ada, 2, "first, edited"),  # 4
            react(chat, bob, 2, "👍"),  # 5
            react(chat, bob, 2, "👍"),  # already there: rejected
            react(chat, ada, 3, "🎉"),  # 6
            react(chat, ada, 3, "🎉", "remove"),  # 7
            delete(chat, bob, 3),  # 8
            edit(chat, bob, 3, "too late"),  # deleted: rejected
        ],
    )
    kinds = [type(o.event).__name__ if isinstance(o, Stored) else o.code for o in outcomes]
    assert kinds == [
        "MessageCreated",
        "MessageCreated",
        "MessageEdited",
        "ReactionAdded",
        "already_reacted",
        "ReactionAdded",
        "ReactionRemoved",
        "MessageDeleted",
        "message_not_found",
    ]
    assert [o.event.seq for o in outcomes if isinstance(o, Stored)] == [2, 3, 4, 5, 6, 7, 8]
    rows = await _rows(
        db,
        "SELECT seq, body, edited_at IS NOT NULL AS edited, deleted_at IS NOT NULL AS deleted"
        " FROM messages WHERE chat_id = :c ORDER BY seq",
        c=chat,
    )
    assert [(r.seq, r.body, r.edited, r.deleted) for r in rows] == [
        (2, "first, edited", True, False),
        (3, "", False, True),
    ]
    reactions = await _rows(
        db, "SELECT message_seq, emoji, user_id FROM message_reactions WHERE chat_id = :c", c=chat
    )
    assert [(r.message_seq, r.emoji, r.user_id) for r in reactions] == [(2, "👍", bob)]
    # Deleted in the same batch it was sent in: its content is in neither the log nor the events.
    created = next(o.event for o in outcomes if isinstance(o, Stored) and o.event.seq == 3)
    assert isinstance(created, MessageCreated) and created.message.body == ""
    logged = await _rows(db, "SELECT event FROM chat_changes WHERE chat_id = :c AND seq = 3", c=chat)
    assert logged[0].event["message"]["body"] == ""
    assert isinstance(outcomes[7].event, MessageDeleted)  # type: ignore[union-attr]
    assert isinstance(outcomes[3].event, ReactionAdded) and isinstance(outcomes[6].event, ReactionRemoved)  # type: ignore[union-attr]


async def test_deleting_a_message_scrubs_its_earlier_events(db: Database) -> None:
    ada, bob = await create_users(db.engine, ["ada", "bob"])
    chat = await create_chat(db.engine, ada, [bob])
    await _store(db, [send(chat, bob, "secret")])  # 2
    await _store(db, [edit(chat, bob, 2, "still secret")])  # 3
    await _store(db, [react(chat, ada, 2, "😮")])  # 4
    [deleted] = await _store(db, [delete(chat, bob, 2)])  # 5
    assert isinstance(deleted, Stored)
    log = {
        r.seq: r.event
        for r in await _rows(db, "SELECT seq, event FROM chat_changes WHERE chat_id = :c", c=chat)
    }
    assert log[2]["message"]["body"] == "" and log[2]["message"]["attachments"] == []
    assert log[3]["body"] == ""
    assert isinstance(parse_stored_event(log[3]), MessageEdited)
    assert await _rows(db, "SELECT * FROM message_reactions WHERE chat_id = :c", c=chat) == []


async def test_sending_marks_the_chat_read_for_the_sender(db: Database) -> None:
    ada, bob = await create_users(db.engine, ["ada", "bob"])
    chat = await create_chat(db.engine, ada, [bob])
    await _store(db, [send(chat, ada, "1"), send(chat, bob, "2"), send(chat, ada, "3")])
    rows = await _rows(db, "SELECT user_id, last_read_seq FROM chat_members WHERE chat_id = :c", c=chat)
    assert {r.user_id: r.last_read_seq for r in rows} == {ada: 4, bob: 3}


async def test_a_membership_change_committed_while_the_batch_waits_for_the_lock_is_seen(
    db: Database,
) -> None:
    """The batch reads memberships in the statement that takes the chats' locks; a writer that held
    a lock and changed the chat meanwhile (the api removing a member) commits after that
    statement's snapshot. The chat's seq moved, so the batch reads again before deciding: the
    removed member's send is refused and the other one takes the seq after the api's change."""
    ada, bob = await create_users(db.engine, ["ada", "bob"])
    chat = await create_chat(db.engine, ada, [bob])
    async with db.engine.connect() as api:
        transaction = await api.begin()
        # The api's membership change: lock the chat, take seq 2, remove bob.
        await api.execute(sa.text("SELECT 1 FROM chats WHERE id = :c FOR UPDATE"), {"c": chat})
        await api.execute(sa.text("UPDATE chats SET last_seq = 2 WHERE id = :c"), {"c": chat})
        await api.execute(
            sa.text("DELETE FROM chat_members WHERE chat_id = :c AND user_id = :u"), {"c": chat, "u": bob}
        )
        batch = asyncio.create_task(_store(db, [send(chat, bob, "from bob"), send(chat, ada, "from ada")]))
        # The batch's statement has started (its snapshot taken) and waits for the lock.
        for _ in range(100):
            waiting = await _rows(
                db,
                "SELECT count(*) AS n FROM pg_stat_activity WHERE wait_event_type = 'Lock'"
                " AND query LIKE '%FOR UPDATE%' AND datname = current_database()",
            )
            if waiting[0].n:
                break
            await asyncio.sleep(0.05)
        assert waiting[0].n, "the batch never waited for the chat's lock"
        await transaction.commit()
    bob_send, ada_send = await asyncio.wait_for(batch, 10)
    assert isinstance(bob_send, Rejected) and bob_send.code == "not_a_member"
    assert isinstance(ada_send, Stored) and ada_send.event.seq == 3
    rows = await _rows(db, "SELECT last_seq FROM chats WHERE id = :c", c=chat)
    assert rows[0].last_seq == 3


async def test_stored_events_carry_the_bytes_logged(db: Database) -> None:
    ada, bob = await create_users(db.engine, ["ada", "bob"])
    chat = await create_chat(db.engine, ada, [bob])
    first = send(chat, ada, "hi", client_id="c1")
    [stored, repeat] = await _store(db, [first, first])
    assert isinstance(stored, Stored) and stored.data is not None
    assert parse_stored_event(stored.data) == stored.event
    assert isinstance(repeat, Stored) and repeat.duplicate
    [replayed] = await _store(db, [first])
    assert isinstance(replayed, Stored) and replayed.duplicate and replayed.data is None
    assert replayed.event == stored.event
