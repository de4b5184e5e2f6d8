"""The happy paths and the account rules, through HTTP."""

from __future__ import annotations

import uuid

import httpx
from jose import jwt
from parley.auth.settings import AuthSettings

from tests.auth.conftest import ISSUER, PASSWORD, bearer, login, register, signed_up


async def test_register_login_me(client: httpx.AsyncClient) -> None:
    response = await client.post(
        "/auth/register",
        json={
            "username": "Ada",
            "email": "Ada@Example.org",
            "phone": "+41 44 668 18 00",
            "password": PASSWORD,
        },
    )
    assert response.status_code == 201, response.text
    user = response.json()
    assert user["username"] == "Ada"
    assert user["email"] == "Ada@Example.org"
    assert user["phone"] == "+41446681800"
    assert "password" not in str(user)

    for name in ("ada", "ADA", "ada@example.org", "ADA@EXAMPLE.ORG"):
        assert (await login(client, name)).status_code == 200, name
    pair = (await login(client, "Ada")).json()
    assert pair["token_type"] == "Bearer"
    assert pair["expires_in"] == 900

    me = await client.get("/auth/me", headers=bearer(pair["access_token"]))
    assert me.status_code == 200
    assert me.json()["id"] == user["id"]


async def test_access_token_format(client: httpx.AsyncClient, settings: AuthSettings) -> None:
    pair = await signed_up(client)
    header = jwt.get_unverified_header(pair["access_token"])
    assert header["alg"] == "RS256"
    assert header["kid"] == "k1"
    claims = jwt.get_unverified_claims(pair["access_token"])
    assert claims["iss"] == ISSUER
    assert claims["aud"] == "parley"
    uuid.UUID(claims["sub"])
    assert claims["exp"] - claims["iat"] == settings.auth_access_token_ttl_seconds
    assert claims["nbf"] == claims["iat"]
    assert len(claims["jti"]) == 32
    assert claims["preferred_username"] == "ada"
    # Two tokens never share an id.
    other = (await login(client, "ada")).json()
    assert jwt.get_unverified_claims(other["access_token"])["jti"] != claims["jti"]


async def test_refresh_token_is_opaque_and_stored_hashed(client: httpx.AsyncClient, app: object) -> None:
    pair = await signed_up(client)
    assert pair["refresh_token"].count(".") == 0
    from parley.common.db import Database
    from sqlalchemy import text

    db = app.state.db  # type: ignore[attr-defined]
    assert isinstance(db, Database)
    async with db.engine.connect() as conn:
        stored = (await conn.execute(text("SELECT token_hash FROM auth_refresh_tokens"))).scalars().all()
    assert pair["refresh_token"] not in stored
    assert len(stored) == 1 and len(stored[0]) == 64


async def test_me_requires_a_token(client: httpx.AsyncClient) -> None:
    response = await client.get("/auth/me")
    assert response.status_code == 401
    assert response.json()["error"]["code"] == "not_authenticated"
    assert response.headers["www-authenticate"].startswith("Bearer")
    basic = await client.get("/auth/me", headers={"Authorization": "Basic YWRhOnB3"})
    assert basic.status_code == 401


async def test_wrong_password_and_unknown_account_answer_alike(client: httpx.AsyncClient) -> None:
    await register(client)
    wrong = await login(client, "ada", "not the password at all")
    absent = await login(client, "nobody", "not the password at all")
    absent_email = await login(client, "nobody@example.org", "not the password at all")
    assert wrong.status_code == absent.status_code == absent_email.status_code == 401
    assert wrong.json() == absent.json() == absent_email.json()
    assert wrong.json()["error"]["code"] == "invalid_credentials"


async def test_logout_ends_this_session_only(client: httpx.AsyncClient) -> None:
    phone = await signed_up(client)
    laptop = (await login(client)).json()
    assert (
        await client.post("/auth/logout", json={"refresh_token": phone["refresh_token"]})
    ).status_code == 204
    again = await client.post("/auth/refresh", json={"refresh_token": phone["refresh_token"]})
    assert again.status_code == 401
    assert again.json()["error"]["code"] == "invalid_refresh_token"
    assert (
        await client.post("/auth/refresh", json={"refresh_token": laptop["refresh_token"]})
    ).status_code == 200
    # Unknown tokens are accepted silently: logout tells nothing.
    assert (await client.post("/auth/logout", json={"refresh_token": "nope"})).status_code == 204


async def test_logout_all_ends_every_session(client: httpx.AsyncClient) -> None:
    phone = await signed_up(client)
    laptop = (await login(client)).json()
    response = await client.post("/auth/logout-all", headers=bearer(laptop["access_token"]))
    assert response.status_code == 204
    for pair in (phone, laptop):
        refreshed = await client.post("/auth/refresh", json={"refresh_token": pair["refresh_token"]})
        assert refreshed.status_code == 401
    assert (await login(client)).status_code == 200


