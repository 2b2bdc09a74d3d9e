"""`ogi status`: the state of an installation on one screen, from its API.

Servers and the tasks each holds, whether the transport and the store are connected, queue
depths and consumers, open events by severity, and clients whose keepalive is older than
their warning threshold. `--json` prints the same as one object. Exit 0 when all is connected,
1 when the API cannot be reached or the transport or store is down.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from collections import Counter
from typing import Any

from pipeline.cli.ops import api_options
from pipeline.cli.ops_api import ApiClient, ApiFailure, ConfigProblem, endpoint
from pipeline.model import severity_name

#: Sensu's keepalive warning threshold, when a client sets none.
KEEPALIVE_WARNING = 120


def _threshold(client: dict[str, Any]) -> float:
    value = ((client.get("keepalive") or {}).get("thresholds") or {}).get("warning", KEEPALIVE_WARNING)
    return float(value) if isinstance(value, int | float) and not isinstance(value, bool) else KEEPALIVE_WARNING


def gather(api: ApiClient, now: float) -> dict[str, Any]:
    """The status as data (ApiFailure when the API cannot be reached)."""
    _, info = api.get("/info")
    info = info if isinstance(info, dict) else {}
    try:
        _, events = api.get("/events")
        _, clients = api.get("/clients")
    except ApiFailure:
        if (info.get("redis") or {}).get("connected") is True:
            raise
        events = clients = None  # the store is down: what /info says is the news, not this
    known = events is not None
    events = [e for e in events or [] if isinstance(e, dict)]
    clients = [c for c in clients or [] if isinstance(c, dict)]
    transport = info.get("transport") or {}
    stale = []
    for client in clients:
        if client.get("keepalives") is False or not isinstance(client.get("timestamp"), int | float):
            continue
        age = now - float(client["timestamp"])
        if age > _threshold(client):
            stale.append({"name": client.get("name"), "age": int(age)})
    severities = Counter(severity_name((e.get("check") or {}).get("status", 3)) for e in events)
    down = [name for name, up in (("transport", transport.get("connected")), ("store", (info.get("redis") or {}).get("connected"))) if up is not True]
    return {
        "api": api.url,
        "ok": not down,
        "down": down,
        "transport": {"name": transport.get("name"), "connected": transport.get("connected"),
                      "error": transport.get("error")},
        "store": {"connected": (info.get("redis") or {}).get("connected"), "error": (info.get("redis") or {}).get("error")},
        "queues": {pipe: transport.get(pipe) for pipe in ("keepalives", "results") if isinstance(transport.get(pipe), dict)},
        "servers": [
            {"id": s.get("id"), "hostname": s.get("hostname"), "address": s.get("address"), "tasks": s.get("tasks", [])}
            for s in info.get("servers") or [] if isinstance(s, dict)
        ],
        "events": {"open": len(events) if known else None, "by_severity": dict(severities)},
        "clients": {"total": len(clients) if known else None, "stale": sorted(stale, key=lambda c: -c["age"])},
    }


def _connected(part: dict[str, Any]) -> str:
    if part["connected"] is True:
        return "connected"
    return f"NOT CONNECTED: {part['error']}" if part.get("error") else "NOT CONNECTED"


def _plural(n: int, word: str) -> str:
    return f"{n} {word}{'' if n == 1 else 's'}"


def render(status: dict[str, Any]) -> str:
    lines = [f"api        {status['api']}"]
    transport = status["transport"]
    lines.append(f"transport  {transport['name'] or '?'}: {_connected(transport)}")
    lines.append(f"store      {_connected(status['store'])}")
    for pipe, figures in status["queues"].items():
        messages = "?" if figures.get("messages") is None else figures["messages"]
        consumers = figures.get("consumers")
        lines.append(f"queue      {pipe}: {messages} waiting, "
                     f"{'? consumers' if consumers is None else _plural(consumers, 'consumer')}")
    if status["servers"]:
        for server in status["servers"]:
            tasks = ", ".join(server["tasks"]) or "no tasks"
            lines.append(f"server     {server['hostname']} ({server['address']}, {server['id']}): {tasks}")
    else:
        lines.append("server     none registered (`ogi run` runs every task itself)")
    events = status["events"]
    counts = ", ".join(f"{events['by_severity'][s]} {s}" for s in ("critical", "warning", "unknown", "ok")
                       if events["by_severity"].get(s))
    clients = status["clients"]
    if events["open"] is None:
        lines.append("events     ? (the store is down)")
        lines.append("clients    ? (the store is down)")
        return _down("\n".join(lines), status)
    lines.append(f"events     {events['open']} open" + (f": {counts}" if counts else ""))
    stale = clients["stale"]
    line = f"clients    {clients['total']}"
    if stale:
        shown = ", ".join(f"{c['name']} ({c['age']} s)" for c in stale[:10])
        line += f", {len(stale)} with a stale keepalive: {shown}" + (" …" if len(stale) > 10 else "")
    lines.append(line)
    return _down("\n".join(lines), status)


def _down(text: str, status: dict[str, Any]) -> str:
    return f"{text}\nDOWN       {', '.join(status['down'])}" if status["down"] else text


def status_command(args: argparse.Namespace) -> int:
    try:
        api = endpoint(args)
        status = gather(api, time.time())
    except ConfigProblem as problem:
        print(problem, file=sys.stderr)
        return 1
    except ApiFailure as failure:
        if args.json:
            print(json.dumps({"ok": False, "error": str(failure)}))
        print(f"ogi status: {failure}", file=sys.stderr)
        return 1
    print(json.dumps(status, indent=2) if args.json else render(status))
    return 0 if status["ok"] else 1


def register(commands: Any, common: argparse.ArgumentParser) -> None:
    status = commands.add_parser(
        "status", parents=[common, api_options()], help="servers, tasks, connections, queues, events on one screen",
        description="The state of an ogi installation from its API: servers and their tasks, transport and "
                    "store connections, queue depths, open events by severity, stale clients. Exit 1 when "
                    "the API cannot be reached or the transport or store is down.",
    )
    status.set_defaults(handler=status_command)
