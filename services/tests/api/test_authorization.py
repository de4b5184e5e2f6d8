"""Who may call what, for every chat endpoint: the owner, an admin, a member, a removed member and
an outsider, each against a fresh group with a message in it. Someone outside the chat gets the
very same 404 as for a chat that does not exist, and their attempt changes nothing."""

from __future__ import annotations

import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

import httpx
import pytest
from fastapi import FastAPI

from tests.api.conftest import store
from tests.factories import MakePeople, Person, send

ROLES = ("owner", "admin", "member", "removed", "outsider")


@dataclass
class Scene:
    chat_id: str
    people: dict[str, Person]
    target: Person  # a plain member the member endpoints act on
    newcomer: Person  # someone who is not in the chat, to add


async def _scene(app: FastAPI, client: httpx.AsyncClient, make_people: MakePeople) -> Scene:
    owner, admin, member, removed, outsider, target, newcomer = await make_people(
        *(f"{name}{uuid.uuid4().hex[:6]}" for name in (*ROLES, "target", "new"))
    )
    ids = [str(p.id) for p in (admin, member, removed, target)]
    response = await client.post(
        "/chats/groups", json={"title": "Matrix", "member_ids": ids}, headers=owner.auth
    )
    chat_id = response.json()["id"]
    url = f"/chats/{chat_id}"
    assert (
        await client.patch(f"{url}/members/{admin.id}", json={"role": "admin"}, headers=owner.auth)
    ).status_code == 200
    await store(app, send(uuid.UUID(chat_id), member.id, "a secret"))
    assert (await client.delete(f"{url}/members/{removed.id}", headers=owner.auth)).status_code == 204
    people = dict(zip(ROLES, (owner, admin, member, removed, outsider), strict=True))
    return Scene(chat_id, people, target, newcomer)


Call = Callable[[httpx.AsyncClient, Scene, Person, str], Awaitable[httpx.Response]]


def _call(method: str, path: str, body: Callable[[Scene], Any] | None = None, **params: Any) -> Call:
    async def call(client: httpx.AsyncClient, scene: Scene, who: Person, chat_id: str) -> httpx.Response:
        url = path.format(chat=chat_id, target=scene.target.id)
        json = body(scene) if body else None
        return await client.request(method, url, json=json, params=params, headers=who.auth)

    return call


# endpoint -> (call, expected status for owner, admin, member, removed, outsider)
MATRIX: dict[str, tuple[Call, tuple[int, int, int, int, int]]] = {
    "get chat": (_call("GET", "/chats/{chat}"), (200, 200, 200, 404, 404)),
    "rename": (_call("PATCH", "/chats/{chat}", lambda s: {"title": "Renamed"}), (200, 200, 403, 404, 404)),
    "list members": (_call("GET", "/chats/{chat}/members"), (200, 200, 200, 404, 404)),
    "add members": (
        _call("POST", "/chats/{chat}/members", lambda s: {"user_ids": [str(s.newcomer.id)]}),
        (200, 200, 403, 404, 404),
    ),
    "remove member": (_call("DELETE", "/chats/{chat}/members/{target}"), (204, 204, 403, 404, 404)),
    "change role": (
        _call("PATCH", "/chats/{chat}/members/{target}", lambda s: {"role": "admin"}),
        (200, 403, 403, 404, 404),
    ),
    "leave": (_call("POST", "/chats/{chat}/leave"), (204, 204, 204, 404, 404)),
    "mute": (_call("PUT", "/chats/{chat}/mute", lambda s: {"muted": True}), (200, 200, 200, 404, 404)),
    "mark read": (_call("POST", "/chats/{chat}/read", lambda s: {"seq": 100}), (200, 200, 200, 404, 404)),
    "history": (_call("GET", "/chats/{chat}/messages"), (200, 200, 200, 404, 404)),
    "history oldest first": (
        _call("GET", "/chats/{chat}/messages", before_seq=100, order="oldest_first"),
        (200, 200, 200, 404, 404),
    ),
    "sync": (_call("GET", "/chats/{chat}/messages", after_seq=0), (200, 200, 200, 404, 404)),
}


