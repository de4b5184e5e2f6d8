"""Refresh-token rotation and reuse detection."""

from __future__ import annotations

import asyncio
import logging

import httpx
import pytest
from fastapi import FastAPI
from parley.common.db import Database
from sqlalchemy import text

from tests.auth.conftest import bearer, signed_up


async def refresh(client: httpx.AsyncClient, token: str) -> httpx.Response:
    return await client.post("/auth/refresh", json={"refresh_token": token})


async def test_every_refresh_rotates(client: httpx.AsyncClient) -> None:
    pair = await signed_up(client)
    seen = {pair["refresh_token"]}
    for _ in range(3):
        response = await refresh(client, pair["refresh_token"])
        assert response.status_code == 200, response.text
        pair = response.json()
        assert pair["refresh_token"] not in seen
        seen.add(pair["refresh_token"])
        assert (await client.get("/auth/me", headers=bearer(pair["access_token"]))).status_code == 200


async def test_reuse_revokes_the_whole_family_and_is_logged(
    client: httpx.AsyncClient, caplog: pytest.LogCaptureFixture
) -> None:
    first = await signed_up(client)
    other_device = (
        await client.post("/auth/login", json={"login": "ada", "password": "correct horse battery"})
    ).json()
    second = (await refresh(client, first["refresh_token"])).json()  # the legitimate client
    third = (await refresh(client, second["refresh_token"])).json()

    # Someone replays the first token (stolen earlier).
    with caplog.at_level(logging.WARNING, logger="parley.auth.sessions"):
        reused = await refresh(client, first["refresh_token"])
    assert reused.status_code == 401
    assert reused.json()["error"]["code"] == "refresh_token_reused"
    assert any("refresh token reuse" in record.getMessage() for record in caplog.records)

    # Every token of that family is dead now, the newest one included ...
    for token in (second["refresh_token"], third["refresh_token"], first["refresh_token"]):
        response = await refresh(client, token)
        assert response.status_code == 401
        assert response.json()["error"]["code"] == "invalid_refresh_token"
    # ... but another device's session is untouched.
    assert (await refresh(client, other_device["refresh_token"])).status_code == 200


async def test_concurrent_use_of_one_token_is_reuse(client: httpx.AsyncClient) -> None:
    pair = await signed_up(client)
    responses = await asyncio.gather(*(refresh(client, pair["refresh_token"]) for _ in range(2)))
    statuses = sorted(r.status_code for r in responses)
    assert statuses == [200, 401]
    winner = next(r for r in responses if r.status_code == 200).json()
    assert (await refresh(client, winner["refresh_token"])).status_code == 401


async def test_expired_and_unknown_refresh_tokens(client: httpx.AsyncClient, app: FastAPI) -> None:
    pair = await signed_up(client)
    db = app.state.db
    assert isinstance(db, Database)
    async with db.engine.begin() as conn:
        await conn.execute(text("UPDATE auth_refresh_tokens SET expires_at = now() - interval '1 second'"))
    expired = await refresh(client, pair["refresh_token"])
    assert expired.status_code == 401
    assert expired.json()["error"]["code"] == "invalid_refresh_token"
    unknown = await refresh(client, "x" * 43)
    assert unknown.status_code == 401
    assert unknown.json() == expired.json()
