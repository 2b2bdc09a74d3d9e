"""End to end against real graphite-web: the plugins' series in carbon, read back through the render
API that Grafana's Graphite datasource uses, with the dashboards' own targets.

Debian's graphite-web runs under gunicorn with its own settings module and no Apache (docs/graphs.md),
reading the whisper tree of a test carbon-cache (tests/e2e/carbon.py) and that carbon's cache. Every
plugin's lines are written three times, ten seconds apart, each value 10 higher than the one before,
so every counter grows by exactly 1 a second and the expected results are known exactly.
"""

from __future__ import annotations

import math
import socket
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from bench.carbon import Carbon
from tests.grafana_boards import (
    all_panels,
    doc_render_targets,
    load_dashboards,
    plugin_output,
    prefixed_host_overview,
    substitute,
)
from tests.graphite_peers import GraphiteWeb, graphite_stack

STEP = 10
STEPS = 3
PREFIX = "ogi"


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Carbon, GraphiteWeb]]:
    with graphite_stack(tmp_path_factory.mktemp("graphite"), schemas=[("ogi", ".*")]) as started:
        yield started


@pytest.fixture(scope="module")
def written(stack: tuple[Carbon, GraphiteWeb]) -> tuple[str, int, dict[str, list[tuple[int, float]]]]:
    """(host node, last timestamp, {path: [(timestamp, value)]}) of the points sent to carbon."""
    carbon, _ = stack
    outputs = plugin_output()
    last = int(time.time()) // STEP * STEP - STEP  # whisper drops points from the future
    points: dict[str, list[tuple[int, float]]] = {}
    lines = []
    for text in outputs.values():
        for line in text:
            path, value, _ = line.split(" ")
            for n in range(STEPS):
                ts, v = last - (STEPS - 1 - n) * STEP, float(value) + 10 * n
                points.setdefault(path, []).append((ts, v))
                # and under a graphite handler's prefix, for the dashboard edited as the docs say
                lines.append(f"{path} {v!r} {ts}\n{PREFIX}.{path} {v!r} {ts}\n")
    with socket.create_connection(("127.0.0.1", carbon.port)) as conn:
        conn.sendall("".join(lines).encode())
    hosts = {path.split(".")[0] for path in points}
    assert len(hosts) == 1
    return hosts.pop(), last, points


def values(series: dict[str, Any], start: int, last: int) -> dict[int, float]:
    return {ts: v for v, ts in series["datapoints"] if v is not None and start <= ts <= last}


def wait_rendered(web: GraphiteWeb, target: str, start: int, last: int, timeout: float = 30.0) -> list[dict[str, Any]]:
    """The render of `target`, once every series in it has a value at `last` (carbon writes late)."""
    deadline = time.monotonic() + timeout
    while True:
        got = web.render(target, start - STEP, last + STEP)
        if (got and all(last in values(s, start, last) for s in got)) or time.monotonic() > deadline:
            return got
        time.sleep(0.3)


def test_render_json_returns_the_values_and_timestamps_written(stack: tuple[Carbon, GraphiteWeb],
                                                               written: tuple[str, int, dict[str, Any]]) -> None:
    _, web = stack
    host, last, points = written
    first = last - (STEPS - 1) * STEP
    for path in (f"{host}.load.load1", f"{host}.memory.used", f"{host}.cpu.total.user", f"{host}.tcp.total"):
        [series] = wait_rendered(web, path, first, last)
        assert series["target"] == path
        assert values(series, first, last) == dict(points[path])


def test_the_metrics_find_api_lists_the_host_the_dashboards_variable_offers(
        stack: tuple[Carbon, GraphiteWeb], written: tuple[str, int, dict[str, Any]]) -> None:
    _, web = stack
    host, _, _ = written
    wait_found(web, "*", {host})
    wait_found(web, f"{host}.*", {"cpu", "load", "memory", "swap", "disk_io", "interface", "processes", "uptime", "tcp"})


