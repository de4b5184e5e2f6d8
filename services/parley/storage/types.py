"""Which file types may be attached, and what a file really is, from its first bytes.

The declared type (what the browser said) must agree with the sniffed one (the `filetype`
library's magic numbers; plain text has none, so it is recognised as valid UTF-8 without NULs).
Anything a browser could run (HTML, SVG, scripts) is not on the list; downloads of everything but
pictures, audio and video also carry `Content-Disposition: attachment`.
"""

from __future__ import annotations

import filetype  # type: ignore[import-untyped]

SNIFF_BYTES = 8192

ALLOWED: frozenset[str] = frozenset(
    {
        "image/png",
        "image/jpeg",
        "image/gif",
        "image/webp",
        "application/pdf",
        "application/zip",
        "application/gzip",
        "video/mp4",
        "video/webm",
        "audio/mpeg",
        "audio/ogg",
        "text/plain",
    }
)
# What browsers and systems also call the same formats.
ALIASES = {
    "image/jpg": "image/jpeg",
    "image/pjpeg": "image/jpeg",
    "application/x-zip-compressed": "application/zip",
    "application/x-gzip": "application/gzip",
    "audio/mp3": "audio/mpeg",
    "application/ogg": "audio/ogg",
}
# Shown in the page (img, video, audio elements); everything else is downloaded.
INLINE: frozenset[str] = frozenset(
    {
        "image/png",
        "image/jpeg",
        "image/gif",
        "image/webp",
        "video/mp4",
        "video/webm",
        "audio/mpeg",
        "audio/ogg",
    }
)
# Previews are made of these.
IMAGES: frozenset[str] = frozenset({"image/png", "image/jpeg", "image/gif", "image/webp"})


def normalise(content_type: str) -> str:
    base = content_type.split(";", 1)[0].strip().lower()
    return ALIASES.get(base, base)


def sniff(head: bytes) -> str | None:
    """The type the bytes say they are, or None when unknown (and not plain text)."""
    kind = filetype.guess(head)
    if kind is not None:
        return normalise(kind.mime)
    if _is_text(head):
        return "text/plain"
    return None


def _is_text(head: bytes) -> bool:
    if b"\0" in head:
        return False
    try:
        head.decode("utf-8")
    except UnicodeDecodeError as exc:
        # The sample may end inside a character.
        return exc.start >= len(head) - 3 and exc.reason == "unexpected end of data"
    return True
