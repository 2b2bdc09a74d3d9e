"""End to end against real Prometheus (Debian's `prometheus`): results in, series read back by PromQL.

Prometheus scrapes ogi's exporter every second; the test runs check results through the result
processor, the engine and a `prometheus` handler into a memory store, and polls
`/api/v1/query` until the series are there with their values and labels. A second test pushes
through a real Pushgateway (Debian's `prometheus-pushgateway`) that the same Prometheus scrapes.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Any

import aiohttp
import pytest
from prometheus_client import CollectorRegistry

from pipeline.chain.engine import Engine
from pipeline.config.load import settings_of
from pipeline.extension import Context
from pipeline.metrics.exporter import listener_access, start_exporter
from pipeline.server.results import ResultProcessor
from pipeline.store.memory import MemoryStore
from tests.helpers import require_service
from tests.prometheus_peers import Peers, query, running_prometheus

pytestmark = pytest.mark.services


@pytest.fixture(scope="module")
def peers(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Peers]:
    with running_prometheus(tmp_path_factory.mktemp("prometheus"), pushgateway=True) as running:
        yield running


def metric_result(client: str, check: str, output: str, handlers: list[str]) -> dict[str, Any]:
    now = int(time.time())
    return {"client": client, "check": {
        "name": check, "type": "metric", "status": 0, "interval": 10, "issued": now, "executed": now,
        "output": output, "handlers": handlers,
    }}


def labels_of(series: dict[str, Any]) -> dict[str, str]:
    return {k: v for k, v in series["metric"].items() if k not in ("instance", "job")}


async def test_prometheus_reads_mapped_series_and_the_status_of_a_check_no_handler_saw(peers: Peers) -> None:
    settings: dict[str, Any] = {
        "metrics": {"bind": "127.0.0.1", "port": peers.exporter_port},
        "handlers": {"prometheus": {
            "type": "prometheus", "mutator": "only_check_output",
            "mappings": [{"match": "*.cpu.*.user", "name": "cpu_user_jiffies", "labels": {"cpu": "${2}"}}],
        }},
    }
    store = MemoryStore()
    registry = CollectorRegistry()
    engine = Engine(settings_of(settings), Context(settings=settings_of(settings), store=store, metrics=registry))
    processor = ResultProcessor(settings_of(settings), store, engine, metrics=registry)
    runner = await start_exporter(listener_access(settings), store, registry)
    try:
        now = int(time.time())
        await processor.process_result(metric_result(
            "web01.example.com", "metrics_cpu",
            f"web01_example_com.cpu.cpu0.user 1234 {now}\nweb01_example_com.load.load5 0.75 {now}\n",
            ["prometheus"],
        ))
        await processor.process_result({"client": "db01", "check": {
            "name": "check_disk", "status": 0, "executed": now, "output": "DISK OK", "interval": 60,
        }})
        async with aiohttp.ClientSession() as session:
            # a CPU counter (the plugin declares it): Prometheus reads it with _total
            [cpu] = await query(session, peers, "cpu_user_jiffies_total")
            [load] = await query(session, peers, "load_load5")
            [disk] = await query(session, peers, 'ogi_check_status{check="check_disk"}')
            [ran] = await query(session, peers, 'ogi_check_last_run_timestamp_seconds{check="check_disk"}')
            [accepted] = await query(session, peers, "ogi_results_total")
    finally:
        await runner.stop()
        await engine.close()
    assert labels_of(cpu) == {"__name__": "cpu_user_jiffies_total", "client": "web01.example.com", "check": "metrics_cpu",
                              "cpu": "cpu0"}
    assert cpu["value"][1] == "1234"
    assert labels_of(load) == {"__name__": "load_load5", "client": "web01.example.com", "check": "metrics_cpu"}
    assert load["value"][1] == "0.75"
    assert labels_of(disk) == {"__name__": "ogi_check_status", "client": "db01", "check": "check_disk"}
    assert disk["value"][1] == "0"
    assert ran["value"][1] == str(now)
    assert accepted["value"][1] == "2"
    assert cpu["metric"]["job"] == "ogi"


async def test_series_pushed_to_a_real_pushgateway_reach_prometheus_with_their_labels(peers: Peers) -> None:
    require_service("prometheus-pushgateway", available=peers.pushgateway is not None)
    settings: dict[str, Any] = {"handlers": {"prometheus": {
        "type": "prometheus", "mutator": "only_check_output",
        "pushgateway": {"url": peers.pushgateway, "job": "ogi_push", "timeout": 5},
    }}}
    store = MemoryStore()
    registry = CollectorRegistry()
    engine = Engine(settings_of(settings), Context(settings=settings_of(settings), store=store, metrics=registry))
    processor = ResultProcessor(settings_of(settings), store, engine, metrics=registry)
    try:
        await processor.process_result(metric_result("batch01", "backup", 'batch01.backup.bytes 4096\n', ["prometheus"]))
    finally:
        await engine.close()  # waits for the push in flight
    assert registry.get_sample_value("ogi_prometheus_push_failures_total", {"handler": "prometheus"}) == 0.0
    async with aiohttp.ClientSession() as session:
        [pushed] = await query(session, peers, 'backup_bytes{job="ogi_push"}')
    assert labels_of(pushed) == {"__name__": "backup_bytes", "client": "batch01", "check": "backup"}
    assert pushed["value"][1] == "4096"


async def test_a_pushed_counter_carries_its_type_and_the_total_name_it_has_on_metrics(peers: Peers) -> None:
    require_service("prometheus-pushgateway", available=peers.pushgateway is not None)
    settings: dict[str, Any] = {"handlers": {"prometheus": {
        "type": "prometheus", "mutator": "only_check_output",
        "pushgateway": {"url": peers.pushgateway, "job": "ogi_typed", "timeout": 5},
    }}}
    store = MemoryStore()
    registry = CollectorRegistry()
    engine = Engine(settings_of(settings), Context(settings=settings_of(settings), store=store, metrics=registry))
    processor = ResultProcessor(settings_of(settings), store, engine, metrics=registry)
    result = metric_result("batch02", "jobs", "# TYPE jobs_done counter\njobs_done 7\n# TYPE queue_depth gauge\n"
                           "queue_depth 3\n", ["prometheus"])
    result["check"]["output_metric_format"] = "prometheus_text"
    try:
        await processor.process_result(result)
    finally:
        await engine.close()  # waits for the push in flight
    assert registry.get_sample_value("ogi_prometheus_push_failures_total", {"handler": "prometheus"}) == 0.0
    async with aiohttp.ClientSession() as session:
        async with session.get(f"{peers.pushgateway}/metrics") as rsp:
            page = await rsp.text()
        [done] = await query(session, peers, 'jobs_done_total{job="ogi_typed"}')
        [depth] = await query(session, peers, 'queue_depth{job="ogi_typed"}')
    # The Pushgateway keeps the type it was given: an untyped push would show as `untyped`.
    assert "# TYPE jobs_done_total counter" in page
    assert "# TYPE queue_depth gauge" in page
    assert "jobs_done{" not in page
    assert done["value"][1] == "7"
    assert labels_of(depth) == {"__name__": "queue_depth", "client": "batch02", "check": "jobs"}
    assert depth["value"][1] == "3"
