"""Go-style durations ("15m", "1h30m", "720h"): the format CEL's duration() and kubectl users know."""

from __future__ import annotations

import re
from datetime import timedelta

DURATION_PATTERN = "^([0-9]+(ms|s|m|h))+$"
_PART = re.compile(r"([0-9]+)(ms|s|m|h)")
_UNIT = {"ms": timedelta(milliseconds=1), "s": timedelta(seconds=1), "m": timedelta(minutes=1)}
_UNIT["h"] = timedelta(hours=1)


def parse_duration(text: str) -> timedelta:
    if re.fullmatch(DURATION_PATTERN, text) is None:
        raise ValueError(f"not a duration like 15m or 1h30m: {text!r}")
    return sum((int(n) * _UNIT[unit] for n, unit in _PART.findall(text)), timedelta())
