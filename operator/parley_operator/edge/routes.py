"""What the one origin serves, path by path, and the limits applied at the edge.

| path | backend | upstream path | JWT at the edge |
|---|---|---|---|
| `/auth/…` | auth | unchanged | no (auth verifies its own bearer routes) |
| `/.well-known/…` | auth | unchanged | no (JWKS, discovery) |
| `/api/presence` | presence | `/presence` | yes |
| `/api/search` | search | `/search` | yes |
| `/api/attachments…` | storage | `/attachments…` | yes |
| `/api/notifications/unsubscribe` | notification | `/notifications/unsubscribe` | no: a signed token |
| `/api/notifications…` | notification | `/notifications…` | yes |
| `/api/…` | api | `/…` | yes |
| `/ws` | socket (WebSocket upgrade) | unchanged | yes (subprotocol or header) |
| everything else | web (the static client) | unchanged | no |
"""

from __future__ import annotations

from dataclasses import dataclass, field

# The access token travels, at the edge, in one of these; never in the URL (docs/protocol.md).
TOKEN_SUBPROTOCOL_PREFIX = "parley.token."  # noqa: S105 - a prefix, not a secret


@dataclass(frozen=True)
class Route:
    name: str
    path: str
    """A path prefix, or the whole path when `exact`."""
    backend: str
    """The Parley service behind it (its Service in the cluster, its process in the dev stack)."""
    rewrite: str | None = None
    """The matched prefix is replaced by this before the request goes upstream."""
    jwt: bool = False
    """Refused at the edge (401) without a valid access token."""
    websocket: bool = False
    exact: bool = False
    csrf: bool = False
    """Cross-origin state-changing requests refused at the edge (Origin must match the host)."""


ROUTES: tuple[Route, ...] = (
    Route("auth", "/auth/", "auth", csrf=True),
    Route("discovery", "/.well-known/", "auth"),
    Route("presence", "/api/presence", "presence", rewrite="/presence", jwt=True, exact=True),
    Route("search", "/api/search", "search", rewrite="/search", jwt=True, exact=True),
    Route("attachments", "/api/attachments", "storage", rewrite="/attachments", jwt=True),
    # Before the JWT route below: a mail client posts it with no token and no Origin; the signed
    # token in its query is the authority (the service checks it).
    Route(
        "notification-unsubscribe",
        "/api/notifications/unsubscribe",
        "notification",
        rewrite="/notifications/unsubscribe",
        exact=True,
    ),
    Route("notification", "/api/notifications", "notification", rewrite="/notifications", jwt=True),
    Route("api", "/api/", "api", rewrite="/", jwt=True),
    Route("socket", "/ws", "socket", jwt=True, websocket=True, exact=True),
    Route("web", "/", "web"),
)
"""In match order: the first that matches wins."""

BACKENDS: tuple[str, ...] = tuple(dict.fromkeys(route.backend for route in ROUTES))


def content_security_policy(upload_origins: tuple[str, ...] = ()) -> str:
    """Strict: the web client is static files of its own origin, talking to its own origin only,
    and to the S3 server's public origin when attachments go there straight from the browser
    (presigned PUTs: connect-src; pictures read through presigned GETs: img-src)."""
    extra = "".join(f" {origin}" for origin in upload_origins)
    return "; ".join(
        (
            "default-src 'self'",
            "script-src 'self'",
            "style-src 'self'",
            f"img-src 'self' data: blob:{extra}",
            "font-src 'self'",
            f"connect-src 'self'{extra}",
            "object-src 'none'",
            "base-uri 'none'",
            "form-action 'self'",
            "frame-ancestors 'none'",
        )
    )


CONTENT_SECURITY_POLICY = content_security_policy()


@dataclass(frozen=True)
class Upstream:
    host: str
    port: int


@dataclass(frozen=True)
class EdgePolicy:
    """The limits and checks of the edge; the ChatPlatform (or the dev stack) fills it in."""

    issuer: str
    """`iss` of the access tokens (the auth service's PARLEY_AUTH_ISSUER)."""
    audience: str = "parley"
    jwks_path: str = "/.well-known/jwks.json"
    jwks_cache_seconds: int = 300
    requests_per_second: int = 50
    """Per client address: a token bucket refilled at this rate…"""
    burst: int = 100
    """…holding at most this many requests."""
    max_request_bytes: int = 1024 * 1024
    """Larger request bodies are refused with 413 at the edge."""
    tls: bool = False
    """Clients reach the origin over HTTPS (an Ingress or a Gateway terminates TLS): adds HSTS."""
    trusted_hops: int = 0
    """Proxies in front of Envoy whose X-Forwarded-For entries are trusted (the client address is
    the one they saw); 0 when clients connect to Envoy directly."""
    websocket_idle_seconds: int = 600
    upload_origins: tuple[str, ...] = ()
    """Origins (scheme://host[:port]) of the S3 server as browsers reach it: allowed by the CSP."""
    routes: tuple[Route, ...] = field(default=ROUTES)

    def security_headers(self) -> dict[str, str]:
        headers = {
            "content-security-policy": content_security_policy(self.upload_origins),
            "x-content-type-options": "nosniff",
            "referrer-policy": "no-referrer",
            "x-frame-options": "DENY",
            "cross-origin-opener-policy": "same-origin",
            "permissions-policy": "camera=(), microphone=(), geolocation=()",
        }
        if self.tls:
            headers["strict-transport-security"] = "max-age=31536000; includeSubDomains"
        return headers
