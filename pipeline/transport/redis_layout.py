"""The Redis transport's keys: Sensu 1.x's own, plus the few ogi adds to lose nothing.

Sensu's layout (sensu-transport's redis transport), which Ruby clients and servers use, so
they and ogi meet on one Redis:

- a fanout pipe is the PUBLISH/SUBSCRIBE channel `transport:<db>:channel:<pipe>`;
- a direct pipe (`results`, `keepalives`, `roundrobin:NAME`) is the list
  `transport:<db>:list:<pipe>`: RPUSH to publish, pop from the left to consume.

The db number is part of the name because PUBLISH/SUBSCRIBE ignores SELECT. ogi's additions,
which a Ruby peer never reads:

- `transport:<db>:processing:<pipe>:<consumer>`: the messages one consumer has taken and not
  yet acknowledged (BLMOVE moves each there atomically; the ack removes it);
- `transport:<db>:owners:<pipe>` (ZSET consumer -> deadline, ms): consumers holding a
  processing list, refreshed every heartbeat; a list whose owner missed its deadline goes
  back to the head of the pipe (`RECOVER`);
- `transport:<db>:consumers:<pipe>` (ZSET, same scores): open subscriptions, for `/health`;
- `transport:<db>:attempts:<pipe>` (HASH sha1(body) -> failed attempts): how often a message
  failed, so a poison message goes to `<pipe>.failed` instead of looping; "0" marks a message
  given back (redelivered) without a failure.
"""

from __future__ import annotations

import hashlib


class Keys:
    """The key names of one pipe in one Redis database."""

    __slots__ = ("attempts", "channel", "consumers", "list", "owners", "pipe", "processing_prefix")

    def __init__(self, db: int, pipe: str) -> None:
        base = f"transport:{db}"
        self.pipe = pipe
        self.channel = f"{base}:channel:{pipe}"
        self.list = f"{base}:list:{pipe}"
        self.processing_prefix = f"{base}:processing:{pipe}:"
        self.owners = f"{base}:owners:{pipe}"
        self.consumers = f"{base}:consumers:{pipe}"
        self.attempts = f"{base}:attempts:{pipe}"

    def processing(self, consumer: str) -> str:
        return self.processing_prefix + consumer


def digest(body: bytes) -> str:
    """The attempts-hash field of a body (Lua's redis.sha1hex gives the same)."""
    return hashlib.sha1(body).hexdigest()  # noqa: S324 - a key, not a security measure


#: Give every stale owner's processing list back to the head of the pipe, oldest first, each
#: message marked redelivered; forget the owner. Atomic, so two recovering servers cannot
#: both take a list. KEYS: owners, consumers, list, attempts. ARGV: now (ms), processing prefix.
RECOVER = """
local stale = redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', '(' .. ARGV[1])
local moved = 0
for _, id in ipairs(stale) do
  local processing = ARGV[2] .. id
  while true do
    local body = redis.call('LMOVE', processing, KEYS[3], 'RIGHT', 'LEFT')
    if not body then break end
    redis.call('HSETNX', KEYS[4], redis.sha1hex(body), '0')
    moved = moved + 1
  end
  redis.call('ZREM', KEYS[1], id)
  redis.call('ZREM', KEYS[2], id)
end
return moved
"""
