"""Benchmark of the api's two hot reads: the chat list and a history page.

Seeds a database of its own (default `parley_bench` on the dev stack's PostgreSQL) with 10k users,
100k chats (80k direct, 20k groups of 3-12) and 1M messages, all with generate_series inside
PostgreSQL, then times requests through the whole app (routing, token verification, queries,
serialisation) and prints p50/p95/p99, followed by the query plans of the indexes they rely on.

    .venv/bin/python bench/api.py            # seed (if not seeded yet) and measure
    .venv/bin/python bench/api.py --reseed   # drop the bench database and seed it again

Needs the dev stack's PostgreSQL and Redis (`parley dev up core`).
"""

from __future__ import annotations

import argparse
import asyncio
import random
import statistics
import time
import uuid
from collections.abc import Awaitable, Callable
from typing import Any

import httpx
import psycopg
from asgi_lifespan import LifespanManager
from parley.api.app import create_app
from parley.api.settings import ApiSettings
from parley.devstack import ports
from parley.migrations import runner
from parley.testing.tokens import ISSUER, Signer, StaticJwks

USERS = 10_000
DIRECT_CHATS = 80_000
GROUP_CHATS = 20_000
CHATS = DIRECT_CHATS + GROUP_CHATS
# 1% of chats are busy (505 messages each), the rest have 5: 1,000,000 messages.
HOT_EVERY = 100
HOT_MESSAGES, COLD_MESSAGES = 505, 5
HOT_REACTIONS = 50  # reaction changes in each busy chat, after its messages
# One more user, in every 4th group (5,000 chats): the chat list's worst case is a user in many chats.
POWER_USER = USERS
POWER_EVERY = 4
POWER_CHATS = GROUP_CHATS // POWER_EVERY

# Deterministic ids: user i and chat c are readable in the database and computable here.
FUNCTIONS = f"""
CREATE FUNCTION pg_temp.u(i bigint) RETURNS uuid IMMUTABLE LANGUAGE sql
    AS $$ SELECT ('00000000-0000-4000-8000-' || lpad(to_hex(i), 12, '0'))::uuid $$;
CREATE FUNCTION pg_temp.c(i bigint) RETURNS uuid IMMUTABLE LANGUAGE sql
    AS $$ SELECT ('00000000-0000-4000-9000-' || lpad(to_hex(i), 12, '0'))::uuid $$;
CREATE FUNCTION pg_temp.n(c bigint) RETURNS int IMMUTABLE LANGUAGE sql
    AS $$ SELECT CASE WHEN c % {HOT_EVERY} = 0 THEN {HOT_MESSAGES} ELSE {COLD_MESSAGES} END $$;
CREATE FUNCTION pg_temp.reactions(c bigint) RETURNS int IMMUTABLE LANGUAGE sql
    AS $$ SELECT CASE WHEN c % {HOT_EVERY} = 0 THEN {HOT_REACTIONS} ELSE 0 END $$;
-- Group g = c - {DIRECT_CHATS} has 3 + g % 10 members; member j is user (g*37 + j*101) % {USERS}.
CREATE FUNCTION pg_temp.size(c bigint) RETURNS int IMMUTABLE LANGUAGE sql
    AS $$ SELECT CASE WHEN c < {DIRECT_CHATS} THEN 2 ELSE 3 + ((c - {DIRECT_CHATS}) % 10)::int END $$;
-- Direct chat c is between users c % {USERS} and that + 1 + c / {USERS} (pairs never repeat).
CREATE FUNCTION pg_temp.member(c bigint, j bigint) RETURNS bigint IMMUTABLE LANGUAGE sql
    AS $$ SELECT CASE WHEN c < {DIRECT_CHATS}
        THEN CASE WHEN j = 0 THEN c % {USERS} ELSE (c % {USERS} + 1 + c / {USERS}) % {USERS} END
        ELSE ((c - {DIRECT_CHATS}) * 37 + j * 101) % {USERS} END $$;
CREATE FUNCTION pg_temp.start(c bigint) RETURNS timestamptz IMMUTABLE LANGUAGE sql
    AS $$ SELECT timestamptz '2025-01-01 00:00:00+00' + (c * 97 % 2592000) * interval '1 second' $$;
CREATE FUNCTION pg_temp.at(c bigint, seq bigint) RETURNS timestamptz IMMUTABLE LANGUAGE sql
    AS $$ SELECT pg_temp.start(c) + seq * interval '37 seconds' $$;
CREATE FUNCTION pg_temp.last_seq(c bigint) RETURNS bigint IMMUTABLE LANGUAGE sql
    AS $$ SELECT 1 + pg_temp.n(c) + pg_temp.reactions(c) $$;
"""

