"""Typed series: counters on `/metrics` as `# TYPE x_total counter`, gauges as gauges, from the plugins'
declared counters, a mapping rule's `type` and prometheus_text `# TYPE` lines; promtool is satisfied."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from prometheus_client import CollectorRegistry
from prometheus_client.parser import text_string_to_metric_families

from handlers.prometheus import PrometheusHandler
from pipeline.config.load import settings_of
from pipeline.config.validate import validate
from pipeline.extension import Context
from pipeline.metrics.exporter import listener_access, start_exporter
from pipeline.metrics.graphite_mapping import series_id
from pipeline.registry import Registry
from pipeline.store.base import COUNTER, GAUGE, SeriesSample, Store
from pipeline.store.memory import MemoryStore
from plugins.counters import COUNTERS, is_counter, prometheus_path
from tests.helpers import ROOT, FakeClock, require_service

NOW = 1_800_000_000.0
BIN = Path(sys.executable).parent
PLUGINS = ["cpu", "load", "memory", "swap", "disk-usage", "disk-io", "interface", "processes", "uptime", "vmstat",
           "tcp"]


def handler(store: Store, definition: dict[str, Any] | None = None) -> PrometheusHandler:
    context = Context(settings=settings_of({}), store=store, clock=FakeClock(NOW), metrics=CollectorRegistry())
    return PrometheusHandler("prometheus", {"type": "prometheus", **(definition or {})}, context)


def event(output: str, check: str, **extra: Any) -> dict[str, Any]:
    return {"client": {"name": "web-01", "address": "10.0.0.1", "subscriptions": []},
            "check": {"name": check, "type": "metric", "status": 0, "executed": int(NOW), "output": output, **extra},
            "action": "create", "occurrences": 1}


async def page(store: Store) -> str:
    runner = await start_exporter(listener_access({"metrics": {"port": 0}}), store, CollectorRegistry())
    try:
        async with aiohttp.ClientSession() as session, session.get(runner.url) as response:
            return await response.text()
    finally:
        await runner.stop()


def types_on(text: str) -> dict[str, str]:
    return {f.name: f.type for f in text_string_to_metric_families(text)}


def type_lines(text: str) -> dict[str, str]:
    return {line.split()[2]: line.split()[3] for line in text.splitlines() if line.startswith("# TYPE ")}


async def test_a_page_fed_by_every_ogi_metrics_plugin_is_clean_for_promtool_with_counters_typed() -> None:
    promtool = shutil.which("promtool")
    require_service("promtool (Debian package prometheus)", available=promtool is not None)
    assert promtool is not None
    store = MemoryStore(FakeClock(NOW))
    prometheus = handler(store)
    env = {**os.environ, "OGI_CLIENT_NAME": "web-01"}
    for name in PLUGINS:
        done = subprocess.run([str(BIN / f"ogi-metrics-{name}")], capture_output=True, text=True, env=env, timeout=60)
        assert done.returncode == 0 and done.stdout, done.stdout + done.stderr
        await prometheus.handle(event(done.stdout, f"metrics_{name}"), b"")
    text = await page(store)
    lint = subprocess.run([promtool, "check", "metrics"], input=text, capture_output=True, text=True)
    assert (lint.returncode, lint.stdout + lint.stderr) == (0, "")
    declared = type_lines(text)
    assert declared["cpu_total_user_total"] == "counter" and "cpu_total_user" not in declared
    assert declared["interface_lo_rx_bytes_total"] == "counter"
    assert declared["vmstat_pgfault_total"] == "counter" and declared["processes_forks_total"] == "counter"
    assert declared["load_load1"] == "gauge" and declared["memory_used_percent"] == "gauge"
    assert declared["disk_io_vda_in_progress" if "disk_io_vda_in_progress" in declared else "processes_running"] == "gauge"
    assert 'cpu_total_user_total{check="metrics_cpu",client="web-01"} ' in text
    # gauges that would end in _total are renamed, milliseconds become seconds
    assert declared["memory_size"] == "gauge" and "memory_total" not in declared and "tcp_all" in declared
    assert not [name for name in declared if name.endswith("_ms") or name.endswith("_ms_total")]


@pytest.mark.parametrize(("path", "exported"), [
    ("disk_io.sda.read_time_ms", ("counter", "disk_io.sda.read_time_seconds", 0.001)),
    ("cpu.total.user", ("counter", "cpu.total.user", 1.0)),
    ("memory.total", ("gauge", "memory.size", 1.0)),
    ("disk_usage.root.inodes_total", ("gauge", "disk_usage.root.inodes", 1.0)),
    ("load.load1", None), ("mine.total", None),
])
def test_how_the_plugins_paths_are_exported(path: str, exported: tuple[str, str, float] | None) -> None:
    assert prometheus_path(path) == exported


async def test_a_millisecond_counter_is_exported_in_seconds() -> None:
    store = MemoryStore(FakeClock(NOW))
    await handler(store).handle(event("web-01.disk_io.sda.read_time_ms 2500 1800000000\n", "metrics_disk_io"), b"")
    text = await page(store)
    assert type_lines(text)["disk_io_sda_read_time_seconds_total"] == "counter"
    assert 'disk_io_sda_read_time_seconds_total{check="metrics_disk_io",client="web-01"} 2.5\n' in text


async def test_a_mapping_rules_type_makes_a_counter_and_prometheus_text_type_lines_are_kept() -> None:
    store = MemoryStore(FakeClock(NOW))
    mapped = handler(store, {"mappings": [
        {"match": "*.app.*.requests", "name": "app_requests", "labels": {"route": "${2}"}, "type": "counter"},
        {"match": "*.app.*.busy", "name": "app_busy", "type": "gauge"},
    ]})
    await mapped.handle(event("web-01.app.login.requests 42 1800000000\nweb-01.app.login.busy 3 1800000000\n",
                              "app"), b"")
    exposition = ("# TYPE jobs_done_total counter\njobs_done_total{queue=\"a\"} 7\n"
                  "# TYPE legacy_hits counter\nlegacy_hits 9\n# TYPE queue_depth gauge\nqueue_depth 2\n")
    await mapped.handle(event(exposition, "jobs", output_metric_format="prometheus_text"), b"")
    families = types_on(await page(store))
    # prometheus_client's parser names a counter family without its _total
    assert families["app_requests"] == "counter" and families["app_busy"] == "gauge"
    assert families["jobs_done"] == "counter" and families["legacy_hits"] == "counter"
    assert families["queue_depth"] == "gauge"


async def test_a_counter_and_a_gauge_meeting_under_one_name_on_the_page_keep_the_first_type() -> None:
    store = MemoryStore(FakeClock(NOW))
    labels = {"client": "a", "check": "c"}
    await store.put_series({
        series_id("hits", labels): SeriesSample(1.0, NOW, NOW + 60, COUNTER),
        series_id("hits_total", {**labels, "check": "d"}): SeriesSample(2.0, NOW, NOW + 60, GAUGE),
    })
    text = await page(store)
    assert type_lines(text)["hits_total"] == "counter"
    assert 'hits_total{check="c",client="a"} 1.0' in text and 'check="d"' not in text
    assert "ogi_exporter_series_hidden_total 1\n" in text


async def test_the_store_keeps_each_series_type(store: Store) -> None:
    counter = series_id("x", {"client": "a", "check": "c"})
    gauge = series_id("y", {"client": "a", "check": "c"})
    await store.put_series({counter: SeriesSample(1.0, NOW, NOW + 600, COUNTER),
                            gauge: SeriesSample(2.0, NOW, NOW + 600, GAUGE)})
    kept = await store.list_series()
    assert (kept[counter].kind, kept[gauge].kind) == (COUNTER, GAUGE)


def test_two_mapping_rules_giving_one_name_a_counter_and_a_gauge_are_a_check_config_error() -> None:
    settings = {"handlers": {"prom": {"type": "prometheus", "mappings": [
        {"match": "*.app.requests", "name": "app_requests", "type": "counter"},
        {"match": "*.web.requests", "name": "app_requests_total"},
    ]}}}
    errors, _ = validate(settings, Registry(use_entry_points=False))
    assert len(errors) == 1
    text = str(errors[0])
    assert "handlers.prom.mappings[1].type" in text and "app_requests_total" in text and "mappings[0]" in text
    settings["handlers"]["prom"]["mappings"][1]["type"] = "counter"
    assert validate(settings, Registry(use_entry_points=False))[0] == []
    settings["handlers"]["prom"]["mappings"][1]["type"] = "histogram"
    [error] = validate(settings, Registry(use_entry_points=False))[0]
    assert 'must be "counter" or "gauge"' in str(error)


@pytest.mark.parametrize(("path", "counter"), [
    ("cpu.total.user", True), ("cpu.cpu0.idle", True), ("interface.lo.rx_bytes", True),
    ("disk_io.sda.reads", True), ("disk_io.sda.in_progress", False), ("vmstat.pgfault", True),
    ("processes.forks", True), ("processes.running", False), ("swap.in", True), ("swap.used", False),
    ("load.load1", False), ("cpu", False), ("cpu.total", False),
])
def test_the_plugins_declared_counters(path: str, counter: bool) -> None:
    assert is_counter(path) is counter


def test_every_declared_counter_is_something_a_plugin_prints() -> None:
    env = {**os.environ, "OGI_CLIENT_NAME": "h"}
    printed: set[str] = set()
    for name in PLUGINS:
        done = subprocess.run([str(BIN / f"ogi-metrics-{name}")], capture_output=True, text=True, env=env, timeout=60)
        printed |= {line.split()[0].removeprefix("h.") for line in done.stdout.splitlines()}
    for plugin, patterns in COUNTERS.items():
        for pattern in patterns:
            nodes = pattern.split(".")
            assert any(p.startswith(plugin + ".") and is_counter(p) and len(p.split(".")) == len(nodes) + 1
                       for p in printed), f"{plugin}.{pattern} matches nothing the plugins print"


async def test_the_typed_mapping_example_in_the_prometheus_doc_exports_what_it_says() -> None:
    text = (ROOT / "docs" / "prometheus.md").read_text()
    [block] = [json.loads(b) for b in re.findall(r"```json\n(.*?)```", text, re.S) if '"type": "counter"' in b]
    assert validate(block, Registry(use_entry_points=False))[0] == []
    store = MemoryStore(FakeClock(NOW))
    await handler(store, block["handlers"]["prometheus"]).handle(event("web01.app.login.requests 42\n", "app"), b"")
    page_text = await page(store)
    assert "# TYPE app_requests_total counter" in page_text and "# TYPE app_requests_total counter" in text
    assert 'app_requests_total{check="app",client="web-01",route="login"} 42.0' in page_text
