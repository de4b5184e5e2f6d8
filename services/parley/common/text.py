"""Text that is safe to store and show: the checks every user-supplied string goes through.

PostgreSQL refuses NUL in text and UTF-8 cannot encode a lone surrogate (JSON can carry one as
`"\\ud800"`); both would surface as a server error if they reached the database, so they are
refused at the edge. One-line fields (titles, names) also refuse every other control character,
and the bidirectional embedding, override and isolate characters (U+202A-U+202E, U+2066-U+2069):
one of them in a name makes the rest of a line it is shown in render in another order ("Trojan
Source"), so a name could display as something else. They are refused, not silently removed, so what
is stored is what the user typed. Message bodies keep them (bidirectional text needs them); a client
shows every user-supplied string in its own isolate (`<bdi>`, `dir="auto"`).
"""

from __future__ import annotations

import re
import unicodedata

# Category Cc is exactly U+0000-U+001F and U+007F-U+009F, Cs exactly U+D800-U+DFFF: one regex
# search finds them, where the per-character loop below costs microseconds per character (a
# message body is checked on the hot path of every send).
_NOT_MULTILINE = re.compile("[\x00-\x08\x0b-\x1f\x7f-\x9f\ud800-\udfff]")
# Embeddings and overrides (LRE RLE PDF LRO RLO), isolates (LRI RLI FSI PDI).
BIDI_CONTROLS = frozenset("\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069")


def _refuse(
    text: str, categories: frozenset[str], allowed: str = "", refused: frozenset[str] = frozenset()
) -> str:
    for char in text:
        if char in refused or (char not in allowed and unicodedata.category(char) in categories):
            raise ValueError(f"character U+{ord(char):04X} is not allowed here")
    return text


def multiline(text: str) -> str:
    """Message bodies: newlines and tabs are fine, other control characters and surrogates are not."""
    if _NOT_MULTILINE.search(text) is None:
        return text
    return _refuse(text, frozenset({"Cc", "Cs"}), allowed="\n\t")


def single_line(text: str) -> str:
    """Titles and names: no control characters at all, no bidirectional controls, and not blank."""
    _refuse(text, frozenset({"Cc", "Cs"}), refused=BIDI_CONTROLS)
    if not text.strip():
        raise ValueError("must not be blank")
    return text


def printable_token(text: str) -> str:
    """Short tokens (emoji, search prefixes): no whitespace or bidirectional controls either."""
    _refuse(text, frozenset({"Cc", "Cs", "Zs", "Zl", "Zp"}), refused=BIDI_CONTROLS)
    return text
