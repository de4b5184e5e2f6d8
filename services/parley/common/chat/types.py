"""The vocabulary of chats and the limits every writer enforces, in one place."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import AfterValidator, Field, StringConstraints

from parley.common.text import multiline, printable_token, single_line

ChatKind = Literal["direct", "group"]
Role = Literal["owner", "admin", "member"]
ROLES: tuple[Role, ...] = ("owner", "admin", "member")

# bigint: what PostgreSQL stores; a larger number from a client is a 422, not a driver error.
MAX_SEQ = 2**63 - 1

TITLE_MAX = 128
BODY_MAX = 4000
ATTACHMENTS_MAX = 10
EMOJI_MAX = 32
CLIENT_ID_MAX = 64

Seq = Annotated[int, Field(ge=1, le=MAX_SEQ)]
SeqOrZero = Annotated[int, Field(ge=0, le=MAX_SEQ)]
ChatTitle = Annotated[
    str,
    StringConstraints(strip_whitespace=True, min_length=1, max_length=TITLE_MAX),
    AfterValidator(single_line),
]
MessageBody = Annotated[str, StringConstraints(max_length=BODY_MAX), AfterValidator(multiline)]
Emoji = Annotated[str, StringConstraints(min_length=1, max_length=EMOJI_MAX), AfterValidator(printable_token)]
ClientId = Annotated[
    str,
    StringConstraints(min_length=1, max_length=CLIENT_ID_MAX, pattern=r"^[A-Za-z0-9._:-]+$"),
]
