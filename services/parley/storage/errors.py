"""The storage service's errors. An attachment the caller may not read is `AttachmentNotFound`,
exactly like one that does not exist; so is a chat they are not in."""

from __future__ import annotations

from parley.common.errors import ApiError


class ChatNotFound(ApiError):
    status_code = 404
    code = "chat_not_found"

    def __init__(self) -> None:
        super().__init__("No such chat.")


class AttachmentNotFound(ApiError):
    status_code = 404
    code = "attachment_not_found"

    def __init__(self) -> None:
        super().__init__("No such attachment.")


class FileTooLarge(ApiError):
    status_code = 413
    code = "file_too_large"

    def __init__(self, limit: int) -> None:
        super().__init__(f"A file may have at most {limit} bytes.", details={"limit": limit})


class QuotaExceeded(ApiError):
    status_code = 409
    code = "quota_exceeded"

    def __init__(self, quota: int, used: int) -> None:
        super().__init__(
            "This upload would exceed your storage quota.", details={"quota": quota, "used": used}
        )


class TypeNotAllowed(ApiError):
    status_code = 415
    code = "type_not_allowed"


class UploadRefused(ApiError):
    """The completed object failed a check; it was deleted."""

    status_code = 422
    code = "upload_refused"


class WrongState(ApiError):
    status_code = 409
    code = "wrong_state"