async def _state(client: httpx.AsyncClient, scene: Scene) -> dict[str, Any]:
    """What an outsider must not be able to change: the owner's view of chat and members."""
    owner = scene.people["owner"]
    chat = (await client.get(f"/chats/{scene.chat_id}", headers=owner.auth)).json()
    members = (await client.get(f"/chats/{scene.chat_id}/members", headers=owner.auth)).json()
    return {"chat": chat, "members": members}


@pytest.mark.parametrize("endpoint", list(MATRIX))
async def test_authorization_matrix(
    app: FastAPI, client: httpx.AsyncClient, make_people: MakePeople, endpoint: str
) -> None:
    call, expected = MATRIX[endpoint]
    scene: Scene | None = None
    # Refusals first: they change nothing, so they share a scene; a call that succeeds may have
    # changed the chat, so the next role gets a fresh one.
    for role, status in sorted(zip(ROLES, expected, strict=True), key=lambda pair: -pair[1]):
        scene = scene or await _scene(app, client, make_people)
        who = scene.people[role]
        before = await _state(client, scene) if status >= 400 else None
        response = await call(client, scene, who, scene.chat_id)
        assert response.status_code == status, (endpoint, role, response.text)
        if status == 404:
            # Exactly what a chat that does not exist answers, and nothing of the chat in it.
            nowhere = await call(client, scene, who, str(uuid.uuid4()))
            assert (nowhere.status_code, nowhere.json()) == (404, response.json())
            assert response.json()["error"]["code"] == "chat_not_found"
            assert "secret" not in response.text and "Matrix" not in response.text
        if status == 403:
            assert response.json()["error"]["code"] == "forbidden"
        if before is not None:
            assert await _state(client, scene) == before, (endpoint, role)
        else:
            scene = None


async def test_only_members_see_the_chat_in_their_list(
    app: FastAPI, client: httpx.AsyncClient, make_people: MakePeople
) -> None:
    scene = await _scene(app, client, make_people)
    for role, listed in zip(ROLES, (True, True, True, False, False), strict=True):
        chats = (await client.get("/chats", headers=scene.people[role].auth)).json()["chats"]
        assert (scene.chat_id in [c["id"] for c in chats]) is listed, role


async def test_a_removed_member_gets_nothing_of_what_happened_after(
    app: FastAPI, client: httpx.AsyncClient, make_people: MakePeople
) -> None:
    scene = await _scene(app, client, make_people)
    removed = scene.people["removed"]
    for params in ({}, {"after_seq": 0}, {"after_seq": 3}, {"before_seq": 10}):
        response = await client.get(f"/chats/{scene.chat_id}/messages", params=params, headers=removed.auth)
        assert response.status_code == 404
    # Added back, they are a member again, with nothing unread from before.
    owner = scene.people["owner"]
    again = await client.post(
        f"/chats/{scene.chat_id}/members", json={"user_ids": [str(removed.id)]}, headers=owner.auth
    )
    assert again.status_code == 200
    chat = (await client.get(f"/chats/{scene.chat_id}", headers=removed.auth)).json()
    assert chat["unread_count"] == 0 and chat["last_read_seq"] == chat["last_seq"]


async def test_direct_chat_access(client: httpx.AsyncClient, make_people: MakePeople) -> None:
    ada, bob, eve = await make_people("ada", "bob", "eve")
    chat_id = (await client.post("/chats/direct", json={"user_id": str(bob.id)}, headers=ada.auth)).json()[
        "id"
    ]
    for who, status in ((ada, 200), (bob, 200), (eve, 404)):
        assert (await client.get(f"/chats/{chat_id}", headers=who.auth)).status_code == status
        assert (await client.get(f"/chats/{chat_id}/messages", headers=who.auth)).status_code == status
        assert (await client.get(f"/chats/{chat_id}/members", headers=who.auth)).status_code == status
    # Group operations: 409 for the two members, still 404 for anyone else.
    assert (await client.patch(f"/chats/{chat_id}", json={"title": "x"}, headers=bob.auth)).status_code == 409
    assert (await client.patch(f"/chats/{chat_id}", json={"title": "x"}, headers=eve.auth)).status_code == 404
    assert (await client.post(f"/chats/{chat_id}/leave", headers=eve.auth)).status_code == 404
