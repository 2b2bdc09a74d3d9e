"""`/events` (alias `/incidents`) and `/resolve`.

An API resolve does not touch the store: like Sensu, it publishes an OK result with
`force_resolve: true` and the output "Resolving on request of the API" to the `results` pipe,
so the event is resolved by the normal result processing and its handlers see the resolve.
"""

from __future__ import annotations

from aiohttp import web

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
from pipeline.server.monitors import publish_result, result_payload

RESOLVE_OUTPUT = "Resolving on request of the API"


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
    store = request.app[API].store
    # The JSON text the store keeps goes out as is: parsing and re-encoding it was most of the
    # cost of listing 10,000 events. Filters need the events parsed.
    if not wants_filter(request):
        return raw_listing(request, await store.list_events_json(client))
    return listing(request, await store.list_events(client))


async def list_events(request: web.Request) -> web.Response:
    return await _events(request, None)


async def client_events(request: web.Request) -> web.Response:
    return await _events(request, path_name(request, "client", "client"))


async def get_event(request: web.Request) -> web.Response:
    client = path_name(request, "client", "client")
    check = path_name(request, "check", "check")
    event = await request.app[API].store.get_event(client, check)
    if event is None:
        raise not_found(f"no event for client {client} and check {check}")
    return respond(event)


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
