"""`/info`, `/health` and `/settings`.

Queue figures (messages waiting, consumers) come from the transport when it reports them: a
transport with `async queue_stats(pipe) -> (messages, consumers)` gives both; one with only
`depth(pipe)` (memory: a number; RabbitMQ: awaitable) gives messages. A figure the transport does not report is
`null` in `/info`, and `/health` asked to check it answers 412 saying so: a health check that
cannot see the queues must not say they are fine.

The publish backlog is what the API's own transport holds unsent (buffered while the broker
is away, or being retried): `/info` shows it, and `/health` answers 412 while it is over
`?backlog=` (default 0), since a 202 for a request still in the backlog is not yet a delivery.

While the transport is down with an error (it tried and keeps trying in the background) no
figure is asked for: /info must not wait for a broker that cannot answer. The API's transport
starts connecting when the API starts (`start_api`), so "not connected to the transport" means
the broker cannot be reached, not that nothing has been published yet.

When the transport or the store is down and says why (`last_error`), `/info` adds `"error"` to
its `transport` or `redis` object and `/health` appends it to the reason: Sensu's shape, one key more.
"""

from __future__ import annotations

import asyncio
import hashlib
import inspect
import json
import logging
from typing import Any

from aiohttp import web

from pipeline import SENSU_COMPAT_VERSION
from pipeline.api.http import API, Api, bad_request, int_query, respond, shown
from pipeline.config.load import redact
from pipeline.model import JSON
from pipeline.transport.memory import MemoryTransport

log = logging.getLogger("ogi")

#: Seconds a queue figure may take (a broker that does not answer must not hang /health).
QUEUE_TIMEOUT = 5.0


def settings_digest(settings: JSON) -> str:
    """Sensu's `settings.hexdigest`: a SHA-256 of the settings, the same on every server with the same files."""
    text = json.dumps(settings, sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(text.encode()).hexdigest()


def _transport_name(api: Api) -> str:
    name = getattr(api.transport, "name", None)
    if isinstance(name, str) and name:
        return name
    if isinstance(api.transport, MemoryTransport):
        return "memory"
    return api.settings.transport("rabbitmq")


def _transport_connected(api: Api) -> bool:
    connected = getattr(api.transport, "connected", True)
    try:
        return bool(connected() if callable(connected) else connected)
    except Exception:
        return False


def publish_backlog(api: Api) -> int:
    """Messages the API's transport has accepted but not yet sent (0 for one that keeps none)."""
    pending = getattr(api.transport, "pending", 0)
    return pending if isinstance(pending, int) and not isinstance(pending, bool) else 0


def _why_down(part: Any) -> dict[str, str]:
    """`{"error": text}` when a transport or store that is down says why, else nothing."""
    error = getattr(part, "last_error", None)
    return {"error": error} if isinstance(error, str) and error else {}


def _reason(text: str, part: Any) -> str:
    error = _why_down(part).get("error")
    return f"{text}: {error}" if error else text


async def _queue(api: Api, pipe: str) -> dict[str, int | None]:
    stats = getattr(api.transport, "queue_stats", None)
    depth = getattr(api.transport, "depth", None)
    try:
        if callable(stats):
            messages, consumers = await asyncio.wait_for(stats(pipe), QUEUE_TIMEOUT)
            return {"messages": messages, "consumers": consumers}
        if callable(depth):
            # The memory transport counts synchronously, the RabbitMQ one asks the broker.
            found = depth(pipe)
            if inspect.isawaitable(found):
                found = await asyncio.wait_for(found, QUEUE_TIMEOUT)
            return {"messages": found, "consumers": None}
    except Exception as error:
        log.warning("cannot read queue figures", extra={"fields": {"pipe": pipe, "error": repr(error)}})
    return {"messages": None, "consumers": None}


async def _queues(api: Api) -> dict[str, dict[str, int | None]]:
    if not _transport_connected(api) and _why_down(api.transport):
        unknown: dict[str, int | None] = {"messages": None, "consumers": None}
        return {"keepalives": dict(unknown), "results": dict(unknown)}
    # together: a broker that does not answer costs one QUEUE_TIMEOUT, not two
    keepalives, results = await asyncio.gather(
        _queue(api, api.settings.limits.keepalives_pipe), _queue(api, api.settings.limits.results_pipe)
    )
    return {"keepalives": keepalives, "results": results}


async def store_connected(api: Api) -> bool:
    """Whether the store answers (a store without `ping` is in-process and always does)."""
    ping = getattr(api.store, "ping", None)
    if not callable(ping):
        return True
    try:
        return bool(await ping())
    except Exception:
        return False


async def info(request: web.Request) -> web.Response:
    api = request.app[API]
    connected = await store_connected(api)
    servers: list[Any] = []
    list_servers = getattr(api.store, "list_servers", None)
    if connected and callable(list_servers):
        try:
            servers = list(await list_servers())
        except Exception as error:
            log.warning("cannot list servers", extra={"fields": {"error": repr(error)}})
    queues = await _queues(api)
    transport_up = _transport_connected(api)
    return respond({
        "sensu": {"version": SENSU_COMPAT_VERSION, "settings": {"hexdigest": settings_digest(api.settings.raw)}},
        "transport": {"name": _transport_name(api), **queues, "connected": transport_up,
                      "backlog": publish_backlog(api), **({} if transport_up else _why_down(api.transport))},
        "redis": {"connected": connected, **({} if connected else _why_down(api.store))},
        "servers": servers,
    })


async def health(request: web.Request) -> web.Response:
    api = request.app[API]
    consumers = int_query(request, "consumers")
    messages = int_query(request, "messages")
    backlog = int_query(request, "backlog") or 0
    reasons: list[str] = []
    if not await store_connected(api):
        reasons.append(_reason("not connected to the store", api.store))
    if not _transport_connected(api):
        reasons.append(_reason("not connected to the transport", api.transport))
    unsent = publish_backlog(api)
    if unsent > backlog:
        reasons.append(f"publish backlog ({unsent} messages not yet sent to the transport) greater than {backlog}")
    if not reasons and (consumers is not None or messages is not None):
        for label, figures in zip(("keepalive", "result"), (await _queues(api)).values(), strict=True):
            count = figures["consumers"]
            if consumers is not None:
                if count is None:
                    reasons.append(f"{label} consumers unknown: the transport does not report them")
                elif count < consumers:
                    reasons.append(f"{label} consumers ({count}) less than min_consumers ({consumers})")
            waiting = figures["messages"]
            if messages is not None:
                if waiting is None:
                    reasons.append(f"{label} messages unknown: the transport does not report them")
                elif waiting > messages:
                    reasons.append(f"{label} messages ({waiting}) greater than max_messages ({messages})")
    if reasons:
        return respond(reasons, 412)
    return web.Response(status=204)


async def settings(request: web.Request) -> web.Response:
    api = request.app[API]
    value = request.query.get("redacted", "true")
    if value not in ("true", "false"):
        raise bad_request(f"query parameter 'redacted' must be true or false, got {shown(value)}")
    return respond(api.settings.raw if value == "false" else redact(api.settings.raw))
