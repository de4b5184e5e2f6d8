"""Direct and group chats: creation, limits, renaming, leaving, roles, muting, and the chat list."""

from __future__ import annotations

import asyncio
import uuid
from typing import Any

import httpx
import sqlalchemy as sa
from fastapi import FastAPI

from tests.api.conftest import store
from tests.factories import MakePeople, Person, database, delete, send


async def _group(
    client: httpx.AsyncClient, owner: Person, *members: Person, title: str = "Team"
) -> dict[str, Any]:
    response = await client.post(
        "/chats/groups", json={"title": title, "member_ids": [str(m.id) for m in members]}, headers=owner.auth
    )
    assert response.status_code == 201, response.text
    body: dict[str, Any] = response.json()
    return body


async def _scalar(app: FastAPI, sql: str, **params: Any) -> Any:
    async with database(app).engine.connect() as conn:
        return (await conn.execute(sa.text(sql), params)).scalar_one()


async def test_direct_chat_is_one_per_pair(
    app: FastAPI, client: httpx.AsyncClient, make_people: MakePeople
) -> None:
    ada, bob, cy = await make_people("ada", "bob", "cy")
    first = await client.post("/chats/direct", json={"user_id": str(bob.id)}, headers=ada.auth)
    assert first.status_code == 201
    chat = first.json()
    assert chat["kind"] == "direct" and chat["title"] is None and chat["member_count"] == 2
    assert chat["peer"] == {
        "id": str(bob.id),
        "username": "bob",
        "display_name": "bob",
        "avatar_attachment_id": None,
    }
    again = await client.post("/chats/direct", json={"user_id": str(ada.id)}, headers=bob.auth)
    assert again.status_code == 200
    assert again.json()["id"] == chat["id"] and again.json()["peer"]["id"] == str(ada.id)
    other = await client.post("/chats/direct", json={"user_id": str(cy.id)}, headers=ada.auth)
    assert other.status_code == 201 and other.json()["id"] != chat["id"]

    myself = await client.post("/chats/direct", json={"user_id": str(ada.id)}, headers=ada.auth)
    assert myself.status_code == 422 and myself.json()["error"]["code"] == "invalid_direct_chat"
    nobody = await client.post("/chats/direct", json={"user_id": str(uuid.uuid4())}, headers=ada.auth)
    assert nobody.status_code == 404 and nobody.json()["error"]["code"] == "user_not_found"


async def test_direct_chat_creation_is_idempotent_under_concurrency(
    app: FastAPI, client: httpx.AsyncClient, make_people: MakePeople
) -> None:
    ada, bob = await make_people("ada", "bob")

    async def open_chat(me: Person, other: Person) -> httpx.Response:
        return await client.post("/chats/direct", json={"user_id": str(other.id)}, headers=me.auth)

    responses = await asyncio.gather(
        *(open_chat(ada, bob) if i % 2 else open_chat(bob, ada) for i in range(24))
    )
    assert sorted(r.status_code for r in responses) == [200] * 23 + [201]
    assert len({r.json()["id"] for r in responses}) == 1
    assert await _scalar(app, "SELECT count(*) FROM chats") == 1
    assert await _scalar(app, "SELECT count(*) FROM chat_members") == 2
    assert await _scalar(app, "SELECT count(*) FROM chat_changes") == 1


async def test_group_creation_and_limits(
    app: FastAPI, client: httpx.AsyncClient, make_people: MakePeople
) -> None:
    people = await make_people(*(f"user{i}" for i in range(10)))
    owner, *others = people
    chat = await _group(client, owner, others[0], others[0], owner, title="  Friends  ")
    assert (chat["title"], chat["role"], chat["member_count"], chat["last_seq"]) == ("Friends", "owner", 2, 1)

    async def create(body: dict[str, Any]) -> httpx.Response:
        return await client.post("/chats/groups", json=body, headers=owner.auth)

    for title in ("", "   ", "x" * 129, "tab\there", None, "admins\u202e", "a\u2066b\u2069", "\u202dx"):
        assert (await create({"title": title})).status_code == 422, title
    assert (await create({"title": "x" * 128})).status_code == 201
    too_many = await create({"title": "big", "member_ids": [str(p.id) for p in others[:8]]})  # 9 > 8
    assert too_many.status_code == 409 and too_many.json()["error"]["details"] == {"limit": 8}
    assert (await create({"title": "full", "member_ids": [str(p.id) for p in others[:7]]})).status_code == 201
    ids = [str(uuid.uuid4()) for _ in range(101)]
    assert (await create({"title": "t", "member_ids": ids})).status_code == 422  # more than 100 per request
    stranger = str(uuid.uuid4())
    unknown = await create({"title": "t", "member_ids": [str(others[0].id), stranger]})
    assert unknown.status_code == 422 and unknown.json()["error"] == {
        "code": "unknown_users",
        "message": "Some of these users do not exist.",
        "details": {"user_ids": [stranger]},
    }


