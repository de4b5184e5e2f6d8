"""Request and response bodies of the auth API."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from parley.auth.models import User
from parley.auth.passwords import PASSWORD_MAX, PASSWORD_MIN
from parley.common.types import Text

POLICY = (
    f"{PASSWORD_MIN} to {PASSWORD_MAX} characters; not a common password, not one repeated character "
    "or a run of consecutive ones, at least 4 different characters, not containing the username or "
    "the email address's name."
)


class Body(BaseModel):
    model_config = ConfigDict(extra="forbid", str_max_length=1024)


class RegisterRequest(Body):
    username: Text = Field(min_length=1, max_length=64, examples=["ada"])
    email: Text = Field(min_length=3, max_length=320, examples=["ada@example.org"])
    phone: Text | None = Field(default=None, max_length=32, examples=["+41 44 668 18 00"])
    password: Text = Field(min_length=1, max_length=PASSWORD_MAX, description=POLICY)


class LoginRequest(Body):
    login: Text = Field(min_length=1, max_length=320, description="Username or email address.")
    password: Text = Field(min_length=1, max_length=256)


class RefreshRequest(Body):
    refresh_token: Text = Field(min_length=1, max_length=256)


class ChangePasswordRequest(Body):
    current_password: Text = Field(min_length=1, max_length=256)
    new_password: Text = Field(min_length=1, max_length=PASSWORD_MAX, description=POLICY)


class TokenPair(BaseModel):
    access_token: str
    token_type: Literal["Bearer"] = "Bearer"  # noqa: S105  (a scheme name, not a secret)
    expires_in: int = Field(description="Seconds the access token is valid for.")
    refresh_token: str | None = Field(
        description="Opaque; use once with /auth/refresh, which returns a new one. Null in cookie mode "
        "(header `X-Parley-Refresh: cookie`): the token is then in the HttpOnly cookie."
    )
    refresh_expires_in: int


class UserOut(BaseModel):
    id: uuid.UUID
    username: str
    email: str
    phone: str | None
    created_at: datetime

    @classmethod
    def of(cls, user: User) -> UserOut:
        return cls(
            id=user.id, username=user.username, email=user.email, phone=user.phone, created_at=user.created_at
        )


class Jwk(BaseModel):
    kty: str
    use: str
    alg: str
    kid: str
    n: str
    e: str


class Jwks(BaseModel):
    keys: list[Jwk]


class OpenIdConfiguration(BaseModel):
    model_config = ConfigDict(extra="allow")

    issuer: str
    jwks_uri: str
    token_endpoint: str
    id_token_signing_alg_values_supported: list[str]
    subject_types_supported: list[str]
    response_types_supported: list[str]
    claims_supported: list[str]
