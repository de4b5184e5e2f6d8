"""`/notifications/preferences` (the caller's own, JWT) and `/notifications/unsubscribe` (a signed
token, no JWT: RFC 8058 one-click from a mail client, and the link in the mail's footer)."""

from __future__ import annotations

import html
from typing import Annotated
from urllib.parse import quote

from fastapi import APIRouter, Query, Request
from fastapi.responses import HTMLResponse, JSONResponse

from parley.common.auth import CurrentUser
from parley.common.db import Database
from parley.common.errors import ApiError, responses
from parley.notification import preferences
from parley.notification.preferences import Preferences
from parley.notification.settings import NotificationSettings
from parley.notification.tokens import read_token

router = APIRouter(prefix="/notifications", tags=["notifications"])


def _db(request: Request) -> Database:
    db = request.app.state.db
    assert isinstance(db, Database)
    return db


@router.get("/preferences", response_model=Preferences, responses=responses(401))
async def get_preferences(request: Request, user: CurrentUser) -> Preferences:
    async with _db(request).engine.connect() as conn:
        return await preferences.load(conn, user.user_id)


@router.put("/preferences", response_model=Preferences, responses=responses(401, 422))
async def put_preferences(request: Request, user: CurrentUser, body: Preferences) -> Preferences:
    async with _db(request).engine.begin() as conn:
        await preferences.store(conn, user.user_id, body)
    return body


def _bad_token() -> ApiError:
    return ApiError("The unsubscribe link is not valid.", code="invalid_token", status_code=400)


async def _unsubscribe(request: Request, token: str) -> str:
    settings: NotificationSettings = request.app.state.settings
    found = read_token(settings.notification_token_secret.get_secret_value().encode(), token)
    if found is None:
        raise _bad_token()
    user_id, channel = found
    async with _db(request).engine.begin() as conn:
        await preferences.turn_off(conn, user_id, channel)
    return channel


@router.post("/unsubscribe", responses=responses(400))
async def unsubscribe_one_click(
    request: Request, token: Annotated[str, Query(max_length=200)]
) -> JSONResponse:
    """RFC 8058: the mail client posts `List-Unsubscribe=One-Click` to the URL of the mail's
    `List-Unsubscribe` header; the token in the URL is the whole authority."""
    channel = await _unsubscribe(request, token)
    return JSONResponse({"unsubscribed": channel})


@router.get("/unsubscribe", response_class=HTMLResponse, responses=responses(400))
async def unsubscribe_page(request: Request, token: Annotated[str, Query(max_length=200)]) -> HTMLResponse:
    """The footer link opened in a browser: a page with one button that posts the same URL. A GET
    changes nothing (RFC 8058: link scanners fetch links in mail), the POST does."""
    settings: NotificationSettings = request.app.state.settings
    found = read_token(settings.notification_token_secret.get_secret_value().encode(), token)
    if found is None:
        raise _bad_token()
    label = "emails" if found[1] == "email" else "text messages"
    action = html.escape(f"?token={quote(token, safe='')}", quote=True)
    return HTMLResponse(
        '<!doctype html><html lang="en"><meta charset="utf-8"><title>Unsubscribe</title>'
        f'<form method="post" action="{action}"><p>Stop {label} from Parley?</p>'
        '<button type="submit">Unsubscribe</button></form></html>'
    )
