"""Text that is safe to store and show: the checks every user-supplied string goes through.

PostgreSQL refuses NUL in text and UTF-8 cannot encode a lone surrogate (JSON can carry one as
`"\\ud800"`); both would surface as a server error if they reached the database, so they are
refused at the edge. One-line fields (titles, names) also refuse every other control character.
"""

from __future__ import annotations

import re
import unicodedata

# Category Cc is exactly U+0000-U+001F and U+007F-U+009F, Cs exactly U+D800-U+DFFF: one regex
# search finds them, where the per-character loop below costs microseconds per character (a
# message body is checked on the hot path of every send).
_NOT_MULTILINE = re.compile("[\x00-\x08\x0b-\x1f\x7f-\x9f\ud800-\udfff]")


def _refuse(text: str, categories: frozenset[str], allowed: str = "") -> str:
    for char in text:
        if char not in allowed and unicodedata.category(char) in categories:
            raise ValueError(f"character U+{ord(char):04X} is not allowed here")
    return text


def multiline(text: str) -> str:
    """Message bodies: newlines and tabs are fine, other control characters and surrogates are not."""
    if _NOT_MULTILINE.search(text) is None:
        return text
    return _refuse(text, frozenset({"Cc", "Cs"}), allowed="\n\t")


def single_line(text: str) -> str:
    """Titles and names: no control characters at all, and not blank."""
    _refuse(text, frozenset({"Cc", "Cs"}))
    if not text.strip():
        raise ValueError("must not be blank")
    return text


def printable_token(text: str) -> str:
    """Short tokens (emoji, search prefixes): no whitespace either."""
    _refuse(text, frozenset({"Cc", "Cs", "Zs", "Zl", "Zp"}))
    return text
