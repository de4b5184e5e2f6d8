"""The refresh token in a cookie, for browsers, and the CSRF checks of the calls that rely on it.

A browser asks for cookie mode with the header `X-Parley-Refresh: cookie` on login and refresh: the
refresh token then goes into an HttpOnly, Secure, SameSite=Strict cookie scoped to `/auth/refresh`
(script never sees it) instead of the JSON body. A call that the cookie authenticates (refresh, and
`POST /auth/refresh/logout`, the logout of cookie mode) must carry that same header, which a cross-site
form or link cannot send and cross-site script may send only after a CORS preflight that no Parley
service grants, and must not come from another origin: `Origin`, when present, must name the
request's own host, and `Sec-Fetch-Site`, when present, must be `same-origin` (or `none`: the user
typed it). API clients keep the JSON body form, which involves no cookie and needs no CSRF check.
See docs/auth.md.
"""

from __future__ import annotations

from urllib.parse import urlsplit

from fastapi import Request, Response

from parley.auth.errors import CsrfRefused
from parley.auth.settings import AuthSettings

COOKIE = "parley_refresh"
COOKIE_PATH = "/auth/refresh"
MODE_HEADER = "x-parley-refresh"
MODE_COOKIE = "cookie"
SAFE_FETCH_SITES = frozenset({"same-origin", "none"})


def cookie_mode(request: Request) -> bool:
    return request.headers.get(MODE_HEADER, "").strip().lower() == MODE_COOKIE


def check_same_origin(request: Request, settings: AuthSettings) -> None:
    """Refuses a cookie-mode request that another site could have made a browser send."""
    if not cookie_mode(request):
        raise CsrfRefused(f"the header {MODE_HEADER}: {MODE_COOKIE} is missing")
    site = request.headers.get("sec-fetch-site")
    if site is not None and site not in SAFE_FETCH_SITES:
        raise CsrfRefused(f"Sec-Fetch-Site is {site}")
    origin = request.headers.get("origin")
    if origin is None:
        return
    # The host the browser addressed (the entry point keeps it); a configured public origin too.
    allowed = {request.headers.get("host", "")} | {
        urlsplit(url).netloc for url in settings.auth_allowed_origins
    }
    if urlsplit(origin).netloc not in allowed:
        raise CsrfRefused("Origin is another site")


def set_refresh_cookie(response: Response, token: str, max_age: int, settings: AuthSettings) -> None:
    response.set_cookie(
        COOKIE,
        token,
        max_age=max_age,
        path=COOKIE_PATH,
        httponly=True,
        secure=settings.auth_refresh_cookie_secure,
        samesite="strict",
    )


def clear_refresh_cookie(response: Response, settings: AuthSettings) -> None:
    response.delete_cookie(
        COOKIE,
        path=COOKIE_PATH,
        httponly=True,
        secure=settings.auth_refresh_cookie_secure,
        samesite="strict",
    )
