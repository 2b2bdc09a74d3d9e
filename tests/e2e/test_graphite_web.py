"""End to end against real graphite-web: the plugins' series in carbon, read back through the render
API that Grafana's Graphite datasource uses, with the dashboards' own targets.

Debian's graphite-web runs under gunicorn with its own settings module and no Apache (docs/graphs.md),
reading the whisper tree of a test carbon-cache (tests/e2e/carbon.py) and that carbon's cache. Every
plugin's lines are written three times, ten seconds apart, each value 10 higher than the one before,
so every counter grows by exactly 1 a second and the expected results are known exactly.
"""

from __future__ import annotations

import json
import math
import os
import shutil
import signal
import socket
import subprocess
import time
import urllib.parse
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from bench.carbon import SYSTEM_PYTHON, Carbon
from bench.carbon import available as carbon_available
from tests.grafana_boards import (
    all_panels,
    doc_render_targets,
    load_dashboards,
    plugin_output,
    prefixed_host_overview,
    substitute,
)
from tests.helpers import free_port, port_answers, require_service

GRAPHITE_WEB = Path("/usr/lib/python3/dist-packages/graphite")
GRAPHITE_ROOT = Path("/usr/share/graphite-web")
STEP = 10
STEPS = 3
PREFIX = "ogi"


def graphite_web_available() -> bool:
    return GRAPHITE_WEB.is_dir() and GRAPHITE_ROOT.is_dir() and shutil.which("gunicorn") is not None


class GraphiteWeb:
    """graphite-web under gunicorn on a free loopback port, with its settings module in `base`."""

    def __init__(self, base: Path, carbon: Carbon) -> None:
        self.base = base
        self.port = free_port()
        (base / "log").mkdir(parents=True)
        (base / "index").mkdir()
        (base / "ogi_graphite_settings.py").write_text(
            "SECRET_KEY = 'test-only'\n"
            f"GRAPHITE_ROOT = '{GRAPHITE_ROOT}'\n"
            f"STATIC_ROOT = '{GRAPHITE_ROOT}/static'\n"
            f"CONF_DIR = '{base}'\n"
            f"STORAGE_DIR = '{carbon.base}/storage'\n"
            f"WHISPER_DIR = '{carbon.whisper}'\n"
            f"LOG_DIR = '{base}/log'\n"
            f"INDEX_FILE = '{base}/index/search_index'\n"
            f"CARBONLINK_HOSTS = ['127.0.0.1:{carbon.query_port}']\n"
            f"DATABASES = {{'default': {{'NAME': '{base}/graphite.db', 'ENGINE': 'django.db.backends.sqlite3'}}}}\n"
        )
        self.env = {**os.environ, "PYTHONPATH": str(base), "GRAPHITE_SETTINGS_MODULE": "ogi_graphite_settings",
                    "DJANGO_SETTINGS_MODULE": "graphite.settings"}
        self.process: subprocess.Popen[bytes] | None = None

    def start(self, timeout: float = 60.0) -> None:
        subprocess.run([SYSTEM_PYTHON, "-m", "django", "migrate", "--noinput"], cwd=self.base, env=self.env,
                       capture_output=True, check=True, timeout=120)
        out = open(self.base / "gunicorn.log", "wb")  # noqa: SIM115 - kept for the process's life
        self.process = subprocess.Popen(
            ["gunicorn", "--bind", f"127.0.0.1:{self.port}", "--workers", "2", "graphite.wsgi:application"],
            cwd=self.base, env=self.env, stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
        )
        out.close()
        deadline = time.monotonic() + timeout
        while not port_answers("127.0.0.1", self.port, 0.5):
            if self.process.poll() is not None or time.monotonic() > deadline:
                self.stop()
                raise RuntimeError(f"graphite-web did not start:\n{self.output()}")
            time.sleep(0.1)

    def stop(self) -> None:
        process, self.process = self.process, None
        if process is not None and process.poll() is None:
            process.send_signal(signal.SIGTERM)
            try:
                process.wait(20)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait(5)

    def output(self) -> str:
        texts = [(self.base / "gunicorn.log").read_text(errors="replace")]
        texts += [p.read_text(errors="replace") for p in sorted((self.base / "log").rglob("*.log"))]
        return "\n".join(texts)[-4000:]

    def get(self, path: str, **params: str) -> Any:
        url = f"http://127.0.0.1:{self.port}{path}?{urllib.parse.urlencode(params)}"
        with urllib.request.urlopen(url, timeout=30) as answer:
            assert answer.status == 200
            return json.loads(answer.read())

    def render(self, target: str, start: int, until: int) -> list[dict[str, Any]]:
        series: list[dict[str, Any]] = self.get("/render", target=target, format="json",
                                                **{"from": str(start), "until": str(until)})
        return series


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Carbon, GraphiteWeb]]:
    require_service("carbon-cache", available=carbon_available())
    require_service("graphite-web and gunicorn (Debian graphite-web, gunicorn)", available=graphite_web_available())
    base = tmp_path_factory.mktemp("graphite")
    carbon = Carbon(base / "carbon", schemas=[("ogi", ".*")])
    carbon.start()
    web = GraphiteWeb(base / "web", carbon)
    try:
        web.start()
        yield carbon, web
    finally:
        web.stop()
        carbon.stop(graceful=False)


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
