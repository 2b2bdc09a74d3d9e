"""`/silenced`: silence entries, which the result processor reads (pipeline/server/results.py).

An entry silences a subscription (`client:NAME` for one client), a check, or a check within a
subscription; its id is `"<subscription|*>:<check|*>"` and `*:*` (everything) is refused. It
is stored as `{id, subscription, check, reason, creator, expire_on_resolve, timestamp, begin,
expire}`; the store drops it after `expire` seconds, a future `begin` extending that so the
entry still lasts `expire` seconds once it begins. A listing shows `expire` as the seconds
left (-1 for none), as Sensu showed the key's TTL.
"""

from __future__ import annotations

import re

from aiohttp import web

from pipeline.api.http import (
    API,
    MAX_INT,
    Api,
    bad_request,
    bool_field,
    int_field,
    listing,
    name_field,
    no_content,
    not_found,
    read_object,
    respond,
    shown,
    string_field,
)
from pipeline.model import JSON

#: Control characters and whitespace as Python's `\s` sees it, spelled out: /openapi.json states the
#: pattern, and another regex dialect's `\s` is another set (JavaScript's lacks U+0085).
SPACES = r"\x00-\x20\x7f\x85\xa0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000"
#: A subscription: no whitespace or control character and no '/', so that its entries can be addressed in a URL.
SUBSCRIPTION_PATTERN = rf"^[^{SPACES}/]{{1,255}}$"
SUBSCRIPTION = re.compile(SUBSCRIPTION_PATTERN.removesuffix("$") + r"\Z")
#: Latest accepted `begin`: the last second of 9999.
MAX_BEGIN = 253402300799


def _subscription(data: JSON) -> str | None:
    value = string_field(data, "subscription")
    if value is not None and not SUBSCRIPTION.match(value):
        raise bad_request(f"'subscription' must be 1 to 255 characters without spaces or '/', got {shown(value)}")
    return value


async def _entries(api: Api) -> list[JSON]:
    # The store gives `expire` as the seconds left (-1 for none), the way Sensu showed the key's
    # TTL: that also covers entries a Sensu server wrote, which hold no `expire` of their own.
    return await api.store.list_silences()


def _parts(entry: JSON) -> tuple[str, str]:
    subscription, _, check = str(entry.get("id", "")).rpartition(":")
    return subscription, check


async def list_silenced(request: web.Request) -> web.Response:
    return listing(request, await _entries(request.app[API]))


async def create_silence(request: web.Request) -> web.Response:
    api = request.app[API]
    data = await read_object(request)
    subscription = _subscription(data)
    check = name_field(data, "check", required=False)
    begin = int_field(data, "begin", 0, MAX_BEGIN)
    expire = int_field(data, "expire", 1)
    reason = string_field(data, "reason")
    creator = string_field(data, "creator")
    expire_on_resolve = bool_field(data, "expire_on_resolve") or False
    if subscription is None and check is None:
        raise bad_request("a silence needs a 'subscription', a 'check' or both")
    silence_id = f"{subscription or '*'}:{check or '*'}"
    if silence_id == "*:*":
        raise bad_request("a silence of every check on every client ('*:*') is not allowed")
    now = api.now()
    if expire is not None and begin is not None and begin > now:
        # The entry lasts `expire` seconds from its begin, not from now.
        expire = min(MAX_INT, expire + begin - now)
    entry = {
        "id": silence_id, "subscription": subscription, "check": check, "reason": reason,
        "creator": creator, "expire_on_resolve": expire_on_resolve, "timestamp": now,
        "begin": begin, "expire": expire,
    }
    await api.store.put_silence(entry, expire)
    return web.Response(status=201)


async def get_silence(request: web.Request) -> web.Response:
    api = request.app[API]
    silence_id = request.match_info["id"]
    if not silence_id.isprintable() or len(silence_id) > 600:
        raise bad_request(f"silence id {shown(silence_id)} is not a 'subscription:check' id")
    entry = (await api.store.get_silences([silence_id]))[0]
    if entry is None:
        raise not_found(f"no silence with id {silence_id}")
    return respond(entry)


async def subscription_silences(request: web.Request) -> web.Response:
    subscription = request.match_info["subscription"]
    if subscription != "*" and not SUBSCRIPTION.match(subscription):
        raise bad_request(f"subscription {shown(subscription)} must be 1 to 255 characters without spaces or '/'")
    entries = await _entries(request.app[API])
    return listing(request, [entry for entry in entries if _parts(entry)[0] == subscription])


async def check_silences(request: web.Request) -> web.Response:
    check = request.match_info["check"]
    if check != "*":
        name_field({"check": check}, "check")
    entries = await _entries(request.app[API])
    return listing(request, [entry for entry in entries if _parts(entry)[1] == check])


async def clear_silence(request: web.Request) -> web.Response:
    api = request.app[API]
    data = await read_object(request)
    given_id = string_field(data, "id")
    subscription = _subscription(data)
    check = name_field(data, "check", required=False)
    if given_id is not None:
        silence_id = given_id
    elif subscription is not None or check is not None:
        silence_id = f"{subscription or '*'}:{check or '*'}"
    else:
        raise bad_request("name the silence to clear: 'id', or 'subscription' and/or 'check'")
    if (await api.store.get_silences([silence_id]))[0] is None:
        raise not_found(f"no silence with id {silence_id}")
    await api.store.delete_silence(silence_id)
    return no_content()
