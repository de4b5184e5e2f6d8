"""/chats: my chats, creating chats, one chat's settings, history, sync and read state."""

from __future__ import annotations

import logging
import uuid
from datetime import UTC, datetime
from typing import Annotated

from fastapi import APIRouter, Query, Response, status

from parley.api import chat_list, history, membership
from parley.api.deps import ConnDep, OutboxDep, PublisherDep, ReadConnDep, SettingsDep
from parley.api.errors import ChatNotFound
from parley.api.schemas import (
    CHATS_PAGE_DEFAULT,
    CHATS_PAGE_MAX,
    MESSAGES_PAGE_DEFAULT,
    MESSAGES_PAGE_MAX,
    ChatList,
    ChatSummary,
    CreateDirectChat,
    CreateGroupChat,
    MarkRead,
    MessagePage,
    MuteChat,
    Order,
    ReadState,
    RenameChat,
)
from parley.common.auth import CurrentUser
from parley.common.chat.readstate import mark_read
from parley.common.chat.types import SeqOrZero
from parley.common.errors import responses
from parley.common.events import ReadUpdated

log = logging.getLogger(__name__)

router = APIRouter(prefix="/chats", tags=["chats"], responses=responses(400, 401))

Cursor = Annotated[str, Query(min_length=1, max_length=200, description="From the previous page.")]


@router.get(
    "",
    summary="My chats",
    description="Most recent activity first, with the last message and my unread count.",
)
async def list_chats(
    user: CurrentUser,
    conn: ReadConnDep,
    limit: Annotated[int, Query(ge=1, le=CHATS_PAGE_MAX)] = CHATS_PAGE_DEFAULT,
    cursor: Cursor | None = None,
) -> ChatList:
    return await chat_list.list_chats(conn, user.user_id, limit=limit, cursor=cursor)


@router.post(
    "/direct",
    status_code=status.HTTP_201_CREATED,
    responses={
        200: {"model": ChatSummary, "description": "The chat existed already."},
        **responses(403, 404, 422),
    },
    summary="Open the direct chat with a user",
    description="There is one direct chat per pair of users: asking again returns it (200).",
)
async def create_direct(
    body: CreateDirectChat, user: CurrentUser, conn: ConnDep, outbox: OutboxDep, response: Response
) -> ChatSummary:
    chat_id, created, events = await membership.create_direct(conn, user.user_id, body.user_id)
    if events:
        outbox.wake()
    if not created:
        response.status_code = status.HTTP_200_OK
    return await chat_list.get_chat(conn, user.user_id, chat_id)


@router.post(
    "/groups",
    status_code=status.HTTP_201_CREATED,
    responses=responses(403, 409),
    summary="Create a group",
    description="The caller is its owner; `member_ids` join as members.",
)
async def create_group(
    body: CreateGroupChat, user: CurrentUser, conn: ConnDep, outbox: OutboxDep, settings: SettingsDep
) -> ChatSummary:
    chat_id, _ = await membership.create_group(
        conn, user.user_id, body.title, body.member_ids, max_members=settings.api_max_group_members
    )
    outbox.wake()
    return await chat_list.get_chat(conn, user.user_id, chat_id)


@router.get("/{chat_id}", responses=responses(404), summary="One of my chats")
async def get_chat(chat_id: uuid.UUID, user: CurrentUser, conn: ReadConnDep) -> ChatSummary:
    return await chat_list.get_chat(conn, user.user_id, chat_id)


@router.patch(
    "/{chat_id}",
    responses=responses(403, 404, 409),
    summary="Rename a group",
    description="Owner and admins only.",
)
async def rename_chat(
    chat_id: uuid.UUID, body: RenameChat, user: CurrentUser, conn: ConnDep, outbox: OutboxDep
) -> ChatSummary:
    if await membership.rename(conn, user.user_id, chat_id, body.title):
        outbox.wake()
    return await chat_list.get_chat(conn, user.user_id, chat_id)


@router.post(
    "/{chat_id}/leave",
    status_code=status.HTTP_204_NO_CONTENT,
    responses=responses(404, 409),
    summary="Leave a group",
    description="An owner who leaves hands the group to the longest-standing admin (or member).",
)
async def leave_chat(chat_id: uuid.UUID, user: CurrentUser, conn: ConnDep, outbox: OutboxDep) -> Response:
    await membership.leave(conn, user.user_id, chat_id)
    outbox.wake()
    return Response(status_code=status.HTTP_204_NO_CONTENT)


@router.put("/{chat_id}/mute", responses=responses(404), summary="Mute or unmute a chat for me")
async def mute_chat(chat_id: uuid.UUID, body: MuteChat, user: CurrentUser, conn: ConnDep) -> ChatSummary:
    await membership.mute(conn, user.user_id, chat_id, body.muted, body.until)
    return await chat_list.get_chat(conn, user.user_id, chat_id)


@router.get(
    "/{chat_id}/messages",
    responses=responses(404, 422),
    summary="History and sync",
    description="History: without cursors, or with `before_seq`, the messages before that seq "
    "(newest first unless `order=oldest_first`). Sync: with `after_seq`, every change after it "
    "(new messages, edits, deletions, reactions, membership), oldest first, and the current state "
    "of the messages created in that window; follow `next_after_seq` while `has_more`.",
)
async def get_messages(
    chat_id: uuid.UUID,
    user: CurrentUser,
    conn: ReadConnDep,
    before_seq: Annotated[SeqOrZero | None, Query()] = None,
    after_seq: Annotated[SeqOrZero | None, Query()] = None,
    limit: Annotated[int, Query(ge=1, le=MESSAGES_PAGE_MAX)] = MESSAGES_PAGE_DEFAULT,
    order: Annotated[Order | None, Query()] = None,
) -> MessagePage:
    return await history.message_page(
        conn, user.user_id, chat_id, before_seq=before_seq, after_seq=after_seq, limit=limit, order=order
    )


@router.post(
    "/{chat_id}/read",
    responses=responses(404),
    summary="Mark read up to a seq",
    description="The read position only moves forward; a seq beyond the chat's last means everything.",
)
async def read_chat(
    chat_id: uuid.UUID, body: MarkRead, user: CurrentUser, conn: ConnDep, publisher: PublisherDep
) -> ReadState:
    async with conn.begin():
        result = await mark_read(conn, chat_id, user.user_id, body.seq)
    if result is None:
        raise ChatNotFound()
    position, moved = result
    if moved:
        event = ReadUpdated(
            chat_id=chat_id, user_id=user.user_id, last_read_seq=position, at=datetime.now(UTC)
        )
        try:
            await publisher.publish_live(chat_id, event)
        except Exception as exc:  # a read receipt is ephemeral: never fail the request for it
            log.warning("could not publish a read receipt for chat %s: %r", chat_id, exc)
    unread = await chat_list.unread_count(conn, user.user_id, chat_id, position)
    return ReadState(chat_id=chat_id, last_read_seq=position, unread_count=unread)
