"""The entry point end to end: routing of each prefix, the JWT gate, limits, headers, request ids,
WebSocket through Envoy, and what its access log leaves out."""

from __future__ import annotations

import asyncio
import json
import time
import uuid

import httpx
import pytest
from parley.testing.tokens import Signer
from parley.testing.wsclient import ChatClient
from websockets.asyncio.client import connect
from websockets.exceptions import InvalidStatus

from tests.edge.conftest import BURST, MAX_REQUEST_BYTES, WEB_MARKER, Edge

PASSWORD = "correct horse battery"


async def account(edge: Edge, client: httpx.AsyncClient) -> tuple[str, str]:
    """A new user registered and logged in through the edge: (user id, access token)."""
    name = f"u{uuid.uuid4().hex[:10]}"
    body = {"username": name, "email": f"{name}@example.org", "password": PASSWORD}
    registered = await client.post(f"{edge.url}/auth/register", json=body)
    assert registered.status_code == 201, registered.text
    login = await client.post(f"{edge.url}/auth/login", json={"login": name, "password": PASSWORD})
    assert login.status_code == 200, login.text
    return registered.json()["id"], login.json()["access_token"]


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def assert_security_headers(response: httpx.Response) -> None:
    csp = response.headers["content-security-policy"]
    assert "default-src 'self'" in csp and "frame-ancestors 'none'" in csp and "object-src 'none'" in csp
    assert response.headers["x-content-type-options"] == "nosniff"
    assert response.headers["referrer-policy"] == "no-referrer"
    assert response.headers["x-frame-options"] == "DENY"
    # Plain HTTP on loopback: no HSTS (it is added when the origin is served over TLS).
    assert "strict-transport-security" not in response.headers
    assert "server" not in response.headers


async def test_each_prefix_reaches_its_service(edge: Edge) -> None:
    async with httpx.AsyncClient(timeout=10) as client:
        user_id, token = await account(edge, client)

        web = await client.get(f"{edge.url}/")
        assert web.status_code == 200 and WEB_MARKER in web.text
        deep_link = await client.get(f"{edge.url}/index.html")
        assert deep_link.status_code == 200 and WEB_MARKER in deep_link.text

        jwks = await client.get(f"{edge.url}/.well-known/jwks.json")
        assert jwks.status_code == 200 and jwks.json()["keys"][0]["kid"] == edge.kid

        me = await client.get(f"{edge.url}/auth/me", headers=bearer(token))
        assert me.status_code == 200 and me.json()["id"] == user_id
        # /auth is public at the edge: the auth service itself answers a missing token.
        anonymous = await client.get(f"{edge.url}/auth/me")
        assert anonymous.status_code == 401 and anonymous.json()["error"]["code"] == "not_authenticated"

        # /api/… is the api's /…
        created = await client.post(
            f"{edge.url}/api/chats/groups", json={"title": "edge", "member_ids": []}, headers=bearer(token)
        )
        assert created.status_code == 201, created.text
        chats = await client.get(f"{edge.url}/api/chats", headers=bearer(token))
        assert chats.status_code == 200
        assert created.json()["id"] in json.dumps(chats.json())

        # /api/presence is the presence service's /presence.
        presence = await client.get(
            f"{edge.url}/api/presence", params={"user_ids": user_id}, headers=bearer(token)
        )
        assert presence.status_code == 200, presence.text
        assert presence.json()["users"][0]["user_id"] == user_id

        # /api/search is the search service's /search.
        found = await client.get(f"{edge.url}/api/search", params={"q": "edge"}, headers=bearer(token))
        assert found.status_code == 200, found.text
        assert found.json() == {"results": [], "next_cursor": None}

        for response in (web, jwks, me, created, presence, found):
            assert_security_headers(response)


async def test_the_edge_refuses_bad_tokens_with_401(edge: Edge) -> None:
    stranger = Signer(edge.kid, issuer="http://edge.test")  # same kid and issuer, another key
    now = int(time.time())
    cases = {
        "none": {},
        "expired": bearer(edge.token({"iat": now - 900, "nbf": now - 900, "exp": now - 300})),
        "wrong key": bearer(stranger.token(uuid.uuid4())),
        "wrong issuer": bearer(edge.token({"iss": "http://evil.test"})),
        "garbage": bearer("not.a.jwt"),
    }
    async with httpx.AsyncClient(timeout=10) as client:
        for case, headers in cases.items():
            for path in ("/api/chats", "/api/presence"):
                response = await client.get(f"{edge.url}{path}", headers=headers)
                assert response.status_code == 401, (case, path, response.text)
                # Envoy's answer, not the service's (whose errors are JSON with a code).
                assert response.headers["www-authenticate"].startswith("Bearer"), case
                assert "error" not in response.text or not response.text.startswith("{"), case
        # A verified token for another audience is forbidden rather than unauthenticated.
        other = await client.get(f"{edge.url}/api/chats", headers=bearer(edge.token({"aud": "someone-else"})))
        assert other.status_code == 403 and "Audiences" in other.text
        # And a good token passes the same gate.
        good = await client.get(
            f"{edge.url}/api/chats", headers=bearer(edge.token({"sub": str(uuid.uuid4())}))
        )
        assert good.status_code != 401


