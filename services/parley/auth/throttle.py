"""Login throttling in Redis: attempts per login name and per client address.

An attempt is counted *before* its password is checked, atomically (one Lua script checks both
counters and increments them together), so concurrent guesses cannot all slip under the limit: of
eight wrong passwords sent at once for a name with a limit of five, five are checked and three are
answered 429. A window starts with the first counted attempt. At the limit, every further attempt
on that name (or from that address) is answered 429 without checking the password until the window
ends; Retry-After says when. A right password gives the attempt back: it clears the name's count
and returns the address's one (so only failures accumulate, as before). The name is counted whether
or not such an account exists (and is hashed, so Redis never holds it), so throttling reveals
nothing either.
"""

from __future__ import annotations

import hashlib
import math

from parley.common.errors import TooManyRequests
from parley.common.redis import Redis

# KEYS: account counter, address counter. ARGV: account limit, address limit, window ms.
# Returns 0 when the attempt is counted, else the milliseconds until the fuller counter's window ends.
_RESERVE = """
local limits = {tonumber(ARGV[1]), tonumber(ARGV[2])}
local wait = 0
for i = 1, 2 do
  local count = tonumber(redis.call('GET', KEYS[i]) or '0')
  if count >= limits[i] then
    local ttl = redis.call('PTTL', KEYS[i])
    if ttl < 1 then ttl = 1 end
    if ttl > wait then wait = ttl end
  end
end
if wait > 0 then return wait end
for i = 1, 2 do
  redis.call('INCR', KEYS[i])
  redis.call('PEXPIRE', KEYS[i], ARGV[3], 'NX')
end
return 0
"""

# KEYS: account counter, address counter. A success clears the name and returns the address's attempt.
_RELEASE = """
redis.call('DEL', KEYS[1])
local count = tonumber(redis.call('GET', KEYS[2]) or '0')
if count > 0 then redis.call('DECR', KEYS[2]) end
return 0
"""


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
        self._reserve = redis.register_script(_RESERVE)
        self._release = redis.register_script(_RELEASE)

    def _keys(self, account: str, address: str) -> list[str]:
        digest = hashlib.sha256(account.encode()).hexdigest()[:32]
        return [f"{self.prefix}acct:{digest}", f"{self.prefix}addr:{address}"]

    async def attempt(self, account: str, address: str) -> None:
        """Count one attempt, or raise 429 (counting nothing) if either counter is at its limit.
        Call before checking the password; call `succeeded` after a right one."""
        wait_ms = int(
            await self._reserve(
                keys=self._keys(account, address),
                args=[self.account_limit, self.address_limit, self.window_ms],
            )
        )
        if wait_ms > 0:
            raise TooManyRequests(
                "Too many failed sign-in attempts. Try again later.", retry_after=math.ceil(wait_ms / 1000)
            )

    async def succeeded(self, account: str, address: str) -> None:
        """A right password clears the name's count and gives the address its attempt back; earlier
        failures from the address stay (one account of one's own must not buy unlimited guesses at
        others)."""
        await self._release(keys=self._keys(account, address))
