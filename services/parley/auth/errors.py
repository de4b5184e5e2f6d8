"""The auth service's errors (all in the common error shape)."""

from __future__ import annotations

from parley.auth.identity import InvalidIdentity
from parley.auth.passwords import Problem
from parley.common.errors import ApiError, Conflict


class InvalidCredentials(ApiError):
    status_code = 401
    code = "invalid_credentials"

    def __init__(self) -> None:
        # One message for "no such account" and "wrong password": the answer must not tell which.
        super().__init__("The username, email address or password is not right.")


class InvalidRefreshToken(ApiError):
    status_code = 401
    code = "invalid_refresh_token"

    def __init__(self) -> None:
        super().__init__("The refresh token is not valid (unknown, expired or ended). Sign in again.")


class RefreshTokenReused(ApiError):
    status_code = 401
    code = "refresh_token_reused"

    def __init__(self) -> None:
        super().__init__(
            "This refresh token was already used once. For safety the session it belongs to "
            "has been ended on every device that shared it. Sign in again."
        )


class AccountUnavailable(ApiError):
    status_code = 401
    code = "account_unavailable"

    def __init__(self) -> None:
        super().__init__("The account behind this token no longer exists or is disabled.")


class WrongPassword(ApiError):
    status_code = 403
    code = "wrong_password"

    def __init__(self) -> None:
        super().__init__("The current password is not right.")


class Taken(Conflict):
    def __init__(self, field: str) -> None:
        label = "email address" if field == "email" else field
        super().__init__(f"This {label} is already taken.", code=f"{field}_taken", details={"field": field})


class WeakPassword(ApiError):
    status_code = 422
    code = "weak_password"

    def __init__(self, problems: list[Problem], field: str = "password") -> None:
        super().__init__(
            "The password does not meet the policy: " + " ".join(p.message for p in problems),
            details={"field": field, "problems": [{"rule": p.rule, "message": p.message} for p in problems]},
        )


class InvalidField(ApiError):
    status_code = 422

    def __init__(self, exc: InvalidIdentity) -> None:
        super().__init__(exc.message, code=exc.code, details={"field": exc.field})


class CsrfRefused(ApiError):
    status_code = 403
    code = "csrf_check_failed"

    def __init__(self, why: str) -> None:
        super().__init__(f"A cookie-authenticated request must come from the site itself: {why}.")
