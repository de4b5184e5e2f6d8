"""Login throttling in Redis: failures per login name and per client address.

Each failure increments a counter whose window starts with the first failure. At the limit, every
further attempt on that name (or from that address) is answered 429 without checking the password
until the window ends; Retry-After says when. The name is counted whether or not such an account
exists (and is hashed, so Redis never holds it), so throttling reveals nothing either.
"""

from __future__ import annotations

import hashlib
import math

from parley.common.errors import TooManyRequests
from parley.common.redis import Redis


class LoginThrottle:
    def __init__(
        self,
        redis: Redis,
        *,
        prefix: str,
        window_seconds: int,
        account_limit: int,
        address_limit: int,
    ) -> None:
        self.redis = redis
        self.prefix = f"{prefix}auth:fail:"
        self.window_ms = window_seconds * 1000
        self.account_limit = account_limit
        self.address_limit = address_limit

    def _keys(self, account: str, address: str) -> tuple[str, str]:
        digest = hashlib.sha256(account.encode()).hexdigest()[:32]
        return f"{self.prefix}acct:{digest}", f"{self.prefix}addr:{address}"

    async def check(self, account: str, address: str) -> None:
        """Raise 429 if either counter is at its limit."""
        account_key, address_key = self._keys(account, address)
        async with self.redis.pipeline(transaction=False) as pipe:
            for key in (account_key, address_key):
                pipe.get(key)
                pipe.pttl(key)
            account_count, account_ttl, address_count, address_ttl = await pipe.execute()
        waits = [
            ttl
            for count, ttl, limit in (
                (account_count, account_ttl, self.account_limit),
                (address_count, address_ttl, self.address_limit),
            )
            if count is not None and int(count) >= limit
        ]
        if waits:
            retry_after = math.ceil(max(max(waits), 1) / 1000)
            raise TooManyRequests(
                "Too many failed sign-in attempts. Try again later.", retry_after=retry_after
            )

    async def failed(self, account: str, address: str) -> None:
        account_key, address_key = self._keys(account, address)
        async with self.redis.pipeline(transaction=True) as pipe:
            for key in (account_key, address_key):
                pipe.incr(key)
                pipe.pexpire(key, self.window_ms, nx=True)
            await pipe.execute()

    async def succeeded(self, account: str, address: str) -> None:
        """A right password clears the name's count; the address's stays (one account of one's own
        must not buy unlimited guesses at others)."""
        account_key, _ = self._keys(account, address)
        await self.redis.delete(account_key)
