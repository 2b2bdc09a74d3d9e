"""`/results`: post a check result, read the last result of each check with its history.

A posted result is a check (`name`, `output`, optional `status`, default 0) published to the
`results` pipe as client `sensu-api`, with `issued` and `executed` set to now; with `source`
it belongs to that (proxy) client, as in Sensu.
"""

from __future__ import annotations

from typing import Any

from aiohttp import web

from pipeline.api.http import (
    API,
    MAX_INT,
    Api,
    bad_request,
    check_rules,
    history_status,
    int_field,
    issued,
    listing,
    name_field,
    no_content,
    not_found,
    path_name,
    read_object,
    respond,
    shown,
)
from pipeline.config.rules import CHECK_RULES
from pipeline.model import JSON, Check
from pipeline.server.monitors import publish_result

API_CLIENT = "sensu-api"


async def post_result(request: web.Request) -> web.Response:
    api = request.app[API]
    check = await read_object(request)
    name_field(check, "name")
    if not isinstance(check.get("output"), str):
        raise bad_request(f"'output' is required, a string, got {shown(check.get('output'))}")
    int_field(check, "status", -MAX_INT - 1)
    name_field(check, "source", required=False)
    check_rules(check, CHECK_RULES)
    now = api.now()
    check.update(issued=now, executed=now)
    if check.get("status") is None:
        check["status"] = 0
    await publish_result(api.transport, {"client": API_CLIENT, "check": check}, api.settings.limits.results_pipe)
    return issued(api)


async def _with_history(api: Api, client: str, result: Check) -> JSON:
    history = await api.store.get_history(client, str(result.get("name")))
    return {"client": client, "check": {**result, "history": [history_status(s) for s in history]}}


async def _results(api: Api, pairs: list[tuple[str, Check]]) -> list[Any]:
    return [await _with_history(api, client, result) for client, result in pairs]


async def list_results(request: web.Request) -> web.Response:
    api = request.app[API]
    return listing(request, await _results(api, await api.store.list_results()))


async def client_results(request: web.Request) -> web.Response:
    api = request.app[API]
    client = path_name(request, "client", "client")
    pairs = await api.store.list_results(client)
    if not pairs:
        raise not_found(f"no results for client {client}")
    return listing(request, await _results(api, pairs))


async def get_result(request: web.Request) -> web.Response:
    api = request.app[API]
    client = path_name(request, "client", "client")
    check = path_name(request, "check", "check")
    result = await api.store.get_result(client, check)
    if result is None:
        raise not_found(f"no result for client {client} and check {check}")
    return respond(await _with_history(api, client, result))


async def delete_result(request: web.Request) -> web.Response:
    api = request.app[API]
    client = path_name(request, "client", "client")
    check = path_name(request, "check", "check")
    if await api.store.get_result(client, check) is None:
        raise not_found(f"no result for client {client} and check {check}")
    await api.store.delete_result(client, check)
    return no_content()
