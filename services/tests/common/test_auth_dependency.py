"""CurrentUser (HTTP) and WebSocketUser (WebSocket) on a small service app."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator, Mapping
from typing import Any

import httpx
import pytest
from fastapi import FastAPI, WebSocket
from parley.common.auth import CurrentUser, TokenVerifier, WebSocketUser
from parley.common.service import new_app
from parley.common.settings import BaseServiceSettings
from starlette.testclient import TestClient
from starlette.websockets import WebSocketDisconnect

from tests.common.test_token_verifier import AUDIENCE, ISSUER, SUB, Signer


class StaticJwks:
    def __init__(self, signer: Signer) -> None:
        self.signer = signer

    async def fetch(self) -> Mapping[str, Any]:
        return {"keys": [self.signer.jwk()]}


@pytest.fixture(scope="module")
def signer() -> Signer:
    return Signer("k")


def make_app(signer: Signer) -> FastAPI:
    @contextlib.asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        app.state.token_verifier = TokenVerifier(StaticJwks(signer), issuer=ISSUER, audience=AUDIENCE)
        yield

    app = new_app(BaseServiceSettings(), title="t", description="d", lifespan=lifespan)

    @app.get("/whoami")
    async def whoami(user: CurrentUser) -> dict[str, str]:
        return {"user": str(user.user_id)}

    @app.websocket("/ws")
    async def ws(websocket: WebSocket, user: WebSocketUser) -> None:
        await websocket.accept()
        await websocket.send_json({"user": str(user.user_id)})
        await websocket.close()

    return app


async def test_http_dependency(signer: Signer) -> None:
    app = make_app(signer)
    from asgi_lifespan import LifespanManager

    async with (
        LifespanManager(app),
        httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://t") as client,
    ):
        ok = await client.get("/whoami", headers={"Authorization": f"Bearer {signer.sign()}"})
        assert ok.json() == {"user": SUB}
        missing = await client.get("/whoami")
        assert missing.status_code == 401
        assert missing.json()["error"]["code"] == "not_authenticated"
        expired = await client.get("/whoami", headers={"Authorization": f"Bearer {signer.sign({'exp': 1})}"})
        assert expired.status_code == 401
        assert expired.json()["error"]["code"] == "token_expired"
        assert expired.headers["www-authenticate"] == 'Bearer error="invalid_token"'


def test_websocket_dependency(signer: Signer) -> None:
    with TestClient(make_app(signer)) as client:
        with client.websocket_connect(f"/ws?access_token={signer.sign()}") as ws:
            assert ws.receive_json() == {"user": SUB}
        with client.websocket_connect("/ws", headers={"Authorization": f"Bearer {signer.sign()}"}) as ws:
            assert ws.receive_json() == {"user": SUB}
        for url in ("/ws", f"/ws?access_token={signer.sign({'aud': 'other'})}"):
            with pytest.raises(WebSocketDisconnect) as closed, client.websocket_connect(url) as ws:
                ws.receive_json()
            assert closed.value.code == 1008