async def test_rename_members_roles_and_leaving(
    app: FastAPI, client: httpx.AsyncClient, make_people: MakePeople
) -> None:
    ada, bob, cy, dan = await make_people("ada", "bob", "cy", "dan")
    chat = await _group(client, ada, bob, cy)
    url = f"/chats/{chat['id']}"

    renamed = await client.patch(url, json={"title": "Renamed"}, headers=ada.auth)
    assert (
        renamed.status_code == 200
        and renamed.json()["title"] == "Renamed"
        and renamed.json()["last_seq"] == 2
    )
    same = await client.patch(url, json={"title": "Renamed"}, headers=ada.auth)
    assert same.json()["last_seq"] == 2  # no change, no seq

    added = await client.post(
        f"{url}/members", json={"user_ids": [str(dan.id), str(bob.id)]}, headers=ada.auth
    )
    assert added.status_code == 200 and [m["username"] for m in added.json()["members"]] == ["dan"]
    promoted = await client.patch(f"{url}/members/{bob.id}", json={"role": "admin"}, headers=ada.auth)
    assert promoted.status_code == 200 and promoted.json()["role"] == "admin"
    # An admin removes members but not other admins or the owner.
    assert (await client.delete(f"{url}/members/{dan.id}", headers=bob.auth)).status_code == 204
    assert (await client.delete(f"{url}/members/{ada.id}", headers=bob.auth)).status_code == 403
    assert (await client.delete(f"{url}/members/{dan.id}", headers=bob.auth)).status_code == 404
    assert (
        await client.patch(f"{url}/members/{ada.id}", json={"role": "member"}, headers=ada.auth)
    ).status_code == 409

    # The owner leaves: the longest-standing admin takes over.
    assert (await client.post(f"{url}/leave", headers=ada.auth)).status_code == 204
    members = (await client.get(f"{url}/members", headers=bob.auth)).json()["members"]
    assert {m["username"]: m["role"] for m in members} == {"bob": "owner", "cy": "member"}
    # Handing over: the new owner makes cy the owner and becomes an admin.
    assert (
        await client.patch(f"{url}/members/{cy.id}", json={"role": "owner"}, headers=bob.auth)
    ).status_code == 200
    members = (await client.get(f"{url}/members", headers=cy.auth)).json()["members"]
    assert {m["username"]: m["role"] for m in members} == {"bob": "admin", "cy": "owner"}

    changes = (await client.get(f"{url}/messages", params={"after_seq": 1}, headers=cy.auth)).json()[
        "changes"
    ]
    assert [(c["seq"], c["type"]) for c in changes] == [
        (2, "chat.renamed"),
        (3, "member.added"),
        (4, "member.role_changed"),
        (5, "member.removed"),
        (6, "member.role_changed"),
        (7, "member.removed"),
        (8, "member.role_changed"),
        (9, "member.role_changed"),
    ]
    assert changes[3]["reason"] == "removed" and changes[5]["reason"] == "left"
    assert await _scalar(app, "SELECT member_count FROM chats WHERE id = :id", id=uuid.UUID(chat["id"])) == 2


async def test_member_limit_when_adding(client: httpx.AsyncClient, make_people: MakePeople) -> None:
    people = await make_people(*(f"u{i}" for i in range(10)))
    chat = await _group(client, people[0], *people[1:7])  # 7 of 8
    url = f"/chats/{chat['id']}/members"
    too_many = await client.post(
        url, json={"user_ids": [str(people[7].id), str(people[8].id)]}, headers=people[0].auth
    )
    assert too_many.status_code == 409 and too_many.json()["error"]["code"] == "too_many_members"
    assert (
        await client.post(url, json={"user_ids": [str(people[7].id)]}, headers=people[0].auth)
    ).status_code == 200
    assert (await client.post(url, json={"user_ids": []}, headers=people[0].auth)).status_code == 422


