"""The presence service's Redis scripts: every change of presence state is one atomic script, so
several presence replicas (and a replica dying half-way) never leave it inconsistent.

Each script gets ARGV[1] = the context (key names from PresenceKeys and the TTLs, as JSON) and
ARGV[2] = now (epoch seconds of the presence service's clock). Times of events are capped at now,
so a socket whose clock runs ahead cannot keep its instance alive longer than it should.

Not for Redis Cluster: the scripts touch keys they compute (every user of an instance).
"""

from __future__ import annotations

# Shared by every script: the context, and the aggregate computation that emits changes.
_LIBRARY = """
local C = cjson.decode(ARGV[1])
local now = tonumber(ARGV[2])
local changes = {}

local function split(s)
  local i = string.find(s, '|', 1, true)
  return string.sub(s, 1, i - 1), string.sub(s, i + 1)
end

local function live(iid)
  local s = redis.call('ZSCORE', C.alive, iid)
  return s and tonumber(s) > now
end

local function mark_dirty(uid, seen)
  redis.call('ZADD', C.dirty, 'GT', seen, uid)
end

local function mark_instance_users(iid, seen)
  for _, member in ipairs(redis.call('SMEMBERS', C.instance .. iid)) do
    local uid = split(member)
    mark_dirty(uid, seen)
  end
end

-- The instance showed life at `seen`, which keeps it (and all its connections) until `untl`.
-- Returns false for an instance that stopped: nothing of it may come back.
local function touch(iid, seen, untl)
  if redis.call('EXISTS', C.stopped .. iid) == 1 then
    return false
  end
  if untl > now then
    if redis.call('ZSCORE', C.expired, iid) then
      -- A late heartbeat after its time was up (a paused socket, presence catching up):
      -- its connections count again.
      redis.call('ZREM', C.expired, iid)
      redis.call('ZADD', C.alive, untl, iid)
      mark_instance_users(iid, seen)
    else
      redis.call('ZADD', C.alive, 'GT', untl, iid)
    end
    redis.call('EXPIRE', C.instance .. iid, C.instance_keep)
  elseif not redis.call('ZSCORE', C.alive, iid) and not redis.call('ZSCORE', C.expired, iid) then
    -- News too old to make it live: keep track of it, so it is forgotten in time.
    redis.call('ZADD', C.expired, seen, iid)
  end
  local beat = tonumber(redis.call('HGET', C.beats, iid) or '0')
  if seen > beat then
    redis.call('HSET', C.beats, iid, tostring(seen))
  end
  return true
end

-- Online if any live connection is, away if all live ones are away, offline otherwise. Records
-- a change (in the outbox for Kafka, in `changes` for the Redis channels) only when the status
-- differs; `seen` moves last_seen on while the user is or just was connected.
local function recompute(uid, seen)
  local conns = redis.call('HGETALL', C.conns .. uid)
  local online, away = 0, 0
  for i = 1, #conns, 2 do
    local iid = split(conns[i])
    if live(iid) then
      if conns[i + 1] == 'away' then away = away + 1 else online = online + 1 end
    end
  end
  local new = 'offline'
  if online > 0 then new = 'online' elseif away > 0 then new = 'away' end
  local key = C.user .. uid
  local current = redis.call('HMGET', key, 'status', 'last_seen')
  local old = current[1] or 'offline'
  local last = tonumber(current[2] or '0') or 0
  local new_last = last
  if seen and seen > last and (new ~= 'offline' or old ~= 'offline') then
    new_last = seen
  end
  if new == old then
    if new_last ~= last then
      redis.call('HSET', key, 'last_seen', tostring(new_last))
    end
    return
  end
  local version = redis.call('HINCRBY', key, 'version', 1)
  redis.call('HSET', key, 'status', new, 'last_seen', tostring(new_last), 'changed_at', tostring(now))
  if new == 'offline' then
    redis.call('EXPIRE', key, C.retention)
  else
    redis.call('PERSIST', key)
  end
  local change = uid .. '|' .. new .. '|' .. tostring(new_last) .. '|' .. version .. '|' .. tostring(now)
  redis.call('RPUSH', C.outbox, change)
  redis.call('LTRIM', C.outbox, -C.outbox_max, -1)
  table.insert(changes, change)
end

local function stop(iid, seen)
  redis.call('SET', C.stopped .. iid, '1', 'EX', C.tombstone)
  local ikey = C.instance .. iid
  for _, member in ipairs(redis.call('SMEMBERS', ikey)) do
    local uid, conn = split(member)
    redis.call('HDEL', C.conns .. uid, iid .. '|' .. conn)
    mark_dirty(uid, seen)
  end
  redis.call('DEL', ikey)
  redis.call('ZREM', C.alive, iid)
  redis.call('ZREM', C.expired, iid)
  redis.call('HDEL', C.beats, iid)
end
"""

