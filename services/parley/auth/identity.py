# ruff: noqa: RUF002  (look-alike letters in examples)
"""Usernames, emails and phone numbers: validation and the canonical keys that make them unique.

Two usernames are the same account name when their keys are equal. The key is built from the
NFKC normal form (fullwidth, ligature and mathematical letters become plain ones), case-folded,
with letters that look like Latin letters in Cyrillic and Greek mapped to those Latin letters (a
subset of Unicode's confusables, UTS #39): `parley.common.users.directory.username_key`, shared
with the api, which looks users up by a prefix of it. Names mixing scripts are refused outright: "pаypal"
with a Cyrillic "а" is how a look-alike is made, and no real name needs it.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass

from parley.common.users.directory import username_key

USERNAME_MIN = 3
USERNAME_MAX = 32
EMAIL_MAX = 254
USERNAME_PUNCTUATION = "._-"

# Scripts that are written together (Japanese, Korean with Han) count as one.
_SCRIPT_GROUPS = {"HIRAGANA": "CJK", "KATAKANA": "CJK", "HANGUL": "CJK", "CJK": "CJK"}


class InvalidIdentity(ValueError):
    def __init__(self, field: str, code: str, message: str) -> None:
        super().__init__(message)
        self.field = field
        self.code = code
        self.message = message


@dataclass(frozen=True)
class Normalized:
    display: str  # what is stored and shown
    key: str  # what is compared


def _script(char: str) -> str | None:
    """The script of a letter, from its Unicode name; None for what every script shares."""
    if not unicodedata.category(char).startswith("L"):
        return None
    first = unicodedata.name(char, "UNKNOWN").split(" ", 1)[0]
    return _SCRIPT_GROUPS.get(first, first)


def normalize_username(raw: str) -> Normalized:
    name = unicodedata.normalize("NFKC", raw)
    if not USERNAME_MIN <= len(name) <= USERNAME_MAX:
        raise InvalidIdentity(
            "username", "invalid_username", f"A username has {USERNAME_MIN} to {USERNAME_MAX} characters."
        )
    for index, char in enumerate(name):
        category = unicodedata.category(char)
        allowed = (
            category.startswith("L")
            or category == "Nd"
            or char in USERNAME_PUNCTUATION
            or (category.startswith("M") and index > 0)
        )
        if not allowed:
            raise InvalidIdentity(
                "username",
                "invalid_username",
                f"A username has letters, digits and {' '.join(USERNAME_PUNCTUATION)} only; "
                f"{char!r} is not allowed.",
            )
    if name[0] in USERNAME_PUNCTUATION or name[-1] in USERNAME_PUNCTUATION:
        raise InvalidIdentity(
            "username", "invalid_username", "A username starts and ends with a letter or digit."
        )
    scripts = {script for char in name if (script := _script(char)) is not None}
    if len(scripts) > 1:
        raise InvalidIdentity(
            "username",
            "mixed_scripts",
            f"A username uses letters of one script; this one mixes {', '.join(sorted(scripts))}.",
        )
    return Normalized(display=name, key=username_key(name))


_LOCAL_PART = re.compile(r"^[^\s@\"(),:;<>\[\\\]]{1,64}$")
_DOMAIN_LABEL = re.compile(r"^(?!-)[^\W_](?:[\w-]{0,61}[^\W_])?$")


def normalize_email(raw: str) -> Normalized:
    email = unicodedata.normalize("NFKC", raw).strip()
    local, at, domain = email.rpartition("@")
    problem = None
    if not at or len(email) > EMAIL_MAX:
        problem = "An email address looks like name@example.org."
    elif not _LOCAL_PART.match(local) or local.startswith(".") or local.endswith(".") or ".." in local:
        problem = "The part before @ is not a valid mailbox name."
    elif "." not in domain or not all(_DOMAIN_LABEL.match(label) for label in domain.split(".")):
        problem = "The part after @ is not a valid domain name."
    elif any(unicodedata.category(c).startswith("C") for c in email):
        problem = "An email address has no control or invisible characters."
    elif len(email.casefold()) > EMAIL_MAX:  # case folding can lengthen (ß -> ss)
        problem = "The email address is too long."
    if problem:
        raise InvalidIdentity("email", "invalid_email", problem)
    return Normalized(display=email, key=email.casefold())


_PHONE = re.compile(r"^\+[1-9]\d{6,14}$")
_PHONE_SEPARATORS = str.maketrans("", "", " -.()")


def normalize_phone(raw: str) -> str:
    phone = unicodedata.normalize("NFKC", raw).strip().translate(_PHONE_SEPARATORS)
    if not _PHONE.match(phone):
        raise InvalidIdentity(
            "phone",
            "invalid_phone",
            "A phone number is written in international form, like +41 44 668 18 00.",
        )
    return phone
