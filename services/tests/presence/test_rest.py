"""`GET /presence`: real RS256 tokens checked by the common verifier, the id limit, the answer's
shape, and Redis being away."""

from __future__ import annotations

import asyncio
import uuid

import httpx
import pytest
from parley.common.events import Connected
from parley.presence.settings import PresenceSettings
from parley.presence.store import PresenceStore
from parley.testing.tokens import Signer
from pydantic import SecretStr

from tests.presence.conftest import closed_port, running


def auth(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


async def test_answers_in_the_order_asked_with_duplicates_once(
    client: httpx.AsyncClient, viewer: dict[str, str], store: PresenceStore, settings: PresenceSettings
) -> None:
    online, never = uuid.uuid4(), uuid.uuid4()
    # The app's store and this one share the test's key prefix.
    assert store.keys.redis_key_prefix == settings.redis_key_prefix
    await store.apply(
        [Connected(user_id=online, connection_id="c", instance_id="s", at="2030-01-01T00:00:00Z")],
        now=1_893_456_000.0,
    )
    response = await client.get(
        "/presence", params=[("user_ids", f"{never}, {online}"), ("user_ids", str(never))], headers=viewer
    )
    assert response.status_code == 200, response.text
    assert response.json() == {
        "users": [
            {"user_id": str(never), "status": "offline", "last_seen": None},
            {"user_id": str(online), "status": "online", "last_seen": "2030-01-01T00:00:00Z"},
        ]
    }


@pytest.mark.parametrize(
    ("headers", "code"),
    [
        ({}, "not_authenticated"),
        (auth("not.a.token"), "invalid_token"),
        ({"Authorization": "Basic dXNlcjpwYXNz"}, "not_authenticated"),
    ],
)
async def test_a_token_is_required(client: httpx.AsyncClient, headers: dict[str, str], code: str) -> None:
    response = await client.get("/presence", params={"user_ids": str(uuid.uuid4())}, headers=headers)
    assert response.status_code == 401
    assert response.json()["error"]["code"] == code
    assert response.headers["www-authenticate"].startswith("Bearer")


async def test_tokens_the_service_must_refuse(client: httpx.AsyncClient, signer: Signer) -> None:
    user = uuid.uuid4()
    stranger = Signer(kid=signer.kid)  # same key id, another key: a forgery
    refused = {
        "expired": signer.token(user, ttl=-120),
        "other audience": Signer(audience="elsewhere").token(user),
        "forged": stranger.token(user),
    }
    for name, token in refused.items():
        response = await client.get("/presence", params={"user_ids": str(user)}, headers=auth(token))
        assert response.status_code == 401, name
    ok = await client.get("/presence", params={"user_ids": str(user)}, headers=auth(signer.token(user)))
    assert ok.status_code == 200


@pytest.mark.parametrize(
    ("user_ids", "kind"),
    [
        ("", "missing"),
        (" , ,", "missing"),
        ("not-a-uuid", "uuid_parsing"),
        (",".join(str(uuid.uuid4()) for _ in range(6)), "too_many"),  # the tests' limit is 5
    ],
)
async def test_bad_lists_of_ids(
    client: httpx.AsyncClient, viewer: dict[str, str], user_ids: str, kind: str
) -> None:
    response = await client.get("/presence", params={"user_ids": user_ids}, headers=viewer)
    assert response.status_code == 422
    body = response.json()["error"]
    assert body["code"] == "validation_error"
    assert body["details"][0]["type"] == kind
    assert body["details"][0]["loc"] == ["query", "user_ids"]


async def test_the_limit_counts_distinct_ids(client: httpx.AsyncClient, viewer: dict[str, str]) -> None:
    ids = [str(uuid.uuid4()) for _ in range(5)]
    response = await client.get("/presence", params={"user_ids": ",".join(ids + ids)}, headers=viewer)
    assert response.status_code == 200
    assert len(response.json()["users"]) == 5


async def test_no_parameter_at_all(client: httpx.AsyncClient, viewer: dict[str, str]) -> None:
    response = await client.get("/presence", headers=viewer)
    assert response.status_code == 422
    assert response.json()["error"]["code"] == "validation_error"


async def test_documented_in_openapi(client: httpx.AsyncClient) -> None:
    schema = (await client.get("/openapi.json")).json()
    operation = schema["paths"]["/presence"]["get"]
    assert {"200", "401", "422", "503"} <= set(operation["responses"])
    assert operation["security"]


async def test_redis_away_is_503_and_the_service_stays_up(settings: PresenceSettings, signer: Signer) -> None:
    """Redis and Kafka both unreachable from the start: the lifespan starts anyway, its loops
    retry in the background, requests get a clear 503."""
    away = settings.model_copy(
        update={
            "redis_url": SecretStr(f"redis://127.0.0.1:{closed_port()}/0"),
            "kafka_bootstrap": f"127.0.0.1:{closed_port()}",
        }
    )
    user = uuid.uuid4()
    async with running(away, signer) as (app, client):
        response = await client.get(
            "/presence", params={"user_ids": str(user)}, headers=auth(signer.token(user))
        )
        assert response.status_code == 503
        assert response.json()["error"]["code"] == "presence_unavailable"
        assert (await client.get("/healthz")).status_code == 200
        for _ in range(100):
            if app.state.sweeper.backoff.failures and app.state.consumer.kafka_backoff.failures:
                break
            await asyncio.sleep(0.1)
        assert app.state.sweeper.backoff.failures >= 1
        assert app.state.consumer.kafka_backoff.failures >= 1
