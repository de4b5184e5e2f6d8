"""Benchmark of the search service: full reindex rate, index lag under a steady message rate, and
query latency for a user in 50 chats and one in 5,000 chats (terms filter on chat ids), plus the
same query with a terms *lookup* for comparison.

Scale: the issue's target is 1,000,000 messages in 100,000 chats. `--messages` / `--chats` scale it
(default 100,000 in 10,000: what a shared 2-core machine with OpenSearch at a 512 MB heap does in a
few minutes). Say which scale a figure was measured at.

1. Seeds a database of its own (`parley_bench_search` on the dev stack's PostgreSQL) with
   generate_series: users, chats of 2 members, messages of 4-9 words from a 200-word vocabulary
   (plus CJK and emoji), one user in 50 chats and one in 5,000.
2. `reindex` (parley.search.reindex) from PostgreSQL into a new generation under the index prefix
   `bench-search`: documents per second of the load (this also bulk-loads the index).
3. Lag: the live indexer (parley.search.indexer) on a topic of its own while this process produces
   `message.created` events at `--rate` msg/s for `--seconds`: lag from the event's `at` to the bulk
   acknowledged (every event), and to searchable (polled for a sample of events).
4. Queries through the app (routing, token verification, the readable-chats query, OpenSearch):
   p50/p99 for the two users, and OpenSearch alone with a terms filter vs a terms lookup.

    .venv/bin/python bench/search.py                       # seed if needed, then measure
    .venv/bin/python bench/search.py --messages 1000000 --chats 100000 --reseed

Needs the dev stack's PostgreSQL, Kafka and OpenSearch (`parley dev up services`).
"""

from __future__ import annotations

import argparse
import asyncio
import random
import time
import uuid
from datetime import UTC, datetime
from typing import Any

import httpx
import psycopg
from asgi_lifespan import LifespanManager
from opensearchpy import AsyncOpenSearch
from parley.common.db import Database
from parley.common.events import MessageCreated, MessageData, encode
from parley.common.kafka import KafkaProducer, ensure_topics
from parley.common.topics import Topics, chat_key
from parley.devstack import ports
from parley.migrations import runner
from parley.search.app import create_app
from parley.search.index import IndexNames, alias_indices
from parley.search.reindex import reindex
from parley.search.settings import SearchSettings
from parley.testing.tokens import ISSUER, Signer, StaticJwks

DB = "parley_bench_search"
PREFIX = "bench-search"
USERS = 20_000
LIGHT, HEAVY = 50, 5_000
LIGHT_USER, HEAVY_USER = USERS, USERS + 1
VOCABULARY = (
    "alpha bravo charlie delta echo foxtrot golf hotel india juliet kilo lima mike november oscar papa "
    "quebec romeo sierra tango uniform victor whiskey xray yankee zulu meeting lunch report budget "
    "deploy release bug fix review merge branch ticket sprint demo coffee weekend holiday travel "
    "flight hotel train invoice contract client server database cache queue kafka search index "
    "shard replica cluster node pod service gateway token login password account profile avatar "
    "photo video music movie book story game match score team player coach stadium ticket price "
    "order delivery package address street city country river mountain forest ocean island beach "
    "summer winter spring autumn morning evening night today tomorrow yesterday monday friday "
    "apple banana cherry grape lemon mango orange peach pear plum tomato potato carrot onion "
    "garlic pepper salt sugar butter cheese bread pasta pizza salad soup steak chicken fish rice "
    "noodle tea juice water wine beer happy sad angry tired busy quick slow early late big small "
    "new old good bad great fine thanks please sorry hello bye yes no maybe sure ok café naïve "
    "東京 大阪 会議 今日 明日 ありがとう 你好 谢谢 🎉 👍 😀 🚀"
)
WORDS = VOCABULARY.split()


def functions(chats: int) -> str:
    return f"""
CREATE FUNCTION pg_temp.u(i bigint) RETURNS uuid IMMUTABLE LANGUAGE sql
    AS $$ SELECT ('00000000-0000-4000-8000-' || lpad(to_hex(i), 12, '0'))::uuid $$;
CREATE FUNCTION pg_temp.c(i bigint) RETURNS uuid IMMUTABLE LANGUAGE sql
    AS $$ SELECT ('00000000-0000-4000-9000-' || lpad(to_hex(i), 12, '0'))::uuid $$;
CREATE FUNCTION pg_temp.w(k bigint) RETURNS text IMMUTABLE LANGUAGE sql
    AS $$ SELECT (ARRAY[{",".join("'" + w + "'" for w in WORDS)}])[1 + (abs(hashint8(k)) % {len(WORDS)})] $$;
"""


