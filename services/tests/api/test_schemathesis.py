"""schemathesis against the api's OpenAPI schema, over real HTTP (uvicorn) on the real servers:
whatever a client sends, the answer is never a 5xx and always matches the schema.

Random ids would only ever meet 404s, so the caller owns a group and a direct chat with messages
in them, and half of the generated chat and user ids are swapped for those real ones.

And a property over every datetime a client can send to the api or auth (found in their OpenAPI
schemas): in the documented range it is taken, outside it (or without an offset) it is a 422."""

from __future__ import annotations

import asyncio
import os
import threading
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import httpx
import psycopg
import pytest
import schemathesis
import uvicorn
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from parley.api.app import create_app
from parley.api.settings import ApiSettings
from parley.common.chat.store import store_commands
from parley.common.db import Database
from parley.common.topics import Topics
from parley.testing.slices import unique
from parley.testing.tokens import ISSUER, Signer, StaticJwks
from parley.testing.waiting import free_port
from schemathesis.checks import not_a_server_error
from schemathesis.generation import GenerationMode
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from tests.factories import create_users, react, send

CHECKS = [not_a_server_error, response_schema_conformance, status_code_conformance, content_type_conformance]


@dataclass(frozen=True)
class LiveApi:
    url: str
    headers: dict[str, str]
    chat_ids: list[str]
    members: list[str]  # in the group and staying there
    victims: list[str]  # in the group, for the removals


async def _seed(dsn: str) -> tuple[list[uuid.UUID], uuid.UUID, uuid.UUID]:
    db = Database(dsn, pool_size=2)
    try:
        users = await create_users(db.engine, ["me", "bob", "cy", "dan", "eve"])
        return users, users[0], users[1]
    finally:
        await db.dispose()


async def _messages(dsn: str, chat_ids: list[uuid.UUID], me: uuid.UUID, bob: uuid.UUID) -> None:
    db = Database(dsn, pool_size=2)
    try:
        async with db.engine.begin() as conn:
            for chat_id in chat_ids:
                await store_commands(conn, [send(chat_id, bob, f"hello {n}") for n in range(5)])
                await store_commands(conn, [react(chat_id, me, 2, "👍")])
    finally:
        await db.dispose()


