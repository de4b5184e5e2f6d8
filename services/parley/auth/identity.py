# ruff: noqa: RUF001, RUF002  (this module is about look-alike letters: they are the data)
"""Usernames, emails and phone numbers: validation and the canonical keys that make them unique.

Two usernames are the same account name when their keys are equal. The key is built from the
NFKC normal form (fullwidth, ligature and mathematical letters become plain ones), case-folded,
with letters that look like Latin letters in Cyrillic and Greek mapped to those Latin letters (a
subset of Unicode's confusables, UTS #39). Names mixing scripts are refused outright: "pаypal"
with a Cyrillic "а" is how a look-alike is made, and no real name needs it.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass

USERNAME_MIN = 3
USERNAME_MAX = 32
EMAIL_MAX = 254
USERNAME_PUNCTUATION = "._-"

# Cyrillic and Greek letters (after case folding) that look like a Latin letter, upper or lower case.
_CONFUSABLE = str.maketrans(
    {
        # Cyrillic
        "а": "a", "в": "b", "е": "e", "ё": "e", "һ": "h", "н": "h", "і": "i", "ї": "i", "ј": "j",
        "к": "k", "ӏ": "l", "м": "m", "о": "o", "р": "p", "ԛ": "q", "г": "r", "ѕ": "s", "т": "t",
        "у": "y", "ү": "y", "х": "x", "с": "c", "ԁ": "d", "ԝ": "w", "ѡ": "w", "ь": "b", "з": "3",
        # Greek
        "α": "a", "β": "b", "ε": "e", "η": "h", "ι": "i", "κ": "k", "μ": "m", "ν": "n", "ο": "o",
        "ρ": "p", "τ": "t", "υ": "y", "χ": "x", "ζ": "z", "ϲ": "c", "ϳ": "j",
        # Latin letters that pass for others
        "ı": "i", "ȷ": "j", "ł": "l",
    }
)  # fmt: skip

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


def username_key(name: str) -> str:
    folded = unicodedata.normalize("NFKC", name).casefold()
    digits = "".join(str(unicodedata.digit(c)) if unicodedata.category(c) == "Nd" else c for c in folded)
    return digits.translate(_CONFUSABLE)


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