def seed_steps(messages: int, chats: int) -> list[tuple[str, str]]:
    per_chat = max(1, messages // chats)
    return [
        (
            "users",
            f"""INSERT INTO auth_users (id, username, username_key, email, email_key, password_hash, disabled,
                                     created_at, password_changed_at)
            SELECT pg_temp.u(i), 'user' || i, 'user' || i, 'user' || i || '@bench.test',
                   'user' || i || '@bench.test', 'x', false, now(), now()
            FROM generate_series(0, {USERS + 1}) i""",
        ),
        (
            "chats",
            f"""INSERT INTO chats (id, kind, title, created_by, created_at, last_seq, last_message_seq,
                                 last_activity_at, member_count)
            SELECT pg_temp.c(c), 'group', 'chat ' || c, pg_temp.u(c % {USERS}), now() - interval '30 days',
                   1 + {per_chat}, 1 + {per_chat}, now(), 2
            FROM generate_series(0, {chats - 1}) c""",
        ),
        (
            "members",
            f"""INSERT INTO chat_members (chat_id, user_id, role, joined_at, last_read_seq, muted)
            SELECT pg_temp.c(c), pg_temp.u(c % {USERS}), 'owner', now(), 0, false
            FROM generate_series(0, {chats - 1}) c
            UNION ALL
            SELECT pg_temp.c(c), pg_temp.u((c * 7 + 1) % {USERS}), 'member', now(), 0, false
            FROM generate_series(0, {chats - 1}) c WHERE (c * 7 + 1) % {USERS} <> c % {USERS}
            UNION ALL
            SELECT pg_temp.c(c), pg_temp.u({LIGHT_USER}), 'member', now(), 0, false
            FROM generate_series(0, {LIGHT - 1}) c
            UNION ALL
            SELECT pg_temp.c(c), pg_temp.u({HEAVY_USER}), 'member', now(), 0, false
            FROM generate_series(0, {min(HEAVY, chats) - 1}) c""",
        ),
        (
            "messages",
            f"""INSERT INTO messages (chat_id, seq, sender_id, client_id, body, attachments, created_at)
            SELECT pg_temp.c(c), 1 + s,
                   pg_temp.u(CASE WHEN s % 2 = 0 THEN c % {USERS} ELSE (c * 7 + 1) % {USERS} END),
                   'b' || c || '-' || s,
                   concat_ws(' ', pg_temp.w(c * 1000 + s), pg_temp.w(c * 1000 + s + 7),
                             pg_temp.w(c * 1000 + s + 13), pg_temp.w(c * 1000 + s + 29),
                             CASE WHEN (c + s) % 2 = 0 THEN pg_temp.w(c * 1000 + s + 31) END,
                             CASE WHEN (c + s) % 3 = 0 THEN pg_temp.w(c * 1000 + s + 37) END,
                             CASE WHEN (c + s) % 5 = 0 THEN pg_temp.w(c * 1000 + s + 41) END,
                             CASE WHEN (c + s) % 7 = 0 THEN pg_temp.w(c * 1000 + s + 43) END,
                             CASE WHEN (c + s) % 11 = 0 THEN pg_temp.w(c * 1000 + s + 47) END),
                   '[]'::jsonb, now() - interval '30 days' + (s || ' minutes')::interval
            FROM generate_series(0, {chats - 1}) c CROSS JOIN generate_series(1, {per_chat}) s""",
        ),
        ("analyze", "ANALYZE"),
    ]


def admin_dsn(dsn: str) -> str:
    return dsn.rsplit("/", 1)[0] + "/postgres"


def seed(dsn: str, messages: int, chats: int, reseed: bool) -> str:
    bench = dsn.rsplit("/", 1)[0] + f"/{DB}"
    with psycopg.connect(admin_dsn(dsn), autocommit=True) as conn:
        exists = conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", (DB,)).fetchone()
        if exists and reseed:
            conn.execute(f'DROP DATABASE "{DB}" WITH (FORCE)')
            exists = None
        if not exists:
            conn.execute(f'CREATE DATABASE "{DB}"')
    if exists:
        with psycopg.connect(bench) as conn:
            row = conn.execute("SELECT count(*), count(DISTINCT chat_id) FROM messages").fetchone()
        print(f"seeded already: {row[0]:,} messages in {row[1]:,} chats (--reseed to change)")
        return bench
    runner.upgrade(bench)
    with psycopg.connect(bench, autocommit=True) as conn:
        conn.execute(functions(chats))
        for name, sql in seed_steps(messages, chats):
            started = time.monotonic()
            conn.execute(sql)
            print(f"seed {name}: {time.monotonic() - started:.1f} s")
    return bench


def pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def summary(values: list[float], unit: str = "ms", scale: float = 1000.0) -> str:
    return (
        f"n={len(values)} p50={pct(values, 0.5) * scale:.1f}{unit} p95={pct(values, 0.95) * scale:.1f}{unit} "
        f"p99={pct(values, 0.99) * scale:.1f}{unit} max={max(values) * scale:.1f}{unit}"
    )


async def measure_reindex(settings: SearchSettings, client: AsyncOpenSearch, topics: Topics) -> None:
    db = Database(settings.postgres_dsn.get_secret_value(), pool_size=2)
    try:
        report = await reindex(
            engine=db.engine,
            client=client,
            names=IndexNames(PREFIX),
            bootstrap=settings.kafka_bootstrap,
            topic=topics.events,
            refresh_interval="1s",
            batch_size=2000,
        )
    finally:
        await db.dispose()
    print(
        f"reindex: {report.loaded:,} documents in {report.load_seconds:.1f} s = "
        f"{report.docs_per_second:,.0f} docs/s "
        f"(whole reindex incl. catch-up and swap {report.total_seconds:.1f} s; now {report.new})"
    )


async def measure_lag(
    app: Any, producer: KafkaProducer, topics: Topics, client: AsyncOpenSearch, rate: int, seconds: int
) -> None:
    indexer = app.state.indexer
    lags: list[float] = []
    original = indexer.apply

    async def apply(records: Any) -> Any:
        result = await original(records)
        lags.extend(indexer.status.lag_seconds)
        return result

    indexer.apply = apply
    searchable: list[float] = []
    sample_every = max(1, rate // 10)
    sent = 0
    start = time.monotonic()
    watching: dict[str, float] = {}  # sampled token -> when its event was stored
    done = asyncio.Event()

    async def watch() -> None:
        """One poller for every sampled token (a search per 50 ms in all, not per token)."""
        while not (done.is_set() and not watching):
            if watching:
                tokens = list(watching)
                found = await client.search(
                    index=f"{PREFIX}.messages",
                    body={"size": len(tokens), "query": {"terms": {"body": tokens}}, "_source": ["body"]},
                )
                now = time.time()
                for hit in found["hits"]["hits"]:
                    token = hit["_source"]["body"].split()[0]
                    if token in watching:
                        searchable.append(now - watching.pop(token))
                for token, at in list(watching.items()):
                    if now - at > 60:
                        watching.pop(token)
            await asyncio.sleep(0.05)

    watcher = asyncio.create_task(watch())
    # Chats of this run's own: a document id (chat, seq) written by an earlier run would refuse
    # these writes as stale (the versioning at work), and they would never become searchable.
    lag_chats = [uuid.uuid4() for _ in range(1000)]
    in_flight: set[asyncio.Task[None]] = set()
    while time.monotonic() - start < seconds:
        tick = time.monotonic()
        batch = []
        for _ in range(max(1, rate // 50)):
            sent += 1
            now = datetime.now(UTC)
            token = f"lagprobe{uuid.uuid4().hex[:12]}"
            chat_id = lag_chats[sent % len(lag_chats)]
            body = f"{token} live message {sent}"
            event = MessageCreated(
                chat_id=chat_id,
                seq=sent + 1,
                actor_id=uuid.UUID(int=1),
                at=now,
                message=MessageData(
                    seq=sent + 1,
                    sender_id=uuid.UUID(int=1),
                    client_id=f"lag{sent}",
                    body=body,
                    created_at=now,
                ),
            )
            batch.append((topics.events, chat_key(chat_id), encode(event)))
            if sent % sample_every == 0:
                watching[token] = now.timestamp()
        # Not awaited one by one: the next batch goes while this one waits for its acks.
        task = asyncio.create_task(producer.send_many(batch))
        in_flight.add(task)
        task.add_done_callback(in_flight.discard)
        await asyncio.sleep(max(0.0, 0.02 - (time.monotonic() - tick)))
    await asyncio.gather(*in_flight)
    elapsed = time.monotonic() - start
    for _ in range(600):  # every event acknowledged, or a minute
        if len(lags) >= sent:
            break
        await asyncio.sleep(0.1)
    done.set()
    await watcher
    print(f"lag: produced {sent:,} message.created in {elapsed:.1f} s = {sent / elapsed:,.0f} msg/s")
    print(f"  stored event -> bulk acknowledged (every event): {summary(lags)}")
    if searchable:
        print(f"  stored event -> searchable (sampled, one poller every 50 ms): {summary(searchable)}")


async def measure_queries(app: Any, client: AsyncOpenSearch, signer: Signer, rounds: int) -> None:
    rng = random.Random(14)
    words = [w for w in WORDS if w.isascii()]
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app), base_url="http://search.bench"
    ) as http:
        for label, user in (("user in 50 chats", LIGHT_USER), (f"user in {HEAVY:,} chats", HEAVY_USER)):
            user_id = uuid.UUID(f"00000000-0000-4000-8000-{user:012x}")
            headers = {"Authorization": f"Bearer {signer.token(user_id, f'user{user}')}"}
            for sort in ("relevance", "newest"):
                times: list[float] = []
                hits = 0
                for i in range(rounds):
                    q = " ".join(rng.sample(words, 1 if i % 2 else 2))
                    started = time.perf_counter()
                    response = await http.get("/search", params={"q": q, "sort": sort}, headers=headers)
                    times.append(time.perf_counter() - started)
                    assert response.status_code == 200, response.text
                    hits += len(response.json()["results"])
                print(
                    f"query via the app, {label}, {sort}: {summary(times)} "
                    f"(avg {hits / rounds:.1f} hits/page)"
                )
    # OpenSearch alone: terms filter with the ids vs a terms lookup from a membership document.
    heavy = [f"00000000-0000-4000-9000-{c:012x}" for c in range(HEAVY)]
    await client.index(index=f"{PREFIX}-members", id="heavy", body={"chats": heavy}, refresh=True)
    for label, chat_filter in (
        ("terms filter (5,000 ids in the request)", {"terms": {"chat_id": heavy}}),
        (
            "terms lookup (ids from a membership doc)",
            {"terms": {"chat_id": {"index": f"{PREFIX}-members", "id": "heavy", "path": "chats"}}},
        ),
    ):
        times = []
        for _ in range(rounds):
            q = rng.choice(words)
            body = {
                "size": 21,
                "query": {"bool": {"must": [{"match": {"body": q}}], "filter": [chat_filter]}},
                "track_total_hits": False,
            }
            started = time.perf_counter()
            await client.search(index=f"{PREFIX}.messages", body=body)
            times.append(time.perf_counter() - started)
        print(f"OpenSearch alone, {label}: {summary(times)}")
    await client.indices.delete(index=f"{PREFIX}-members", ignore_unavailable=True)


async def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--messages", type=int, default=100_000)
    parser.add_argument("--chats", type=int, default=10_000)
    parser.add_argument("--reseed", action="store_true")
    parser.add_argument("--rate", type=int, default=1000, help="messages per second for the lag test")
    parser.add_argument("--seconds", type=int, default=20)
    parser.add_argument("--rounds", type=int, default=200, help="queries per case")
    parser.add_argument("--skip-reindex", action="store_true", help="measure lag and queries only")
    args = parser.parse_args()
    dsn = f"postgresql://parley:parley@{ports.HOST}:{ports.POSTGRES}/parley"
    bench_dsn = seed(dsn, args.messages, args.chats, args.reseed)
    bootstrap = f"{ports.HOST}:{ports.KAFKA}"
    topics = Topics(f"bench-search-{uuid.uuid4().hex[:8]}")
    await ensure_topics(bootstrap, [topics.events], partitions=6)
    settings = SearchSettings(
        postgres_dsn=bench_dsn,
        kafka_bootstrap=bootstrap,
        kafka_topic_prefix=topics.prefix,
        opensearch_url=f"http://{ports.HOST}:{ports.OPENSEARCH}",
        search_index_prefix=PREFIX,
        auth_issuer=ISSUER,
        search_refresh_interval="1s",
    )
    client = AsyncOpenSearch(hosts=[settings.opensearch_url.get_secret_value()], timeout=60)
    signer = Signer()
    try:
        names = IndexNames(PREFIX)
        if not await alias_indices(client, names):
            await client.indices.create(
                index=names.generation(1), body={"aliases": {names.alias: {"is_write_index": True}}}
            )
        if not args.skip_reindex:
            await measure_reindex(settings, client, topics)
        app = create_app(settings, jwks=StaticJwks(signer))
        async with LifespanManager(app, startup_timeout=120, shutdown_timeout=30):
            producer = KafkaProducer(bootstrap, client_id="bench-search")
            try:
                await asyncio.sleep(5)  # the indexer joins its group
                await measure_lag(app, producer, topics, client, args.rate, args.seconds)
            finally:
                await producer.stop()
            await measure_queries(app, client, signer, args.rounds)
        stats = await client.indices.stats(index=names.alias, metric="docs,store")
        total = stats["_all"]["primaries"]
        print(f"index: {total['docs']['count']:,} docs, {total['store']['size_in_bytes'] / 1e6:.0f} MB")
    finally:
        await client.close()
        from aiokafka.admin import AIOKafkaAdminClient

        admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
        await admin.start()
        try:
            await admin.delete_topics([topics.events])
        finally:
            await admin.close()


if __name__ == "__main__":
    asyncio.run(main())
