"""What the auth endpoints do, apart from HTTP: accounts, sign-in, sessions, passwords."""

from __future__ import annotations

import uuid

from sqlalchemy.exc import IntegrityError
from sqlmodel import or_, select
from sqlmodel.ext.asyncio.session import AsyncSession

from parley.auth.errors import (
    AccountUnavailable,
    InvalidCredentials,
    InvalidField,
    Taken,
    WeakPassword,
    WrongPassword,
)
from parley.auth.identity import (
    InvalidIdentity,
    normalize_email,
    normalize_phone,
    normalize_username,
)
from parley.auth.models import EMAIL_UNIQUE, USERNAME_UNIQUE, User, utcnow
from parley.auth.passwords import PasswordHasher, Problem, check_policy
from parley.auth.schemas import ChangePasswordRequest, LoginRequest, RegisterRequest, TokenPair
from parley.auth.sessions import Client, Issued, RefreshSessions
from parley.auth.throttle import LoginThrottle
from parley.auth.tokens import AccessTokenIssuer
from parley.common.auth import Principal
from parley.common.users.directory import username_key


def login_key(login: str) -> tuple[str, str]:
    """(column, canonical value) a login name is looked up by: the email if it has an @.
    Anything malformed simply finds nobody (after the same work as a wrong password)."""
    if "@" in login:
        try:
            return "email_key", normalize_email(login).key
        except InvalidIdentity:
            return "email_key", login.strip().casefold()
    return "username_key", username_key(login)


class AuthService:
    def __init__(
        self,
        *,
        hasher: PasswordHasher,
        issuer: AccessTokenIssuer,
        sessions: RefreshSessions,
        throttle: LoginThrottle,
    ) -> None:
        self.hasher = hasher
        self.issuer = issuer
        self.sessions = sessions
        self.throttle = throttle

    def _pair(self, user: User, issued: Issued) -> TokenPair:
        access = self.issuer.issue(user.id, user.username, issued.family_id)
        return TokenPair(
            access_token=access.token,
            expires_in=access.expires_in,
            refresh_token=issued.token,
            refresh_expires_in=int(self.sessions.ttl.total_seconds()),
        )

    async def register(self, db: AsyncSession, body: RegisterRequest) -> User:
        try:
            username = normalize_username(body.username)
            email = normalize_email(body.email)
            phone = normalize_phone(body.phone) if body.phone else None
        except InvalidIdentity as exc:
            raise InvalidField(exc) from exc
        problems = check_policy(body.password, username=username.display, email=email.display)
        if problems:
            raise WeakPassword(problems)
        existing = (
            await db.exec(
                select(User.username_key, User.email_key).where(
                    or_(User.username_key == username.key, User.email_key == email.key)
                )
            )
        ).all()
        for taken_username, _ in existing:
            if taken_username == username.key:
                raise Taken("username")
        if existing:
            raise Taken("email")
        user = User(
            username=username.display,
            username_key=username.key,
            email=email.display,
            email_key=email.key,
            phone=phone,
            password_hash=await self.hasher.hash(body.password),
        )
        db.add(user)
        try:
            await db.commit()
        except IntegrityError as exc:
            # Lost a race with a concurrent registration of the same name.
            await db.rollback()
            constraint = getattr(getattr(exc.orig, "diag", None), "constraint_name", None) or str(exc.orig)
            if USERNAME_UNIQUE in constraint:
                raise Taken("username") from exc
            if EMAIL_UNIQUE in constraint:
                raise Taken("email") from exc
            raise
        return user

    async def login(self, db: AsyncSession, body: LoginRequest, client: Client) -> TokenPair:
        column, key = login_key(body.login)
        account = f"{column}:{key}"
        # Counted before the password is checked (atomically), so concurrent guesses cannot all pass.
        await self.throttle.attempt(account, client.address)
        user = (await db.exec(select(User).where(getattr(User, column) == key))).first()
        # Always one argon2 verification, account or not: same work, same time, same answer.
        matched = await self.hasher.verify(user.password_hash if user else None, body.password)
        if user is None or not matched or user.disabled:
            raise InvalidCredentials()
        await self.throttle.succeeded(account, client.address)
        if self.hasher.needs_rehash(user.password_hash):
            user.password_hash = await self.hasher.hash(body.password)
            db.add(user)
        issued = self.sessions.start(db, user.id, client)
        await db.commit()
        return self._pair(user, issued)

    async def refresh(self, db: AsyncSession, refresh_token: str, client: Client) -> TokenPair:
        user, issued = await self.sessions.rotate(db, refresh_token, client)
        return self._pair(user, issued)

    async def logout(self, db: AsyncSession, refresh_token: str) -> None:
        await self.sessions.revoke_by_token(db, refresh_token)
        await db.commit()

    async def logout_all(self, db: AsyncSession, principal: Principal) -> None:
        await self.sessions.revoke_user(db, principal.user_id, "logout_all")
        await db.commit()

    async def current(self, db: AsyncSession, principal: Principal) -> User:
        user = await db.get(User, principal.user_id)
        if user is None or user.disabled:
            raise AccountUnavailable()
        return user

    async def change_password(
        self, db: AsyncSession, principal: Principal, body: ChangePasswordRequest, client: Client
    ) -> None:
        user = await self.current(db, principal)
        account = f"user:{user.id}"
        await self.throttle.attempt(account, client.address)
        if not await self.hasher.verify(user.password_hash, body.current_password):
            raise WrongPassword()
        await self.throttle.succeeded(account, client.address)
        problems = check_policy(body.new_password, username=user.username, email=user.email)
        if body.new_password == body.current_password:
            problems.append(Problem("unchanged", "The new password must differ from the current one."))
        if problems:
            raise WeakPassword(problems, field="new_password")
        user.password_hash = await self.hasher.hash(body.new_password)
        user.password_changed_at = utcnow()
        db.add(user)
        # Every other session ends: whoever knew the old password is signed out everywhere.
        await self.sessions.revoke_user(db, user.id, "password_changed", keep=_uuid(principal.session_id))
        await db.commit()


def _uuid(value: str | None) -> uuid.UUID | None:
    try:
        return uuid.UUID(value) if value else None
    except ValueError:
        return None
