"""An auth app per test on its own fresh database (schema made by the real migrations) and its
own Redis key prefix, with cheap argon2 settings so the suite stays fast."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import httpx
import pytest
from asgi_lifespan import LifespanManager
from fastapi import FastAPI
from parley.auth.app import create_app
from parley.auth.keys import generate_pem
from parley.auth.settings import AuthSettings
from parley.migrations import runner

ISSUER = "http://auth.test"
PASSWORD = "correct horse battery"


@pytest.fixture(scope="session")
def pems() -> list[bytes]:
    """RSA keys made once (2048-bit generation is slow enough to matter per test)."""
    return [generate_pem() for _ in range(3)]


@pytest.fixture
def keys_dir(tmp_path: Path, pems: list[bytes]) -> Path:
    directory = tmp_path / "keys"
    directory.mkdir()
    (directory / "k1.pem").write_bytes(pems[0])
    return directory


@pytest.fixture
def migrated_dsn(pg_dsn: str) -> str:
    runner.upgrade(pg_dsn)
    return pg_dsn


@pytest.fixture
def make_settings(
    migrated_dsn: str, redis_url: str, redis_prefix: str, keys_dir: Path
) -> Callable[..., AuthSettings]:
    def make(**overrides: Any) -> AuthSettings:
        values: dict[str, Any] = {
            "postgres_dsn": migrated_dsn,
            "redis_url": redis_url,
            "redis_key_prefix": redis_prefix,
            "auth_signing_keys_dir": keys_dir,
            "auth_issuer": ISSUER,
            "auth_argon2_time_cost": 1,
            "auth_argon2_memory_kib": 256,
            "auth_argon2_parallelism": 1,
            "auth_keys_reload_seconds": 3600,
        }
        values.update(overrides)
        return AuthSettings(**values)

    return make


@pytest.fixture
def settings(make_settings: Callable[..., AuthSettings]) -> AuthSettings:
    return make_settings()


@pytest.fixture
async def app(settings: AuthSettings) -> AsyncIterator[FastAPI]:
    app = create_app(settings)
    async with LifespanManager(app):
        yield app


def client_for(app: FastAPI, address: str = "127.0.0.1") -> httpx.AsyncClient:
    return httpx.AsyncClient(transport=httpx.ASGITransport(app=app, client=(address, 40000)), base_url=ISSUER)


@pytest.fixture
async def client(app: FastAPI) -> AsyncIterator[httpx.AsyncClient]:
    async with client_for(app) as c:
        yield c


async def register(
    client: httpx.AsyncClient, username: str = "ada", email: str | None = None, password: str = PASSWORD
) -> httpx.Response:
    body = {"username": username, "email": email or f"{username}@example.org", "password": password}
    return await client.post("/auth/register", json=body)


async def login(client: httpx.AsyncClient, login: str = "ada", password: str = PASSWORD) -> httpx.Response:
    return await client.post("/auth/login", json={"login": login, "password": password})


async def signed_up(client: httpx.AsyncClient, username: str = "ada") -> dict[str, Any]:
    """Register and log in; the token pair."""
    assert (await register(client, username)).status_code == 201
    response = await login(client, username)
    assert response.status_code == 200, response.text
    pair: dict[str, Any] = response.json()
    return pair


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}
