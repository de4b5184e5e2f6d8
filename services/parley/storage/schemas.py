"""Request and response bodies of the storage service."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Annotated, Literal

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, StringConstraints

from parley.common.text import single_line

FileName = Annotated[
    str,
    StringConstraints(min_length=1, max_length=255, pattern=r"^[^/\\]+$"),
    # No control characters, surrogates or bidirectional controls (a name shown as something else).
    AfterValidator(single_line),
]
ContentType = Annotated[
    str, StringConstraints(min_length=3, max_length=127, pattern=r"^[A-Za-z0-9.+-]+/[A-Za-z0-9.+-]+$")
]
ETag = Annotated[str, StringConstraints(min_length=1, max_length=128, pattern=r'^"?[A-Za-z0-9-]+"?$')]


class NewAttachment(BaseModel):
    model_config = ConfigDict(extra="forbid")

    chat_id: uuid.UUID
    file_name: FileName
    size: int = Field(ge=1, le=2**53, description="Bytes; the stored object must have exactly this size.")
    content_type: ContentType = Field(
        description="What the client believes the file is; checked at completion."
    )


class PartUrl(BaseModel):
    part_number: int
    url: str


class UploadPlan(BaseModel):
    """How to send the bytes: one PUT of the whole file to `url`, or a PUT per part (each part
    `part_size` bytes, the last one the rest) then `complete` with each part's ETag."""

    kind: Literal["single", "multipart"]
    method: Literal["PUT"] = "PUT"
    url: str | None = None
    part_size: int | None = None
    parts: list[PartUrl] = Field(default_factory=list)
    expires_at: datetime


class AttachmentOut(BaseModel):
    id: uuid.UUID
    chat_id: uuid.UUID
    uploader_id: uuid.UUID
    file_name: str
    size: int
    content_type: str = Field(description="The sniffed type once completed, the declared one before.")
    status: Literal["uploading", "scanning", "ready", "failed", "deleted"]
    failure: str | None
    scanned: bool
    width: int | None
    height: int | None
    has_preview: bool
    message_seq: int | None
    created_at: datetime


class Created(BaseModel):
    attachment: AttachmentOut
    upload: UploadPlan


class CompletedPart(BaseModel):
    model_config = ConfigDict(extra="forbid")

    part_number: int = Field(ge=1, le=10_000)
    etag: ETag


class Completion(BaseModel):
    model_config = ConfigDict(extra="forbid")

    parts: list[CompletedPart] = Field(
        default_factory=list, max_length=10_000, description="Multipart uploads: every part, in order."
    )


Variant = Literal["original", "preview", "thumbnail"]