SEED_STEPS: list[tuple[str, str]] = [
    (
        "users",
        f"""
        INSERT INTO auth_users (id, username, username_key, email, email_key, password_hash, disabled,
                                created_at, password_changed_at)
        SELECT pg_temp.u(i), 'user' || i, 'user' || i, 'user' || i || '@bench.test',
               'user' || i || '@bench.test', 'not-a-hash', false, now(), now()
        FROM generate_series(0, {USERS - 1}) i
        """,
    ),
    (
        "chats",
        f"""
        INSERT INTO chats (id, kind, title, direct_user_lo, direct_user_hi, created_by, created_at,
                           last_seq, last_message_seq, last_activity_at, member_count)
        SELECT pg_temp.c(c),
               CASE WHEN c < {DIRECT_CHATS} THEN 'direct' ELSE 'group' END,
               CASE WHEN c < {DIRECT_CHATS} THEN NULL ELSE 'group ' || c END,
               CASE WHEN c < {DIRECT_CHATS}
                    THEN pg_temp.u(least(pg_temp.member(c, 0), pg_temp.member(c, 1))) END,
               CASE WHEN c < {DIRECT_CHATS}
                    THEN pg_temp.u(greatest(pg_temp.member(c, 0), pg_temp.member(c, 1))) END,
               pg_temp.u(pg_temp.member(c, 0)), pg_temp.start(c),
               pg_temp.last_seq(c), 1 + pg_temp.n(c), pg_temp.at(c, pg_temp.last_seq(c)), pg_temp.size(c)
        FROM generate_series(0, {CHATS - 1}) c
        """,
    ),
    (
        "members",
        f"""
        INSERT INTO chat_members (chat_id, user_id, role, joined_at, last_read_seq, muted)
        SELECT pg_temp.c(c), pg_temp.u(pg_temp.member(c, j)),
               CASE WHEN c >= {DIRECT_CHATS} AND j = 0 THEN 'owner' ELSE 'member' END,
               pg_temp.start(c),
               -- 70% have read everything; the rest are up to 40 behind.
               CASE WHEN (c * 31 + j * 17) % 10 < 7 THEN pg_temp.last_seq(c)
                    ELSE greatest(1, pg_temp.last_seq(c) - (c * 7 + j) % 40) END,
               false
        FROM generate_series(0, {CHATS - 1}) c
        CROSS JOIN LATERAL generate_series(0, pg_temp.size(c) - 1) j
        """,
    ),
    (
        "messages",
        f"""
        INSERT INTO messages (chat_id, seq, sender_id, client_id, body, attachments, created_at)
        SELECT pg_temp.c(c), k + 1, pg_temp.u(pg_temp.member(c, k % pg_temp.size(c))),
               'b' || c || '.' || k, 'message ' || k || ' ' || repeat('x', 20 + (k % 60)::int), '[]',
               pg_temp.at(c, k + 1)
        FROM generate_series(0, {CHATS - 1}) c
        CROSS JOIN LATERAL generate_series(1, pg_temp.n(c)) k
        """,
    ),
    (
        "power user",
        f"""
        WITH u AS (
            INSERT INTO auth_users (id, username, username_key, email, email_key, password_hash, disabled,
                                    created_at, password_changed_at)
            VALUES (pg_temp.u({POWER_USER}), 'power', 'power', 'power@bench.test', 'power@bench.test',
                    'not-a-hash', false, now(), now())
            RETURNING id
        ), joined AS (
            INSERT INTO chat_members (chat_id, user_id, role, joined_at, last_read_seq, muted)
            SELECT pg_temp.c(c), (SELECT id FROM u), 'member', pg_temp.start(c),
                   greatest(1, pg_temp.last_seq(c) - c % 3), false
            FROM generate_series({DIRECT_CHATS}, {CHATS - 1}, {POWER_EVERY}) c
            RETURNING chat_id
        )
        UPDATE chats SET member_count = member_count + 1 WHERE id IN (SELECT chat_id FROM joined)
        """,
    ),
    (
        "reactions",
        f"""
        INSERT INTO message_reactions (chat_id, message_seq, emoji, user_id, created_at)
        SELECT pg_temp.c(c), 1 + r, CASE WHEN r % 2 = 0 THEN '👍' ELSE '🎉' END,
               pg_temp.u(pg_temp.member(c, (r + 1) % pg_temp.size(c))), pg_temp.at(c, 1 + pg_temp.n(c) + r)
        FROM generate_series(0, {CHATS - 1}, {HOT_EVERY}) c
        CROSS JOIN LATERAL generate_series(1, pg_temp.reactions(c)) r
        """,
    ),
    (
        "change log: chats created",
        """
        INSERT INTO chat_changes (chat_id, seq, type, command_id, event)
        SELECT m.chat_id, 1, 'chat.created', NULL, jsonb_build_object(
                   'v', 1, 'type', 'chat.created', 'chat_id', m.chat_id, 'seq', 1,
                   'actor_id', c.created_by, 'at', c.created_at, 'command_id', NULL,
                   'kind', c.kind, 'title', c.title,
                   'members', jsonb_agg(jsonb_build_object('user_id', m.user_id, 'role', m.role)))
        FROM chat_members m JOIN chats c ON c.id = m.chat_id
        GROUP BY m.chat_id, c.created_by, c.created_at, c.kind, c.title
        """,
    ),
    (
        "change log: messages",
        """
        INSERT INTO chat_changes (chat_id, seq, type, command_id, event)
        SELECT chat_id, seq, 'message.created', NULL, jsonb_build_object(
                   'v', 1, 'type', 'message.created', 'chat_id', chat_id, 'seq', seq,
                   'actor_id', sender_id, 'at', created_at, 'command_id', NULL,
                   'message', jsonb_build_object(
                       'seq', seq, 'sender_id', sender_id, 'client_id', client_id, 'body', body,
                       'attachments', attachments, 'reply_to_seq', reply_to_seq, 'created_at', created_at))
        FROM messages
        """,
    ),
    (
        "change log: reactions",
        """
        INSERT INTO chat_changes (chat_id, seq, type, command_id, event)
        SELECT chat_id, seq, 'reaction.added', NULL, jsonb_build_object(
                   'v', 1, 'type', 'reaction.added', 'chat_id', chat_id, 'seq', seq,
                   'actor_id', user_id, 'at', created_at, 'command_id', NULL,
                   'message_seq', message_seq, 'emoji', emoji, 'user_id', user_id)
        FROM (
            SELECT r.*, c.last_message_seq
                   + row_number() OVER (PARTITION BY r.chat_id ORDER BY r.message_seq) AS seq
            FROM message_reactions r JOIN chats c ON c.id = r.chat_id
        ) numbered
        """,
    ),
]


