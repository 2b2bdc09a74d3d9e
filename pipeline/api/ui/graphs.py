"""`/ui/graph?client=&check=`: the points behind the event and client pages' charts.

The source is graphite-web's render API when `dashboard.graphite_url` is set (the targets are
the metric paths in the check's last output), else Prometheus' `query_range` when
`dashboard.prometheus_url` is (every series labelled with the client and check), else the
series ogi holds itself: the last value of each series the `prometheus` handler stored, which
the page accumulates while it is open. Every answer also carries the check's status history.
A source that fails gives its error in the answer beside the history, never a blank chart.
"""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable
from typing import Any

import aiohttp
from aiohttp import web

from pipeline.api.http import API, ApiError, respond
from pipeline.api.ui.proxy import SESSION
from pipeline.config.dashboard import DashboardConfig
from pipeline.metrics.extract import extract_points
from pipeline.metrics.graphite_mapping import parse_series_id

#: At most this many series per chart: more lines than that cannot be told apart.
MAX_SERIES = 8
SOURCE_TIMEOUT = 10.0
Points = list[list[float]]


def _promql_string(value: str) -> str:
    return '"' + value.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n") + '"'


async def _graphite(session: aiohttp.ClientSession, url: str, targets: list[str], hours: float) -> list[dict[str, Any]]:
    params = [("target", target) for target in targets] + [("from", f"-{int(hours * 60)}min"), ("format", "json")]
    async with session.get(f"{url}/render", params=params, timeout=aiohttp.ClientTimeout(total=SOURCE_TIMEOUT)) as answer:
        if answer.status != 200:
            raise ValueError(f"graphite-web answered {answer.status}")
        data = await answer.json(content_type=None)
    return [{"name": str(item.get("target")),
             "points": [[float(t), float(v)] for v, t in item.get("datapoints", []) if v is not None]}
            for item in data[:MAX_SERIES]]


async def _prometheus(session: aiohttp.ClientSession, url: str, client: str, check: str, hours: float) -> list[dict[str, Any]]:
    end = time.time()
    start = end - hours * 3600
    step = max(15, int(hours * 3600 / 300))
    query = f"{{client={_promql_string(client)},check={_promql_string(check)}}}"
    params = {"query": query, "start": f"{start:.0f}", "end": f"{end:.0f}", "step": str(step)}
    async with session.get(f"{url}/api/v1/query_range", params=params,
                           timeout=aiohttp.ClientTimeout(total=SOURCE_TIMEOUT)) as answer:
        data = await answer.json(content_type=None)
    if data.get("status") != "success":
        raise ValueError(f"Prometheus answered {answer.status}: {data.get('error', 'no error given')}")
    series = []
    for item in data["data"]["result"][:MAX_SERIES]:
        metric = dict(item.get("metric", {}))
        name = metric.pop("__name__", "")
        extra = ",".join(f"{k}={v}" for k, v in sorted(metric.items()) if k not in ("client", "check", "job", "instance"))
        series.append({"name": f"{name}{{{extra}}}" if extra else name,
                       "points": [[float(t), float(v)] for t, v in item.get("values", [])]})
    return series


async def _held(request: web.Request, client: str, check: str) -> list[dict[str, Any]]:
    series: list[dict[str, Any]] = []
    for sid, sample in (await request.app[API].store.list_series()).items():
        name, labels = parse_series_id(sid)
        if labels.get("client") == client and labels.get("check") == check:
            extra = ",".join(f"{k}={v}" for k, v in sorted(labels.items()) if k not in ("client", "check"))
            series.append({"name": f"{name}{{{extra}}}" if extra else name, "points": [[sample.updated, sample.value]]})
    series.sort(key=lambda item: str(item["name"]))
    return series[:MAX_SERIES]


def graph_handler(config: DashboardConfig) -> Callable[[web.Request], Awaitable[web.Response]]:
    async def handler(request: web.Request) -> web.Response:
        client, check = request.query.get("client", ""), request.query.get("check", "")
        if not client or not check:
            raise ApiError(400, "query parameters 'client' and 'check' are required")
        api = request.app[API]
        result = await api.store.get_result(client, check) or {}
        history = await api.store.get_history(client, check)
        answer: dict[str, Any] = {
            "client": client, "check": check, "hours": config.graph_hours,
            "history": {"statuses": [int(s) for s in history if s.lstrip("-").isdigit()],
                        "executed": result.get("executed"), "interval": result.get("interval")},
        }
        try:
            if config.graphite_url:
                answer["source"] = "graphite"
                targets = list(dict.fromkeys(p.name for p in extract_points(result).points))[:MAX_SERIES]
                answer["series"] = await _graphite(request.app[SESSION], config.graphite_url, targets,
                                                   config.graph_hours) if targets else []
            elif config.prometheus_url:
                answer["source"] = "prometheus"
                answer["series"] = await _prometheus(request.app[SESSION], config.prometheus_url, client, check,
                                                     config.graph_hours)
            else:
                answer["source"] = "ogi"
                answer["series"] = await _held(request, client, check)
        except (TimeoutError, aiohttp.ClientError, OSError, ValueError, KeyError, TypeError) as error:
            answer["series"] = []
            answer["error"] = f"{answer['source']} could not be read: {type(error).__name__}: {error}"
        return respond(answer)

    return handler
