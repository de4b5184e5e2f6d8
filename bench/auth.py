"""Auth throughput on this machine: logins/s, refreshes/s, in-process verifications/s.

Runs the auth app in-process (ASGI, with its lifespan) against the dev stack's real PostgreSQL and
Redis (started if needed), on a fresh database that is dropped afterwards, with the production
argon2id cost unless told otherwise. Every loop is bounded in time and count.

    .venv/bin/python bench/auth.py [--seconds 5] [--concurrency 4]
"""

from __future__ import annotations

import argparse
import asyncio
import tempfile
import time
import uuid
from collections.abc import Awaitable, Callable
from pathlib import Path

import httpx
from asgi_lifespan import LifespanManager
from parley.auth.app import create_app
from parley.auth.keys import generate_pem
from parley.auth.settings import AuthSettings
from parley.common.auth import TokenVerifier
from parley.devstack.stack import Stack
from parley.migrations import runner
from parley.testing.slices import delete_prefix, fresh_database

PASSWORD = "bench password of some length"  # noqa: S105  (the bench's own throwaway accounts)
MAX_OPERATIONS = 1_000_000


async def rate(
    name: str, operation: Callable[[int], Awaitable[None]], *, seconds: float, concurrency: int
) -> float:
    """Run `operation(worker)` from `concurrency` workers for `seconds`; operations per second."""
    done = 0
    deadline = time.perf_counter() + seconds

    async def worker(index: int) -> None:
        nonlocal done
        while time.perf_counter() < deadline and done < MAX_OPERATIONS:
            await operation(index)
            done += 1

    start = time.perf_counter()
    await asyncio.gather(*(worker(i) for i in range(concurrency)))
    per_second = done / (time.perf_counter() - start)
    elapsed = time.perf_counter() - start
    print(f"{name:<18}{per_second:>10.1f}   ({done} in {elapsed:.1f} s, {concurrency} at once)")
    return per_second


async def bench(dsn: str, redis_url: str, keys: Path, args: argparse.Namespace) -> None:
    prefix = f"bench:{uuid.uuid4().hex[:8]}:"
    settings = AuthSettings(
        postgres_dsn=dsn,
        redis_url=redis_url,
        redis_key_prefix=prefix,
        auth_signing_keys_dir=keys,
        auth_throttle_address_failures=10**6,
        **argon2_overrides(args),
    )
    print(
        f"argon2id t={settings.auth_argon2_time_cost} m={settings.auth_argon2_memory_kib // 1024} MiB "
        f"p={settings.auth_argon2_parallelism}; RSA-2048 RS256; in-process ASGI"
    )
    app = create_app(settings)
    transport = httpx.ASGITransport(app=app)
    try:
        async with (
            LifespanManager(app),
            httpx.AsyncClient(transport=transport, base_url="http://auth") as client,
        ):
            users = [f"bench{i}" for i in range(args.concurrency)]
            for name in users:
                body = {"username": name, "email": f"{name}@example.org", "password": PASSWORD}
                (await client.post("/auth/register", json=body)).raise_for_status()

            async def login(worker: int) -> None:
                response = await client.post(
                    "/auth/login", json={"login": users[worker], "password": PASSWORD}
                )
                response.raise_for_status()

            await rate("logins/s", login, seconds=args.seconds, concurrency=args.concurrency)

            tokens: dict[int, str] = {}
            for worker in range(args.refresh_concurrency):
                response = await client.post(
                    "/auth/login", json={"login": users[worker % len(users)], "password": PASSWORD}
                )
                tokens[worker] = response.json()["refresh_token"]

            async def refresh(worker: int) -> None:
                response = await client.post("/auth/refresh", json={"refresh_token": tokens[worker]})
                response.raise_for_status()
                tokens[worker] = response.json()["refresh_token"]

            await rate("refreshes/s", refresh, seconds=args.seconds, concurrency=args.refresh_concurrency)

            access = (await client.post("/auth/login", json={"login": users[0], "password": PASSWORD})).json()
            verifier: TokenVerifier = app.state.token_verifier
            await verifier.verify(access["access_token"])  # keys cached, as in a running service

            async def verify(worker: int) -> None:
                await verifier.verify(access["access_token"])

            await rate("verifications/s", verify, seconds=args.seconds, concurrency=1)
    finally:
        await delete_prefix(redis_url, prefix)


def argon2_overrides(args: argparse.Namespace) -> dict[str, int]:
    overrides = {
        "auth_argon2_time_cost": args.argon2_time,
        "auth_argon2_memory_kib": args.argon2_memory_mib * 1024 if args.argon2_memory_mib else None,
        "auth_argon2_parallelism": args.argon2_parallelism,
    }
    return {key: value for key, value in overrides.items() if value is not None}


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--seconds", type=float, default=5.0, help="per measurement (default 5)")
    parser.add_argument("--concurrency", type=int, default=4, help="logins in flight (default 4)")
    parser.add_argument("--refresh-concurrency", type=int, default=8, help="refreshes in flight (default 8)")
    parser.add_argument("--argon2-time", type=int, help="argon2id passes (default: the service's)")
    parser.add_argument("--argon2-memory-mib", type=int, help="argon2id memory (default: the service's)")
    parser.add_argument("--argon2-parallelism", type=int, help="argon2id lanes (default: the service's)")
    args = parser.parse_args()

    endpoints = Stack().up(["postgres", "redis"])
    with fresh_database(endpoints["postgres"]) as dsn, tempfile.TemporaryDirectory() as keys:
        runner.upgrade(dsn)
        (Path(keys) / "k1.pem").write_bytes(generate_pem())
        asyncio.run(bench(dsn, endpoints["redis"]["url"], Path(keys), args))


if __name__ == "__main__":
    main()
