"""One error shape for every service: `{"error": {"code", "message", "details"}}`.

Services raise `ApiError` (or a subclass); framework errors (404, 405, validation, oversized
bodies, anything unexpected) are turned into the same shape by the handlers installed here, and
`ERROR_RESPONSES` documents it in the OpenAPI schema.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Any

from fastapi import FastAPI, Request
from fastapi.encoders import jsonable_encoder
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import BaseModel, Field
from starlette.exceptions import HTTPException as StarletteHTTPException

log = logging.getLogger(__name__)


class ErrorBody(BaseModel):
    code: str = Field(description="Stable, machine-readable: branch on this, not on the message.")
    message: str = Field(description="For people; may change between versions.")
    details: Any = Field(default=None, description="Code-specific structured data, or null.")


class ErrorResponse(BaseModel):
    error: ErrorBody


class ApiError(Exception):
    """An error a client caused or should know about, with the status it maps to."""

    status_code = 400
    code = "bad_request"

    def __init__(
        self,
        message: str,
        *,
        code: str | None = None,
        status_code: int | None = None,
        details: Any = None,
        headers: Mapping[str, str] | None = None,
    ) -> None:
        super().__init__(message)
        self.message = message
        if code is not None:
            self.code = code
        if status_code is not None:
            self.status_code = status_code
        self.details = details
        self.headers = dict(headers or {})


class NotAuthenticated(ApiError):
    status_code = 401
    code = "not_authenticated"

    def __init__(self, message: str = "A valid access token is required.", *, code: str | None = None):
        super().__init__(message, code=code, headers={"WWW-Authenticate": 'Bearer error="invalid_token"'})


class Conflict(ApiError):
    status_code = 409
    code = "conflict"


class TooManyRequests(ApiError):
    status_code = 429
    code = "too_many_requests"

    def __init__(self, message: str, *, retry_after: int) -> None:
        retry_after = max(1, retry_after)
        super().__init__(
            message,
            details={"retry_after": retry_after},
            headers={"Retry-After": str(retry_after)},
        )


_STATUS_CODES = {
    400: "bad_request",
    401: "not_authenticated",
    403: "forbidden",
    404: "not_found",
    405: "method_not_allowed",
    406: "not_acceptable",
    413: "payload_too_large",
    415: "unsupported_media_type",
    422: "validation_error",
    429: "too_many_requests",
}


def error_json(
    status_code: int,
    code: str,
    message: str,
    details: Any = None,
    headers: Mapping[str, str] | None = None,
) -> JSONResponse:
    body = ErrorResponse(error=ErrorBody(code=code, message=message, details=details))
    return JSONResponse(body.model_dump(mode="json"), status_code=status_code, headers=headers)


def _validation_details(exc: RequestValidationError) -> list[dict[str, Any]]:
    # Only the parts a client can act on: the input echo can be huge, and `ctx` may hold
    # exception objects that are not JSON.
    return [
        {"loc": list(err.get("loc", ())), "msg": str(err.get("msg", "")), "type": str(err.get("type", ""))}
        for err in jsonable_encoder(exc.errors(), custom_encoder={Exception: str})
    ]


async def _api_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, ApiError)
    return error_json(exc.status_code, exc.code, exc.message, exc.details, exc.headers)


async def _http_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, StarletteHTTPException)
    code = _STATUS_CODES.get(exc.status_code, "error" if exc.status_code < 500 else "internal_error")
    message = exc.detail if isinstance(exc.detail, str) else code.replace("_", " ")
    return error_json(exc.status_code, code, message, headers=exc.headers)


async def _validation_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, RequestValidationError)
    return error_json(422, "validation_error", "The request is not valid.", _validation_details(exc))


def dependency_unavailable(exc: BaseException) -> bool:
    """A server the service needs did not answer (or dropped the connection): the request may
    work on a retry, so it is a 503 with Retry-After, not a 500 (issue 18)."""
    # Imported here: this module is the bottom of the error handling and these are optional for it.
    from redis.exceptions import ConnectionError as RedisConnectionError
    from redis.exceptions import TimeoutError as RedisTimeoutError
    from sqlalchemy.exc import DBAPIError
    from sqlalchemy.exc import TimeoutError as PoolTimeout

    seen: set[int] = set()
    current: BaseException | None = exc
    # The cause chain: asyncpg's error under SQLAlchemy's, an OSError under redis-py's.
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        if isinstance(current, DBAPIError) and current.connection_invalidated:
            return True
        if isinstance(current, RedisConnectionError | RedisTimeoutError | PoolTimeout | ConnectionError):
            return True
        if isinstance(current, OSError) and current.errno is not None:
            return True
        # PostgreSQL's connection exceptions and "shutting down / starting up" (asyncpg's sqlstate)
        if str(getattr(current, "sqlstate", "") or "").startswith(("08", "57P")):
            return True
        current = current.__cause__ or current.__context__
    return False


async def _unexpected(request: Request, exc: Exception) -> JSONResponse:
    if dependency_unavailable(exc):
        log.warning("%s %s: a dependency is unavailable: %r", request.method, request.url.path, exc)
        return error_json(
            503,
            "unavailable",
            "A server this service needs is not answering; try again shortly.",
            details={"retry_after": 1},
            headers={"Retry-After": "1"},
        )
    log.exception("unhandled error on %s %s", request.method, request.url.path)
    return error_json(500, "internal_error", "Something went wrong on our side.")


def install_error_handlers(app: FastAPI) -> None:
    app.add_exception_handler(ApiError, _api_error)
    app.add_exception_handler(StarletteHTTPException, _http_error)
    app.add_exception_handler(RequestValidationError, _validation_error)
    app.add_exception_handler(Exception, _unexpected)


def _documented(description: str) -> dict[str, Any]:
    return {"model": ErrorResponse, "description": description}


# App-wide `responses=`: every operation documents the shape; FastAPI then does not add its own
# 422 model, since one is already there.
ERROR_RESPONSES: dict[int | str, dict[str, Any]] = {
    400: _documented("The request cannot be read (a body that is not UTF-8 JSON, a bad Content-Length)."),
    413: _documented("The request body is larger than the service accepts."),
    422: _documented("The request is not valid: `details` lists each problem with its location."),
    500: _documented("An unexpected error on the service's side."),
}


def responses(*statuses: int) -> dict[int | str, dict[str, Any]]:
    """Per-route documentation of the error statuses that route can answer."""
    descriptions = {
        400: "The request cannot be carried out.",
        401: "A valid access token (or credentials) is required.",
        403: "Not allowed.",
        404: "Not found.",
        409: "Conflicts with existing data.",
        429: "Too many attempts: wait the number of seconds in Retry-After.",
    }
    return {status: _documented(descriptions.get(status, "Error.")) for status in statuses}
