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
def _record(keys: int, args: int, stored: str) -> str:
    """The Lua that records a result, its KEYS and ARGV numbered from `keys` + 1 and `args` + 1."""
    k = [f"KEYS[{keys + i}]" for i in range(8)]
    a = [f"ARGV[{args + i}]" for i in range(8)]
    return f"""
for i = {keys + 8}, #KEYS do
  redis.call('SADD', KEYS[i], {a[4]})
  redis.call('SADD', {k[7]}, ARGV[i - {keys} + {args}])
end
redis.call('SADD', {k[1]}, {a[1]})
redis.call('SET', {k[2]}, {stored})
if {a[5]} == '1' then redis.call('SADD', {k[6]}, {a[4]}) end
redis.call('RPUSH', {k[3]}, {a[3]})
redis.call('LTRIM', {k[3]}, -tonumber({a[7]}), -1)
if {a[6]} ~= '' then redis.call('SET', {k[4]}, {a[6]}) end
local history = redis.call('LRANGE', {k[3]}, 0, -1)
"""


RECORD_RESULT = _record(0, 0, "ARGV[2]") + """
return {table.concat(history, ','), redis.call('GET', KEYS[4]), redis.call('HGET', KEYS[5], ARGV[1])}
"""

# The client lookup, the signature rule (pipeline.store.base.signature_refusal) and the
# record above in one command, so a result costs one round trip before its event is written.
# KEYS = [client:<c>, client:<c>:signature, then RECORD_RESULT's KEYS]
# ARGV = [the result's signature, "s" if it sent one (a string) else "", "1" if a new client
#         is a proxy, stored JSON for a proxy client or "", the invalidated marker, then
#         RECORD_RESULT's ARGV]
# Replies {0, client JSON, signature key} when refused (nothing written), else {1, client
# JSON, signature key, history, last OK, open event}.
RECORD_CHECKED = """
local client = redis.call('GET', KEYS[1])
local key = redis.call('GET', KEYS[2])
local decoded = nil
if client then
  local ok, value = pcall(cjson.decode, client)
  if ok and type(value) == 'table' then decoded = value end
end
local proxy
if decoded then
  local wanted = decoded['signature']
  if wanted ~= nil and wanted ~= cjson.null and wanted ~= false and (ARGV[2] ~= 's' or wanted ~= ARGV[1]) then
    return {0, client, key}
  end
  proxy = decoded['type'] == 'proxy'
else
  if key == ARGV[5] or (key and key ~= '' and (ARGV[2] ~= 's' or key ~= ARGV[1])) then
    return {0, client, key}
  end
  proxy = ARGV[3] == '1'
end
local kept = ARGV[7]
if proxy and ARGV[4] ~= '' then kept = ARGV[4] end
""" + _record(2, 5, "kept") + """
return {1, client, key, table.concat(history, ','), redis.call('GET', KEYS[6]), redis.call('HGET', KEYS[7], ARGV[6])}
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
