"""Who may do what in a group, by role. Direct chats have no roles to speak of: both users are
members and nothing here applies to them."""

from __future__ import annotations

MANAGERS = frozenset({"owner", "admin"})


def can_manage(role: str) -> bool:
    """Rename the group, add members."""
    return role in MANAGERS


def can_remove(actor: str, target: str) -> bool:
    """The owner removes anyone else; admins remove plain members."""
    if actor == "owner":
        return target != "owner"
    return actor == "admin" and target == "member"


def can_change_roles(role: str) -> bool:
    return role == "owner"
