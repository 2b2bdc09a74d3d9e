"""Redis key names: Sensu 1.x's layout (docs/redis.md "Key layout"), plus the two hashes only ogi writes.

A Sensu 1.x server and ogi read and write the same keys, which is what lets ogi replace a
Sensu server in place. The `ogi:` keys hold what Sensu has no key for.
"""

from __future__ import annotations

from pipeline.model import HISTORY_LENGTH
from pipeline.store.base import INVALIDATED

CLIENTS = "clients"  # SET of client names
TTL = "ttl"  # SET of "<client>:<check>"
AGGREGATES = "aggregates"  # SET of aggregate names
SILENCED = "silenced"  # SET of "silence:<sub>:<check>" keys
STASHES = "stashes"  # SET of stash paths
SERVERS = "servers"  # SET of server ids

#: ogi only: HASH client name -> server receipt time of its last keepalive (float as text).
KEEPALIVES = "ogi:keepalives"
#: ogi only: HASH series id -> JSON [value, updated, expires] (see Store.put_series).
SERIES = "ogi:series"


def client(name: str) -> str:
    return f"client:{name}"


def client_signature(name: str) -> str:
    return f"client:{name}:signature"


def results(client_name: str) -> str:
    return f"result:{client_name}"


def result(client_name: str, check: str) -> str:
    return f"result:{client_name}:{check}"


def history(client_name: str, check: str) -> str:
    return f"history:{client_name}:{check}"


def last_ok(client_name: str, check: str) -> str:
    return f"history:{client_name}:{check}:last_ok"


def events(client_name: str) -> str:
    return f"events:{client_name}"


def member(client_name: str, check: str) -> str:
    """A `client:check` pair as the `ttl` and aggregate sets hold it."""
    return f"{client_name}:{check}"


def aggregate(name: str) -> str:
    return f"aggregates:{name}"


def silence(silence_id: str) -> str:
    return f"silence:{silence_id}"


def stash(path: str) -> str:
    return f"stash:{path}"


def server(server_id: str) -> str:
    return f"server:{server_id}"


def task_lock(task: str) -> str:
    return f"lock:task:{task}"


def task_server(task: str) -> str:
    return f"task:{task}:server"


# Task election scripts: KEYS = [lock:task:T, task:T:server], ARGV = [owner, stamp, stale].
# Sensu does these steps with separate commands (SETNX, GET, GETSET, SET); a script makes
# each one atomic while writing the same keys and values, so Ruby and ogi servers can elect
# among themselves during a migration.
ACQUIRE_TASK = """
if redis.call('SETNX', KEYS[1], ARGV[2]) == 1 then
  redis.call('SET', KEYS[2], ARGV[1])
  return 1
end
if redis.call('GET', KEYS[2]) == ARGV[1] then
  redis.call('SET', KEYS[1], ARGV[2])
  return 1
end
local current = redis.call('GET', KEYS[1])
if tonumber(ARGV[2]) - (tonumber(current) or 0) >= tonumber(ARGV[3]) then
  if redis.call('GETSET', KEYS[1], ARGV[2]) == current then
    redis.call('SET', KEYS[2], ARGV[1])
    return 1
  end
end
return 0
"""

REFRESH_TASK = """
if redis.call('GET', KEYS[2]) == ARGV[1] then
  redis.call('SET', KEYS[1], ARGV[2])
  return 1
end
return 0
"""

RELEASE_TASK = """
if redis.call('GET', KEYS[2]) == ARGV[1] then
  redis.call('DEL', KEYS[2], KEYS[1])
  return 1
end
return 0
"""

