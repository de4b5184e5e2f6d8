"""`parley search reindex` under writes: a new generation from PostgreSQL, caught up from Kafka, the
alias swapped; afterwards the index holds exactly what PostgreSQL holds, nothing lost in the swap."""

from __future__ import annotations

import asyncio
import random
from typing import Any

import sqlalchemy as sa
from fastapi import FastAPI
from opensearchpy import AsyncOpenSearch
from parley.common.chat.models import messages
from parley.search.index import IndexNames, alias_indices, doc_id
from parley.search.reindex import reindex
from parley.search.settings import SearchSettings
from parley.testing.waiting import eventually

from tests.factories import MakePeople, create_chat, database, delete, edit, send
from tests.search.conftest import Search, Store, found


async def index_state(client: AsyncOpenSearch, index: str) -> dict[str, tuple[bool, str]]:
    await client.indices.refresh(index=index)
    response = await client.search(index=index, body={"size": 10_000, "query": {"match_all": {}}})
    return {
        hit["_id"]: (hit["_source"]["deleted"], hit["_source"].get("body", ""))
        for hit in response["hits"]["hits"]
    }


async def test_reindex_under_writes(
    app: FastAPI,
    settings: SearchSettings,
    names: IndexNames,
    opensearch: AsyncOpenSearch,
    make_people: MakePeople,
    store: Store,
    search: Search,
) -> None:
    alice, bob = await make_people("alice", "bob")
    engine = database(app).engine
    chats = [await create_chat(engine, alice.id, [bob.id]) for _ in range(3)]
    first = await store(*(send(chats[i % 3], alice.id, f"before reindex {i}") for i in range(150)))
    await found(search, bob, '"before reindex 149"', lambda b: b == ["before reindex 149"])
    assert await alias_indices(opensearch, names) == [names.generation(1)]

    rng = random.Random(14)
    live = [(e.chat_id, e.seq, alice.id) for e in first]
    stop = asyncio.Event()
    written = 0

    async def writer() -> None:
        nonlocal written
        while not stop.is_set():
            chat = rng.choice(chats)
            commands: list[Any] = [send(chat, bob.id, f"during reindex {written}")]
            if live and rng.random() < 0.5:
                target = live.pop(rng.randrange(len(live)))
                if rng.random() < 0.5:
                    commands.append(edit(target[0], target[2], target[1], f"edited during reindex {written}"))
                    live.append(target)
                else:
                    commands.append(delete(target[0], target[2], target[1]))
            events = await store(*commands)
            live.append((events[0].chat_id, events[0].seq, bob.id))
            written += 1
            await asyncio.sleep(0.01)

    def writes(at_least: int) -> Any:
        return eventually(lambda: written, lambda n: n >= at_least, within=30, what=f"{at_least} writes")

    task = asyncio.create_task(writer())
    await writes(15)  # some before the reindex starts
    report = await reindex(
        engine=engine,
        client=opensearch,
        names=names,
        bootstrap=settings.kafka_bootstrap,
        topic=f"{settings.kafka_topic_prefix}.events.v1",
        refresh_interval="200ms",
        batch_size=50,
    )
    await writes(written + 15)  # and some after the swap
    stop.set()
    await task
    assert written > 20, written
    assert report.new == names.generation(2) and report.old == [names.generation(1)]
    assert report.loaded >= 150
    assert await alias_indices(opensearch, names) == [names.generation(2)]
    assert not await opensearch.indices.exists(index=names.generation(1))

    marker = await store(send(chats[0], alice.id, "the very last one"))
    await found(search, bob, '"the very last one"', lambda b: b == ["the very last one"])
    async with engine.connect() as conn:
        rows = (
            await conn.execute(
                sa.select(messages.c.chat_id, messages.c.seq, messages.c.body, messages.c.deleted_at)
            )
        ).all()
    want = {
        doc_id(r.chat_id, r.seq): (r.deleted_at is not None, "" if r.deleted_at else r.body) for r in rows
    }
    assert marker and len(want) == 150 + written + 1

    async def matches() -> dict[str, tuple[bool, str]]:
        return await index_state(opensearch, names.alias)

    state = await matches()
    for _ in range(50):  # the live indexer may still be applying the last writes
        if state == want:
            break
        await asyncio.sleep(0.2)
        state = await matches()
    missing = {k: v for k, v in want.items() if state.get(k) != v}
    assert not missing, (len(missing), list(missing.items())[:5], [state.get(k) for k in list(missing)[:5]])
