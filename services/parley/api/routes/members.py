"""/chats/{id}/members: who is in a group, adding and removing them, roles."""

from __future__ import annotations

import uuid
from typing import Annotated

from fastapi import APIRouter, Query, Response, status

from parley.api import member_list, membership
from parley.api.deps import ConnDep, OutboxDep, ReadConnDep, SettingsDep
from parley.api.schemas import (
    MEMBERS_PAGE_DEFAULT,
    MEMBERS_PAGE_MAX,
    AddMembers,
    ChangeRole,
    MemberList,
    MemberOut,
)
from parley.common.auth import CurrentUser
from parley.common.errors import responses

router = APIRouter(prefix="/chats/{chat_id}/members", tags=["members"], responses=responses(400, 401, 404))


@router.get("", summary="Members, with roles and read positions")
async def list_members(
    chat_id: uuid.UUID,
    user: CurrentUser,
    conn: ReadConnDep,
    limit: Annotated[int, Query(ge=1, le=MEMBERS_PAGE_MAX)] = MEMBERS_PAGE_DEFAULT,
    cursor: Annotated[str | None, Query(min_length=1, max_length=200)] = None,
) -> MemberList:
    return await member_list.list_members(conn, user.user_id, chat_id, limit=limit, cursor=cursor)


@router.post(
    "",
    responses=responses(403, 409, 422),
    summary="Add members to a group",
    description="Owner and admins only. Users who are members already are left as they are; "
    "the answer lists those added.",
)
async def add_members(
    chat_id: uuid.UUID,
    body: AddMembers,
    user: CurrentUser,
    conn: ConnDep,
    outbox: OutboxDep,
    settings: SettingsDep,
) -> MemberList:
    added, events = await membership.add_members(
        conn, user.user_id, chat_id, body.user_ids, max_members=settings.api_max_group_members
    )
    if events:
        outbox.wake()
    return MemberList(members=await member_list.get_members(conn, chat_id, added), next_cursor=None)


@router.delete(
    "/{user_id}",
    status_code=status.HTTP_204_NO_CONTENT,
    responses=responses(403, 409),
    summary="Remove a member (or leave, for oneself)",
    description="The owner removes anyone; admins remove members.",
)
async def remove_member(
    chat_id: uuid.UUID, user_id: uuid.UUID, user: CurrentUser, conn: ConnDep, outbox: OutboxDep
) -> Response:
    await membership.remove_member(conn, user.user_id, chat_id, user_id)
    outbox.wake()
    return Response(status_code=status.HTTP_204_NO_CONTENT)


@router.patch(
    "/{user_id}",
    responses=responses(403, 409),
    summary="Change a member's role",
    description="The owner only. Making someone else `owner` hands the group over.",
)
async def change_role(
    chat_id: uuid.UUID,
    user_id: uuid.UUID,
    body: ChangeRole,
    user: CurrentUser,
    conn: ConnDep,
    outbox: OutboxDep,
) -> MemberOut:
    if await membership.change_role(conn, user.user_id, chat_id, user_id, body.role):
        outbox.wake()
    return await member_list.get_member(conn, chat_id, user_id)
