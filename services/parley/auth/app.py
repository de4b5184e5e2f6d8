"""`parley serve auth`: the app factory. Nothing connects before the lifespan starts."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator

from fastapi import FastAPI

from parley.auth.keys import KeyStore, KeyWatcher
from parley.auth.passwords import PasswordHasher
from parley.auth.routes import discovery, router
from parley.auth.service import AuthService
from parley.auth.sessions import RefreshSessions
from parley.auth.settings import AuthSettings
from parley.auth.throttle import LoginThrottle
from parley.auth.tokens import AccessTokenIssuer
from parley.common.auth import TokenVerifier
from parley.common.db import Database
from parley.common.health import DatabasePing, Health, check, redis_ping, task_running
from parley.common.net import parse_networks
from parley.common.redis import create_redis
from parley.common.service import new_app


class LocalJwks:
    """The auth service verifies its own tokens from its key store, not over HTTP."""

    def __init__(self, keys: KeyStore) -> None:
        self.keys = keys

    async def fetch(self) -> dict[str, object]:
        return self.keys.jwks()


def load_keys(settings: AuthSettings) -> KeyStore:
    # Old keys stay published as long as a token they signed can live.
    retain = settings.auth_access_token_ttl_seconds + settings.auth_leeway_seconds
    if settings.auth_signing_keys_dir is not None:
        return KeyStore.from_directory(
            settings.auth_signing_keys_dir, active_kid=settings.auth_active_kid, retain_seconds=retain
        )
    if settings.auth_signing_key is not None:
        return KeyStore.from_pem(settings.auth_signing_key.get_secret_value().encode(), retain_seconds=retain)
    return KeyStore.ephemeral()


def create_app(settings: AuthSettings | None = None) -> FastAPI:
    settings = settings or AuthSettings()

    @contextlib.asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        keys = await asyncio.to_thread(load_keys, settings)
        db = Database(settings.postgres_dsn.get_secret_value())
        redis = create_redis(settings.redis_url.get_secret_value())
        hasher = await asyncio.to_thread(
            PasswordHasher,
            time_cost=settings.auth_argon2_time_cost,
            memory_kib=settings.auth_argon2_memory_kib,
            parallelism=settings.auth_argon2_parallelism,
        )
        app.state.db = db
        app.state.redis = redis
        app.state.keys = keys
        app.state.trusted_proxies = parse_networks(settings.trusted_proxies)
        app.state.token_verifier = TokenVerifier(
            LocalJwks(keys),
            issuer=settings.auth_issuer,
            audience=settings.auth_audience,
            leeway_seconds=settings.auth_leeway_seconds,
            cache_seconds=1.0,
            refetch_interval=0.0,
        )
        app.state.auth = AuthService(
            hasher=hasher,
            issuer=AccessTokenIssuer(
                keys,
                issuer=settings.auth_issuer,
                audience=settings.auth_audience,
                ttl_seconds=settings.auth_access_token_ttl_seconds,
            ),
            sessions=RefreshSessions(settings.auth_refresh_token_ttl_seconds),
            throttle=LoginThrottle(
                redis,
                prefix=settings.redis_key_prefix,
                window_seconds=settings.auth_throttle_window_seconds,
                account_limit=settings.auth_throttle_account_failures,
                address_limit=settings.auth_throttle_address_failures,
            ),
        )
        watcher = KeyWatcher(keys, settings.auth_keys_reload_seconds)
        watcher.start()
        db_ping = DatabasePing(settings.postgres_dsn.get_secret_value())
        app.state.health = Health(
            ready=[check("postgres", db_ping), check("redis", redis_ping(redis))],
            alive=[check("signing-keys", task_running(lambda: watcher.task, "the signing-key reloader"))],
        )
        try:
            yield
        finally:
            await watcher.stop()
            await redis.aclose()
            await db_ping.close()
            await db.dispose()

    app = new_app(
        settings,
        title="Parley auth",
        description="Accounts, sign-in, sessions and the keys that verify Parley's access tokens.",
        lifespan=lifespan,
    )
    app.include_router(router)
    app.include_router(discovery)
    return app
