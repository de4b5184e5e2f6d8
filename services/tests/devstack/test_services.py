"""Parley's own services as dev stack processes: started from the stack, reachable, doing real work."""

from __future__ import annotations

import asyncio
import time
import uuid

import httpx
from parley.api.membership import create_group
from parley.common.db import async_url
from parley.common.kafka import KafkaProducer
from parley.common.presence import ConnectionReporter
from parley.common.settings import BaseServiceSettings
from parley.common.topics import Topics
from parley.devstack.asyncbridge import run_coroutine
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


def test_presence_service_runs_as_a_process_against_the_stack(dev_stack: Stack) -> None:
    """`up svc-presence`: its topics exist, it reads a socket's connection events from the stack's
    Kafka and answers GET /presence for a token of the stack's auth service."""
    endpoints = dev_stack.up(["svc-auth", "svc-presence"])
    auth, presence = endpoints["svc-auth"]["url"], endpoints["svc-presence"]["url"]
    name = f"dev{uuid.uuid4().hex[:10]}"
    password = "correct horse battery staple"
    registered = httpx.post(
        f"{auth}/auth/register",
        json={"username": name, "email": f"{name}@example.org", "password": password},
        timeout=30,
    )
    assert registered.status_code == 201, registered.text
    login = httpx.post(f"{auth}/auth/login", json={"login": name, "password": password}, timeout=30)
    headers = {"Authorization": f"Bearer {login.json()['access_token']}"}
    assert (
        httpx.get(f"{presence}/presence", params={"user_ids": str(uuid.uuid4())}, timeout=5).status_code
        == 401
    )

    user = uuid.uuid4()

    async def status_becomes(client: httpx.AsyncClient, status: str) -> None:
        deadline = time.monotonic() + 20
        while True:
            answer = await client.get(f"{presence}/presence", params={"user_ids": str(user)}, headers=headers)
            assert answer.status_code == 200, answer.text
            if answer.json()["users"][0]["status"] == status:
                return
            assert time.monotonic() < deadline, f"never {status}: {answer.text}"
            await asyncio.sleep(0.2)

    async def a_socket_reports_a_connection() -> None:
        producer = KafkaProducer(endpoints["kafka"]["bootstrap"], client_id="devstack-test")
        reporter = ConnectionReporter(producer, Topics(BaseServiceSettings().kafka_topic_prefix))
        async with httpx.AsyncClient() as client:
            reporter.start()
            reporter.connected(user, "c1")
            await status_becomes(client, "online")
            await reporter.stop()  # a clean stop: offline at once, not after the TTL
            await status_becomes(client, "offline")
        await producer.stop()

    run_coroutine(a_socket_reports_a_connection())


def test_api_service_runs_as_a_process_against_the_stack(dev_stack: Stack) -> None:
    url = dev_stack.up(["svc-api"])["svc-api"]["url"]
    assert httpx.get(f"{url}/healthz", timeout=5).status_code == 200
    # Authenticated routes refuse a request without a token, in the platform's error shape.
    response = httpx.get(f"{url}/chats", timeout=5)
    assert response.status_code == 401
    assert "code" in response.json()["error"]


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
