"""Reading what the dev stack's SMTP server received, for tests that send mail."""

from __future__ import annotations

import asyncio
import time
from email.message import EmailMessage
from pathlib import Path

from parley.devstack.mailsink import read_messages, remove_messages

MAIL_DOMAIN = "parley.test"
"""Reserved for testing (RFC 2606): an address here never reaches a real mailbox."""


class MailTimeoutError(AssertionError):
    """The expected mail did not arrive in time (an assertion failure of the test)."""


class Mailbox:
    """The messages delivered to addresses of one test; removes them when the test is done."""

    def __init__(self, maildir: Path) -> None:
        self.maildir = maildir
        self.addresses: list[str] = []

    def track(self, address: str) -> str:
        """Remember an address so its mail is cleaned up after the test; returns it."""
        self.addresses.append(address)
        return address

    def messages(self, address: str) -> list[EmailMessage]:
        """What has been delivered to `address` so far, oldest first."""
        return [message for _, message in read_messages(self.maildir, address)]

    async def wait_for_mail(
        self,
        address: str,
        timeout: float = 10.0,  # noqa: ASYNC109 - on expiry the error says what was missing, for whom
        count: int = 1,
    ) -> list[EmailMessage]:
        """Wait until at least `count` messages were delivered to `address`; returns them all."""
        deadline = time.monotonic() + timeout
        while True:
            found = await asyncio.to_thread(self.messages, address)
            if len(found) >= count:
                return found
            if time.monotonic() >= deadline:
                raise MailTimeoutError(
                    f"{len(found)} of {count} message(s) to {address} arrived within {timeout:.0f}s"
                )
            await asyncio.sleep(0.1)

    def clean(self) -> None:
        for address in self.addresses:
            remove_messages(self.maildir, [key for key, _ in read_messages(self.maildir, address)])
