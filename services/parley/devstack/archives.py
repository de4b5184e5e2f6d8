"""Unpacking downloaded archives into the cache."""

from __future__ import annotations

import shutil
import stat
import zipfile
from pathlib import Path

from parley.devstack.errors import DevStackError


def extract_zip(archive: Path, dest: Path, *, strip_components: int = 0) -> None:
    """Unpack archive into dest (which must not exist), keeping the Unix permission bits.

    Python's zipfile drops permissions, so the scripts of a distribution would lose their
    execute bit; they are restored from each entry's external attributes.
    """
    if dest.exists():
        raise DevStackError(f"refusing to unpack {archive.name} over existing {dest}")
    dest.mkdir(parents=True)
    root = dest.resolve()
    with zipfile.ZipFile(archive) as zf:
        for info in zf.infolist():
            parts = Path(info.filename).parts[strip_components:]
            if not parts:
                continue
            target = dest.joinpath(*parts)
            if not target.resolve().is_relative_to(root):
                raise DevStackError(f"{archive.name}: entry {info.filename!r} points outside the archive")
            if info.is_dir():
                target.mkdir(parents=True, exist_ok=True)
                continue
            target.parent.mkdir(parents=True, exist_ok=True)
            with zf.open(info) as src, target.open("wb") as out:
                shutil.copyfileobj(src, out)
            mode = (info.external_attr >> 16) & 0o777
            target.chmod(mode | stat.S_IRUSR | stat.S_IWUSR | stat.S_IRGRP | stat.S_IROTH)
