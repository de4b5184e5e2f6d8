"""Parley's own services as dev stack processes: started from the stack, reachable, doing real work."""

from __future__ import annotations

import uuid

import httpx
from parley.api.membership import create_group
from parley.common.db import async_url
from parley.devstack.stack import Stack
from parley.testing.wsclient import ChatClient
from sqlalchemy.ext.asyncio import create_async_engine


def test_auth_service_runs_as_a_process_against_the_stack(dev_stack: Stack) -> None:
    url = dev_stack.up(["svc-auth"])["svc-auth"]["url"]
    jwks = httpx.get(f"{url}/.well-known/jwks.json", timeout=5).json()
    assert jwks["keys"] and all(key["kty"] == "RSA" and key["kid"] for key in jwks["keys"])
    # Register and log in: the process was migrated against the stack's PostgreSQL and uses it.
    name = f"dev{uuid.uuid4().hex[:10]}"
    password = "correct horse battery staple"
    registered = httpx.post(
        f"{url}/auth/register",
        json={"username": name, "email": f"{name}@example.org", "password": password},
        timeout=30,
    )
    assert registered.status_code == 201, registered.text
    login = httpx.post(f"{url}/auth/login", json={"login": name, "password": password}, timeout=30)
    assert login.status_code == 200, login.text
    me = httpx.get(
        f"{url}/auth/me", headers={"Authorization": f"Bearer {login.json()['access_token']}"}, timeout=5
    )
    assert me.json()["username"] == name


async def test_message_path_runs_as_processes_of_the_stack(dev_stack: Stack) -> None:
    """svc-auth issues the tokens, svc-socket takes the message, svc-consumer stores it, the other
    member's connection gets it: the whole path as `make dev` runs it."""
    up = dev_stack.up(["svc-socket"])
    auth_url, socket_url = up["svc-auth"]["url"], up["svc-socket"]["url"]
    password = "correct horse battery staple"
    people = []
    async with httpx.AsyncClient(base_url=auth_url, timeout=30) as http:
        for _ in range(2):
            name = f"dev{uuid.uuid4().hex[:10]}"
            registered = await http.post(
                "/auth/register",
                json={"username": name, "email": f"{name}@example.org", "password": password},
            )
            assert registered.status_code == 201, registered.text
            login = await http.post("/auth/login", json={"login": name, "password": password})
            people.append((uuid.UUID(registered.json()["id"]), login.json()["access_token"]))
    engine = create_async_engine(async_url(up["postgres"]["dsn"]))
    try:
        async with engine.connect() as conn:
            chat_id, _ = await create_group(conn, people[0][0], "dev", [people[1][0]], max_members=10)
    finally:
        await engine.dispose()
    ws_url = socket_url.replace("http://", "ws://") + "/ws"
    sender = await ChatClient.connect(ws_url, people[0][1], via="subprotocol")
    receiver = await ChatClient.connect(ws_url, people[1][1])
    try:
        client_id = await sender.send_message(str(chat_id), "hello from the dev stack")
        await sender.expect("accepted", lambda f: f["client_id"] == client_id)
        await receiver.wait_until(
            lambda: len(receiver.messages(str(chat_id))) == 1, within=20, what="the message"
        )
        assert receiver.messages(str(chat_id))[0]["message"]["body"] == "hello from the dev stack"
    finally:
        await sender.close()
        await receiver.close()
