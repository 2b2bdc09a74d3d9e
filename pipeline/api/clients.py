"""`/clients`: the client registry, and a client's check history.

Deleting a client first resolves its open events through the `results` pipe (so handlers see
the resolves), then checks up to five times, a poll interval apart, for the events to be
gone, and deletes the client with its results and history whether or not they went: the
response (202) does not wait for that. `invalidate=true` sets the client's signature key to
"invalidated" at once, so its keepalives are dropped meanwhile (its results still pass while it
is registered: the resolves go through); the key goes with the client, or with
`invalidate_expire=S` stays S seconds longer, dropping its keepalives and results until then.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any

from aiohttp import web

from pipeline import SENSU_COMPAT_VERSION
from pipeline.api.events import resolve_event
from pipeline.api.http import (
    API,
    Api,
    bad_request,
    bool_query,
    check_rules,
    history_status,
    int_query,
    issued,
    listing,
    name_field,
    not_found,
    path_name,
    read_object,
    respond,
    shown,
)
from pipeline.config.rules import CLIENT_RULES
from pipeline.secrets import without_signature

log = logging.getLogger("ogi")

#: Sensu's attempts at seeing a deleted client's events resolved before deleting it anyway.
DELETE_ATTEMPTS = 5


async def list_clients(request: web.Request) -> web.Response:
    return listing(request, [without_signature(c) for c in await request.app[API].store.list_clients()])


async def create_client(request: web.Request) -> web.Response:
    api = request.app[API]
    data = await read_object(request)
    name = str(name_field(data, "name"))
    if not isinstance(data.get("address"), str):
        raise bad_request(f"'address' is required, a string, got {shown(data.get('address'))}")
    check_rules(data, CLIENT_RULES)
    client = dict(data)
    client["keepalives"] = data.get("keepalives", False)
    subscriptions = list(data.get("subscriptions", []))
    if f"client:{name}" not in subscriptions:
        subscriptions.append(f"client:{name}")
    client["subscriptions"] = subscriptions
    client["version"] = SENSU_COMPAT_VERSION
    client["timestamp"] = api.now()
    await api.store.put_client(client)
    return respond({"name": name}, 201)


async def get_client(request: web.Request) -> web.Response:
    name = path_name(request, "name", "client")
    client = await request.app[API].store.get_client(name)
    if client is None:
        raise not_found(f"client {name} not found")
    return respond(without_signature(client))


async def delete_client(request: web.Request) -> web.Response:
    api = request.app[API]
    name = path_name(request, "name", "client")
    invalidate = bool_query(request, "invalidate")
    expire = int_query(request, "invalidate_expire", minimum=1)
    if expire is not None and not invalidate:
        raise bad_request("query parameter 'invalidate_expire' needs invalidate=true")
    if await api.store.get_client(name) is None:
        raise not_found(f"client {name} not found")
    if invalidate:
        # From now on the client's keepalives are dropped, so it cannot register again meanwhile.
        await api.store.invalidate_client(name)
    for event in await api.store.list_events(name):
        await resolve_event(api, name, event)
    api.spawn(_delete_when_resolved(api, name, invalidate, expire))
    return issued(api)


async def _delete_when_resolved(api: Api, name: str, invalidate: bool, expire: int | None) -> None:
    try:
        for attempt in range(1, DELETE_ATTEMPTS + 1):
            if not await api.store.list_events(name) or attempt == DELETE_ATTEMPTS:
                break
            await asyncio.sleep(api.delete_poll_interval)
        # With invalidate_expire the signature key stays "invalidated" that long after the
        # deletion (as Sensu's EXPIRE on it); otherwise it goes with the client.
        keep = invalidate and expire is not None
        await api.store.delete_client(name, keep_signature=keep)
        if keep:
            await api.store.invalidate_client(name, expire)
        log.info("client deleted on request of the API", extra={"fields": {"client": name}})
    except Exception:
        log.exception("deleting a client failed", extra={"fields": {"client": name}})


async def client_history(request: web.Request) -> web.Response:
    api = request.app[API]
    name = path_name(request, "name", "client")
    history: list[dict[str, Any]] = []
    for _, result in await api.store.list_results(name):
        check = result.get("name")
        executed = result.get("executed")
        statuses = [history_status(s) for s in await api.store.get_history(name, str(check))]
        if not statuses or not isinstance(executed, int | float) or isinstance(executed, bool):
            continue
        history.append({
            "check": check, "history": statuses, "last_execution": int(executed),
            "last_status": statuses[-1], "last_result": result,
        })
    return listing(request, history)
