"""Whether a live child already holds everything the operator renders for it (pure).

Every pass used to server-side apply every child, even when nothing had changed: a pass caused by a
pod becoming ready re-sent some twenty-five objects. The apiserver answers such an apply with no
change, but only after the full merge, and with fifty platforms those applies are what kept it busy.
A child whose live object already has every rendered field with the rendered value is skipped;
anything else (a field edited or removed by hand, an item added to a list the operator renders, an
object being deleted) is applied as before.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any


def _absent(value: Any) -> bool:
    # The apiserver drops empty maps and lists and null values: rendering {} matches no field.
    return value is None or (isinstance(value, Mapping | list) and not value)


def holds(rendered: Any, live: Any) -> bool:
    """Every field of `rendered` is in `live` with the same value; fields only in `live` (defaults,
    status, other managers' fields) do not matter. Lists must match item by item, in order and in
    length (an extra item in a list the operator renders is someone else's edit)."""
    if isinstance(rendered, Mapping):
        if not isinstance(live, Mapping):
            return False
        return all(
            holds(value, live[key]) if key in live else _absent(value) for key, value in rendered.items()
        )
    if isinstance(rendered, list):
        return isinstance(live, Sequence) and not isinstance(live, str) and _same_items(rendered, live)
    # int and str stay apart: 1 is not "1" (a quantity the apiserver rewrote counts as a change).
    return type(rendered) is type(live) and bool(rendered == live)


def _same_items(rendered: list[Any], live: Sequence[Any]) -> bool:
    return len(rendered) == len(live) and all(holds(r, v) for r, v in zip(rendered, live, strict=True))


def up_to_date(rendered: Mapping[str, Any], live: Mapping[str, Any] | None) -> bool:
    """No apply needed: the live object exists, is not being deleted, and holds the rendering."""
    if live is None or (live.get("metadata") or {}).get("deletionTimestamp"):
        return False
    return holds({k: v for k, v in rendered.items() if k not in ("apiVersion", "kind")}, live)
