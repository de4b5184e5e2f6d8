"""/users: the caller's profile, others' public profiles, lookup by username prefix."""

from __future__ import annotations

import uuid
from typing import Annotated

from fastapi import APIRouter, Query
from pydantic import AfterValidator, StringConstraints

from parley.api import profiles
from parley.api.deps import ConnDep, ReadConnDep
from parley.api.schemas import (
    USERS_PAGE_DEFAULT,
    USERS_PAGE_MAX,
    OwnProfile,
    ProfileUpdate,
    PublicProfile,
    UserList,
)
from parley.common.auth import CurrentUser
from parley.common.errors import responses
from parley.common.text import printable_token

router = APIRouter(prefix="/users", tags=["users"], responses=responses(400, 401))

UsernamePrefix = Annotated[
    str, StringConstraints(min_length=1, max_length=32), AfterValidator(printable_token)
]


@router.get("/me", responses=responses(403), summary="My profile")
async def get_me(user: CurrentUser, conn: ReadConnDep) -> OwnProfile:
    return await profiles.own_profile(conn, user.user_id)


@router.patch(
    "/me",
    responses=responses(403),
    summary="Change my profile",
    description="Only the fields present change; `null` clears the display name or the avatar.",
)
async def patch_me(body: ProfileUpdate, user: CurrentUser, conn: ConnDep) -> OwnProfile:
    return await profiles.update_profile(conn, user.user_id, body)


@router.get(
    "",
    summary="Find users by username prefix",
    description="Ignores case, character width and look-alike letters, as usernames do; "
    "disabled accounts are not listed. Ordered by username.",
)
async def find_users(
    user: CurrentUser,
    conn: ReadConnDep,
    prefix: Annotated[UsernamePrefix, Query(description="The start of a username.")],
    limit: Annotated[int, Query(ge=1, le=USERS_PAGE_MAX)] = USERS_PAGE_DEFAULT,
) -> UserList:
    return UserList(users=await profiles.find_by_prefix(conn, prefix, limit))


@router.get("/{user_id}", responses=responses(404), summary="A user's public profile")
async def get_user(user_id: uuid.UUID, user: CurrentUser, conn: ReadConnDep) -> PublicProfile:
    return await profiles.get_public_profile(conn, user_id)
