"""FastAPI dependencies for the caller's identity, over HTTP and WebSocket.

A service puts its `TokenVerifier` on `app.state.token_verifier` in its lifespan; routes then take
`user: CurrentUser` (HTTP) or `user: WebSocketUser` (WebSocket).
"""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request, WebSocket, WebSocketException, status
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from starlette.requests import HTTPConnection

from parley.common.auth.verifier import InvalidToken, KeysUnavailable, Principal, TokenVerifier
from parley.common.errors import ApiError, NotAuthenticated

bearer = HTTPBearer(
    auto_error=False,
    scheme_name="AccessToken",
    bearerFormat="JWT",
    description="An access token from the auth service's login or refresh.",
)


async def get_verifier(conn: HTTPConnection) -> TokenVerifier:
    # async: FastAPI runs a plain `def` dependency in a worker thread, a hop per request for nothing.
    verifier = conn.app.state.token_verifier
    assert isinstance(verifier, TokenVerifier)
    return verifier


VerifierDep = Annotated[TokenVerifier, Depends(get_verifier)]


async def current_user(
    request: Request,
    verifier: VerifierDep,
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(bearer)],
) -> Principal:
    if credentials is None:
        raise NotAuthenticated()
    try:
        principal = await verifier.verify(credentials.credentials)
    except InvalidToken as exc:
        raise NotAuthenticated(str(exc), code=exc.code) from exc
    except KeysUnavailable as exc:
        raise ApiError(
            "Tokens cannot be checked right now.", code="auth_unavailable", status_code=503
        ) from exc
    request.state.principal = principal
    return principal


CurrentUser = Annotated[Principal, Depends(current_user)]


def websocket_token(websocket: WebSocket) -> str | None:
    """`Authorization: Bearer …` for clients that can set headers; browsers cannot on a
    WebSocket, so they pass `?access_token=…`."""
    header = websocket.headers.get("authorization", "")
    scheme, _, value = header.partition(" ")
    if scheme.lower() == "bearer" and value.strip():
        return value.strip()
    return websocket.query_params.get("access_token") or None


async def websocket_user(websocket: WebSocket, verifier: VerifierDep) -> Principal:
    token = websocket_token(websocket)
    if token is None:
        raise WebSocketException(status.WS_1008_POLICY_VIOLATION, "A valid access token is required.")
    try:
        return await verifier.verify(token)
    except InvalidToken as exc:
        raise WebSocketException(status.WS_1008_POLICY_VIOLATION, exc.code) from exc
    except KeysUnavailable as exc:
        raise WebSocketException(status.WS_1011_INTERNAL_ERROR, "auth_unavailable") from exc


WebSocketUser = Annotated[Principal, Depends(websocket_user)]