async def test_change_password_revokes_other_sessions(client: httpx.AsyncClient) -> None:
    phone = await signed_up(client)
    laptop = (await login(client)).json()
    new_password = "a much better passphrase"
    response = await client.post(
        "/auth/me/password",
        headers=bearer(laptop["access_token"]),
        json={"current_password": PASSWORD, "new_password": new_password},
    )
    assert response.status_code == 204, response.text
    assert (
        await client.post("/auth/refresh", json={"refresh_token": phone["refresh_token"]})
    ).status_code == 401
    assert (
        await client.post("/auth/refresh", json={"refresh_token": laptop["refresh_token"]})
    ).status_code == 200
    assert (await login(client, "ada", PASSWORD)).status_code == 401
    assert (await login(client, "ada", new_password)).status_code == 200


async def test_change_password_checks_current_and_policy(client: httpx.AsyncClient) -> None:
    pair = await signed_up(client)
    headers = bearer(pair["access_token"])
    wrong = await client.post(
        "/auth/me/password",
        headers=headers,
        json={"current_password": "not it at all", "new_password": "a much better passphrase"},
    )
    assert wrong.status_code == 403
    assert wrong.json()["error"]["code"] == "wrong_password"
    weak = await client.post(
        "/auth/me/password", headers=headers, json={"current_password": PASSWORD, "new_password": "short"}
    )
    assert weak.status_code == 422
    assert weak.json()["error"]["code"] == "weak_password"
    assert weak.json()["error"]["details"]["field"] == "new_password"
    same = await client.post(
        "/auth/me/password", headers=headers, json={"current_password": PASSWORD, "new_password": PASSWORD}
    )
    assert same.status_code == 422
    assert "unchanged" in {p["rule"] for p in same.json()["error"]["details"]["problems"]}


async def test_duplicate_usernames_and_emails(client: httpx.AsyncClient) -> None:
    assert (await register(client, "ada", "ada@example.org")).status_code == 201
    cases = {
        "ADA": "username_taken",  # case
        "\uff21\uff44\uff41": "username_taken",  # fullwidth letters (NFKC)
        "\u0430da": "mixed_scripts",  # Cyrillic a + Latin "da": a look-alike made by mixing scripts
        "\u0430\u0501\u0430": "username_taken",  # all Cyrillic (a, Komi de, a): reads as "ada"
        "\U0001d41a\U0001d41d\U0001d41a": "username_taken",  # mathematical bold letters
    }
    for index, (name, code) in enumerate(cases.items()):
        response = await register(client, name, f"other{index}@example.org")
        assert response.status_code in (409, 422), (name, response.text)
        assert response.json()["error"]["code"] == code, name
    for email in ("ADA@example.org", "ada@EXAMPLE.ORG", " ada@example.org "):
        response = await register(client, "someone", email)
        assert response.status_code == 409, email
        assert response.json()["error"] == {
            "code": "email_taken",
            "message": "This email address is already taken.",
            "details": {"field": "email"},
        }


async def test_register_rules_have_clear_messages(client: httpx.AsyncClient) -> None:
    weak = await register(client, "grace", password="grace12345")
    assert weak.status_code == 422
    error = weak.json()["error"]
    assert error["code"] == "weak_password"
    rules = {p["rule"] for p in error["details"]["problems"]}
    assert rules == {"contains_identity"}
    assert "must not contain your username" in error["message"]

    short = await register(client, "grace", password="abc")
    assert {p["rule"] for p in short.json()["error"]["details"]["problems"]} >= {"min_length"}

    for username, code in (
        ("a", "invalid_username"),
        ("bad name", "invalid_username"),
        ("_x_", "invalid_username"),
    ):
        response = await register(client, username)
        assert response.status_code == 422
        assert response.json()["error"]["code"] == code
        assert response.json()["error"]["details"] == {"field": "username"}

    bad_email = await register(client, "grace", "grace-at-example.org")
    assert bad_email.json()["error"]["code"] == "invalid_email"
    bad_phone = await client.post(
        "/auth/register",
        json={"username": "grace", "email": "g@example.org", "phone": "12345", "password": PASSWORD},
    )
    assert bad_phone.json()["error"]["code"] == "invalid_phone"


async def test_discovery_documents(client: httpx.AsyncClient) -> None:
    jwks = (await client.get("/.well-known/jwks.json")).json()
    assert [key["kid"] for key in jwks["keys"]] == ["k1"]
    assert jwks["keys"][0]["alg"] == "RS256"
    assert jwks["keys"][0]["use"] == "sig"
    assert "d" not in jwks["keys"][0]  # never the private part
    config = (await client.get("/.well-known/openid-configuration")).json()
    assert config["issuer"] == ISSUER
    assert config["jwks_uri"] == f"{ISSUER}/.well-known/jwks.json"
    assert config["id_token_signing_alg_values_supported"] == ["RS256"]


async def test_health_and_metrics(client: httpx.AsyncClient) -> None:
    assert (await client.get("/healthz")).json() == {"status": "ok", "checks": {"signing-keys": "ok"}}
    assert (await client.get("/readyz")).json() == {
        "status": "ok",
        "checks": {"postgres": "ok", "redis": "ok"},
    }
    response = await client.get("/healthz", headers={"X-Request-ID": "abc-123"})
    assert response.headers["x-request-id"] == "abc-123"
    assert len((await client.get("/healthz")).headers["x-request-id"]) == 32
    metrics = (await client.get("/metrics")).text
    assert 'http_requests_total{method="GET",route="/healthz",service="auth",status="200"}' in metrics
