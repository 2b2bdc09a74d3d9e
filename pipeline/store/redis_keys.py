"""Redis key names: Sensu 1.x's layout (reference §1), plus the two hashes only ogi writes.

A Sensu 1.x server and ogi read and write the same keys, which is what lets ogi replace a
Sensu server in place. The `ogi:` keys hold what Sensu has no key for.
"""

from __future__ import annotations

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

# One result (reference §3.5) in one command, atomic as Sensu's MULTI, replying with what
# the event needs: the history joined by commas, last OK and the open event. Replies of a
# few strings instead of one per status are what make a result cheap to read back.
# KEYS = [result:<c>, result:<c>:<k>, history:<c>:<k>, history:<c>:<k>:last_ok, events:<c>,
#         ttl, aggregates, aggregates:<name>...]
# ARGV = [check, stored JSON, status, "<c>:<k>", "1" if ttl else "", last OK or "",
#         history length, aggregate name...]  (aggregate i: KEYS[7 + i] and ARGV[7 + i])
RECORD_RESULT = """
for i = 8, #KEYS do
  redis.call('SADD', KEYS[i], ARGV[4])
  redis.call('SADD', KEYS[7], ARGV[i])
end
redis.call('SADD', KEYS[1], ARGV[1])
redis.call('SET', KEYS[2], ARGV[2])
if ARGV[5] == '1' then redis.call('SADD', KEYS[6], ARGV[4]) end
redis.call('RPUSH', KEYS[3], ARGV[3])
redis.call('LTRIM', KEYS[3], -tonumber(ARGV[7]), -1)
if ARGV[6] ~= '' then redis.call('SET', KEYS[4], ARGV[6]) end
local history = redis.call('LRANGE', KEYS[3], 0, -1)
return {table.concat(history, ','), redis.call('GET', KEYS[4]), redis.call('HGET', KEYS[5], ARGV[1])}
"""

# A keepalive's signature claim (reference §1, Sensu's SETNX then GET): KEYS = [client:<c>:signature],
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
