"""Oversized and malformed requests get a clear 4xx in the common error shape, never a 5xx."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable

import httpx
import pytest
from asgi_lifespan import LifespanManager
from parley.auth.app import create_app
from parley.auth.settings import AuthSettings

from tests.auth.conftest import client_for

ENDPOINTS = ["/auth/register", "/auth/login", "/auth/refresh", "/auth/logout"]


def assert_error(response: httpx.Response, status: int, code: str) -> dict[str, object]:
    assert response.status_code == status, response.text
    body = response.json()
    assert set(body) == {"error"}
    assert set(body["error"]) == {"code", "message", "details"}
    assert body["error"]["code"] == code
    assert body["error"]["message"]
    error: dict[str, object] = body["error"]
    return error


MALFORMED = [
    (b"{", "application/json"),
    (b"", "application/json"),
    (b"[]", "application/json"),
    (b"null", "application/json"),
    (b'"text"', "application/json"),
    (b"\xff\xfe\x00garbage", "application/json"),
    (b'{"login": 1, "password": ["x"]}', "application/json"),
    (b"login=ada&password=x", "application/x-www-form-urlencoded"),
    (b"plain words", "text/plain"),
]


async def test_malformed_bodies(client: httpx.AsyncClient) -> None:
    # One app for all cases (a fresh database each would be most of the suite's time).
    for path in ENDPOINTS:
        for content, content_type in MALFORMED:
            response = await client.post(path, content=content, headers={"Content-Type": content_type})
            if path == "/auth/refresh" and content in (b"", b"null"):
                # No body is a browser's cookie call (docs/auth.md): without its header, refused.
                assert_error(response, 403, "csrf_check_failed")
                continue
            error = assert_error(response, 422, "validation_error")
            assert isinstance(error["details"], list) and error["details"], (path, content)


async def test_validation_details_point_at_the_field(client: httpx.AsyncClient) -> None:
    response = await client.post("/auth/login", json={"login": "ada", "password": "", "extra": 1})
    error = assert_error(response, 422, "validation_error")
    locations = {tuple(item["loc"]) for item in error["details"]}  # type: ignore[attr-defined]
    assert locations == {("body", "password"), ("body", "extra")}


async def test_long_fields_are_refused_by_the_schema(client: httpx.AsyncClient) -> None:
    response = await client.post("/auth/login", json={"login": "a" * 321, "password": "x" * 300})
    assert_error(response, 422, "validation_error")


@pytest.fixture
async def small_client(make_settings: Callable[..., AuthSettings]) -> AsyncIterator[httpx.AsyncClient]:
    app = create_app(make_settings(max_body_bytes=1024))
    async with LifespanManager(app), client_for(app) as client:
        yield client


async def test_oversized_body_with_length(small_client: httpx.AsyncClient) -> None:
    response = await small_client.post("/auth/login", json={"login": "a" * 2000, "password": "x"})
    error = assert_error(response, 413, "payload_too_large")
    assert error["details"] == {"limit": 1024}


async def test_oversized_body_streamed_without_length(small_client: httpx.AsyncClient) -> None:
    async def chunks() -> AsyncIterator[bytes]:
        yield b'{"login": "'
        for _ in range(10):
            yield b"a" * 200
        yield b'", "password": "x"}'

    response = await small_client.post(
        "/auth/login", content=chunks(), headers={"Content-Type": "application/json"}
    )
    assert "content-length" not in response.request.headers
    assert_error(response, 413, "payload_too_large")


async def test_bad_content_length(small_client: httpx.AsyncClient) -> None:
    response = await small_client.post(
        "/auth/login", content=b"{}", headers={"Content-Type": "application/json", "Content-Length": "abc"}
    )
    assert_error(response, 400, "bad_request")


async def test_unknown_path_and_method(client: httpx.AsyncClient) -> None:
    assert_error(await client.get("/nope"), 404, "not_found")
    assert_error(await client.get("/auth/login"), 405, "method_not_allowed")


async def test_unstorable_strings_are_422_not_500(client: httpx.AsyncClient) -> None:
    # NUL (PostgreSQL text cannot hold it) and a lone surrogate (not encodable as UTF-8), in every
    # string field that reaches the database or the password hasher.
    for bad in ("\\u0000", "\\ud800"):
        bodies = {
            "/auth/login": [
                f'{{"login": "ada{bad}", "password": "x"}}',
                f'{{"login": "ada", "password": "x{bad}"}}',
            ],
            "/auth/register": [
                f'{{"username": "ada{bad}", "email": "a@example.org", "password": "correct horse battery"}}',
                f'{{"username": "ada", "email": "a@example.org", "password": "correct horse {bad}"}}',
            ],
            "/auth/refresh": [f'{{"refresh_token": "x{bad}"}}'],
            "/auth/logout": [f'{{"refresh_token": "x{bad}"}}'],
        }
        for path, variants in bodies.items():
            for content in variants:
                response = await client.post(
                    path, content=content, headers={"Content-Type": "application/json"}
                )
                assert_error(response, 422, "validation_error")
