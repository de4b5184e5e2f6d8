# ruff: noqa: RUF001, RUF003  (look-alike letters are the test data)
"""Profiles and user lookup."""

from __future__ import annotations

import uuid

import httpx
import sqlalchemy as sa
from fastapi import FastAPI
from parley.testing.tokens import Signer

from tests.factories import MakePeople, database


async def test_own_profile_defaults_and_changes(client: httpx.AsyncClient, make_people: MakePeople) -> None:
    [ada] = await make_people("Ada")
    me = (await client.get("/users/me", headers=ada.auth)).json()
    assert me == {
        "id": str(ada.id),
        "username": "Ada",
        "display_name": "Ada",
        "avatar_attachment_id": None,
        "custom_display_name": None,
        "notification_preferences": {"email": True, "sms": False, "delivery": "immediate"},
    }
    avatar = str(uuid.uuid4())
    response = await client.patch(
        "/users/me",
        json={
            "display_name": "  Ada L.  ",
            "avatar_attachment_id": avatar,
            "notification_preferences": {"sms": True, "email": False, "delivery": "daily_digest"},
        },
        headers=ada.auth,
    )
    assert response.status_code == 200, response.text
    me = response.json()
    assert (me["display_name"], me["custom_display_name"], me["avatar_attachment_id"]) == (
        "Ada L.",
        "Ada L.",
        avatar,
    )
    assert me["notification_preferences"] == {"email": False, "sms": True, "delivery": "daily_digest"}

    # Only what is sent changes; null clears.
    me = (await client.patch("/users/me", json={"display_name": None}, headers=ada.auth)).json()
    assert (me["display_name"], me["custom_display_name"], me["avatar_attachment_id"]) == (
        "Ada",
        None,
        avatar,
    )
    assert me["notification_preferences"]["delivery"] == "daily_digest"
    assert (await client.get("/users/me", headers=ada.auth)).json() == me


# U+202A-U+202E (embeddings, overrides) and U+2066-U+2069 (isolates).
BIDI_CONTROLS = [*range(0x202A, 0x202F), *range(0x2066, 0x206A)]


async def test_profile_validation(client: httpx.AsyncClient, make_people: MakePeople) -> None:
    [ada] = await make_people("ada")
    for body in (
        {"display_name": ""},
        {"display_name": "   "},
        {"display_name": "x" * 65},
        {"display_name": "a\x00b"},
        {"display_name": "line\nbreak"},
        # Bidirectional overrides and isolates: "evil\u202egpj.exe" renders as "evilexe.jpg".
        *({"display_name": f"evil{chr(code)}gpj.exe"} for code in BIDI_CONTROLS),
        {"avatar_attachment_id": "not-a-uuid"},
        {"notification_preferences": {"delivery": "weekly"}},
        {"notification_preferences": {"pigeon": True}},
        {"unknown": 1},
    ):
        response = await client.patch("/users/me", json=body, headers=ada.auth)
        assert response.status_code == 422, (body, response.text)
        assert response.json()["error"]["code"] == "validation_error"


async def test_public_profiles(client: httpx.AsyncClient, make_people: MakePeople) -> None:
    ada, bob = await make_people("ada", "bob")
    await client.patch("/users/me", json={"display_name": "Bobby"}, headers=bob.auth)
    response = await client.get(f"/users/{bob.id}", headers=ada.auth)
    assert response.json() == {
        "id": str(bob.id),
        "username": "bob",
        "display_name": "Bobby",
        "avatar_attachment_id": None,
    }
    assert "notification_preferences" not in response.text
    missing = await client.get(f"/users/{uuid.uuid4()}", headers=ada.auth)
    assert missing.status_code == 404 and missing.json()["error"]["code"] == "user_not_found"


async def test_lookup_by_username_prefix(
    app: FastAPI, client: httpx.AsyncClient, make_people: MakePeople
) -> None:
    people = await make_people("alice", "Alfred", "ALBERT", "bob", "al", "ａｌｅｘ", "anna")
    me = people[3]
    async with database(app).engine.begin() as conn:
        await conn.execute(sa.text("UPDATE auth_users SET disabled = true WHERE username = 'anna'"))

    async def names(prefix: str, **params: object) -> list[str]:
        response = await client.get("/users", params={"prefix": prefix, **params}, headers=me.auth)
        assert response.status_code == 200, response.text
        return [user["username"] for user in response.json()["users"]]

    # Case, width and look-alikes do not matter; ordered by the canonical name.
    assert await names("al") == ["al", "ALBERT", "ａｌｅｘ", "Alfred", "alice"]
    assert await names("AL") == await names("ａｌ") == await names("аl")  # the last "а" is Cyrillic
    assert await names("ali") == ["alice"]
    assert await names("al", limit=2) == ["al", "ALBERT"]
    assert await names("an") == []  # disabled accounts are not found
    assert await names("%") == [] and await names("_") == []  # no LIKE wildcards
    for bad in (
        {"prefix": ""},
        {"prefix": "x" * 33},
        {"prefix": "a b"},
        {"prefix": "a\x00"},
        {"prefix": "a", "limit": 51},
        {},
    ):
        assert (await client.get("/users", params=bad, headers=me.auth)).status_code == 422, bad


async def test_every_route_wants_a_valid_token(
    app: FastAPI, client: httpx.AsyncClient, make_people: MakePeople, signer: Signer
) -> None:
    [ada] = await make_people("ada")
    stranger = Signer("other-key")  # same claims, a key the api does not know
    bad_tokens = [
        None,
        "garbage",
        stranger.token(ada.id, "ada"),
        signer.token(ada.id, "ada", ttl=-120),
    ]  # expired
    for route in app.routes:
        path = getattr(route, "path", "")
        if not path.startswith(("/users", "/chats")):
            continue
        url = path.replace("{chat_id}", str(uuid.uuid4())).replace("{user_id}", str(uuid.uuid4()))
        for method in sorted(getattr(route, "methods", ())):
            for token in bad_tokens:
                headers = {"Authorization": f"Bearer {token}"} if token else {}
                response = await client.request(method, url, headers=headers, json={})
                assert response.status_code == 401, (method, url, token, response.text)
                assert response.json()["error"]["code"] in (
                    "not_authenticated",
                    "invalid_token",
                    "unknown_key",
                    "token_expired",
                )


async def test_a_deleted_account_cannot_act(
    app: FastAPI, client: httpx.AsyncClient, make_people: MakePeople
) -> None:
    ada, bob = await make_people("ada", "bob")
    async with database(app).engine.begin() as conn:
        await conn.execute(sa.text("DELETE FROM auth_users WHERE id = :id"), {"id": ada.id})
    # The token is still valid (until it expires), the account is gone.
    assert (await client.get("/users/me", headers=ada.auth)).status_code == 403
    assert (await client.patch("/users/me", json={"display_name": "x"}, headers=ada.auth)).status_code == 403
    assert (
        await client.post("/chats/direct", json={"user_id": str(bob.id)}, headers=ada.auth)
    ).status_code == 403
    assert (await client.post("/chats/groups", json={"title": "t"}, headers=ada.auth)).status_code == 403
