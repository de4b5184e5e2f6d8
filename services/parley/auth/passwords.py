"""Password hashing (argon2id, off the event loop) and the password policy.

The policy follows NIST SP 800-63B: length and a blocklist, no composition rules. Every problem
gets its own message, so a form can show all of them at once.
"""

from __future__ import annotations

import itertools
import unicodedata
from dataclasses import dataclass

import anyio.to_thread
from argon2 import PasswordHasher as Argon2Hasher
from argon2 import Type
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError

PASSWORD_MIN = 10
PASSWORD_MAX = 128

# The most common passwords of 10 or more characters (shorter ones fail on length anyway).
_COMMON = frozenset(
    [
        "1234567890",
        "12345678910",
        "123456789a",
        "0123456789",
        "1q2w3e4r5t",
        "qwertyuiop",
        "1qaz2wsx3edc",
        "password123",
        "password12",
        "password1!",
        "passw0rd123",
        "iloveyou12",
        "qwerty1234",
        "qwerty12345",
        "asdfghjkl1",
        "1234qwerty",
        "abc1234567",
        "football12",
        "baseball12",
        "letmein123",
        "welcome123",
        "princess12",
        "sunshine12",
        "superman12",
        "trustno123",
        "whatever12",
        "dragon1234",
        "monkey1234",
        "zaq12wsxcde",
        "administrator",
        "changeme123",
        "qwertyuiop123",
        "aaaaaaaaaa",
        "q1w2e3r4t5",
        "1q2w3e4r5t6y",
        "987654321a",
        "1234554321",
        "1111111111",
    ]
)


@dataclass(frozen=True)
class Problem:
    rule: str
    message: str


def normalize_password(password: str) -> str:
    """NFC, so the same password typed on two keyboards hashes the same (RFC 8265)."""
    return unicodedata.normalize("NFC", password)


def _is_sequence(text: str) -> bool:
    steps = {ord(b) - ord(a) for a, b in itertools.pairwise(text)}
    return len(steps) == 1 and steps <= {-1, 0, 1}


def check_policy(password: str, *, username: str = "", email: str = "") -> list[Problem]:
    password = normalize_password(password)
    problems: list[Problem] = []
    if len(password) < PASSWORD_MIN:
        problems.append(Problem("min_length", f"Use at least {PASSWORD_MIN} characters."))
    if len(password) > PASSWORD_MAX:
        problems.append(Problem("max_length", f"Use at most {PASSWORD_MAX} characters."))
    folded = password.casefold()
    if folded in _COMMON:
        problems.append(Problem("common", "This password is among the most used ones; pick another."))
    elif password and _is_sequence(folded):
        problems.append(
            Problem("sequence", "One repeated character, or a run of consecutive ones, is easy to guess.")
        )
    elif len(set(folded)) < 4 and len(password) >= PASSWORD_MIN:
        problems.append(Problem("too_few_characters", "Use at least 4 different characters."))
    for label, value in (("username", username), ("email address", email.split("@", 1)[0])):
        if len(value) >= 3 and value.casefold() in folded:
            problems.append(Problem("contains_identity", f"The password must not contain your {label}."))
    if any(unicodedata.category(c) in ("Cc", "Cs") for c in password):
        problems.append(Problem("control_characters", "Control characters are not allowed."))
    return problems


class PasswordHasher:
    """argon2id with configured cost. Hashing is CPU- and memory-bound: it runs in a worker thread
    (argon2 releases the GIL), so the event loop keeps serving while a login is checked."""

    def __init__(self, *, time_cost: int, memory_kib: int, parallelism: int) -> None:
        self._hasher = Argon2Hasher(
            time_cost=time_cost, memory_cost=memory_kib, parallelism=parallelism, type=Type.ID
        )
        # Verified against when the account does not exist, so that answer takes as long as a wrong
        # password does and the timing does not tell which.
        self._dummy = self._hasher.hash("parley dummy password for absent accounts")

    def hash_sync(self, password: str) -> str:
        return self._hasher.hash(normalize_password(password))

    async def hash(self, password: str) -> str:
        return await anyio.to_thread.run_sync(self.hash_sync, password)

    def _verify_sync(self, hashed: str | None, password: str) -> bool:
        try:
            return (
                self._hasher.verify(hashed or self._dummy, normalize_password(password))
                and hashed is not None
            )
        except (VerifyMismatchError, VerificationError, InvalidHashError):
            return False

    async def verify(self, hashed: str | None, password: str) -> bool:
        """Whether `password` matches `hashed`; with `hashed=None` it does the same work and says no."""
        return await anyio.to_thread.run_sync(self._verify_sync, hashed, password)

    def needs_rehash(self, hashed: str) -> bool:
        return self._hasher.check_needs_rehash(hashed)
