"""The common error shape, on an app built like every service's."""

from __future__ import annotations

import contextlib
import logging
from collections.abc import AsyncIterator

import httpx
import pytest
from fastapi import FastAPI
from parley.common.backoff import RepeatedLog
from parley.common.errors import ApiError, TooManyRequests
from parley.common.service import new_app
from parley.common.settings import BaseServiceSettings
from pydantic import BaseModel
from redis.exceptions import ConnectionError as RedisConnectionError


class Item(BaseModel):
    name: str
    count: int


@contextlib.asynccontextmanager
async def nothing(app: FastAPI) -> AsyncIterator[None]:
    yield


def make_app() -> FastAPI:
    app = new_app(BaseServiceSettings(max_body_bytes=100), title="t", description="d", lifespan=nothing)

    @app.post("/items")
    async def create(item: Item) -> Item:
        if item.name == "taken":
            raise ApiError("Already there.", code="item_taken", status_code=409, details={"name": item.name})
        if item.name == "slow":
            raise TooManyRequests("Slow down.", retry_after=7)
        if item.name == "boom":
            raise RuntimeError("a bug")
        if item.name == "redis-away":
            # As redis-py raises it when Redis is down (an OSError underneath).
            raise RedisConnectionError(
                "Error 111 connecting to 127.0.0.1:16379."
            ) from ConnectionRefusedError(111, "refused")
        return item

    return app


@pytest.fixture
async def client() -> AsyncIterator[httpx.AsyncClient]:
    transport = httpx.ASGITransport(app=make_app(), raise_app_exceptions=False)
    async with httpx.AsyncClient(transport=transport, base_url="http://t") as c:
        yield c


async def test_api_error(client: httpx.AsyncClient) -> None:
    response = await client.post("/items", json={"name": "taken", "count": 1})
    assert response.status_code == 409
    assert response.json() == {
        "error": {"code": "item_taken", "message": "Already there.", "details": {"name": "taken"}}
    }


async def test_retry_after(client: httpx.AsyncClient) -> None:
    response = await client.post("/items", json={"name": "slow", "count": 1})
    assert response.status_code == 429
    assert response.headers["retry-after"] == "7"
    assert response.json()["error"]["details"] == {"retry_after": 7}


async def test_validation_error(client: httpx.AsyncClient) -> None:
    response = await client.post("/items", json={"name": "x", "count": "many"})
    assert response.status_code == 422
    error = response.json()["error"]
    assert error["code"] == "validation_error"
    assert error["details"] == [
        {
            "loc": ["body", "count"],
            "msg": "Input should be a valid integer, unable to parse string as an integer",
            "type": "int_parsing",
        }
    ]


async def test_framework_errors(client: httpx.AsyncClient) -> None:
    assert (await client.get("/nowhere")).json()["error"]["code"] == "not_found"
    assert (await client.get("/items")).json()["error"]["code"] == "method_not_allowed"


async def test_body_limit(client: httpx.AsyncClient) -> None:
    response = await client.post("/items", json={"name": "x" * 200, "count": 1})
    assert response.status_code == 413
    assert response.json()["error"]["code"] == "payload_too_large"


async def test_unexpected_error_is_a_500_in_the_same_shape(client: httpx.AsyncClient) -> None:
    response = await client.post("/items", json={"name": "boom", "count": 1})
    assert response.status_code == 500
    assert response.json() == {
        "error": {"code": "internal_error", "message": "Something went wrong on our side.", "details": None}
    }
    assert "a bug" not in response.text


def test_openapi_documents_the_shape() -> None:
    schema = make_app().openapi()
    responses = schema["paths"]["/items"]["post"]["responses"]
    for status in ("413", "422", "500"):
        ref = responses[status]["content"]["application/json"]["schema"]["$ref"]
        assert ref == "#/components/schemas/ErrorResponse"
    assert "HTTPValidationError" not in schema["components"]["schemas"]
    error = schema["components"]["schemas"]["ErrorBody"]
    assert set(error["required"]) == {"code", "message"}


def test_a_failure_repeated_thousands_of_times_is_logged_once_per_interval(
    caplog: pytest.LogCaptureFixture,
) -> None:
    """Issue 18: not once per attempt (the socket logged 490,000 lines in 3.5 minutes)."""
    repeated = RepeatedLog(logging.getLogger("test.repeated"), "sends failed", interval=3600)
    with caplog.at_level(logging.INFO, logger="test.repeated"):
        for _ in range(10_000):
            repeated.note(RuntimeError("Kafka away"))
        repeated.quiet()
    lines = [r.getMessage() for r in caplog.records if r.name == "test.repeated"]
    assert len(lines) == 2, lines
    assert "1 time(s) since the last report, 1 in all" in lines[0]
    assert "10000 in all" in lines[1]


async def test_a_server_away_is_a_retryable_503_and_a_bug_still_a_500(client: httpx.AsyncClient) -> None:
    away = await client.post("/items", json={"name": "redis-away", "count": 1})
    assert away.status_code == 503
    assert away.headers["retry-after"] == "1"
    assert away.json()["error"]["code"] == "unavailable"
    bug = await client.post("/items", json={"name": "boom", "count": 1})
    assert bug.status_code == 500
