"""The api's errors. A chat the caller is not a member of is `ChatNotFound`, exactly like one that
does not exist: neither its contents nor its existence leak."""

from __future__ import annotations

import uuid
from collections.abc import Iterable

from parley.common.errors import ApiError


class ChatNotFound(ApiError):
    status_code = 404
    code = "chat_not_found"

    def __init__(self) -> None:
        super().__init__("No such chat.")


class Forbidden(ApiError):
    status_code = 403
    code = "forbidden"


class UserNotFound(ApiError):
    status_code = 404
    code = "user_not_found"

    def __init__(self) -> None:
        super().__init__("No such user.")


class MemberNotFound(ApiError):
    status_code = 404
    code = "member_not_found"

    def __init__(self) -> None:
        super().__init__("That user is not a member of this chat.")


class UnknownUsers(ApiError):
    status_code = 422
    code = "unknown_users"

    def __init__(self, user_ids: Iterable[uuid.UUID]) -> None:
        ids = sorted(str(user_id) for user_id in user_ids)
        super().__init__("Some of these users do not exist.", details={"user_ids": ids})


class TooManyMembers(ApiError):
    status_code = 409
    code = "too_many_members"

    def __init__(self, limit: int) -> None:
        super().__init__(f"A group has at most {limit} members.", details={"limit": limit})


class NotAGroup(ApiError):
    status_code = 409
    code = "not_a_group"

    def __init__(self, message: str = "Direct chats have no title, roles or membership changes.") -> None:
        super().__init__(message)


class InvalidCursor(ApiError):
    status_code = 400
    code = "invalid_cursor"

    def __init__(self) -> None:
        super().__init__("The cursor is not one this service handed out.")


class AccountUnavailable(ApiError):
    status_code = 403
    code = "account_unavailable"

    def __init__(self) -> None:
        super().__init__("This account does not exist any more or is disabled.")
