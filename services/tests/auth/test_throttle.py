"""Login throttling per login name and per client address, and answers that do not tell whether
an account exists."""

from __future__ import annotations

import asyncio
import statistics
import time
from collections.abc import Callable

import httpx
from asgi_lifespan import LifespanManager
from parley.auth.app import create_app
from parley.auth.settings import AuthSettings
from sqlalchemy import text

from tests.auth.conftest import PASSWORD, client_for, login, register

WRONG = "definitely not it"


def assert_throttled(response: httpx.Response, window: int) -> None:
    assert response.status_code == 429, response.text
    retry_after = int(response.headers["retry-after"])
    assert 1 <= retry_after <= window
    error = response.json()["error"]
    assert error["code"] == "too_many_requests"
    assert error["details"] == {"retry_after": retry_after}


async def test_account_is_throttled_whether_it_exists_or_not(
    make_settings: Callable[..., AuthSettings],
) -> None:
    app = create_app(make_settings(auth_throttle_account_failures=3, auth_throttle_window_seconds=60))
    async with LifespanManager(app), client_for(app) as client:
        await register(client, "ada")
        for name in ("ada", "ghost"):
            for _ in range(3):
                assert (await login(client, name, WRONG)).status_code == 401
        ada, ghost = await login(client, "ada", PASSWORD), await login(client, "ghost", WRONG)
        # Even the right password is refused now: the answer must not confirm a guess.
        assert_throttled(ada, 60)
        assert_throttled(ghost, 60)
        assert ada.json()["error"]["message"] == ghost.json()["error"]["message"]
        # The name is locked from every address; other names from this address are not.
        async with client_for(app, "127.0.0.9") as elsewhere:
            assert (await login(elsewhere, "ada", PASSWORD)).status_code == 429
        await register(client, "grace")
        assert (await login(client, "grace", PASSWORD)).status_code == 200


async def test_concurrent_guesses_are_counted_before_the_password_check(
    make_settings: Callable[..., AuthSettings],
) -> None:
    """Eight wrong passwords at once for one name: at most the limit get a password check (the
    attempt is counted atomically before it), the rest are refused without one."""
    limit = 5
    app = create_app(make_settings(auth_throttle_account_failures=limit, auth_throttle_window_seconds=60))
    async with LifespanManager(app), client_for(app) as client:
        await register(client, "ada")
        hasher = app.state.auth.hasher
        verify = hasher.verify
        checked = 0

        async def counting_verify(stored: str | None, password: str) -> bool:
            nonlocal checked
            checked += 1
            return bool(await verify(stored, password))

        hasher.verify = counting_verify
        responses = await asyncio.gather(*(login(client, "ada", f"{WRONG} {index}") for index in range(8)))
        statuses = sorted(response.status_code for response in responses)
        assert checked <= limit, statuses
        assert statuses == [401] * limit + [429] * (8 - limit)
        # The right password is refused too now, and without a check.
        assert_throttled(await login(client, "ada", PASSWORD), 60)
        assert checked == limit


async def test_concurrent_wrong_current_passwords_are_counted_before_the_check(
    make_settings: Callable[..., AuthSettings],
) -> None:
    limit = 3
    app = create_app(make_settings(auth_throttle_account_failures=limit))
    async with LifespanManager(app), client_for(app) as client:
        await register(client, "ada")
        token = (await login(client, "ada", PASSWORD)).json()["access_token"]
        body = {"current_password": WRONG, "new_password": "another long passphrase"}
        responses = await asyncio.gather(
            *(
                client.post("/auth/me/password", json=body, headers={"Authorization": f"Bearer {token}"})
                for _ in range(8)
            )
        )
        statuses = sorted(response.status_code for response in responses)
        assert statuses == [403] * limit + [429] * (8 - limit)


async def test_throttle_window_ends(make_settings: Callable[..., AuthSettings]) -> None:
    app = create_app(make_settings(auth_throttle_account_failures=2, auth_throttle_window_seconds=1))
    async with LifespanManager(app), client_for(app) as client:
        await register(client, "ada")
        for _ in range(2):
            await login(client, "ada", WRONG)
        assert_throttled(await login(client, "ada", PASSWORD), 1)
        await asyncio.sleep(1.1)
        assert (await login(client, "ada", PASSWORD)).status_code == 200


