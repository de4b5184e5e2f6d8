"""Cookie mode of the refresh token (browsers) and its CSRF checks; the JSON body form is unchanged."""

from __future__ import annotations

from http.cookies import SimpleCookie

import httpx
from parley.auth.cookies import COOKIE

from tests.auth.conftest import PASSWORD, bearer, register

COOKIE_MODE = {"X-Parley-Refresh": "cookie"}
HOST = "auth.test"


def refresh_cookie(response: httpx.Response) -> tuple[str, dict[str, str | bool]]:
    """The refresh cookie's value and attributes, from Set-Cookie."""
    (header,) = [h for h in response.headers.get_list("set-cookie") if h.startswith(f"{COOKIE}=")]
    jar = SimpleCookie()
    jar.load(header)
    morsel = jar[COOKIE]
    lowered = header.lower()
    return morsel.value, {
        "path": morsel["path"],
        "httponly": "httponly" in lowered,
        "secure": "secure" in lowered,
        "samesite": str(morsel["samesite"]).lower(),
        "max-age": str(morsel["max-age"]),
    }


async def cookie_login(client: httpx.AsyncClient) -> tuple[dict[str, object], str]:
    assert (await register(client)).status_code == 201
    response = await client.post(
        "/auth/login",
        json={"login": "ada", "password": PASSWORD},
        headers={**COOKIE_MODE, "Origin": f"http://{HOST}", "Sec-Fetch-Site": "same-origin"},
    )
    assert response.status_code == 200, response.text
    value, _ = refresh_cookie(response)
    return response.json(), value


def with_cookie(token: str, **headers: str) -> dict[str, str]:
    return {**COOKIE_MODE, "Cookie": f"{COOKIE}={token}", **headers}


async def test_login_in_cookie_mode_keeps_the_refresh_token_out_of_the_body(
    client: httpx.AsyncClient,
) -> None:
    pair, token = await cookie_login(client)
    assert pair["refresh_token"] is None and pair["access_token"]
    assert len(token) > 20
    # Attributes checked on a fresh login's header.
    response = await client.post(
        "/auth/login", json={"login": "ada", "password": PASSWORD}, headers=COOKIE_MODE
    )
    _, attributes = refresh_cookie(response)
    assert attributes == {
        "path": "/auth/refresh",
        "httponly": True,
        "secure": True,
        "samesite": "strict",
        "max-age": str(30 * 24 * 3600),
    }


async def test_refresh_by_cookie_rotates_it(client: httpx.AsyncClient) -> None:
    _, first = await cookie_login(client)
    response = await client.post("/auth/refresh", headers=with_cookie(first))
    assert response.status_code == 200, response.text
    assert response.json()["refresh_token"] is None
    second, _ = refresh_cookie(response)
    assert second != first
    assert (await client.get("/auth/me", headers=bearer(response.json()["access_token"]))).status_code == 200
    # The first cookie was spent: presenting it again is reuse, and ends the session.
    reused = await client.post("/auth/refresh", headers=with_cookie(first))
    assert reused.json()["error"]["code"] == "refresh_token_reused"
    assert (await client.post("/auth/refresh", headers=with_cookie(second))).status_code == 401


async def test_cookie_calls_need_the_header_and_the_same_origin(client: httpx.AsyncClient) -> None:
    _, token = await cookie_login(client)
    cookie = {"Cookie": f"{COOKIE}={token}"}
    refused = [
        cookie,  # no X-Parley-Refresh header: what a cross-site form would send
        with_cookie(token, Origin="https://evil.example"),
        with_cookie(token, **{"Sec-Fetch-Site": "cross-site"}),
        with_cookie(token, **{"Sec-Fetch-Site": "same-site"}),
    ]
    for headers in refused:
        response = await client.post("/auth/refresh", headers=headers)
        assert response.status_code == 403, headers
        assert response.json()["error"]["code"] == "csrf_check_failed"
        assert (await client.post("/auth/refresh/logout", headers=headers)).status_code == 403
    # Nothing was spent by the refused calls.
    ok = await client.post("/auth/refresh", headers=with_cookie(token, Origin=f"http://{HOST}"))
    assert ok.status_code == 200, ok.text
    # Login in cookie mode is checked the same way.
    login = await client.post(
        "/auth/login",
        json={"login": "ada", "password": PASSWORD},
        headers={**COOKIE_MODE, "Origin": "https://evil.example"},
    )
    assert login.status_code == 403


async def test_cookie_logout_ends_the_session_and_clears_the_cookie(client: httpx.AsyncClient) -> None:
    _, token = await cookie_login(client)
    response = await client.post("/auth/refresh/logout", headers=with_cookie(token))
    assert response.status_code == 204
    value, attributes = refresh_cookie(response)
    assert value == "" and attributes["max-age"] == "0" and attributes["path"] == "/auth/refresh"
    refreshed = await client.post("/auth/refresh", headers=with_cookie(token))
    assert refreshed.json()["error"]["code"] == "invalid_refresh_token"


async def test_refresh_without_body_or_cookie_is_refused(client: httpx.AsyncClient) -> None:
    response = await client.post("/auth/refresh", headers=COOKIE_MODE)
    assert response.status_code == 401
    assert response.json()["error"]["code"] == "invalid_refresh_token"


async def test_the_json_body_form_still_works_alongside(client: httpx.AsyncClient) -> None:
    assert (await register(client)).status_code == 201
    pair = (await client.post("/auth/login", json={"login": "ada", "password": PASSWORD})).json()
    assert isinstance(pair["refresh_token"], str)
    response = await client.post("/auth/refresh", json={"refresh_token": pair["refresh_token"]})
    assert response.status_code == 200 and isinstance(response.json()["refresh_token"], str)
    assert "set-cookie" not in response.headers
