"""Signing-key rotation without downtime, seen by the auth service and by another service's
verifier that knows the keys only through the JWKS endpoint."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from pathlib import Path

import pytest
from asgi_lifespan import LifespanManager
from jose import jwt
from parley.auth.app import create_app
from parley.auth.keys import ACTIVE_KID_FILE, KeyStore, public_pem
from parley.auth.settings import AuthSettings
from parley.common.auth import HttpJwksSource, InvalidToken, TokenVerifier

from tests.auth.conftest import ISSUER, bearer, client_for, login, signed_up


def kid_of(token: str) -> str:
    return str(jwt.get_unverified_header(token)["kid"])


async def test_rotation_keeps_old_tokens_valid_until_they_expire(
    make_settings: Callable[..., AuthSettings], keys_dir: Path, pems: list[bytes]
) -> None:
    settings = make_settings(auth_access_token_ttl_seconds=60)
    app = create_app(settings)
    async with LifespanManager(app), client_for(app) as client:
        keys: KeyStore = app.state.keys
        elsewhere = TokenVerifier(
            HttpJwksSource(f"{ISSUER}/.well-known/jwks.json", client),
            issuer=ISSUER,
            audience="parley",
            refetch_interval=0,
        )
        old = (await signed_up(client))["access_token"]
        assert kid_of(old) == "k1"
        await elsewhere.verify(old)
        assert elsewhere.known_kids == {"k1"}

        # 1. Publish the new key while the old one still signs.
        (keys_dir / "k2.pem").write_bytes(pems[1])
        (keys_dir / ACTIVE_KID_FILE).write_text("k1\n")
        assert await keys.reload()
        jwks = (await client.get("/.well-known/jwks.json")).json()
        assert [key["kid"] for key in jwks["keys"]] == ["k1", "k2"]
        assert kid_of((await login(client)).json()["access_token"]) == "k1"

        # 2. Switch signing to it.
        (keys_dir / ACTIVE_KID_FILE).write_text("k2\n")
        assert await keys.reload()
        new = (await login(client)).json()["access_token"]
        assert kid_of(new) == "k2"
        # The other service has never seen k2: one refetch, and both tokens pass.
        assert (await elsewhere.verify(new)).user_id == (await elsewhere.verify(old)).user_id
        assert elsewhere.known_kids == {"k1", "k2"}
        for token in (old, new):
            assert (await client.get("/auth/me", headers=bearer(token))).status_code == 200

        # 3. The old key file goes (too early, even): its public part stays published as long as a
        # token it signed can live (TTL + leeway), and old tokens keep working.
        (keys_dir / "k1.pem").unlink()
        assert await keys.reload()
        jwks = (await client.get("/.well-known/jwks.json")).json()
        assert [key["kid"] for key in jwks["keys"]] == ["k1", "k2"]
        assert (await client.get("/auth/me", headers=bearer(old))).status_code == 200

        # Once every token of k1 has expired, k1 leaves the JWKS, and a verifier no longer has it.
        keys._clock = lambda: time.time() + 60 + settings.auth_leeway_seconds + 1
        jwks = (await client.get("/.well-known/jwks.json")).json()
        assert [key["kid"] for key in jwks["keys"]] == ["k2"]
        fresh = TokenVerifier(
            HttpJwksSource(f"{ISSUER}/.well-known/jwks.json", client), issuer=ISSUER, audience="parley"
        )
        with pytest.raises(InvalidToken) as caught:
            await fresh.verify(old)
        assert caught.value.code == "unknown_key"
        await fresh.verify(new)


async def test_retired_public_key_file_is_published_but_never_signs(
    make_settings: Callable[..., AuthSettings], keys_dir: Path, pems: list[bytes]
) -> None:
    (keys_dir / "k0.pem").write_bytes(public_pem(pems[2]))
    app = create_app(make_settings())
    async with LifespanManager(app), client_for(app) as client:
        jwks = (await client.get("/.well-known/jwks.json")).json()
        assert [key["kid"] for key in jwks["keys"]] == ["k0", "k1"]
        assert kid_of((await signed_up(client))["access_token"]) == "k1"


async def test_without_active_kid_the_greatest_kid_signs(
    make_settings: Callable[..., AuthSettings], keys_dir: Path, pems: list[bytes]
) -> None:
    app = create_app(make_settings())
    async with LifespanManager(app), client_for(app) as client:
        assert kid_of((await signed_up(client))["access_token"]) == "k1"
        (keys_dir / "k2.pem").write_bytes(pems[1])
        assert await app.state.keys.reload()
        assert kid_of((await login(client)).json()["access_token"]) == "k2"


async def test_a_broken_key_set_keeps_the_current_keys(
    make_settings: Callable[..., AuthSettings], keys_dir: Path
) -> None:
    app = create_app(make_settings())
    async with LifespanManager(app), client_for(app) as client:
        (keys_dir / "k2.pem").write_text("-----BEGIN PRIVATE KEY-----\nhalf written")
        assert not await app.state.keys.reload()
        (keys_dir / "k2.pem").unlink()
        (keys_dir / ACTIVE_KID_FILE).write_text("k9\n")
        assert not await app.state.keys.reload()
        assert kid_of((await signed_up(client))["access_token"]) == "k1"


async def test_keys_reload_on_their_own(
    make_settings: Callable[..., AuthSettings], keys_dir: Path, pems: list[bytes]
) -> None:
    app = create_app(make_settings(auth_keys_reload_seconds=0.05))
    async with LifespanManager(app), client_for(app) as client:
        (keys_dir / "k2.pem").write_bytes(pems[1])
        for _ in range(250):  # up to 5 s; the watcher runs every 50 ms
            if app.state.keys.active.kid == "k2":
                break
            await asyncio.sleep(0.02)
        assert app.state.keys.active.kid == "k2"
        assert kid_of((await signed_up(client))["access_token"]) == "k2"
