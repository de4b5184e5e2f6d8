"""The storage service's HTTP API (behind the edge at /api/attachments)."""

from __future__ import annotations

import uuid
from typing import Annotated

from fastapi import APIRouter, Query, Request, Response, status
from fastapi.responses import RedirectResponse

from parley.common.auth import CurrentUser
from parley.common.errors import responses
from parley.storage.schemas import AttachmentOut, Completion, Created, NewAttachment, Variant
from parley.storage.service import Storage, to_out

router = APIRouter(prefix="/attachments", tags=["attachments"])


def _storage(request: Request) -> Storage:
    value = request.app.state.storage
    assert isinstance(value, Storage)
    return value


@router.post(
    "",
    status_code=status.HTTP_201_CREATED,
    response_model=Created,
    responses=responses(401, 404, 409, 413, 415, 422, 429),
    summary="Start an upload: a presigned PUT, or presigned part URLs for a large file",
)
async def create_attachment(body: NewAttachment, me: CurrentUser, request: Request) -> Created:
    return await _storage(request).create(me.user_id, body)


@router.post(
    "/{attachment_id}/complete",
    response_model=AttachmentOut,
    responses=responses(401, 404, 409, 422),
    summary="The bytes are up: check size and type, then scan and preview (status `scanning`)",
)
async def complete_attachment(
    attachment_id: uuid.UUID, me: CurrentUser, request: Request, body: Completion | None = None
) -> AttachmentOut:
    return await _storage(request).complete(me.user_id, attachment_id, body or Completion())


@router.post(
    "/{attachment_id}/abort",
    status_code=status.HTTP_204_NO_CONTENT,
    responses=responses(401, 404, 409),
    summary="Give up an upload in progress",
)
async def abort_attachment(attachment_id: uuid.UUID, me: CurrentUser, request: Request) -> Response:
    await _storage(request).abort(me.user_id, attachment_id)
    return Response(status_code=status.HTTP_204_NO_CONTENT)


@router.get(
    "/{attachment_id}/info",
    response_model=AttachmentOut,
    responses=responses(401, 404),
    summary="An attachment's state and metadata",
)
async def attachment_info(attachment_id: uuid.UUID, me: CurrentUser, request: Request) -> AttachmentOut:
    return to_out(await _storage(request).readable(me.user_id, attachment_id))


@router.get(
    "/{attachment_id}",
    status_code=status.HTTP_302_FOUND,
    response_class=RedirectResponse,
    responses={
        302: {"description": "To a presigned GET that expires in minutes."},
        **responses(401, 404, 409),
    },
    summary="Download: a redirect to the bytes, for members of the chat",
)
async def download_attachment(
    attachment_id: uuid.UUID,
    me: CurrentUser,
    request: Request,
    variant: Annotated[Variant, Query()] = "original",
) -> RedirectResponse:
    url = await _storage(request).download_url(me.user_id, attachment_id, variant)
    return RedirectResponse(
        url, status_code=status.HTTP_302_FOUND, headers={"Cache-Control": "private, no-store"}
    )