async def test_direct_chats_have_no_group_operations(
    client: httpx.AsyncClient, make_people: MakePeople
) -> None:
    ada, bob, cy = await make_people("ada", "bob", "cy")
    chat = (await client.post("/chats/direct", json={"user_id": str(bob.id)}, headers=ada.auth)).json()
    url = f"/chats/{chat['id']}"
    for response in (
        await client.patch(url, json={"title": "x"}, headers=ada.auth),
        await client.post(f"{url}/leave", headers=ada.auth),
        await client.post(f"{url}/members", json={"user_ids": [str(cy.id)]}, headers=ada.auth),
        await client.delete(f"{url}/members/{bob.id}", headers=ada.auth),
        await client.patch(f"{url}/members/{bob.id}", json={"role": "admin"}, headers=ada.auth),
    ):
        assert response.status_code == 409 and response.json()["error"]["code"] == "not_a_group", (
            response.text
        )


async def test_mute(client: httpx.AsyncClient, make_people: MakePeople) -> None:
    ada, bob = await make_people("ada", "bob")
    chat = await _group(client, ada, bob)
    url = f"/chats/{chat['id']}/mute"
    muted = await client.put(
        url, json={"muted": True, "until": "2030-01-01T00:00:00+02:00"}, headers=ada.auth
    )
    assert muted.status_code == 200
    assert (muted.json()["muted"], muted.json()["muted_until"]) == (True, "2029-12-31T22:00:00Z")
    assert (await client.get(f"/chats/{chat['id']}", headers=bob.auth)).json()["muted"] is False  # mine only
    unmuted = await client.put(url, json={"muted": False, "until": "2030-01-01T00:00:00Z"}, headers=ada.auth)
    assert (unmuted.json()["muted"], unmuted.json()["muted_until"]) == (False, None)
    naive = await client.put(url, json={"muted": True, "until": "2030-01-01T00:00:00"}, headers=ada.auth)
    assert naive.status_code == 422


async def test_chat_list_order_preview_unread_and_pages(
    app: FastAPI, client: httpx.AsyncClient, make_people: MakePeople
) -> None:
    ada, bob, cy = await make_people("ada", "bob", "cy")
    chats = [await _group(client, ada, bob, title=f"chat {i}") for i in range(7)]
    direct = (await client.post("/chats/direct", json={"user_id": str(cy.id)}, headers=ada.auth)).json()
    ids = [uuid.UUID(c["id"]) for c in chats]
    # Activity: a message in chat 2, then chat 5, then two in chat 2 again (one deleted), one mine in 4.
    await store(app, send(ids[2], bob.id, "old news"))
    await store(app, send(ids[5], bob.id, "hello five"))
    await store(app, send(ids[2], bob.id, "x" * 300), send(ids[2], bob.id, "oops"))
    await store(app, delete(ids[2], bob.id, 4))
    await store(app, send(ids[4], ada.id, "mine"))

    listed = (await client.get("/chats", headers=ada.auth)).json()
    order = [c["id"] for c in listed["chats"]]
    expected = [ids[4], ids[2], ids[5], uuid.UUID(direct["id"]), ids[6], ids[3], ids[1], ids[0]]
    assert order == [str(i) for i in expected]
    by_id = {c["id"]: c for c in listed["chats"]}
    two = by_id[str(ids[2])]
    # The last message is the deleted one: shown as such, without content.
    assert two["last_message"]["deleted"] is True and two["last_message"]["body"] == ""
    assert two["unread_count"] == 2  # "old news" and the long one; the deleted one does not count
    five = by_id[str(ids[5])]
    assert five["last_message"]["body"] == "hello five" and five["unread_count"] == 1
    assert by_id[str(ids[4])]["unread_count"] == 0  # my own message
    assert by_id[str(ids[0])]["last_message"] is None
    assert by_id[direct["id"]]["peer"]["username"] == "cy"

    # Cursor pages walk the same order, each chat once.
    seen: list[str] = []
    cursor = None
    while True:
        params: dict[str, Any] = {"limit": 3} | ({"cursor": cursor} if cursor else {})
        page = (await client.get("/chats", params=params, headers=ada.auth)).json()
        seen += [c["id"] for c in page["chats"]]
        cursor = page["next_cursor"]
        if cursor is None:
            break
    assert seen == order

    long = await client.get(
        f"/chats/{ids[2]}/messages", params={"limit": 1, "before_seq": 4}, headers=ada.auth
    )
    assert len(long.json()["messages"][0]["body"]) == 300
    assert len(two["last_message"]["body"]) == 0
    preview = (await client.get(f"/chats/{ids[2]}", headers=bob.auth)).json()["last_message"]
    assert preview["seq"] == 4

    for bad in ("nope", "YQ", "dTEyMw", "a" * 199 + "!", "YWJj"):
        response = await client.get("/chats", params={"cursor": bad}, headers=ada.auth)
        assert response.status_code == 400 and response.json()["error"]["code"] == "invalid_cursor", bad
    assert (await client.get("/chats", params={"limit": 101}, headers=ada.auth)).status_code == 422