@pytest.fixture(scope="module")
def live_api(
    postgres_server: dict[str, str],
    migrated_template: str,
    redis_server: dict[str, str],
    running_kafka: str,
    session_topics: Topics,
) -> Iterator[LiveApi]:
    base = postgres_server["dsn"].rsplit("/", 1)[0]
    name = unique("t_")
    with psycopg.connect(f"{base}/postgres", autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}" TEMPLATE "{migrated_template}"')
    dsn = f"{base}/{name}"
    signer = Signer()
    settings = ApiSettings(
        postgres_dsn=dsn,
        redis_url=redis_server["url"],
        redis_key_prefix=unique("t:") + ":",
        kafka_bootstrap=running_kafka,
        kafka_topic_prefix=session_topics.prefix,
        auth_issuer=ISSUER,
    )
    port = free_port()
    server = uvicorn.Server(
        uvicorn.Config(
            create_app(settings, jwks=StaticJwks(signer)), host="127.0.0.1", port=port, log_level="warning"
        )
    )
    thread = threading.Thread(target=server.run, name="schemathesis-api", daemon=True)
    thread.start()
    try:
        deadline = time.monotonic() + 30
        while not server.started:
            assert thread.is_alive() and time.monotonic() < deadline, "the api did not start"
            time.sleep(0.05)
        users, me, bob = asyncio.run(_seed(dsn))
        url = f"http://127.0.0.1:{port}"
        headers = {"Authorization": f"Bearer {signer.token(me, 'me', ttl=3600)}"}
        with httpx.Client(base_url=url, headers=headers) as client:
            others = [str(user) for user in users[1:]]
            group = client.post("/chats/groups", json={"title": "Fuzz", "member_ids": others}).json()["id"]
            direct = client.post("/chats/direct", json={"user_id": str(bob)}).json()["id"]
        asyncio.run(_messages(dsn, [uuid.UUID(group), uuid.UUID(direct)], me, bob))
        yield LiveApi(
            url, headers, [group, direct], [str(u) for u in users[1:3]], [str(u) for u in users[3:]]
        )
    finally:
        server.should_exit = True
        thread.join(timeout=30)
        with psycopg.connect(f"{base}/postgres", autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


# The schema is static: read it from an app that is made but never started (nothing connects).
SCHEMA = schemathesis.openapi.from_dict(create_app(ApiSettings()).openapi())
SCHEMA.config.generation.update(with_security_parameters=False)
OPERATIONS = {op.ok().label: op.ok() for op in SCHEMA.get_all_operations()}
# Per operation and mode; PARLEY_FUZZ_EXAMPLES=500 for a long run.
EXAMPLES = int(os.environ.get("PARLEY_FUZZ_EXAMPLES", "20"))


def _point_at_real_things(label: str, case: Any, live: LiveApi) -> None:
    """Deterministic in the generated data, so hypothesis can replay and shrink a failure. The
    caller never removes themselves (user ids are the others') and leaves only the direct chat
    (a 409), so the group stays theirs for the operations that follow."""
    params = case.path_parameters or {}
    chats = live.chat_ids[1:] if label.endswith("/leave") else live.chat_ids
    users = live.victims if label.startswith("DELETE") else live.members
    for key, pool in (("chat_id", chats), ("user_id", users)):
        value = params.get(key)
        if isinstance(value, str) and value[:1] in "02468ace":
            params[key] = pool[sum(map(ord, value)) % len(pool)]


# Operations whose generated requests must get past the membership check now and then, so the run
# is known to have exercised the handlers and not only the 404 of an unknown chat.
REACHES_HANDLER = {
    "GET /chats/{chat_id}",
    "GET /chats/{chat_id}/members",
    "GET /chats/{chat_id}/messages",
    "PATCH /chats/{chat_id}",
    "PATCH /chats/{chat_id}/members/{user_id}",
    "POST /chats/{chat_id}/read",
    "PUT /chats/{chat_id}/mute",
    "GET /users/{user_id}",
}


def _has_inputs(label: str) -> bool:
    raw = OPERATIONS[label].definition.raw
    return bool(raw.get("parameters") or raw.get("requestBody"))


# Negative data only where there is an input to make invalid (GET /users/me has none).
RUNS = [
    pytest.param(label, mode, id=f"{mode.value}-{label}")
    for label in sorted(OPERATIONS)
    for mode in (GenerationMode.POSITIVE, GenerationMode.NEGATIVE)
    if mode is GenerationMode.POSITIVE or _has_inputs(label)
]


@pytest.mark.parametrize(("label", "mode"), RUNS)
def test_the_api_never_fails_and_keeps_to_its_schema(
    label: str, mode: GenerationMode, live_api: LiveApi
) -> None:
    statuses: list[int] = []

    # schemathesis' own pytest loader does not work with this pytest; the same, by hand.
    @given(case=OPERATIONS[label].as_strategy(generation_mode=mode))
    @settings(max_examples=EXAMPLES, deadline=None, suppress_health_check=list(HealthCheck), database=None)
    def check(case: Any) -> None:
        _point_at_real_things(label, case, live_api)
        # A valid token always: a generated one would only ever meet the 401 (tested elsewhere).
        case.headers = {**(case.headers or {}), **live_api.headers}
        response = case.call_and_validate(base_url=live_api.url, checks=CHECKS)
        statuses.append(response.status_code)

    check()
    if mode is GenerationMode.POSITIVE and label in REACHES_HANDLER:
        # Past the membership check: a success, or a refusal only a member can get.
        assert any(status < 300 or status in (403, 409) for status in statuses), (
            label,
            sorted(set(statuses)),
        )


# --- every datetime input is range-checked at the edge ------------------------------------------


def _datetime_inputs(openapi: dict[str, Any]) -> set[tuple[str, str, str]]:
    """(operation, where, field) of every date-time a client sends: body fields (nested too) and
    query parameters."""
    components = openapi.get("components", {}).get("schemas", {})

    def fields(schema: dict[str, Any], path: str, seen: frozenset[str]) -> set[str]:
        if "$ref" in schema:
            name = schema["$ref"].rsplit("/", 1)[-1]
            return set() if name in seen else fields(components[name], path, seen | {name})
        found = {path} if schema.get("format") == "date-time" else set()
        for key in ("anyOf", "oneOf", "allOf"):
            for option in schema.get(key, []):
                found |= fields(option, path, seen)
        for name, child in schema.get("properties", {}).items():
            found |= fields(child, f"{path}.{name}" if path else name, seen)
        if "items" in schema:
            found |= fields(schema["items"], f"{path}[]", seen)
        return found

    inputs = set()
    for route, operations in openapi["paths"].items():
        for method, operation in operations.items():
            label = f"{method.upper()} {route}"
            for parameter in operation.get("parameters", []):
                for name in fields(parameter.get("schema", {}), "", frozenset()):
                    inputs.add((label, parameter["in"], name or parameter["name"]))
            for content in operation.get("requestBody", {}).get("content", {}).values():
                for name in fields(content.get("schema", {}), "", frozenset()):
                    inputs.add((label, "body", name))
    return inputs


def _mute(live: LiveApi, value: str) -> httpx.Request:
    return httpx.Request(
        "PUT",
        f"{live.url}/chats/{live.chat_ids[0]}/mute",
        json={"muted": True, "until": value},
        headers=live.headers,
    )


# How to send each datetime input in an otherwise valid request. A new datetime input in the api
# or auth schema fails the coverage test below until it has a line here.
DATETIME_REQUESTS: dict[tuple[str, str, str], Any] = {
    ("PUT /chats/{chat_id}/mute", "body", "until"): _mute,
}


def test_every_datetime_input_of_api_and_auth_is_covered() -> None:
    from parley.auth.app import create_app as create_auth_app
    from parley.auth.settings import AuthSettings

    api_inputs = _datetime_inputs(create_app(ApiSettings()).openapi())
    auth_inputs = _datetime_inputs(create_auth_app(AuthSettings()).openapi())
    assert api_inputs | auth_inputs == set(DATETIME_REQUESTS)


_offsets = st.builds(
    lambda minutes: timezone(timedelta(minutes=minutes)), st.integers(-(24 * 60 - 1), 24 * 60 - 1)
)
_datetimes = st.one_of(
    st.datetimes(timezones=st.one_of(st.just(UTC), _offsets)),
    st.datetimes(),  # naive: no offset, refused
)


@pytest.mark.parametrize("key", sorted(DATETIME_REQUESTS), ids=" ".join)
def test_datetime_inputs_are_range_checked(key: tuple[str, str, str], live_api: LiveApi) -> None:
    """Year 1 or 9999 with an offset, naive times, anything in between: a 2xx when in the
    documented range, a 422 otherwise, never a 5xx (it used to reach PostgreSQL and fail there)."""
    build = DATETIME_REQUESTS[key]
    outcomes: set[tuple[bool, int]] = set()

    @given(moment=_datetimes)
    @settings(
        max_examples=3 * EXAMPLES, deadline=None, suppress_health_check=list(HealthCheck), database=None
    )
    def check(moment: datetime) -> None:
        valid = moment.tzinfo is not None and _storable(moment)
        with httpx.Client() as client:
            response = client.send(build(live_api, moment.isoformat()))
        assert response.status_code == (200 if valid else 422), (moment.isoformat(), response.text)
        outcomes.add((valid, response.status_code))

    check()
    # Both sides of the range were tried (the bounds are where hypothesis looks first).
    assert {valid for valid, _ in outcomes} == {True, False}, outcomes


def _storable(moment: datetime) -> bool:
    try:
        utc = moment.astimezone(UTC)
    except OverflowError:
        return False
    return datetime(1970, 1, 1, tzinfo=UTC) <= utc < datetime(9999, 1, 1, tzinfo=UTC)