# One result (docs/events.md "What the server keeps per check") in one command, atomic as Sensu's MULTI, replying with what
# the event needs: the history joined by commas, last OK and the open event. Replies of a
# few strings instead of one per status are what make a result cheap to read back.
# The script builds the key names from the client and check names (the functions above,
# spelled in Lua) instead of taking them as KEYS: packing and sending fourteen key names per
# result cost the server more than the script's string joins cost Redis. Sensu 1.x's Redis
# is one standalone server (or a sentinel-managed master), where a script may name any key.
# `record(o, stored)` reads ARGV[o + 1...]: client, check, stored JSON, status, "1" if the
# check has a ttl else "", last OK or "", then the aggregate names.
_RECORD = f"""
local function record(o, stored)
  local c, k = ARGV[o + 1], ARGV[o + 2]
  local member = c .. ':' .. k
  local history = 'history:' .. member
  for i = o + 7, #ARGV do
    redis.call('SADD', 'aggregates:' .. ARGV[i], member)
    redis.call('SADD', '{AGGREGATES}', ARGV[i])
  end
  redis.call('SADD', 'result:' .. c, k)
  redis.call('SET', 'result:' .. member, stored)
  if ARGV[o + 5] == '1' then redis.call('SADD', '{TTL}', member) end
  if redis.call('RPUSH', history, ARGV[o + 4]) > {HISTORY_LENGTH} then
    redis.call('LTRIM', history, -{HISTORY_LENGTH}, -1)
  end
  local last_ok = ARGV[o + 6]
  if last_ok ~= '' then
    redis.call('SET', history .. ':last_ok', last_ok)
  else
    last_ok = redis.call('GET', history .. ':last_ok')
  end
  return table.concat(redis.call('LRANGE', history, 0, -1), ','), last_ok, redis.call('HGET', 'events:' .. c, k)
end
"""

RECORD_RESULT = _RECORD + """
local history, last_ok, event = record(0, ARGV[3])
return {history, last_ok, event}
"""

# The client lookup, the signature rule (pipeline.store.base.signature_refusal) and the
# record above in one command, so a result costs one round trip before its event is written.
# ARGV = ["s" followed by the result's signature (a string), or "" when it sent none, "1" if
# a new client is a proxy, stored JSON for a proxy client or "", then RECORD_RESULT's ARGV].
# Replies {0, client JSON, signature key} when refused (nothing written), else {1, client
# JSON, signature key, history, last OK, open event}. Redis spends more on each redis.call
# than on the command itself, so the signature key is read only where the rule needs it
# (no client to take the signature from; nil in the reply otherwise), and last OK is read
# back only when this result did not just set it.
RECORD_CHECKED = _RECORD + f"""
local name = ARGV[4]
local client = redis.call('GET', 'client:' .. name)
local key = false
local signed = ARGV[1] ~= ''
local sent = string.sub(ARGV[1], 2)
local decoded = nil
if client then
  local ok, value = pcall(cjson.decode, client)
  if ok and type(value) == 'table' then decoded = value end
end
local proxy
if decoded then
  local wanted = decoded['signature']
  if wanted ~= nil and wanted ~= cjson.null and wanted ~= false and (not signed or wanted ~= sent) then
    return {{0, client, key}}
  end
  proxy = decoded['type'] == 'proxy'
else
  key = redis.call('GET', 'client:' .. name .. ':signature')
  if key == '{INVALIDATED}' or (key and key ~= '' and (not signed or key ~= sent)) then
    return {{0, client, key}}
  end
  proxy = ARGV[2] == '1'
end
local kept = ARGV[6]
if proxy and ARGV[3] ~= '' then kept = ARGV[3] end
local history, last_ok, event = record(3, kept)
return {{1, client, key, history, last_ok, event}}
"""

# A keepalive's signature claim (docs/redis.md "Key layout", Sensu's SETNX then GET): KEYS = [client:<c>:signature],
# ARGV = [the keepalive's signature or ""]. Replies with the key's value after the claim.
CLAIM_SIGNATURE = """
if redis.call('SETNX', KEYS[1], ARGV[1]) == 1 then return ARGV[1] end
local current = redis.call('GET', KEYS[1])
if current == '' and ARGV[1] ~= '' then
  redis.call('SET', KEYS[1], ARGV[1])
  return ARGV[1]
end
return current
"""
