"""HTTP endpoints of the auth service."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Cookie, Request, Response, status

from parley.auth.cookies import (
    COOKIE,
    check_same_origin,
    clear_refresh_cookie,
    cookie_mode,
    set_refresh_cookie,
)
from parley.auth.deps import AuthServiceDep, ClientDep, KeysDep, SettingsDep
from parley.auth.errors import InvalidRefreshToken
from parley.auth.schemas import (
    ChangePasswordRequest,
    Jwks,
    LoginRequest,
    OpenIdConfiguration,
    RefreshRequest,
    RegisterRequest,
    TokenPair,
    UserOut,
)
from parley.auth.settings import AuthSettings
from parley.common.auth import ALGORITHM, CurrentUser
from parley.common.db import SessionDep
from parley.common.errors import responses

router = APIRouter(prefix="/auth", tags=["auth"])
discovery = APIRouter(tags=["discovery"])

RefreshCookie = Annotated[str | None, Cookie(alias=COOKIE, include_in_schema=False)]
COOKIE_MODE = (
    " With the header `X-Parley-Refresh: cookie` (browsers) the refresh token goes into an HttpOnly "
    "cookie instead of the body (`refresh_token` is null); see docs/auth.md."
)


def _to_cookie(pair: TokenPair, response: Response, settings: AuthSettings) -> TokenPair:
    """Cookie mode: the refresh token leaves the body for the cookie."""
    assert pair.refresh_token is not None
    set_refresh_cookie(response, pair.refresh_token, pair.refresh_expires_in, settings)
    return pair.model_copy(update={"refresh_token": None})


@router.post(
    "/register",
    status_code=status.HTTP_201_CREATED,
    responses=responses(409),
    summary="Create an account",
    description="Usernames and email addresses are unique ignoring case, Unicode width and "
    "look-alike letters. The password policy's problems come back together in `details.problems`.",
)
async def register(body: RegisterRequest, db: SessionDep, auth: AuthServiceDep) -> UserOut:
    return UserOut.of(await auth.register(db, body))


@router.post(
    "/login",
    responses=responses(401, 403, 429),
    summary="Sign in with username or email address",
    description="Returns an access token and a refresh token (a new session). Repeated failures "
    "for one login name or from one address are answered 429 with Retry-After." + COOKIE_MODE,
)
async def login(
    body: LoginRequest,
    request: Request,
    response: Response,
    db: SessionDep,
    auth: AuthServiceDep,
    client: ClientDep,
    settings: SettingsDep,
) -> TokenPair:
    if cookie_mode(request):
        check_same_origin(request, settings)
        return _to_cookie(await auth.login(db, body, client), response, settings)
    return await auth.login(db, body, client)


@router.post(
    "/refresh",
    responses=responses(401, 403),
    summary="Trade a refresh token for a new pair",
    description="The presented refresh token is spent. Presenting a spent one again ends its "
    "whole session (`refresh_token_reused`). The token comes in the body, or, in cookie mode "
    "(header `X-Parley-Refresh: cookie`, no body), from the cookie; the new one goes back the same way.",
)
async def refresh(
    request: Request,
    response: Response,
    db: SessionDep,
    auth: AuthServiceDep,
    client: ClientDep,
    settings: SettingsDep,
    cookie: RefreshCookie = None,
    body: RefreshRequest | None = None,
) -> TokenPair:
    if body is not None:
        return await auth.refresh(db, body.refresh_token, client)
    check_same_origin(request, settings)
    if not cookie:
        raise InvalidRefreshToken()
    return _to_cookie(await auth.refresh(db, cookie, client), response, settings)


@router.post(
    "/refresh/logout",
    status_code=status.HTTP_204_NO_CONTENT,
    responses=responses(403),
    summary="End this browser's session (cookie mode)",
    description="Revokes the session of the refresh-token cookie (sent here: its path is "
    "/auth/refresh) and clears the cookie. Needs the header `X-Parley-Refresh: cookie` and a "
    "same-origin request. API clients use /auth/logout with the token in the body.",
)
async def logout_cookie(
    request: Request,
    db: SessionDep,
    auth: AuthServiceDep,
    settings: SettingsDep,
    cookie: RefreshCookie = None,
) -> Response:
    check_same_origin(request, settings)
    if cookie:
        await auth.logout(db, cookie)
    response = Response(status_code=status.HTTP_204_NO_CONTENT)
    clear_refresh_cookie(response, settings)
    return response


@router.post(
    "/logout",
    status_code=status.HTTP_204_NO_CONTENT,
    summary="End this device's session",
    description="Revokes the session of the given refresh token. Unknown tokens are accepted "
    "silently. Access tokens already issued stay valid until they expire.",
)
async def logout(body: RefreshRequest, db: SessionDep, auth: AuthServiceDep) -> Response:
    await auth.logout(db, body.refresh_token)
    return Response(status_code=status.HTTP_204_NO_CONTENT)


@router.post(
    "/logout-all",
    status_code=status.HTTP_204_NO_CONTENT,
    responses=responses(401),
    summary="End every session of the caller",
)
async def logout_all(user: CurrentUser, db: SessionDep, auth: AuthServiceDep) -> Response:
    await auth.logout_all(db, user)
    return Response(status_code=status.HTTP_204_NO_CONTENT)


@router.get("/me", responses=responses(401), summary="The caller's account")
async def me(user: CurrentUser, db: SessionDep, auth: AuthServiceDep) -> UserOut:
    return UserOut.of(await auth.current(db, user))


@router.post(
    "/me/password",
    status_code=status.HTTP_204_NO_CONTENT,
    responses=responses(401, 403, 429),
    summary="Change the caller's password",
    description="Every other session of the account ends; this one stays.",
)
async def change_password(
    body: ChangePasswordRequest, user: CurrentUser, db: SessionDep, auth: AuthServiceDep, client: ClientDep
) -> Response:
    await auth.change_password(db, user, body, client)
    return Response(status_code=status.HTTP_204_NO_CONTENT)


@discovery.get("/.well-known/jwks.json", summary="Public keys that verify access tokens")
async def jwks(keys: KeysDep, response: Response) -> Jwks:
    response.headers["Cache-Control"] = "public, max-age=60"
    return Jwks.model_validate(keys.jwks())


@discovery.get("/.well-known/openid-configuration", summary="Discovery document (minimal)")
async def openid_configuration(settings: SettingsDep) -> OpenIdConfiguration:
    issuer = settings.auth_issuer.rstrip("/")
    return OpenIdConfiguration(
        issuer=settings.auth_issuer,
        jwks_uri=f"{issuer}/.well-known/jwks.json",
        token_endpoint=f"{issuer}/auth/login",
        id_token_signing_alg_values_supported=[ALGORITHM],
        subject_types_supported=["public"],
        response_types_supported=["token"],
        claims_supported=["iss", "aud", "sub", "exp", "iat", "nbf", "jti", "sid", "preferred_username"],
    )
