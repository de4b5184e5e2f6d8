"""Attachments on messages: the consumer's store takes only the sender's own, ready attachments of
the same chat, once; the others reject the send with a clear reason to the sender. Deleting the
message deletes the attachments; uploads never completed are swept."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

import httpx
from fastapi import FastAPI
from parley.common.chat.store import Rejected, Stored, store_commands
from parley.common.events import SendMessage
from parley.storage.sweeper import Sweeper

from tests.factories import MakePeople, database, delete, send
from tests.storage.conftest import make_chat, png, row, settled, upload


def send_with(chat_id: uuid.UUID, user_id: uuid.UUID, *attachment_ids: str) -> SendMessage:
    return send(chat_id, user_id, "look").model_copy(
        update={"attachments": [uuid.UUID(a) for a in attachment_ids]}
    )


async def store(app: FastAPI, *commands: object) -> list[object]:
    async with database(app).engine.begin() as conn:
        return list(await store_commands(conn, list(commands)))  # type: ignore[arg-type]


async def test_a_message_takes_only_the_senders_ready_attachments_of_its_chat_once(
    app: FastAPI, client: httpx.AsyncClient, browser: httpx.AsyncClient, make_people: MakePeople
) -> None:
    ann, bob, eve = await make_people("ann", "bob", "eve")
    chat = await make_chat(app, ann, bob)
    other_chat = await make_chat(app, ann, bob)
    done, _ = await upload(client, browser, ann, chat, png(), "image/png", "a.png")
    mine = (await settled(client, ann, done.json()["id"]))["id"]
    pending, _ = await upload(client, browser, ann, chat, b"hello", "text/plain", complete=False)
    not_ready = pending.json()["attachment"]["id"]
    done, _ = await upload(client, browser, ann, other_chat, b"elsewhere", "text/plain")
    elsewhere = (await settled(client, ann, done.json()["id"]))["id"]

    outcomes = await store(
        app,
        send_with(chat, bob.id, mine),  # someone else's
        send_with(chat, ann.id, not_ready),
        send_with(chat, ann.id, elsewhere),
        send_with(chat, ann.id, str(uuid.uuid4())),
        send_with(chat, ann.id, mine),  # this one is fine
        send_with(chat, ann.id, mine),  # and now taken
    )
    codes = [o.code if isinstance(o, Rejected) else "stored" for o in outcomes]  # type: ignore[attr-defined]
    assert codes == [
        "attachment_not_found",
        "attachment_not_ready",
        "attachment_other_chat",
        "attachment_not_found",
        "stored",
        "attachment_in_use",
    ]
    rejected = outcomes[0]
    assert isinstance(rejected, Rejected)
    event = rejected.event()  # what the sender's devices are told
    assert event.user_id == bob.id and event.code == "attachment_not_found"
    stored = outcomes[4]
    assert isinstance(stored, Stored)
    seq = stored.event.seq
    assert (await row(app, mine)).message_seq == seq

    # On a message: every member reads it, a non-member still cannot.
    assert (await client.get(f"/attachments/{mine}", headers=bob.auth)).status_code == 302
    assert (await client.get(f"/attachments/{mine}", headers=eve.auth)).status_code == 404

    # Deleting the message deletes the attachment: unreadable at once, gone from S3 after a sweep.
    [deleted] = await store(app, delete(chat, ann.id, seq))
    assert isinstance(deleted, Stored)
    key = (await row(app, mine)).object_key
    for person in (ann, bob):
        assert (await client.get(f"/attachments/{mine}", headers=person.auth)).status_code == 404
    sweeper: Sweeper = app.state.sweeper
    await sweeper.sweep()
    assert await row(app, mine) is None
    store_ = app.state.storage.store
    assert await store_.size(key) is None
    assert await store_.size(f"{key}.preview.jpg") is None


async def test_uploads_never_completed_are_swept(
    app: FastAPI, client: httpx.AsyncClient, browser: httpx.AsyncClient, make_people: MakePeople
) -> None:
    (ann,) = await make_people("ann")
    chat = await make_chat(app, ann)
    single, _ = await upload(client, browser, ann, chat, b"abandoned", "text/plain", complete=False)
    parts, plan = await upload(
        client, browser, ann, chat, b"x" * (6 * 1024 * 1024), "text/plain", complete=False
    )
    assert plan["upload"]["kind"] == "multipart"
    ids = [single.json()["attachment"]["id"], parts.json()["attachment"]["id"]]
    rows = [await row(app, i) for i in ids]
    sweeper: Sweeper = app.state.sweeper
    await sweeper.sweep()  # too young: kept
    assert all([await row(app, i) for i in ids])
    await sweeper.sweep(datetime.now(UTC) + timedelta(days=2))
    assert [await row(app, i) for i in ids] == [None, None]
    store_ = app.state.storage.store
    assert await store_.size(rows[0].object_key) is None
    uploads = await store_.client._list_multipart_uploads(store_.bucket)
    assert not [u for u in uploads.uploads if u.object_name == rows[1].object_key]