async def test_websocket_through_the_edge_round_trips_a_message(edge: Edge) -> None:
    async with httpx.AsyncClient(timeout=10) as client:
        _, token = await account(edge, client)
        created = await client.post(
            f"{edge.url}/api/chats/groups", json={"title": "ws", "member_ids": []}, headers=bearer(token)
        )
        chat_id = created.json()["id"]
    ws = await ChatClient.connect(edge.ws_url, token, via="subprotocol", name="edge")
    try:
        assert ws.ws.subprotocol == "parley.v1"
        client_id = uuid.uuid4().hex
        await ws.send_json({"type": "send", "chat_id": chat_id, "client_id": client_id, "body": "hello edge"})
        accepted = await ws.expect("accepted", within=20)
        assert accepted["client_id"] == client_id
        event = await ws.expect("event", within=20)
        assert event["event"]["chat_id"] == chat_id and event["event"]["seq"] >= 1
    finally:
        await ws.close()


async def test_websocket_without_a_valid_token_is_refused_at_the_handshake(edge: Edge) -> None:
    for protocols in (["parley.v1"], ["parley.v1", "parley.token.not-a-jwt"]):
        with pytest.raises(InvalidStatus) as refused:
            async with connect(edge.ws_url, subprotocols=protocols, open_timeout=10):  # type: ignore[arg-type]
                pass
        assert refused.value.response.status_code == 401


async def test_rate_limit_per_client_address(edge: Edge) -> None:
    """One address that floods gets 429s; another address is not held back by it."""
    flood = httpx.AsyncHTTPTransport(local_address="127.0.0.2")
    calm = httpx.AsyncHTTPTransport(local_address="127.0.0.3")
    async with (
        httpx.AsyncClient(transport=flood, timeout=10) as flooder,
        httpx.AsyncClient(transport=calm, timeout=10) as other,
    ):
        statuses: list[int] = []
        limited: list[httpx.Response] = []

        async def hammer() -> None:
            while not limited and len(statuses) < 50 * BURST:
                response = await flooder.get(f"{edge.url}/.well-known/jwks.json")
                statuses.append(response.status_code)
                if response.status_code == 429:
                    limited.append(response)
                    # While the flooder is held back, another client is served.
                    assert (await other.get(f"{edge.url}/.well-known/jwks.json")).status_code == 200

        await asyncio.gather(*(hammer() for _ in range(20)))
        assert limited, f"no 429 in {len(statuses)} requests"
        assert statuses.index(429) >= BURST - 20  # the burst was allowed (less what was in flight)
        assert limited[0].headers["retry-after"] == "1"
        assert limited[0].headers["x-request-id"]


async def test_oversized_bodies_get_413_at_the_edge(edge: Edge) -> None:
    big = "x" * (MAX_REQUEST_BYTES + 1)
    async with httpx.AsyncClient(timeout=10) as client:
        for path in ("/auth/register", "/api/chats/groups"):
            response = await client.post(
                f"{edge.url}{path}",
                content=json.dumps({"title": big}),
                headers={"content-type": "application/json", **bearer(edge.token({}))},
            )
            assert response.status_code == 413, (path, response.text)
        # Without a Content-Length (chunked), the body is counted as it arrives.

        async def chunks():  # type: ignore[no-untyped-def]
            for _ in range(MAX_REQUEST_BYTES // 1024 + 8):
                yield b"x" * 1024

        streamed = await client.post(f"{edge.url}/auth/register", content=chunks())
        assert streamed.status_code == 413


async def test_request_ids_are_made_kept_and_echoed(edge: Edge) -> None:
    async with httpx.AsyncClient(timeout=10) as client:
        made = await client.get(f"{edge.url}/")
        assert uuid.UUID(made.headers["x-request-id"])
        mine = "trace-me-0123456789"
        kept = await client.get(f"{edge.url}/.well-known/jwks.json", headers={"x-request-id": mine})
        assert kept.headers["x-request-id"] == mine
        # On the edge's own answers too (a 401 of the JWT gate).
        refused = await client.get(f"{edge.url}/api/chats", headers={"x-request-id": "r-401"})
        assert refused.status_code == 401 and refused.headers["x-request-id"] == "r-401"


async def test_cross_site_posts_to_auth_are_refused_at_the_edge(edge: Edge) -> None:
    body = {"login": "nobody", "password": "wrong password here"}
    async with httpx.AsyncClient(timeout=10) as client:
        cross = await client.post(
            f"{edge.url}/auth/login", json=body, headers={"Origin": "https://evil.example"}
        )
        assert cross.status_code == 403
        host = edge.url.removeprefix("http://")
        same = await client.post(f"{edge.url}/auth/login", json=body, headers={"Origin": f"http://{host}"})
        assert same.status_code == 401  # reached auth: wrong credentials


async def test_access_log_has_no_tokens(edge: Edge) -> None:
    secret = edge.token({"sub": str(uuid.uuid4())})
    marker = f"log-{uuid.uuid4().hex}"
    async with httpx.AsyncClient(timeout=10) as client:
        await client.get(f"{edge.url}/api/chats", headers={**bearer(secret), "x-request-id": marker})
        await client.get(
            f"{edge.url}/api/chats?access_token={secret}", headers={"x-request-id": marker + "-q"}
        )

    def logged() -> list[dict[str, str]]:
        return [json.loads(line) for line in edge.log.read_text().splitlines() if marker in line]

    # Envoy writes its access log out every few seconds.
    deadline = time.monotonic() + 30
    while len(logged()) < 2 and time.monotonic() < deadline:  # noqa: ASYNC110 - polling a file
        await asyncio.sleep(0.2)
    lines = logged()
    assert len(lines) == 2, (lines, edge.log.read_text()[-3000:])
    assert {line["path"] for line in lines} == {"/api/chats"}
    assert secret not in edge.log.read_text()
    assert secret.split(".")[2] not in edge.log.read_text()
