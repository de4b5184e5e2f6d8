"""The WebSocket protocol, version 1 (docs/protocol.md): client frames as models, server frames as
bytes, and the stable error codes.

Client frames are validated straight from the JSON text (pydantic's parser, no dict in between).
Server frames are built as bytes once (orjson) and written to every connection that gets them; a
stored event from Redis is forwarded inside an `event` frame without being parsed into a model again.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterable
from typing import Annotated, Any, Literal, NamedTuple

import orjson
from pydantic import BaseModel, ConfigDict, Field, TypeAdapter, ValidationError

from parley.common.chat.types import ATTACHMENTS_MAX, ClientId, Emoji, MessageBody, Seq, SeqOrZero

VERSION = 1
SUBPROTOCOL = "parley.v1"
# A browser cannot set headers on a WebSocket; it can offer subprotocols, so the access token may
# travel as one (`parley.token.<jwt>`; a JWT's characters are all valid in a subprotocol name).
TOKEN_SUBPROTOCOL_PREFIX = "parley.token."
MAX_TOKEN_LENGTH = 8192
MAX_SYNC_CHATS = 1000
REF_MAX = 64
# Users one connection may watch the presence of (a contact list on screen, not a directory).
MAX_WATCHED_USERS = 300  # 300 ids are ~12 KB, within the default 16 KiB frame limit


class PresenceEntry(NamedTuple):
    user_id: uuid.UUID
    status: str
    last_seen: str | None  # ISO 8601, as the presence service's events carry it
    version: int


class ErrorCode:
    """Stable codes of `error` frames: clients branch on these, never on the message."""

    # The frame itself; the connection stays open.
    BAD_JSON = "bad_json"
    BAD_FRAME = "bad_frame"
    UNKNOWN_TYPE = "unknown_type"
    FRAME_TOO_LARGE = "frame_too_large"
    # Authentication.
    NOT_AUTHENTICATED = "not_authenticated"
    INVALID_TOKEN = "invalid_token"
    TOKEN_EXPIRED = "token_expired"
    UNKNOWN_KEY = "unknown_key"
    AUTH_UNAVAILABLE = "auth_unavailable"
    WRONG_USER = "wrong_user"
    AUTH_TIMEOUT = "auth_timeout"
    # Commands.
    NOT_A_MEMBER = "not_a_member"
    RATE_LIMITED = "rate_limited"
    UNAVAILABLE = "unavailable"
    INTERNAL = "internal"
    # Connection-level, sent just before the server closes.
    SLOW_CONSUMER = "slow_consumer"
    IDLE_TIMEOUT = "idle_timeout"


# Errors after which the same frame may succeed later, unchanged (same client_id).
RETRYABLE = frozenset(
    {ErrorCode.RATE_LIMITED, ErrorCode.UNAVAILABLE, ErrorCode.INTERNAL, ErrorCode.AUTH_UNAVAILABLE}
)


class ClientFrame(BaseModel):
    # Unknown fields are ignored: a newer client may send more than this version reads.
    model_config = ConfigDict(frozen=True, extra="ignore")


class AuthFrame(ClientFrame):
    type: Literal["auth"]
    token: str = Field(min_length=1, max_length=MAX_TOKEN_LENGTH)
    resume: dict[uuid.UUID, SeqOrZero] | None = Field(default=None, max_length=MAX_SYNC_CHATS)


class SendFrame(ClientFrame):
    type: Literal["send"]
    chat_id: uuid.UUID
    client_id: ClientId
    body: MessageBody = ""
    attachments: list[uuid.UUID] = Field(default_factory=list, max_length=ATTACHMENTS_MAX)
    reply_to_seq: Seq | None = None


class EditFrame(ClientFrame):
    type: Literal["edit"]
    chat_id: uuid.UUID
    client_id: ClientId
    message_seq: Seq
    body: MessageBody


class DeleteFrame(ClientFrame):
    type: Literal["delete"]
    chat_id: uuid.UUID
    client_id: ClientId
    message_seq: Seq


class ReactFrame(ClientFrame):
    type: Literal["react"]
    chat_id: uuid.UUID
    client_id: ClientId
    message_seq: Seq
    emoji: Emoji
    action: Literal["add", "remove"] = "add"


class TypingFrame(ClientFrame):
    type: Literal["typing"]
    chat_id: uuid.UUID


class ReadFrame(ClientFrame):
    type: Literal["read"]
    chat_id: uuid.UUID
    seq: SeqOrZero


class SyncFrame(ClientFrame):
    type: Literal["sync"]
    chats: dict[uuid.UUID, SeqOrZero] = Field(max_length=MAX_SYNC_CHATS)


class PingFrame(ClientFrame):
    type: Literal["ping"]
    ref: str | None = Field(default=None, max_length=REF_MAX)


class StatusFrame(ClientFrame):
    """This device is in use (`online`) or idle / in the background (`away`)."""

    type: Literal["status"]
    status: Literal["online", "away"]


class WatchFrame(ClientFrame):
    """The users whose presence this connection wants, replacing the previous list (empty: none)."""

    type: Literal["watch"]
    user_ids: list[uuid.UUID] = Field(max_length=MAX_WATCHED_USERS)


CommandFrame = SendFrame | EditFrame | DeleteFrame | ReactFrame
AnyClientFrame = (
    AuthFrame
    | SendFrame
    | EditFrame
    | DeleteFrame
    | ReactFrame
    | TypingFrame
    | ReadFrame
    | SyncFrame
    | PingFrame
    | StatusFrame
    | WatchFrame
)
CLIENT_FRAMES: TypeAdapter[AnyClientFrame] = TypeAdapter(
    Annotated[AnyClientFrame, Field(discriminator="type")]
)


class FrameError(Exception):
    """A client frame that cannot be taken: the error frame to answer with."""

    def __init__(self, code: str, message: str, details: Any = None) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        self.details = details


def parse_client_frame(text: bytes | str) -> AnyClientFrame:
    try:
        return CLIENT_FRAMES.validate_json(text)
    except ValidationError as exc:
        raise _frame_error(exc) from None


def _frame_error(exc: ValidationError) -> FrameError:
    errors = exc.errors(include_url=False, include_context=False, include_input=False)
    kinds = {error["type"] for error in errors}
    if "json_invalid" in kinds:
        return FrameError(ErrorCode.BAD_JSON, "The frame is not valid JSON.")
    if "union_tag_invalid" in kinds:
        return FrameError(ErrorCode.UNKNOWN_TYPE, "Unknown frame type.")
    if "union_tag_not_found" in kinds:
        return FrameError(ErrorCode.BAD_FRAME, "The frame has no `type`.")
    if kinds & {"model_type", "model_attributes_type", "dict_type"}:
        return FrameError(ErrorCode.BAD_FRAME, "A frame is a JSON object.")
    details = [{"loc": [str(part) for part in error["loc"][1:]], "msg": error["msg"]} for error in errors[:5]]
    return FrameError(ErrorCode.BAD_FRAME, "The frame does not match its type.", details)


# --- server frames ------------------------------------------------------------------------------


# Datetimes and dataclasses go to `default` (str), as they did with the standard library's encoder.
_ORJSON_OPTIONS = orjson.OPT_PASSTHROUGH_DATETIME | orjson.OPT_PASSTHROUGH_DATACLASS


def _dump(frame: dict[str, Any]) -> bytes:
    """Compact UTF-8 JSON, by orjson (several times the standard library's speed): the same bytes
    as `json.dumps(separators=(",", ":"), ensure_ascii=False, default=str)` wrote, but for floats,
    which are written in their shortest form (equal JSON; tests/messaging/test_frame_encoding.py).
    What orjson refuses (integers beyond 64 bits, keys that are not strings) goes to the standard
    library as before."""
    try:
        return orjson.dumps(frame, default=str, option=_ORJSON_OPTIONS)
    except TypeError:
        return json.dumps(frame, separators=(",", ":"), ensure_ascii=False, default=str).encode()


def hello_frame(
    *,
    connection_id: str,
    user_id: uuid.UUID,
    expires_at: int,
    chats: list[tuple[uuid.UUID, int, int]],
    heartbeat_seconds: float,
    limits: dict[str, float],
) -> bytes:
    return _dump(
        {
            "type": "hello",
            "protocol": VERSION,
            "connection_id": connection_id,
            "user_id": str(user_id),
            "expires_at": expires_at,
            "heartbeat_seconds": heartbeat_seconds,
            "limits": limits,
            "chats": [
                {"chat_id": str(chat_id), "last_seq": last_seq, "last_read_seq": last_read}
                for chat_id, last_seq, last_read in chats
            ],
        }
    )


def authenticated_frame(expires_at: int) -> bytes:
    """The answer to an `auth` frame on a connection that is already open (a fresher token)."""
    return _dump({"type": "authenticated", "expires_at": expires_at})


def accepted_frame(client_id: str, chat_id: uuid.UUID, command_id: uuid.UUID) -> bytes:
    return _dump({"type": "accepted", "client_id": client_id, "chat_id": str(chat_id), "id": str(command_id)})


def event_frame(event_json: bytes) -> bytes:
    """A stored event, forwarded as published (compact JSON of a parley.common.events model)."""
    return b'{"type":"event","event":' + event_json + b"}"


def typing_frame(chat_id: str, user_id: str) -> bytes:
    return _dump({"type": "typing", "chat_id": chat_id, "user_id": user_id})


def read_frame(chat_id: str, user_id: str, last_read_seq: int) -> bytes:
    return _dump({"type": "read", "chat_id": chat_id, "user_id": user_id, "last_read_seq": last_read_seq})


def synced_frame(chats: dict[uuid.UUID, int]) -> bytes:
    return _dump({"type": "synced", "chats": {str(chat_id): seq for chat_id, seq in chats.items()}})


def presence_frame(users: Iterable[PresenceEntry]) -> bytes:
    return _dump(
        {
            "type": "presence",
            "users": [
                {"user_id": str(user_id), "status": status, "last_seen": last_seen, "version": version}
                for user_id, status, last_seen, version in users
            ],
        }
    )


def pong_frame(ref: str | None, server_time: float) -> bytes:
    return _dump({"type": "pong", "ref": ref, "server_time": server_time})


def error_frame(
    code: str,
    message: str,
    *,
    client_id: str | None = None,
    chat_id: uuid.UUID | str | None = None,
    command_id: uuid.UUID | str | None = None,
    frame_type: str | None = None,
    retry_after_ms: int | None = None,
    details: Any = None,
) -> bytes:
    frame: dict[str, Any] = {
        "type": "error",
        "code": code,
        "message": message,
        "retryable": code in RETRYABLE,
    }
    optional = {
        "frame_type": frame_type,
        "client_id": client_id,
        "chat_id": chat_id,
        "id": command_id,
        "retry_after_ms": retry_after_ms,
        "details": details,
    }
    frame.update({key: value for key, value in optional.items() if value is not None})
    return _dump(frame)
