"""The search service on the real OpenSearch, Kafka and PostgreSQL: indexing from the events topic,
the grammar, authorization, edits and deletes, replays, hostile input."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

import httpx
import sqlalchemy as sa
from fastapi import FastAPI
from opensearchpy import AsyncOpenSearch
from parley.common.chat.attachments import Attachment
from parley.common.chat.models import chat_members
from parley.common.events import SendMessage
from parley.search.index import IndexNames, Write, bulk_write, message_write, tombstone_write

from tests.factories import MakePeople, _base, create_chat, database, delete, edit, send
from tests.search.conftest import Publish, Search, Store, bodies, found


async def test_words_phrases_filters_paging_and_authorization(
    app: FastAPI, make_people: MakePeople, store: Store, search: Search
) -> None:
    alice, bob, carol = await make_people("alice", "bob", "carol")
    engine = database(app).engine
    ours = await create_chat(engine, alice.id, [bob.id])
    theirs = await create_chat(engine, carol.id)
    # A finished upload of alice's in the chat: the consumer stores a message only with those.
    attachment = uuid.uuid4()
    async with engine.begin() as conn:
        await conn.execute(
            sa.insert(Attachment).values(
                id=attachment,
                chat_id=ours,
                uploader_id=alice.id,
                object_key=f"test/{attachment}",
                file_name="report.pdf",
                declared_type="application/pdf",
                size=1,
                status="ready",
                created_at=datetime.now(UTC),
            )
        )
    await store(
        send(ours, alice.id, "the quick brown fox jumps"),
        send(ours, bob.id, "a quick lunch at the café"),
        send(ours, alice.id, "東京タワーに行きました 🎉 und dann nach München"),
        send(ours, bob.id, "brown bread, quick"),
    )
    await store(
        SendMessage.model_validate(
            {
                **_base(ours, alice.id),
                "client_id": "att-1",
                "body": "the quarterly report",
                "attachments": [attachment],
            }
        ),
        send(theirs, carol.id, "quick secret of carol"),
    )

    # Everything is indexed once the last of each chat is found: the chats' events may lie on
    # different partitions, indexed independently.
    await found(search, bob, "quarterly", lambda b: b == ["the quarterly report"])
    await found(search, carol, "quick", lambda b: b == ["quick secret of carol"])
    # Words: all of them, anywhere, any case; accents folded.
    assert sorted(bodies(await search(bob, "QUICK brown"))) == [
        "brown bread, quick",
        "the quick brown fox jumps",
    ]
    assert bodies(await search(bob, "cafe")) == ["a quick lunch at the café"]
    assert bodies(await search(bob, "munchen")) == ["東京タワーに行きました 🎉 und dann nach München"]
    # CJK (bigrams and single characters) and emoji.
    assert len(bodies(await search(bob, "東京タワー"))) == 1
    assert len(bodies(await search(bob, "京"))) == 1
    assert len(bodies(await search(bob, "🎉"))) == 1
    # Phrases and exclusions.
    assert bodies(await search(bob, '"quick brown"')) == ["the quick brown fox jumps"]
    assert bodies(await search(bob, "quick -fox -lunch")) == ["brown bread, quick"]
    assert bodies(await search(bob, 'quick -"brown fox"', sort="newest")) == [
        "brown bread, quick",
        "a quick lunch at the café",
    ]
    # Filters.
    assert sorted(bodies(await search(bob, "quick from:bob"))) == [
        "a quick lunch at the café",
        "brown bread, quick",
    ]
    assert bodies(await search(bob, f"quick from:{alice.id}")) == ["the quick brown fox jumps"]
    assert bodies(await search(bob, "has:attachment")) == ["the quarterly report"]
    assert bodies(await search(bob, "quick from:nobody-like-this")) == []
    today = datetime.now(UTC).date()
    assert len(bodies(await search(bob, f"quick on:{today.isoformat()}"))) == 3
    assert bodies(await search(bob, f"quick before:{today.isoformat()}")) == []
    assert bodies(
        await search(bob, f"quick after:{(today - timedelta(days=1)).isoformat()} in:{ours}", limit=50)
    )
    # Highlights, escaped.
    page = await search(bob, "fox")
    assert page["results"][0]["highlights"] == ["the quick brown <mark>fox</mark> jumps"]
    # Newest first, paged with search_after: every hit once, in order.
    seen: list[str] = []
    cursor = None
    while True:
        params = {"sort": "newest", "limit": 1} | ({"cursor": cursor} if cursor else {})
        page = await search(bob, "quick", **params)
        seen += bodies(page)
        cursor = page["next_cursor"]
        if cursor is None:
            break
    assert seen == ["brown bread, quick", "a quick lunch at the café", "the quick brown fox jumps"]
    # Relevance paging too.
    first = await search(bob, "quick", limit=2)
    rest = await search(bob, "quick", limit=2, cursor=first["next_cursor"])
    assert sorted(bodies(first) + bodies(rest)) == sorted(seen)
    # Only readable chats: carol never sees ours, and ours never shows hers.
    assert bodies(await search(carol, "quick")) == ["quick secret of carol"]
    assert bodies(await search(carol, f"quick in:{ours}")) == []
    assert "quick secret of carol" not in bodies(await search(bob, f"quick in:{theirs}"))
    assert bodies(await search(bob, f"in:{theirs}")) == []


async def test_membership_decides_at_query_time(
    app: FastAPI, make_people: MakePeople, store: Store, search: Search
) -> None:
    """A removed member finds nothing of the chat any more; one added later finds its whole history
    (the rule the api's history follows: docs/api.md)."""
    alice, bob, dave = await make_people("alice", "bob", "dave")
    engine = database(app).engine
    chat = await create_chat(engine, alice.id, [bob.id])
    await store(send(chat, alice.id, "said before dave joined"))
    await found(search, bob, "joined", lambda b: b == ["said before dave joined"])
    assert bodies(await search(dave, "joined")) == []  # a non-member
    async with engine.begin() as conn:
        await conn.execute(
            sa.delete(chat_members).where(chat_members.c.chat_id == chat, chat_members.c.user_id == bob.id)
        )
        await conn.execute(
            sa.insert(chat_members).values(
                chat_id=chat, user_id=dave.id, role="member", joined_at=datetime.now(UTC), last_read_seq=0
            )
        )
    assert bodies(await search(bob, "joined")) == []
    assert bodies(await search(dave, "joined")) == ["said before dave joined"]


async def test_edits_deletes_and_replays(
    app: FastAPI,
    make_people: MakePeople,
    store: Store,
    publish: Publish,
    search: Search,
    client: httpx.AsyncClient,
) -> None:
    alice, bob = await make_people("alice", "bob")
    chat = await create_chat(database(app).engine, alice.id, [bob.id])
    created = await store(send(chat, alice.id, "original wording"), send(chat, alice.id, "soon gone forever"))
    seq1, seq2 = created[0].seq, created[1].seq
    await found(search, bob, "gone", lambda b: b == ["soon gone forever"])
    changes = await store(edit(chat, alice.id, seq1, "revised wording"), delete(chat, alice.id, seq2))
    await found(search, bob, "revised", lambda b: b == ["revised wording"])
    await found(search, bob, "gone", lambda b: b == [])
    assert bodies(await search(bob, "original")) == []
    # The whole history again, newest first (a replay, reordered): nothing older comes back.
    await publish(list(reversed(created + changes)))
    marker = await store(send(chat, alice.id, "marker after the replay"))
    assert marker
    await found(search, bob, "marker", lambda b: b == ["marker after the replay"])
    assert bodies(await search(bob, "original")) == []
    assert bodies(await search(bob, "gone")) == []
    assert bodies(await search(bob, "revised")) == ["revised wording"]
    metrics = (await client.get("/metrics")).text
    assert "parley_search_index_lag_seconds_count" in metrics
    assert 'parley_search_documents_total{outcome="stale"}' in metrics
    status = app.state.indexer.status
    assert status.stale >= 2  # the replay (one write per message in a batch) was refused by version


async def test_versioned_writes_direct(opensearch: AsyncOpenSearch, names: IndexNames, app: FastAPI) -> None:
    """The write rule itself: of two writes of one message the bigger version stays, whatever the
    order, and a tombstone outlives OpenSearch's delete-version memory (it is a document)."""
    chat, sender, now = uuid.uuid4(), uuid.uuid4(), datetime.now(UTC)

    def body(text: str, version: int) -> Write:
        return message_write(
            chat, 5, version, sender_id=sender, body=text, attachments=[], created_at=now, edited_at=None
        )

    result = await bulk_write(opensearch, names.alias, [body("newer", 9)], refresh=True)
    assert (result.written, result.stale) == (1, 0)
    result = await bulk_write(opensearch, names.alias, [body("older", 7)], refresh=True)
    assert (result.written, result.stale) == (0, 1)
    # Two writes of one document in a batch: the bigger one.
    result = await bulk_write(opensearch, names.alias, [body("b", 12), body("a", 11)], refresh=True)
    assert result.written == 1
    doc = await opensearch.get(index=names.alias, id=f"{chat}:5")
    assert (doc["_source"]["body"], doc["_version"]) == ("b", 12)
    await bulk_write(
        opensearch, names.alias, [tombstone_write(chat, 5, 13, sender_id=None, created_at=None)], refresh=True
    )
    result = await bulk_write(opensearch, names.alias, [body("resurrected?", 12)], refresh=True)
    assert result.stale == 1
    doc = await opensearch.get(index=names.alias, id=f"{chat}:5")
    assert doc["_source"]["deleted"] is True and "body" not in doc["_source"]


HOSTILE = [
    '"',
    '""',
    '"unclosed phrase',
    "\\",
    "\\\\\\",
    'a\\"b',
    "title:(quick OR brown) AND body:fox~2",
    "*",
    "?",
    "qu*ck",
    "{!lucene} [* TO *]",
    "/.*/",
    "_exists_:body",
    "chat_id:*",
    "-",
    "- -",
    "from:",
    "in:",
    "in:not-a-uuid",
    "has:wings",
    "after:yesterday",
    "on:2026-13-45",
    "before:2026-01-01T25:00",
    "-from:bob",
    "x" * 999,
    " ".join(["w"] * 65),
    "<script>alert(1)</script>",
    "'; DROP TABLE messages; --",
    "\u202e\u200b\ufeff",
    "\U0001d562\U0001d566\U0001d55a\U0001d554\U0001d55c",  # double-struck "quick"
]


async def test_hostile_queries(
    app: FastAPI, make_people: MakePeople, store: Store, search: Search, client: httpx.AsyncClient
) -> None:
    alice, mallory = await make_people("alice", "mallory")
    engine = database(app).engine
    private = await create_chat(engine, alice.id)
    own = await create_chat(engine, mallory.id)
    await store(
        send(private, alice.id, "alice private quick fox w x"), send(own, mallory.id, "mallory own note")
    )
    await found(search, mallory, "note", lambda b: b == ["mallory own note"])
    await found(search, alice, "private", lambda b: len(b) == 1)
    for q in [*HOSTILE, "x" * 10_240]:
        response = await client.get("/search", params={"q": q}, headers=mallory.auth)
        assert response.status_code in (200, 400), (q[:50], response.status_code, response.text)
        if response.status_code == 200:
            assert all(hit["chat_id"] == str(own) for hit in response.json()["results"]), q
        else:
            assert response.json()["error"]["code"] in ("invalid_query", "empty_query"), response.text
    assert (await client.get("/search", params={"q": "x" * 10_240}, headers=mallory.auth)).status_code == 400
    bad_cursor = await client.get("/search", params={"q": "note", "cursor": "!!"}, headers=mallory.auth)
    assert bad_cursor.status_code == 400 and bad_cursor.json()["error"]["code"] == "invalid_cursor"
    forged = await client.get("/search", params={"q": "note", "cursor": "WzEsMiwzXQ=="}, headers=mallory.auth)
    assert forged.status_code == 400
    assert (await client.get("/search", params={"q": "note"})).status_code == 401
