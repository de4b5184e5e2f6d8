"""Smoke tests: the dev stack's SMTP server accepts mail and tests can read what arrived."""

from __future__ import annotations

import asyncio
import smtplib
from email.message import EmailMessage

from parley.testing.mail import Mailbox


def _send(server: dict[str, str], message: EmailMessage, to: list[str] | None = None) -> None:
    with smtplib.SMTP(server["host"], int(server["port"]), timeout=10) as client:
        client.ehlo("parley-tests")
        client.send_message(message, to_addrs=to)


def _invitation(to: str) -> EmailMessage:
    message = EmailMessage()
    message["From"] = "Parley <no-reply@parley.test>"
    message["To"] = to
    message["Subject"] = "Einladung in den Raum «Général»"
    message.set_content("Hallo!\nYou were invited to Général.\n")
    message.add_alternative("<p>Hallo! You were invited to <b>Général</b>.</p>", subtype="html")
    message.add_attachment(
        b"\x00\x01binary", maintype="application", subtype="octet-stream", filename="a.bin"
    )
    return message


async def test_multipart_mail_arrives(
    smtp_server: dict[str, str], mailbox: Mailbox, mail_recipient: str
) -> None:
    await asyncio.to_thread(_send, smtp_server, _invitation(mail_recipient))
    [received] = await mailbox.wait_for_mail(mail_recipient, timeout=10)
    assert received["Subject"] == "Einladung in den Raum «Général»"
    assert received["Delivered-To"] == mail_recipient
    assert received["Return-Path"] == "<no-reply@parley.test>"
    plain = received.get_body(preferencelist=("plain",))
    html = received.get_body(preferencelist=("html",))
    assert plain is not None and plain.get_content() == "Hallo!\nYou were invited to Général.\n"
    assert html is not None and "<b>Général</b>" in html.get_content()
    [attachment] = list(received.iter_attachments())
    assert attachment.get_filename() == "a.bin"
    assert attachment.get_content() == b"\x00\x01binary"


async def test_mail_is_sorted_by_envelope_recipient(
    smtp_server: dict[str, str], mailbox: Mailbox, mail_recipient: str
) -> None:
    hidden = mailbox.track(f"bcc-{mail_recipient}")
    message = _invitation(mail_recipient)
    # One message, two envelope recipients; the second (a Bcc) appears in no header.
    await asyncio.to_thread(_send, smtp_server, message, [mail_recipient, hidden])
    other = _invitation(mail_recipient)
    other.replace_header("Subject", "only for the first")
    await asyncio.to_thread(_send, smtp_server, other, [mail_recipient])

    first = await mailbox.wait_for_mail(mail_recipient, count=2)
    assert [m["Subject"] for m in first] == ["Einladung in den Raum «Général»", "only for the first"]
    [bcc_copy] = await mailbox.wait_for_mail(hidden)
    assert bcc_copy["To"] == mail_recipient
    assert hidden not in str(bcc_copy["To"])
