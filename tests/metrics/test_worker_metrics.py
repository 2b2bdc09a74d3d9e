"""`ogi server --workers 2`: one /metrics page where both processes' counters are summed."""

from __future__ import annotations

import asyncio
import json
import subprocess
import time
from pathlib import Path

import aiohttp
import redis
from prometheus_client.parser import text_string_to_metric_families

from pipeline.config.load import settings_of
from pipeline.metrics.merge import merge_pages
from pipeline.transport import transport_from_settings
from tests.contract.transport_fixtures import list_table, settings_for
from tests.helpers import OGI, claim_redis_db, free_port, require_service

RESULTS = 40


def test_pages_are_summed_sample_by_sample() -> None:
    one = ('# HELP ogi_results_total Results\n# TYPE ogi_results_total counter\nogi_results_total 3.0\n'
           'ogi_results_created 1.7e9\n# HELP ogi_buffer Held\n# TYPE ogi_buffer gauge\nogi_buffer{pipe="a\\"b"} 2.0\n'
           '# HELP h Time\n# TYPE h histogram\nh_bucket{le="0.1"} 1.0\nh_bucket{le="+Inf"} 2.0\nh_count 2.0\nh_sum 0.5\n')
    two = ('# HELP ogi_results_total Results\n# TYPE ogi_results_total counter\nogi_results_total 4.0\n'
           '# HELP h Time\n# TYPE h histogram\nh_bucket{le="0.1"} 0.0\nh_bucket{le="+Inf"} 1.0\nh_count 1.0\nh_sum 0.25\n')
    merged = {(s.name, tuple(s.labels.items())): s.value
              for f in text_string_to_metric_families(merge_pages([one, two])) for s in f.samples}
    assert merged == {("ogi_results_total", ()): 7, ("ogi_buffer", (("pipe", 'a"b'),)): 2,
                      ("h_bucket", (("le", "0.1"),)): 1, ("h_bucket", (("le", "+Inf"),)): 3,
                      ("h_count", ()): 3, ("h_sum", ()): 0.75}


def scrape(url: str) -> dict[str, float]:
    async def get() -> str:
        async with aiohttp.ClientSession() as session, session.get(url) as response:
            return await response.text()
    text = asyncio.run(get())
    return {s.name: s.value for f in text_string_to_metric_families(text) for s in f.samples if not s.labels}


def listening_ports(log: Path) -> list[int]:
    lines = [json.loads(line) for line in log.read_text().splitlines() if line.startswith("{")] if log.exists() else []
    return [line["port"] for line in lines if line["message"] == "metrics listening"]


def wait(condition: object, seconds: float) -> None:
    deadline = time.monotonic() + seconds
    while not condition():  # type: ignore[operator]
        assert time.monotonic() < deadline, "not reached in time"
        time.sleep(0.1)


def test_the_first_process_page_sums_the_results_both_workers_took(rabbitmq_vhost: str, tmp_path: Path) -> None:
    require_service("redis", port=6379)
    db = claim_redis_db()
    redis.Redis(db=db).flushdb()
    port = free_port()
    config = {**settings_for(rabbitmq_vhost), "redis": {"host": "127.0.0.1", "port": 6379, "db": db},
              "metrics": {"bind": "127.0.0.1", "port": port}}
    (tmp_path / "config.json").write_text(json.dumps(config))
    log = tmp_path / "ogi.log"
    process = subprocess.Popen([*OGI, "server", "--workers", "2", "-c", str(tmp_path / "config.json"), "-l", str(log)],
                               stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    try:
        wait(lambda: len(listening_ports(log)) == 2, 60)
        wait(lambda: list_table(rabbitmq_vhost, "list_queues", "consumers").get("results", {}).get("consumers") == "2",
             60)

        async def publish() -> None:
            transport = transport_from_settings(settings_of(config), default="rabbitmq")
            for n in range(RESULTS):
                body = {"client": f"web-{n}", "check": {"name": "disk", "output": "ok", "status": 0}}
                await transport.publish("results", json.dumps(body).encode())
            await transport.close()

        asyncio.run(publish())
        page = f"http://127.0.0.1:{port}/metrics"
        wait(lambda: scrape(page).get("ogi_results_total") == RESULTS, 60)
        worker = [p for p in listening_ports(log) if p != port]
        assert len(worker) == 1
        took = scrape(f"http://127.0.0.1:{worker[0]}/metrics").get("ogi_results_total", 0)
        assert 0 < took < RESULTS, "both processes took results, and the first page counts the worker's"
    finally:
        process.terminate()
        try:
            process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            process.kill()
        err = process.communicate()[1]
    assert "Traceback" not in err