async def test_success_clears_the_account_count(make_settings: Callable[..., AuthSettings]) -> None:
    app = create_app(make_settings(auth_throttle_account_failures=3))
    async with LifespanManager(app), client_for(app) as client:
        await register(client, "ada")
        for _ in range(2):
            await login(client, "ada", WRONG)
        assert (await login(client, "ada", PASSWORD)).status_code == 200
        for _ in range(2):
            assert (await login(client, "ada", WRONG)).status_code == 401


async def test_address_is_throttled_across_names(make_settings: Callable[..., AuthSettings]) -> None:
    app = create_app(make_settings(auth_throttle_account_failures=100, auth_throttle_address_failures=4))
    async with (
        LifespanManager(app),
        client_for(app, "127.0.0.2") as spray,
        client_for(app, "127.0.0.3") as other,
    ):
        await register(other, "ada")
        for index in range(4):
            assert (await login(spray, f"user{index}", WRONG)).status_code == 401
        assert_throttled(await login(spray, "ada", PASSWORD), 900)
        assert (await login(other, "ada", PASSWORD)).status_code == 200


async def test_forwarded_address_is_believed_only_from_trusted_proxies(
    make_settings: Callable[..., AuthSettings],
) -> None:
    settings = make_settings(auth_throttle_address_failures=2, trusted_proxies=["127.0.0.4/32"])
    app = create_app(settings)
    async with (
        LifespanManager(app),
        client_for(app, "127.0.0.4") as proxy,
        client_for(app, "127.0.0.5") as direct,
    ):
        await register(proxy, "ada")
        first = {"X-Forwarded-For": "198.51.100.7"}
        for _ in range(2):
            await proxy.post("/auth/login", json={"login": "nobody", "password": WRONG}, headers=first)
        response = await proxy.post("/auth/login", json={"login": "ada", "password": PASSWORD}, headers=first)
        assert response.status_code == 429
        second = {"X-Forwarded-For": "198.51.100.7, 198.51.100.8"}  # the proxy appended the real one
        response = await proxy.post(
            "/auth/login", json={"login": "ada", "password": PASSWORD}, headers=second
        )
        assert response.status_code == 200
        # A client that is not a trusted proxy cannot choose its address.
        for _ in range(2):
            await direct.post("/auth/login", json={"login": "nobody", "password": WRONG}, headers=second)
        assert (await login(direct, "ada", PASSWORD)).status_code == 429


async def test_no_timing_difference_between_absent_account_and_wrong_password(
    make_settings: Callable[..., AuthSettings],
) -> None:
    # Realistic argon2 cost (OWASP's minimum), so a skipped hash would show as a large gap.
    settings = make_settings(
        auth_argon2_time_cost=2,
        auth_argon2_memory_kib=19 * 1024,
        auth_throttle_account_failures=1000,
        auth_throttle_address_failures=1000,
    )
    app = create_app(settings)
    async with LifespanManager(app), client_for(app) as client:
        await register(client, "ada")

        async def timed(name: str) -> float:
            start = time.perf_counter()
            response = await login(client, name, WRONG)
            assert response.status_code == 401
            return time.perf_counter() - start

        await timed("ada")  # warm-up
        existing, absent = [], []
        for index in range(8):
            existing.append(await timed("ada"))
            absent.append(await timed(f"ghost{index}"))
        ratio = statistics.median(absent) / statistics.median(existing)
        assert 0.6 < ratio < 1.6, (existing, absent)


async def test_password_is_rehashed_when_the_cost_changes(
    make_settings: Callable[..., AuthSettings],
) -> None:
    cheap = create_app(make_settings())
    async with LifespanManager(cheap), client_for(cheap) as client:
        await register(client, "ada")
    stronger = create_app(make_settings(auth_argon2_time_cost=2))
    async with LifespanManager(stronger), client_for(stronger) as client:
        assert (await login(client, "ada", PASSWORD)).status_code == 200
        async with stronger.state.db.engine.connect() as conn:
            stored = (await conn.execute(text("SELECT password_hash FROM auth_users"))).scalar_one()
        assert stored.startswith("$argon2id$") and ",t=2," in stored
        assert (await login(client, "ada", PASSWORD)).status_code == 200