def wait_found(web: GraphiteWeb, query: str, wanted: set[str], timeout: float = 30.0) -> None:
    """Until /metrics/find lists every name in `wanted` (carbon creates whisper files late)."""
    deadline = time.monotonic() + timeout
    while not wanted <= (found := {node["text"] for node in web.get("/metrics/find", query=query)}):
        assert time.monotonic() < deadline, f"/metrics/find?query={query} gave {sorted(found)}, wanted {sorted(wanted)}"
        time.sleep(0.3)


def test_every_graphite_target_of_the_dashboards_renders_named_series_with_values(
        stack: tuple[Carbon, GraphiteWeb], written: tuple[str, int, dict[str, Any]], tmp_path: Path) -> None:
    _, web = stack
    host, last, points = written
    first = last - (STEPS - 1) * STEP
    wait_rendered(web, f"{host}.*.*", first, last)
    prefixed = {(p["id"], t["refId"]): t["target"] for p in all_panels(prefixed_host_overview(tmp_path))
                for t in p.get("targets", [])}
    checked = 0
    for name, board in load_dashboards().items():
        for panel in all_panels(board):
            if panel.get("datasource", {}).get("type") != "graphite":
                continue
            for target in panel["targets"]:
                where = f"{name}: {panel['title']} {target['refId']}"
                got = wait_rendered(web, substitute(target["target"], {"host": host}), first, last)
                assert got, f"{where} rendered no series"
                for series in got:
                    assert values(series, first, last), f"{where}: {series['target']} has no values"
                    assert "(" not in series["target"], f"{where}: legend {series['target']!r} not aliased"
                if name == "host-overview.json":
                    under = wait_rendered(web, substitute(prefixed[panel["id"], target["refId"]], {"host": host}),
                                          first, last)
                    assert sorted(s["target"].removeprefix(f"{PREFIX}.") for s in under) == sorted(
                        s["target"] for s in got), f"{where}: other series or names under the prefix"
                checked += 1
    assert checked >= 10


def test_every_render_url_in_the_docs_answers_with_values(stack: tuple[Carbon, GraphiteWeb],
                                                         written: tuple[str, int, dict[str, Any]]) -> None:
    _, web = stack
    host, last, _ = written
    first = last - (STEPS - 1) * STEP
    targets = doc_render_targets()
    assert targets
    for where, target in targets:
        # `*` for the host also matches the prefixed copy's `ogi` node: ask for the plain tree only
        query = substitute(target, {"host": host}).replace("(*.", f"({host}.")
        got = wait_rendered(web, query, first, last)
        assert got and all(values(s, first, last) for s in got), f"{where}: {query}"


def test_rates_and_cpu_shares_come_out_as_the_counters_grew(stack: tuple[Carbon, GraphiteWeb],
                                                            written: tuple[str, int, dict[str, Any]]) -> None:
    """Every value grew by 10 in 10 s: each counter's rate is 1/s, each of the 8 CPU states 12.5 %."""
    _, web = stack
    host, last, points = written
    first = last - (STEPS - 1) * STEP
    [cpu] = [t["target"] for p in all_panels(load_dashboards()["host-overview.json"]) if p["title"] == "CPU by state"
             for t in p["targets"]]
    shares = wait_rendered(web, substitute(cpu, {"host": host}), first, last)
    assert {s["target"] for s in shares} == {"user", "nice", "system", "iowait", "irq", "softirq", "steal"}
    for series in shares:
        assert values(series, first, last) == {first + STEP: 12.5, last: 12.5}, series
    interfaces = {p.split(".")[2] for p in points if p.startswith(f"{host}.interface.")}
    rates = wait_rendered(web, f"aliasByNode(perSecond({host}.interface.*.{{rx_bytes,tx_bytes}}), -2, -1)", first, last)
    assert {s["target"] for s in rates} == {f"{i}.{d}" for i in interfaces for d in ("rx_bytes", "tx_bytes")}
    for series in rates:
        assert all(math.isclose(v, 1.0) for v in values(series, first + STEP, last).values()), series