def admin_dsn(dsn: str) -> str:
    return dsn.rsplit("/", 1)[0] + "/postgres"


def seeded(dsn: str) -> bool:
    try:
        with psycopg.connect(dsn) as conn:
            row = conn.execute("SELECT count(*) FROM messages").fetchone()
            return row is not None and row[0] >= 1_000_000
    except psycopg.Error:
        return False


def seed(dsn: str) -> None:
    name = dsn.rsplit("/", 1)[1]
    with psycopg.connect(admin_dsn(dsn), autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        conn.execute(f'CREATE DATABASE "{name}"')
    runner.upgrade(dsn)
    started = time.perf_counter()
    with psycopg.connect(dsn) as conn:
        conn.execute("SET synchronous_commit = off")
        conn.execute(FUNCTIONS)
        for label, sql in SEED_STEPS:
            step = time.perf_counter()
            with conn.transaction():
                rows = conn.execute(sql).rowcount
            print(f"  seeded {label:<28} {rows:>9,} rows in {time.perf_counter() - step:6.1f} s", flush=True)
    with psycopg.connect(dsn, autocommit=True) as conn:
        step = time.perf_counter()
        # Sets the visibility map too, so the index-only scans the plans below show really are.
        conn.execute("VACUUM (ANALYZE)")
        print(f"  vacuum analyze {time.perf_counter() - step:.1f} s", flush=True)
    print(f"seeded in {time.perf_counter() - started:.0f} s", flush=True)


def user_id(i: int) -> uuid.UUID:
    return uuid.UUID(f"00000000-0000-4000-8000-{i:012x}")


def percentiles(samples: list[float]) -> str:
    cuts = statistics.quantiles(samples, n=100, method="inclusive")
    return (
        f"p50 {cuts[49] * 1000:6.2f} ms   p95 {cuts[94] * 1000:6.2f} ms   p99 {cuts[98] * 1000:6.2f} ms"
        f"   (n={len(samples)}, mean {statistics.fmean(samples) * 1000:.2f} ms)"
    )


async def timed(requests: int, call: Callable[[int], Awaitable[httpx.Response]]) -> list[float]:
    samples = []
    for n in range(requests):
        start = time.perf_counter()
        response = await call(n)
        samples.append(time.perf_counter() - start)
        assert response.status_code == 200, response.text
    return samples


def memberships(dsn: str, count: int, rng: random.Random) -> list[tuple[str, str, int]]:
    """(chat, member, last seq) samples: half in busy chats, half in the rest."""
    with psycopg.connect(dsn) as conn:
        busy = conn.execute(
            "SELECT m.chat_id, m.user_id, c.last_seq FROM chat_members m JOIN chats c ON c.id = m.chat_id"
            f" WHERE c.last_seq > {HOT_MESSAGES}"
        ).fetchall()
        quiet = conn.execute(
            "SELECT m.chat_id, m.user_id, c.last_seq FROM chat_members m JOIN chats c ON c.id = m.chat_id"
            f" WHERE c.last_seq <= {HOT_MESSAGES} ORDER BY random() LIMIT {count}"
        ).fetchall()
    picks = rng.choices(busy, k=count // 2) + rng.choices(quiet, k=count - count // 2)
    rng.shuffle(picks)
    return [(str(chat), str(user), int(last)) for chat, user, last in picks]


async def measure(dsn: str, redis_url: str, requests: int) -> None:
    signer = Signer()
    settings = ApiSettings(
        postgres_dsn=dsn, redis_url=redis_url, auth_issuer=ISSUER, redis_key_prefix="bench:"
    )
    app = create_app(settings, jwks=StaticJwks(signer))
    rng = random.Random(42)
    tokens: dict[str, str] = {}

    def auth(user: str) -> dict[str, str]:
        if user not in tokens:
            tokens[user] = signer.token(uuid.UUID(user), ttl=3600)
        return {"Authorization": f"Bearer {tokens[user]}"}

    users = [str(user_id(rng.randrange(USERS))) for _ in range(requests)]
    samples = memberships(dsn, requests, rng)
    for user in users:
        auth(user)
    for _, user, _ in samples:
        auth(user)

    async with (
        LifespanManager(app),
        httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://bench") as client,
    ):
        # Warm-up: connection pool, plan caches, the OS page cache.
        for n in range(200):
            await client.get("/chats", headers=auth(users[n % len(users)]))
            chat, user, _ = samples[n % len(samples)]
            await client.get(f"/chats/{chat}/messages", headers=auth(user))

        async def chat_list(n: int) -> httpx.Response:
            return await client.get("/chats", params={"limit": 30}, headers=auth(users[n]))

        async def latest_page(n: int) -> httpx.Response:
            chat, user, _ = samples[n]
            return await client.get(f"/chats/{chat}/messages", params={"limit": 50}, headers=auth(user))

        async def older_page(n: int) -> httpx.Response:
            chat, user, last = samples[n]
            before = rng.randrange(2, last + 1)
            params = {"limit": 50, "before_seq": before}
            return await client.get(f"/chats/{chat}/messages", params=params, headers=auth(user))

        async def sync_page(n: int) -> httpx.Response:
            chat, user, last = samples[n]
            params = {"limit": 50, "after_seq": rng.randrange(0, last)}
            return await client.get(f"/chats/{chat}/messages", params=params, headers=auth(user))

        print(f"\nlatency through the app (sequential requests, {requests} each):")
        print(f"  chat list, first page of 30        {percentiles(await timed(requests, chat_list))}")
        print(f"  history, newest page of 50         {percentiles(await timed(requests, latest_page))}")
        print(f"  history, page of 50 at a random seq {percentiles(await timed(requests, older_page))}")
        print(f"  sync, 50 changes after a random seq {percentiles(await timed(requests, sync_page))}")

        power = str(user_id(POWER_USER))

        async def power_list(n: int) -> httpx.Response:
            return await client.get("/chats", params={"limit": 30}, headers=auth(power))

        power_samples = await timed(requests // 10, power_list)
        print(f"  chat list of a user in {POWER_CHATS:,} chats  {percentiles(power_samples)}")
    # The plans for a busy chat (hundreds of messages) and for user 0 (in 31 chats).
    explain(dsn, next(sample for sample in samples if sample[2] > HOT_MESSAGES))


def explain(dsn: str, sample: tuple[str, str, int]) -> None:
    from parley.api.chat_list import _FIRST_PAGE
    from parley.api.history import _BEFORE

    chat, user, last = sample
    busy_user = str(user_id(0))
    power = str(user_id(POWER_USER))
    plans: list[tuple[str, str, dict[str, Any]]] = [
        ("chat list (first page of 30)", str(_FIRST_PAGE), {"me": busy_user, "limit": 31}),
        (
            f"chat list of a user in {POWER_CHATS:,} chats",
            str(_FIRST_PAGE),
            {"me": power, "limit": 31},
        ),
        (
            "history page (50 before a seq)",
            str(_BEFORE),
            {"me": user, "chat_id": chat, "before": max(2, last // 2), "limit": 51},
        ),
        (
            "sync page (50 changes after a seq)",
            "SELECT seq, event FROM chat_changes WHERE chat_id = :chat_id AND seq > :after"
            " ORDER BY seq LIMIT 51",
            {"chat_id": chat, "after": max(0, last // 2)},
        ),
        (
            "user lookup by prefix",
            "SELECT id, username FROM auth_users WHERE username_key ~>=~ :p AND username_key ~<~ :q"
            " AND NOT disabled ORDER BY username_key USING ~<~ LIMIT 20",
            {"p": "user12", "q": "user12\U0010ffff"},
        ),
    ]
    with psycopg.connect(dsn) as conn:
        for title, sql, params in plans:
            query = sql
            for key in sorted(params, key=len, reverse=True):
                query = query.replace(f":{key}", f"%({key})s")
            rows = conn.execute(f"EXPLAIN (ANALYZE, BUFFERS, COSTS OFF) {query}", params).fetchall()
            print(f"\n== {title}")
            for (line,) in rows:
                print("   " + line)


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument(
        "--dsn", default=f"postgresql://parley:parley@{ports.HOST}:{ports.POSTGRES}/parley_bench"
    )
    parser.add_argument("--redis-url", default=f"redis://{ports.HOST}:{ports.REDIS}/0")
    parser.add_argument("--requests", type=int, default=2000, help="Timed requests per kind.")
    parser.add_argument("--reseed", action="store_true", help="Seed again even if the database is seeded.")
    args = parser.parse_args()
    if args.reseed or not seeded(args.dsn):
        print(f"seeding {args.dsn} ...", flush=True)
        seed(args.dsn)
    else:
        print(f"using the seeded {args.dsn} (--reseed to start over)")
    asyncio.run(measure(args.dsn, args.redis_url, args.requests))


if __name__ == "__main__":
    main()
