"""Digest mails and SMS texts from Jinja2 templates (autoescape on for HTML: message bodies are
user input and arrive escaped), and the mail itself with its one-click unsubscribe headers."""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime
from email.message import EmailMessage
from email.utils import format_datetime

import jinja2

_ENV = jinja2.Environment(
    loader=jinja2.PackageLoader("parley.notification", "templates"),
    autoescape=jinja2.select_autoescape(enabled_extensions=("html", "html.j2"), default_for_string=True),
    undefined=jinja2.StrictUndefined,
    keep_trailing_newline=True,
)
# The text part is plain text, not markup: HTML escaping would put `&lt;` in front of the reader.
_TEXT_ENV = jinja2.Environment(
    loader=jinja2.PackageLoader("parley.notification", "templates"),
    autoescape=False,  # noqa: S701 - renders text/plain only, never HTML
    undefined=jinja2.StrictUndefined,
    keep_trailing_newline=True,
)

SHOWN_MESSAGES = 3
COUNTED_MESSAGES = 50
SMS_MAX = 160


@dataclass(frozen=True)
class DigestMessage:
    sender: str
    body: str


@dataclass
class DigestChat:
    chat_id: uuid.UUID
    title: str
    link: str
    unread: int
    mentioned: bool
    messages: list[DigestMessage] = field(default_factory=list)

    @property
    def unread_label(self) -> str:
        return f"{COUNTED_MESSAGES}+" if self.unread >= COUNTED_MESSAGES else str(self.unread)


@dataclass(frozen=True)
class Digest:
    subject: str
    text: str
    html: str


def render_digest(name: str, chats: list[DigestChat], unsubscribe_url: str) -> Digest:
    if len(chats) == 1:
        subject = f"Unread messages in {chats[0].title}"
    else:
        subject = f"Unread messages in {len(chats)} chats"
    context = {"name": name, "chats": chats, "unsubscribe_url": unsubscribe_url, "subject": subject}
    return Digest(
        subject=subject,
        text=_TEXT_ENV.get_template("digest.txt.j2").render(context),
        html=_ENV.get_template("digest.html.j2").render(context),
    )


def render_sms(chats: list[DigestChat], public_url: str) -> str:
    unread = sum(chat.unread for chat in chats)
    where = chats[0].title if len(chats) == 1 else f"{len(chats)} chats"
    text = f"Parley: {unread} unread message(s) in {where}. {public_url}"
    return text if len(text) <= SMS_MAX else text[: SMS_MAX - 1] + "…"


def mail_message(
    *,
    delivery_id: uuid.UUID,
    sender: str,
    to: str,
    subject: str,
    text: str,
    html: str | None,
    unsubscribe_url: str,
    domain: str,
) -> EmailMessage:
    """The same delivery gives the same Message-ID on every attempt, so a receiver can tell a
    resend (after an unknown outcome) from a new mail."""
    message = EmailMessage()
    message["From"] = sender
    message["To"] = to
    message["Subject"] = subject
    message["Date"] = format_datetime(datetime.now(UTC))
    message["Message-ID"] = f"<{delivery_id}@{domain}>"
    message["List-Unsubscribe"] = f"<{unsubscribe_url}>"
    message["List-Unsubscribe-Post"] = "List-Unsubscribe=One-Click"
    message["Auto-Submitted"] = "auto-generated"
    message.set_content(text)
    if html is not None:
        message.add_alternative(html, subtype="html")
    return message
