"""A real SMTP server that accepts every message and files it in a Maildir, for development and tests.

Run as `python -m parley.devstack.mailsink --port 11025 --maildir DIR`. Nothing is relayed: each
message is stored once, as sent (with LF line ends), with a `Delivered-To` header per envelope
recipient and a `Return-Path` for the envelope sender (as a local MTA does), so a reader can find
mail sent to an address that appears in no header (Bcc) and tell apart what was sent from what
was addressed.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import email.policy
import logging
import mailbox
import signal
from collections.abc import Iterator
from email.message import EmailMessage
from email.parser import BytesParser
from pathlib import Path

from aiosmtpd.smtp import SMTP, Envelope, Session

log = logging.getLogger("parley.mailsink")

MAX_MESSAGE_BYTES = 32 * 1024 * 1024


def open_maildir(path: Path) -> mailbox.Maildir:
    path.mkdir(parents=True, exist_ok=True)
    return mailbox.Maildir(path, factory=None, create=True)


def stored_bytes(envelope: Envelope) -> bytes:
    """The message as it is filed: delivery headers first, then the data as received."""
    content = envelope.original_content or envelope.content or b""
    if isinstance(content, str):
        content = content.encode("utf-8", "surrogateescape")
    trace = [f"Return-Path: <{envelope.mail_from or ''}>"]
    trace += [f"Delivered-To: {rcpt}" for rcpt in envelope.rcpt_tos]
    # A Maildir holds local text: lines end in LF, not the CRLF of the SMTP wire (as MTAs deliver it).
    return ("\n".join(trace) + "\n").encode("utf-8") + content.replace(b"\r\n", b"\n")


class MaildirHandler:
    """aiosmtpd handler: every accepted message becomes one file in the Maildir's `new/`.

    `accept_delay`: seconds spent on each message before it is stored (a slow server, for tests);
    a client that goes away meanwhile cancels it and nothing is stored. Stopping drains: messages
    being stored are stored and answered, new ones get a 421, so a stop never leaves a message
    stored that its client was not told about."""

    def __init__(self, maildir: Path, accept_delay: float = 0.0) -> None:
        self.maildir = open_maildir(maildir)
        self.accept_delay = accept_delay
        self.closing = False
        self.in_flight = 0

    async def handle_RCPT(
        self, server: SMTP, session: Session, envelope: Envelope, address: str, rcpt_options: list[str]
    ) -> str:
        """Every recipient but those of the `.invalid` top-level domain (RFC 2606: never a real
        one), which get the permanent refusal a real server gives an address it does not serve."""
        if address.rpartition("@")[2].lower().rstrip(".").endswith(".invalid"):
            return "550 5.1.2 Bad destination mailbox address (the .invalid domain)"
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:
        if self.closing:
            return "421 Shutting down, try again later"
        self.in_flight += 1
        try:
            if self.accept_delay:
                await asyncio.sleep(self.accept_delay)
            data = stored_bytes(envelope)
            # Maildir writes to tmp/ and renames into new/, so a reader never sees half a message.
            key = await asyncio.to_thread(self.maildir.add, data)
        finally:
            self.in_flight -= 1
        log.info("stored %s from %s to %s", key, envelope.mail_from, ", ".join(envelope.rcpt_tos))
        return "250 Message accepted for delivery"


def read_messages(maildir: Path, recipient: str | None = None) -> Iterator[tuple[str, EmailMessage]]:
    """(key, message) of the stored messages, oldest first; only those delivered to `recipient`."""
    box = open_maildir(maildir)
    entries = []
    for key in box.iterkeys():
        try:
            # get_date() is the file's delivery time; get_bytes() the file exactly as filed.
            received = box.get_message(key).get_date()
            raw = box.get_bytes(key)
        except (KeyError, FileNotFoundError):
            continue  # removed by another reader meanwhile
        entries.append((received, key, raw))
    for _, key, raw in sorted(entries):
        message = BytesParser(EmailMessage, policy=email.policy.default).parsebytes(raw)
        if recipient is None or _delivered_to(message, recipient):
            yield key, message


def remove_messages(maildir: Path, keys: list[str]) -> None:
    box = open_maildir(maildir)
    for key in keys:
        with contextlib.suppress(KeyError, FileNotFoundError):
            box.remove(key)


def _delivered_to(message: EmailMessage, recipient: str) -> bool:
    wanted = recipient.lower()
    return any(str(value).strip().lower() == wanted for value in message.get_all("Delivered-To", []))


async def serve(host: str, port: int, maildir: Path, accept_delay: float = 0.0) -> None:
    handler = MaildirHandler(maildir, accept_delay)
    loop = asyncio.get_running_loop()
    server = await loop.create_server(
        lambda: SMTP(
            handler,
            hostname="parley-mailsink",
            data_size_limit=MAX_MESSAGE_BYTES,
            enable_SMTPUTF8=True,
        ),
        host=host,
        port=port,
    )
    stop = asyncio.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    log.info("listening on %s:%d, storing mail in %s", host, port, maildir)
    async with server:
        await stop.wait()
        handler.closing = True
        server.close()
        # Drain: what is being stored is stored and answered before the process ends.
        for _ in range(200):
            if handler.in_flight == 0:
                break
            await asyncio.sleep(0.05)
        await asyncio.sleep(0.05)  # the last replies leave
    log.info("stopped")


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--maildir", type=Path, required=True)
    parser.add_argument("--accept-delay", type=float, default=0.0, help="Seconds per message (tests).")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    asyncio.run(serve(args.host, args.port, args.maildir, args.accept_delay))


if __name__ == "__main__":
    main()
