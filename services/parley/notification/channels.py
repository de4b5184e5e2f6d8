"""How a recorded delivery leaves: email over SMTP (aiosmtplib), SMS through a provider.

Each channel says how an attempt ended: sent, a temporary failure (try again later: a 4xx, a
connection refused, a timeout) or a permanent one (5xx: the address is undeliverable).
"""

from __future__ import annotations

import contextlib
import uuid
from dataclasses import dataclass
from email.utils import parseaddr
from typing import Literal, Protocol

import aiosmtplib

from parley.notification.render import mail_message


class TemporaryFailure(Exception):
    """Try again later. `connection`: the server could not be reached at all."""

    def __init__(self, reason: str, *, connection: bool = False) -> None:
        super().__init__(reason)
        self.reason = reason
        self.connection = connection


class PermanentFailure(Exception):
    """The server refused the address for good."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


@dataclass(frozen=True)
class Outgoing:
    delivery_id: uuid.UUID
    user_id: uuid.UUID
    address: str
    subject: str
    text: str
    html: str | None
    unsubscribe_url: str


class Channel(Protocol):
    name: Literal["email", "sms"]

    async def send(self, item: Outgoing) -> None: ...

    async def close(self) -> None: ...


def _classify(exc: aiosmtplib.SMTPException) -> Exception:
    if isinstance(exc, aiosmtplib.SMTPRecipientsRefused):
        codes = [r.code for r in exc.recipients]
        reason = "; ".join(f"{r.code} {r.message}" for r in exc.recipients)
        if codes and all(code >= 500 for code in codes):
            return PermanentFailure(reason)
        return TemporaryFailure(reason)
    if isinstance(
        exc, aiosmtplib.SMTPConnectError | aiosmtplib.SMTPServerDisconnected | aiosmtplib.SMTPTimeoutError
    ):
        return TemporaryFailure(f"{type(exc).__name__}: {exc}", connection=True)
    if isinstance(exc, aiosmtplib.SMTPSenderRefused):
        # Our own envelope sender refused: nothing wrong with the recipient's address.
        return TemporaryFailure(f"sender refused: {exc.code} {exc.message}")
    if isinstance(exc, aiosmtplib.SMTPResponseException):
        reason = f"{exc.code} {exc.message}"
        return PermanentFailure(reason) if exc.code >= 500 else TemporaryFailure(reason)
    return TemporaryFailure(f"{type(exc).__name__}: {exc}", connection=True)


class SmtpChannel:
    """One SMTP connection per sender task, kept open between mails and made anew after an error."""

    name: Literal["email", "sms"] = "email"

    def __init__(
        self,
        *,
        host: str,
        port: int,
        sender: str,
        username: str | None = None,
        password: str | None = None,
        tls: str = "none",
        timeout: float = 15.0,
    ) -> None:
        self.host = host
        self.port = port
        self.sender = sender
        self.envelope_from = parseaddr(sender)[1]
        self.domain = self.envelope_from.rpartition("@")[2] or "parley.invalid"
        self.username = username
        self.password = password
        self.tls = tls
        self.timeout = timeout
        self._client: aiosmtplib.SMTP | None = None

    async def _connected(self) -> aiosmtplib.SMTP:
        if self._client is not None and self._client.is_connected:
            return self._client
        client = aiosmtplib.SMTP(
            hostname=self.host,
            port=self.port,
            timeout=self.timeout,
            use_tls=self.tls == "tls",
            start_tls=self.tls == "starttls",
            username=self.username,
            password=self.password,
        )
        await client.connect()
        self._client = client
        return client

    async def send(self, item: Outgoing) -> None:
        message = mail_message(
            delivery_id=item.delivery_id,
            sender=self.sender,
            to=item.address,
            subject=item.subject,
            text=item.text,
            html=item.html,
            unsubscribe_url=item.unsubscribe_url,
            domain=self.domain,
        )
        try:
            client = await self._connected()
            await client.send_message(message, sender=self.envelope_from, recipients=[item.address])
        except aiosmtplib.SMTPException as exc:
            await self._drop()
            raise _classify(exc) from exc
        except (OSError, TimeoutError) as exc:
            await self._drop()
            raise TemporaryFailure(f"{type(exc).__name__}: {exc}", connection=True) from exc

    async def _drop(self) -> None:
        client, self._client = self._client, None
        if client is not None:
            with contextlib.suppress(Exception):  # a broken connection may fail to close; it is gone
                client.close()

    async def close(self) -> None:
        client, self._client = self._client, None
        if client is not None and client.is_connected:
            try:
                await client.quit()
            except (aiosmtplib.SMTPException, OSError):
                client.close()
