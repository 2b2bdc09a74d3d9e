"""`/checks` (the check definitions the server publishes) and `/request` (run a check now).

A request goes out exactly as the scheduler's would (pipeline/server/publisher.py): the definition
without `subscribers` and `interval`, plus `name`, `issued` and Sensu's `api_requested`
(`{reason, creator}`), to each subscription's pipe; a check with `proxy_requests` once per
matching client (pipeline/server/proxy.py), in the background after the answer.
"""

from __future__ import annotations

from typing import Any

from aiohttp import web

from pipeline import jsoncodec
from pipeline.api.http import (
    API,
    Api,
    bad_request,
    issued,
    listing,
    name_field,
    not_found,
    path_name,
    read_object,
    respond,
    shown,
    string_field,
    string_list_field,
)
from pipeline.model import truthy
from pipeline.server.proxy import ProxyRequests
from pipeline.server.publisher import check_request
from pipeline.transport.pipes import request_pipe
from pipeline.transport.refusals import name_refusal


def _published(checks: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {
        name: {**check, "name": name}
        for name, check in checks.items()
        if isinstance(check, dict) and not truthy(check.get("standalone"))
    }


async def list_checks(request: web.Request) -> web.Response:
    return listing(request, list(_published(request.app[API].checks()).values()))


async def get_check(request: web.Request) -> web.Response:
    name = path_name(request, "name", "check")
    check = _published(request.app[API].checks()).get(name)
    if check is None:
        raise not_found(f"check {name} is not defined (standalone checks are not listed)")
    return respond(check)


async def delete_check(request: web.Request) -> web.Response:
    """Forget the check's last results and history on every client (its events stay)."""
    api = request.app[API]
    name = path_name(request, "name", "check")
    holders = [client for client, result in await api.store.list_results() if result.get("name") == name]
    if not holders and name not in _published(api.checks()):
        raise not_found(f"check {name} is not defined and has no results")
    for client in holders:
        await api.store.delete_result(client, name)
    return issued(api)


async def request_check(request: web.Request) -> web.Response:
    api = request.app[API]
    data = await read_object(request)
    name = str(name_field(data, "check"))
    subscribers = string_list_field(data, "subscribers")
    reason = string_field(data, "reason")
    creator = string_field(data, "creator")
    definition = api.checks().get(name)
    if not isinstance(definition, dict):
        raise not_found(f"check {name} is not defined")
    check = dict(definition)
    if subscribers is not None:
        check["subscribers"] = subscribers
    _refuse_names([s for s in check.get("subscribers") or [] if isinstance(s, str)])
    targets = [s for s in check.get("subscribers") or [] if isinstance(s, str) and s]
    if not targets:
        raise bad_request(f"check {name} has no subscribers; name them in 'subscribers'")
    check["api_requested"] = {"reason": reason, "creator": creator}
    payload = check_request(name, check, api.clock())
    if "proxy_requests" in check:
        api.spawn(_proxy_requests(api, check, payload))  # one per matching client, splayed: after the 202
        return issued(api)
    body = jsoncodec.dumps(payload)
    for subscription in dict.fromkeys(targets):
        pipe, kind = request_pipe(subscription)
        await api.transport.publish(pipe, body, kind)
    return issued(api)


async def _proxy_requests(api: Api, check: dict[str, Any], payload: dict[str, Any]) -> None:
    await ProxyRequests(api.store, api.transport).publish_all(check, payload)


def _refuse_names(subscriptions: list[str]) -> None:
    """400 for a subscription whose pipe RabbitMQ would refuse: the request could never be delivered."""
    for subscription in subscriptions:
        reason = name_refusal(request_pipe(subscription)[0])
        if reason is not None:
            raise bad_request(f"subscription {shown(subscription)} cannot be published to: {reason}")
