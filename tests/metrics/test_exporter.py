"""`/metrics`: stored series, every check's status and ogi's own counters on one valid page."""

from __future__ import annotations

import asyncio
import contextlib
import gzip
import json
import signal
import socket
import subprocess
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from prometheus_client import CollectorRegistry, Counter
from prometheus_client.parser import text_string_to_metric_families

from pipeline.chain.engine import Engine
from pipeline.config.load import settings_of
from pipeline.errors import ConfigErrors
from pipeline.extension import Context
from pipeline.metrics.exporter import (
    CONTENT_TYPE,
    Exporter,
    Runner,
    listener,
    listener_access,
    start_exporter,
)
from pipeline.metrics.graphite_mapping import series_id
from pipeline.server.results import ResultProcessor
from pipeline.store.base import SeriesSample
from pipeline.store.memory import MemoryStore
from tests.helpers import ROOT, free_port

NOW = 1_800_000_000.0


class Clock:
    def __init__(self) -> None:
        self.now = NOW

    def __call__(self) -> float:
        return self.now


def sample(value: float, lives: float = 60.0) -> SeriesSample:
    return SeriesSample(value, NOW, NOW + lives)


def families(text: str) -> dict[str, Any]:
    return {family.name: family for family in text_string_to_metric_families(text)}


def samples_of(text: str, name: str) -> dict[tuple[tuple[str, str], ...], float]:
    return {
        tuple(sorted(s.labels.items())): s.value
        for family in text_string_to_metric_families(text) for s in family.samples if s.name == name
    }


async def serve(store: MemoryStore, registry: CollectorRegistry | None = None) -> Runner:
    return await start_exporter(listener_access({"metrics": {"port": 0}}), store, registry)


async def get(runner: Runner, **headers: str) -> tuple[int, dict[str, str], bytes]:
    async with aiohttp.ClientSession(auto_decompress=False) as session, session.get(runner.url, headers=headers) as rsp:
        return rsp.status, dict(rsp.headers), await rsp.read()


async def test_the_page_has_stored_series_check_statuses_and_ogis_counters() -> None:
    clock = Clock()
    store = MemoryStore(clock)
    registry = CollectorRegistry()
    settings: dict[str, Any] = {"handlers": {}}
    engine = Engine(settings_of(settings), Context(settings=settings_of(settings), store=store, clock=clock, metrics=registry))
    processor = ResultProcessor(settings_of(settings), store, engine, clock=clock, metrics=registry)
    # an OK result no handler ever sees, and a critical one
    await processor.process_result({"client": "web01", "check": {"name": "check_disk", "status": 0,
                                                                 "executed": 1_799_999_990, "output": "OK"}})
    await processor.process_result({"client": "db01", "check": {"name": "check_load", "status": 2,
                                                                "executed": 1_799_999_995, "output": "CRITICAL"}})
    await store.put_series({series_id("load1", {"client": "web01", "check": "metrics_load"}): sample(0.5)})
    runner = await serve(store, registry)
    try:
        status, headers, body = await get(runner)
    finally:
        await runner.stop()
        await engine.close()
    text = body.decode()
    assert status == 200
    assert headers["Content-Type"] == CONTENT_TYPE
    assert text.endswith("\n")
    assert samples_of(text, "ogi_check_status") == {
        (("check", "check_disk"), ("client", "web01")): 0.0,
        (("check", "check_load"), ("client", "db01")): 2.0,
    }
    assert samples_of(text, "ogi_check_last_run_timestamp_seconds") == {
        (("check", "check_disk"), ("client", "web01")): 1_799_999_990.0,
        (("check", "check_load"), ("client", "db01")): 1_799_999_995.0,
    }
    assert samples_of(text, "load1") == {(("check", "metrics_load"), ("client", "web01")): 0.5}
    assert samples_of(text, "ogi_results_total") == {(): 2.0}
    found = families(text)
    assert found["load1"].type == "gauge"
    assert found["ogi_check_status"].documentation


async def test_label_values_with_backslash_quote_and_newline_reach_the_scraper_unchanged() -> None:
    store = MemoryStore(Clock())
    odd = {"client": "win01", "check": 'say "hi"', "path": "C:\\dir\\", "msg": "line1\nline2"}
    await store.put_series({series_id("esc_test", odd): sample(1.0)})
    text = (await Exporter(store).render()).decode()
    [got] = [s for f in text_string_to_metric_families(text) for s in f.samples if s.name == "esc_test"]
    assert got.labels == odd


async def test_each_family_is_typed_once_with_its_series_together() -> None:
    store = MemoryStore(Clock())
    await store.put_series({
        series_id("cpu_user", {"client": "a", "check": "cpu"}): sample(1),
        series_id("load1", {"client": "a", "check": "load"}): sample(2),
        series_id("cpu_user", {"client": "b", "check": "cpu"}): sample(3),
    })
    lines = (await Exporter(store).render()).decode().splitlines()
    assert sum(line == "# TYPE cpu_user gauge" for line in lines) == 1
    start = lines.index("# TYPE cpu_user gauge")
    assert [line.split("{")[0] for line in lines[start + 1 : start + 3]] == ["cpu_user", "cpu_user"]


async def test_special_values_are_written_as_prometheus_reads_them() -> None:
    store = MemoryStore(Clock())
    await store.put_series({
        series_id("v", {"client": "a", "check": str(n)}): sample(value)
        for n, value in enumerate([float("nan"), float("inf"), float("-inf"), 1e-7, 12.0])
    })
    text = (await Exporter(store).render()).decode()
    assert 'v{check="0",client="a"} NaN\n' in text
    assert 'v{check="1",client="a"} +Inf\n' in text
    assert 'v{check="2",client="a"} -Inf\n' in text
    assert samples_of(text, "v")[(("check", "3"), ("client", "a"))] == 1e-7


