from __future__ import annotations

import httpx

from tests.api.conftest import MakePeople


async def test_smoke(client: httpx.AsyncClient, make_people: MakePeople) -> None:
    ada, bob, cy = await make_people("ada", "bob", "cy")
    r = await client.get("/users/me", headers=ada.auth)
    assert r.status_code == 200, r.text
    r = await client.post("/chats/direct", json={"user_id": str(bob.id)}, headers=ada.auth)
    assert r.status_code == 201, r.text
    r2 = await client.post("/chats/direct", json={"user_id": str(ada.id)}, headers=bob.auth)
    assert r2.status_code == 200, r2.text
    assert r.json()["id"] == r2.json()["id"]
    r = await client.post("/chats/groups", json={"title": "g", "member_ids": [str(bob.id)]}, headers=ada.auth)
    assert r.status_code == 201, r.text
    gid = r.json()["id"]
    r = await client.post(f"/chats/{gid}/members", json={"user_ids": [str(cy.id)]}, headers=ada.auth)
    assert r.status_code == 200, r.text
    r = await client.get("/chats", headers=ada.auth)
    assert r.status_code == 200, r.text
    print(r.json())
    r = await client.get(f"/chats/{gid}/messages", params={"after_seq": 0}, headers=ada.auth)
    assert r.status_code == 200, r.text
    print(r.json())
    r = await client.get("/users", params={"prefix": "b"}, headers=ada.auth)
    assert r.status_code == 200, r.text
    print(r.json())
