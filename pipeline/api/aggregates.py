"""`/aggregates`: the clients and checks of an aggregate and a count of their last results.

An aggregate's members are `client:check` pairs; their last results are read at request time.
`?max_age=S` leaves out results executed more than S seconds ago and counts them as `stale`.
Members whose result is gone are skipped (Sensu also removed them from the set on a GET;
ogi's reads do not write).
"""

from __future__ import annotations

import re
from typing import Any

from aiohttp import web

from pipeline.api.http import API, Api, bad_request, int_query, listing, no_content, not_found, respond, shown
from pipeline.model import SEVERITY_NAMES, Check, severity_name

#: Aggregate names: check names, or an `aggregate` string, which may also hold ':' and '|'.
AGGREGATE_NAME = re.compile(r"^[\w.:|-]+\Z", re.ASCII)
#: Severities `/aggregates/:name/results/:severity` accepts (not ok, as in Sensu).
RESULT_SEVERITIES = ("warning", "critical", "unknown")


def _name(request: web.Request) -> str:
    name = request.match_info["name"]
    if not AGGREGATE_NAME.match(name):
        raise bad_request(f"aggregate name {shown(name)} must contain only letters, digits, '_', '.', ':', '|' and '-'")
    return name


async def _members(api: Api, name: str) -> list[tuple[str, str]]:
    members = await api.store.aggregate_members(name)
    if not members:
        raise not_found(f"aggregate {name} not found")
    pairs = []
    for member in members:
        client, _, check = member.partition(":")
        pairs.append((client, check))
    return pairs


async def _results(request: web.Request, pairs: list[tuple[str, str]]) -> tuple[list[tuple[str, Check]], int]:
    """The members' last results, and how many were left out as older than `max_age`."""
    api = request.app[API]
    max_age = int_query(request, "max_age")
    results = []
    for client, check in pairs:
        result = await api.store.get_result(client, check)
        if result is not None:
            results.append((client, result))
    if max_age is None:
        return results, 0
    oldest = api.now() - max_age
    fresh = [(client, result) for client, result in results if _executed(result) >= oldest]
    return fresh, len(results) - len(fresh)


def _executed(result: Check) -> float:
    executed = result.get("executed")
    return executed if isinstance(executed, int | float) and not isinstance(executed, bool) else 0


async def list_aggregates(request: web.Request) -> web.Response:
    return listing(request, [{"name": name} for name in await request.app[API].store.list_aggregates()])


async def get_aggregate(request: web.Request) -> web.Response:
    api = request.app[API]
    pairs = await _members(api, _name(request))
    results, stale = await _results(request, pairs)
    counts: dict[str, int] = dict.fromkeys(SEVERITY_NAMES, 0)
    for _, result in results:
        counts[severity_name(result.get("status", ""))] += 1
    summary = {**counts, "total": len(results), "stale": stale}
    return respond({
        "clients": len({client for client, _ in pairs}),
        "checks": len({check for _, check in pairs}),
        "results": summary,
    })


async def delete_aggregate(request: web.Request) -> web.Response:
    api = request.app[API]
    name = _name(request)
    await _members(api, name)
    await api.store.delete_aggregate(name)
    return no_content()


async def aggregate_clients(request: web.Request) -> web.Response:
    pairs = await _members(request.app[API], _name(request))
    clients: dict[str, list[str]] = {}
    for client, check in pairs:
        clients.setdefault(client, []).append(check)
    return listing(request, [{"name": client, "checks": checks} for client, checks in clients.items()])


async def aggregate_checks(request: web.Request) -> web.Response:
    pairs = await _members(request.app[API], _name(request))
    checks: dict[str, list[str]] = {}
    for client, check in pairs:
        checks.setdefault(check, []).append(client)
    return listing(request, [{"name": check, "clients": clients} for check, clients in checks.items()])


async def aggregate_results(request: web.Request) -> web.Response:
    severity = request.match_info["severity"]
    if severity not in RESULT_SEVERITIES:
        raise bad_request(f"severity {shown(severity)} must be one of {', '.join(RESULT_SEVERITIES)}")
    pairs = await _members(request.app[API], _name(request))
    results, _ = await _results(request, pairs)
    by_check: dict[str, dict[str, dict[str, Any]]] = {}
    for client, result in results:
        if severity_name(result.get("status", "")) != severity:
            continue
        outputs = by_check.setdefault(str(result.get("name")), {})
        output = result.get("output")
        entry = outputs.setdefault(str(output), {"output": output, "total": 0, "clients": []})
        entry["total"] += 1
        entry["clients"].append(client)
    return listing(request, [
        {"check": check, "summary": list(outputs.values())} for check, outputs in by_check.items()
    ])