# ARGV[3]: JSON list of events, each
#   ["c"|"a"|"A"|"d", user id, connection id, instance id, at]  connected, away, active, disconnected
#   ["h", instance id, at, lifetime]                              heartbeat
#   ["s", instance id, at]                                        stopped
# Returns the changes ("user|status|last_seen|version|changed_at").
APPLY = (
    _LIBRARY
    + """
for _, e in ipairs(cjson.decode(ARGV[3])) do
  local kind = e[1]
  if kind == 'h' then
    local seen = math.min(e[3], now)
    touch(e[2], seen, seen + e[4])
  elseif kind == 's' then
    stop(e[2], math.min(e[3], now))
  else
    local uid, conn, iid = e[2], e[3], e[4]
    local seen = math.min(e[5], now)
    local field = iid .. '|' .. conn
    local ikey = C.instance .. iid
    if kind == 'd' then
      redis.call('HDEL', C.conns .. uid, field)
      redis.call('SREM', ikey, uid .. '|' .. conn)
    elseif touch(iid, seen, seen + C.ttl) then
      local status = 'online'
      if kind == 'a' then status = 'away' end
      redis.call('HSET', C.conns .. uid, field, status)
      redis.call('SADD', ikey, uid .. '|' .. conn)
      redis.call('EXPIRE', ikey, C.instance_keep)
    end
    recompute(uid, seen)
  end
end
return changes
"""
)

# ARGV[3]: at most this many instances. Moves instances whose time is up to the expired set and
# marks their users for recomputing (done in chunks by RECOMPUTE_DIRTY). Returns their ids.
SWEEP = (
    _LIBRARY
    + """
local ids = redis.call('ZRANGEBYSCORE', C.alive, '-inf', now, 'LIMIT', 0, tonumber(ARGV[3]))
for _, iid in ipairs(ids) do
  redis.call('ZREM', C.alive, iid)
  redis.call('ZADD', C.expired, now, iid)
  local beat = tonumber(redis.call('HGET', C.beats, iid) or '0')
  if beat <= 0 then beat = now end
  mark_instance_users(iid, beat)
end
return ids
"""
)

# ARGV[3]: at most this many users. Returns {users still dirty, change, change, ...}.
RECOMPUTE_DIRTY = (
    _LIBRARY
    + """
local popped = redis.call('ZPOPMIN', C.dirty, tonumber(ARGV[3]))
for i = 1, #popped, 2 do
  recompute(popped[i], tonumber(popped[i + 1]))
end
local result = {redis.call('ZCARD', C.dirty)}
for _, change in ipairs(changes) do table.insert(result, change) end
return result
"""
)

# ARGV[3]: expired before this epoch second; ARGV[4]: at most this many instances. Drops what an
# instance long expired still holds (its connections count for nothing already). Returns how many.
FORGET = (
    _LIBRARY
    + """
local ids = redis.call('ZRANGEBYSCORE', C.expired, '-inf', tonumber(ARGV[3]), 'LIMIT', 0, tonumber(ARGV[4]))
for _, iid in ipairs(ids) do
  local ikey = C.instance .. iid
  for _, member in ipairs(redis.call('SMEMBERS', ikey)) do
    local uid, conn = split(member)
    redis.call('HDEL', C.conns .. uid, iid .. '|' .. conn)
  end
  redis.call('DEL', ikey)
  redis.call('ZREM', C.expired, iid)
  redis.call('HDEL', C.beats, iid)
end
return #ids
"""
)

# KEYS[1]: the outbox lock, KEYS[2]: the outbox; ARGV[1]: our lock token, ARGV[2]: how many were
# produced, ARGV[3]: lock ms. Trims only while the lock is still ours (else another replica took
# over and trims what it produced: a duplicate instead of a loss). Returns 1 if trimmed.
OUTBOX_TRIM = """
if redis.call('GET', KEYS[1]) ~= ARGV[1] then return 0 end
redis.call('LTRIM', KEYS[2], tonumber(ARGV[2]), -1)
redis.call('PEXPIRE', KEYS[1], tonumber(ARGV[3]))
return 1
"""

# KEYS[1]: the lock; ARGV[1]: our token.
RELEASE_LOCK = """
if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end
return 0
"""
