"""`/events` (alias `/incidents`) and `/resolve`.

An event's `silenced`/`silenced_by` are answered at read time from the silences stored now
(the result processor's matching, `pipeline/server/events.py`), not as of its last result.

An API resolve does not touch the store: like Sensu, it publishes an OK result with
`force_resolve: true` and the output "Resolving on request of the API" to the `results` pipe,
so the event is resolved by the normal result processing and its handlers see the resolve.
"""

from __future__ import annotations

import re
from typing import Any

from aiohttp import web

from pipeline import jsoncodec
from pipeline.api.http import (
    API,
    Api,
    issued,
    listing,
    name_field,
    not_found,
    path_name,
    raw_listing,
    read_object,
    respond,
    wants_filter,
)
from pipeline.model import Event
from pipeline.server.events import silenced_now
from pipeline.server.monitors import publish_result, result_payload

RESOLVE_OUTPUT = "Resolving on request of the API"

# A stored event that says it is silenced; one that does not, with no silence stored, is
# served as stored.
_SAID_SILENCED = re.compile(rb'"silenced"\s*:\s*true')


async def live_silences(api: Api) -> dict[str, Any]:
    """The silence entries stored now, by id."""
    entries = await api.store.list_silences()
    return {str(entry.get("id")): entry for entry in entries if isinstance(entry, dict)}


def silence_now(event: Any, by_id: dict[str, Any], now: float) -> Any:
    """`event` with `silenced`/`silenced_by` as the silences stored now say (Sensu's stored keys)."""
    if isinstance(event, dict):
        ids = silenced_now(event, by_id, now)
        event["silenced_by"] = ids
        event["silenced"] = bool(ids)
    return event


async def resolve_event(api: Api, name: str, event: Event) -> None:
    """Publish the OK result that resolves client `name`'s `event` (Sensu's API resolve)."""
    now = api.now()
    found = event.get("check")
    check = {key: value for key, value in found.items() if key != "history"} if isinstance(found, dict) else {}
    check.update(output=RESOLVE_OUTPUT, status=0, issued=now, executed=now, force_resolve=True)
    # The stored client carries the signature a signed client's results must have.
    client = await api.store.get_client(name)
    payload = result_payload(client if client is not None else name, check)
    await publish_result(api.transport, payload, api.settings.limits.results_pipe)


async def _events(request: web.Request, client: str | None) -> web.Response:
    api = request.app[API]
    by_id = await live_silences(api)
    now = api.now()
    if wants_filter(request):
        events = await api.store.list_events(client)
        return listing(request, [silence_now(event, by_id, now) for event in events])
    texts = await api.store.list_events_json(client)
    # The JSON text the store keeps goes out as is when no silence can change it: parsing and
    # re-encoding it was most of the cost of listing 10,000 events.
    if not by_id and not any(_SAID_SILENCED.search(text) for text in texts):
        return raw_listing(request, texts)
    return listing(request, [silence_now(jsoncodec.loads(text), by_id, now) for text in texts])


async def list_events(request: web.Request) -> web.Response:
    return await _events(request, None)


async def client_events(request: web.Request) -> web.Response:
    return await _events(request, path_name(request, "client", "client"))


async def get_event(request: web.Request) -> web.Response:
    client = path_name(request, "client", "client")
    check = path_name(request, "check", "check")
    api = request.app[API]
    event = await api.store.get_event(client, check)
    if event is None:
        raise not_found(f"no event for client {client} and check {check}")
    return respond(silence_now(event, await live_silences(api), api.now()))


async def delete_event(request: web.Request) -> web.Response:
    api = request.app[API]
    client = path_name(request, "client", "client")
    check = path_name(request, "check", "check")
    event = await api.store.get_event(client, check)
    if event is None:
        raise not_found(f"no event for client {client} and check {check}")
    await resolve_event(api, client, event)
    return issued(api)


async def resolve(request: web.Request) -> web.Response:
    api = request.app[API]
    data = await read_object(request)
    client = str(name_field(data, "client"))
    check = str(name_field(data, "check"))
    event = await api.store.get_event(client, check)
    if event is None:
        raise not_found(f"no event for client {client} and check {check}")
    await resolve_event(api, client, event)
    return issued(api)
