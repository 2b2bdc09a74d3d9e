"""A real Prometheus server (Debian's `prometheus`) for the end-to-end suites, and a PromQL poller.

`running_prometheus` starts one on a free loopback port, scraping ogi's exporter port every second
(and a real `prometheus-pushgateway`, when asked and installed); `query` polls `/api/v1/query`
until the wanted series are there. Fixtures are in the test modules; nothing here is a fixture.
"""

from __future__ import annotations

import asyncio
import shutil
import subprocess
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import aiohttp

from tests.helpers import free_port, port_answers, require_service


@dataclass
class Peers:
    """Where the running Prometheus answers, and the port it scrapes ogi's `/metrics` from."""

    prometheus: str  # base URL of the Prometheus HTTP API
    exporter_port: int  # where Prometheus expects ogi's /metrics
    pushgateway: str | None  # base URL, None when not asked for or the package is absent


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


@contextmanager
def running_prometheus(base: Path, *, pushgateway: bool = False) -> Iterator[Peers]:
    """Prometheus (skipped, or failed under OGI_REQUIRE_SERVICES=1, when absent) scraping every second."""
    require_service("prometheus", available=shutil.which("prometheus") is not None)
    base.mkdir(parents=True, exist_ok=True)
    exporter_port, prometheus_port = free_port(), free_port()
    processes: list[subprocess.Popen[bytes]] = []
    push_url: str | None = None
    targets = [f"  - {{job_name: ogi, static_configs: [{{targets: ['127.0.0.1:{exporter_port}']}}]}}"]
    try:
        if pushgateway and shutil.which("prometheus-pushgateway"):
            push_port = free_port()
            log = base / "pushgateway.log"
            processes.append(subprocess.Popen(
                # Debian's default persistence file is shared by every run on the machine: groups
                # pushed by an earlier run (or another engineer's) would reappear here.
                ["prometheus-pushgateway", f"--web.listen-address=127.0.0.1:{push_port}",
                 f"--persistence.file={base / 'pushgateway.data'}"],
                stdout=log.open("wb"), stderr=subprocess.STDOUT,
            ))
            _wait_for(push_port, processes[-1], "prometheus-pushgateway", log)
            push_url = f"http://127.0.0.1:{push_port}"
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
        yield Peers(f"http://127.0.0.1:{prometheus_port}", exporter_port, push_url)
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