async def test_an_expired_series_is_gone_from_the_page() -> None:
    clock = Clock()
    store = MemoryStore(clock)
    await store.put_series({
        series_id("short", {"client": "a", "check": "c"}): sample(1, lives=10),
        series_id("long", {"client": "a", "check": "c"}): sample(2, lives=100),
    })
    clock.now = NOW + 10
    text = (await Exporter(store).render()).decode()
    assert "short" not in text
    assert samples_of(text, "long") == {(("check", "c"), ("client", "a")): 2.0}


async def test_a_stored_series_cannot_take_the_name_of_an_ogi_family() -> None:
    store = MemoryStore(Clock())
    registry = CollectorRegistry()
    Counter("ogi_things", "things", registry=registry).inc()
    await store.put_series({
        series_id("ogi_check_status", {"client": "a", "check": "c"}): sample(7),
        series_id("ogi_things_total", {"client": "a", "check": "c"}): sample(7),
        series_id("fine", {"client": "a", "check": "c"}): sample(1),
    })
    text = (await Exporter(store, registry).render()).decode()
    found = families(text)  # parses: no family twice
    assert samples_of(text, "ogi_check_status") == {}
    assert samples_of(text, "ogi_things_total") == {(): 1.0}
    assert "fine" in found
    assert samples_of(text, "ogi_exporter_series_hidden_total") == {(): 2.0}


async def test_a_large_page_is_gzipped_when_the_scraper_asks() -> None:
    store = MemoryStore(Clock())
    await store.put_series({series_id("m", {"client": f"host{n}", "check": "c"}): sample(n) for n in range(3000)})
    runner = await serve(store)
    try:
        status, headers, body = await get(runner, **{"Accept-Encoding": "gzip"})
        _, plain_headers, plain = await get(runner, **{"Accept-Encoding": "identity"})
    finally:
        await runner.stop()
    assert status == 200
    assert headers["Content-Encoding"] == "gzip"
    assert "Content-Encoding" not in plain_headers
    assert len(samples_of(gzip.decompress(body).decode(), "m")) == 3000
    assert len(samples_of(plain.decode(), "m")) == 3000


class BrokenStore(MemoryStore):
    broken = True

    async def list_series(self) -> dict[str, SeriesSample]:
        if self.broken:
            raise ConnectionError("redis is down")
        return await super().list_series()


async def test_a_store_that_cannot_be_read_gives_503_and_the_next_scrape_works_again() -> None:
    store = BrokenStore(Clock())
    runner = await serve(store)
    try:
        status, _, body = await get(runner)
        assert status == 503
        assert b"redis is down" in body
        store.broken = False
        status, _, body = await get(runner)
    finally:
        await runner.stop()
    assert status == 200
    assert samples_of(body.decode(), "ogi_exporter_scrape_failures_total") == {(): 1.0}


async def test_stop_closes_the_listener() -> None:
    runner = await serve(MemoryStore(Clock()))
    port = runner.port
    await runner.stop()
    with pytest.raises(OSError), socket.create_connection(("127.0.0.1", port), timeout=1):
        pass


def test_the_listener_defaults_to_loopback_port_9127() -> None:
    assert listener({}) is None
    assert listener({"metrics": {}}) == ("127.0.0.1", 9127)
    assert listener({"metrics": {"bind": "0.0.0.0", "port": 9200}}) == ("0.0.0.0", 9200)


def test_a_bad_metrics_object_names_every_mistake() -> None:
    with pytest.raises(ConfigErrors) as raised:
        listener({"metrics": {"bind": 5, "port": 70000, "path": "/m"}})
    assert [e.path for e in raised.value.errors] == ["metrics.bind", "metrics.port", "metrics.path"]
    with pytest.raises(ConfigErrors):
        listener({"metrics": True})


async def test_ogi_run_serves_metrics_when_the_metrics_object_is_set(tmp_path: Path) -> None:
    port = free_port()
    config = {
        "client": {"name": "run-test", "subscriptions": ["base"]},
        "metrics": {"bind": "127.0.0.1", "port": port},
        "handlers": {"prometheus": {"type": "prometheus", "mutator": "only_check_output"}},
        "checks": {
            "check_ok": {"command": "echo OK", "subscribers": ["base"], "interval": 1},
            "metrics_demo": {"type": "metric", "command": "echo run-test.demo.value 42", "subscribers": ["base"],
                             "interval": 1, "handlers": ["prometheus"]},
        },
    }
    (tmp_path / "config.json").write_text(json.dumps(config))
    ogi = subprocess.Popen([str(ROOT / ".venv" / "bin" / "ogi"), "run", "-c", str(tmp_path / "config.json"), "--quiet"],
                           stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    text = ""
    try:
        async with aiohttp.ClientSession() as session:
            for _ in range(100):
                with contextlib.suppress(aiohttp.ClientError):
                    async with session.get(f"http://127.0.0.1:{port}/metrics") as rsp:
                        text = await rsp.text()
                if 'demo_value{check="metrics_demo"' in text and 'check="check_ok"' in text:
                    break
                await asyncio.sleep(0.2)
    finally:
        ogi.send_signal(signal.SIGTERM)
        _, err = ogi.communicate(timeout=20)
    assert ogi.returncode == 0, err.decode()[-2000:]
    assert samples_of(text, "ogi_check_status")[(("check", "check_ok"), ("client", "run-test"))] == 0.0
    assert samples_of(text, "demo_value") == {(("check", "metrics_demo"), ("client", "run-test")): 42.0}
