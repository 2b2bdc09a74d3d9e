"""End to end against real Prometheus (Debian's `prometheus`): results in, series read back by PromQL.

Prometheus scrapes ogi's exporter every second; the test runs check results through the result
processor, the engine and a `prometheus` handler into a memory store, and polls
`/api/v1/query` until the series are there with their values and labels. A second test pushes
through a real Pushgateway (Debian's `prometheus-pushgateway`) that the same Prometheus scrapes.
"""

from __future__ import annotations

import asyncio
import shutil
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
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
from tests.helpers import free_port, port_answers, require_service

pytestmark = pytest.mark.services


@dataclass
class Peers:
    prometheus: str  # base URL of the Prometheus HTTP API
    exporter_port: int  # where Prometheus expects ogi's /metrics
    pushgateway: str | None  # base URL, None when the package is absent


def _wait_for(port: int, process: subprocess.Popen[bytes], what: str, log: Path) -> None:
    deadline = time.monotonic() + 30
    while not port_answers("127.0.0.1", port, 0.2):
        if process.poll() is not None or time.monotonic() > deadline:
            raise RuntimeError(f"{what} did not start: {log.read_text()[-2000:]}")
        time.sleep(0.1)


def _stop(process: subprocess.Popen[bytes]) -> None:
    process.terminate()
    try:
        process.wait(10)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait(5)


@pytest.fixture(scope="module")
def peers(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Peers]:
    require_service("prometheus", available=shutil.which("prometheus") is not None)
    base = tmp_path_factory.mktemp("prometheus")
    exporter_port, prometheus_port = free_port(), free_port()
    processes: list[subprocess.Popen[bytes]] = []
    pushgateway: str | None = None
    targets = [f"  - {{job_name: ogi, static_configs: [{{targets: ['127.0.0.1:{exporter_port}']}}]}}"]
    try:
        if shutil.which("prometheus-pushgateway"):
            push_port = free_port()
            log = base / "pushgateway.log"
            processes.append(subprocess.Popen(
                ["prometheus-pushgateway", f"--web.listen-address=127.0.0.1:{push_port}"],
                stdout=log.open("wb"), stderr=subprocess.STDOUT,
            ))
            _wait_for(push_port, processes[-1], "prometheus-pushgateway", log)
            pushgateway = f"http://127.0.0.1:{push_port}"
            targets.append(f"  - {{job_name: pushgateway, honor_labels: true, "
                           f"static_configs: [{{targets: ['127.0.0.1:{push_port}']}}]}}")
        config = base / "prometheus.yml"
        config.write_text("global: {scrape_interval: 1s, scrape_timeout: 1s}\nscrape_configs:\n" + "\n".join(targets) + "\n")
        log = base / "prometheus.log"
        processes.append(subprocess.Popen(
            ["prometheus", f"--config.file={config}", f"--storage.tsdb.path={base / 'data'}",
             f"--web.listen-address=127.0.0.1:{prometheus_port}"],
            stdout=log.open("wb"), stderr=subprocess.STDOUT,
        ))
        _wait_for(prometheus_port, processes[-1], "prometheus", log)
        yield Peers(f"http://127.0.0.1:{prometheus_port}", exporter_port, pushgateway)
    finally:
        for process in reversed(processes):
            _stop(process)


async def query(session: aiohttp.ClientSession, peers: Peers, promql: str, want: int = 1) -> list[dict[str, Any]]:
    """Poll an instant query until it returns at least `want` series (Prometheus scrapes every second)."""
    deadline = time.monotonic() + 30
    while True:
        async with session.get(f"{peers.prometheus}/api/v1/query", params={"query": promql}) as rsp:
            if rsp.status == 503:  # Prometheus answers before its storage is ready ("Service Unavailable")
                assert time.monotonic() < deadline, f"Prometheus not ready after 30 s: {await rsp.text()}"
                await asyncio.sleep(0.5)
                continue
            answer = await rsp.json()
        assert answer["status"] == "success", answer
        result: list[dict[str, Any]] = answer["data"]["result"]
        if len(result) >= want:
            return result
        assert time.monotonic() < deadline, f"{promql} gave {result} after 30 s"
        await asyncio.sleep(0.5)


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
