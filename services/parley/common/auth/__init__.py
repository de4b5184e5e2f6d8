"""Access-token verification for every service (HTTP and WebSocket)."""

from parley.common.auth.claims import access_claims
from parley.common.auth.deps import CurrentUser, VerifierDep, WebSocketUser, current_user, websocket_user
from parley.common.auth.verifier import (
    ALGORITHM,
    HttpJwksSource,
    InvalidToken,
    JwksSource,
    KeysUnavailable,
    Principal,
    TokenVerifier,
    start_verifier,
)

__all__ = [
    "ALGORITHM",
    "CurrentUser",
    "HttpJwksSource",
    "InvalidToken",
    "JwksSource",
    "KeysUnavailable",
    "Principal",
    "TokenVerifier",
    "VerifierDep",
    "WebSocketUser",
    "access_claims",
    "current_user",
    "start_verifier",
    "websocket_user",
]
