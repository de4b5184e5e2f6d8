"""Pictures: a metadata-free copy of the original, a preview and a thumbnail, with Pillow.

Run in a worker thread (CPU work). Hostile input is expected: the pixel count is checked from the
header before anything is decoded (Pillow's own decompression-bomb guard is set to the same
limit), and any error Pillow raises on a truncated or malformed file becomes `ImageRefused`.

EXIF (GPS included), XMP, comments and other metadata never survive: every output is re-encoded
from pixels only, the EXIF orientation applied first. JPEGs are re-encoded at quality 90 (lossy
once); PNG, GIF and WebP losslessly where the format allows.
"""

from __future__ import annotations

import io
from dataclasses import dataclass

from PIL import Image, ImageOps, ImageSequence

PREVIEW_SIZE = (1280, 1280)
THUMBNAIL_SIZE = (256, 256)
FORMATS = {"image/png": "PNG", "image/jpeg": "JPEG", "image/gif": "GIF", "image/webp": "WEBP"}


class ImageRefused(Exception):
    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


@dataclass(frozen=True)
class Rendered:
    width: int
    height: int
    original: bytes  # the picture without its metadata, same format
    preview: bytes  # JPEG
    thumbnail: bytes  # JPEG


def render(data: bytes, content_type: str, *, max_pixels: int) -> Rendered:
    expected = FORMATS[content_type]
    try:
        return _render(data, expected, max_pixels)
    except ImageRefused:
        raise
    except Image.DecompressionBombError as exc:
        raise ImageRefused("image_too_large") from exc
    except MemoryError as exc:
        raise ImageRefused("image_too_large") from exc
    except Exception as exc:
        raise ImageRefused("image_unreadable") from exc


def _render(data: bytes, expected: str, max_pixels: int) -> Rendered:
    Image.MAX_IMAGE_PIXELS = max_pixels
    with Image.open(io.BytesIO(data), formats=[expected]) as image:
        width, height = image.size
        if width <= 0 or height <= 0 or width * height > max_pixels:
            raise ImageRefused("image_too_large")
        frames = getattr(image, "n_frames", 1)
        if frames * width * height > 4 * max_pixels:
            raise ImageRefused("image_too_large")
        original = _clean_copy(image, expected, frames)
        image.seek(0)
        upright = ImageOps.exif_transpose(image)
        upright.load()
        rgb = _flatten(upright)
        width, height = rgb.size
    return Rendered(
        width=width,
        height=height,
        original=original,
        preview=_jpeg(rgb, PREVIEW_SIZE),
        thumbnail=_jpeg(rgb, THUMBNAIL_SIZE),
    )


def _flatten(image: Image.Image) -> Image.Image:
    if image.mode in ("RGBA", "LA") or (image.mode == "P" and "transparency" in image.info):
        rgba = image.convert("RGBA")
        background = Image.new("RGB", rgba.size, (255, 255, 255))
        background.paste(rgba, mask=rgba.getchannel("A"))
        return background
    return image.convert("RGB")


def _jpeg(image: Image.Image, box: tuple[int, int]) -> bytes:
    copy = image.copy()
    copy.thumbnail(box, Image.Resampling.LANCZOS)
    out = io.BytesIO()
    copy.save(out, format="JPEG", quality=82, optimize=True)
    return out.getvalue()


def _clean_copy(image: Image.Image, fmt: str, frames: int) -> bytes:
    """The same picture, pixels only (and the orientation applied, as EXIF goes)."""
    out = io.BytesIO()
    if frames > 1 and fmt in ("GIF", "WEBP"):
        sequence = [frame.copy() for frame in ImageSequence.Iterator(image)]
        durations = [frame.info.get("duration", 100) for frame in sequence]
        sequence[0].save(
            out,
            format=fmt,
            save_all=True,
            append_images=sequence[1:],
            duration=durations,
            loop=image.info.get("loop", 0),
            **({"lossless": True} if fmt == "WEBP" else {}),
        )
        return out.getvalue()
    upright = ImageOps.exif_transpose(image)
    upright.load()
    if fmt == "JPEG":
        upright.convert("RGB").save(out, format="JPEG", quality=90)
    elif fmt == "WEBP":
        upright.save(out, format="WEBP", lossless=True)
    else:
        # Pillow writes metadata only when given it at save (`exif=`, `pnginfo=`): none is.
        upright.save(out, format=fmt)
    return out.getvalue()
