"""`python -m bench.prometheus_collector`: CPU of `ogi-metrics-prometheus` over node_exporter's page.

Starts Debian's `prometheus-node-exporter` on a free loopback port with extra collectors (slabinfo,
interrupts, buddyinfo...) so the page holds >= 1,000 samples, then measures:

- in process, the plugin's work per scrape (HTTP fetch, parse, render as prometheus_text and as
  Graphite lines): `time.process_time` over `--runs` scrapes; the target is <= 50 ms per scrape;
- the installed console script as a check runs it, start-up included (the children's rusage).

Prints one JSON object.
"""

from __future__ import annotations

import argparse
import json
import resource
import shutil
import socket
import statistics
import subprocess
import sys
import time
from pathlib import Path

from bench.private_peers import free_port
from plugins.metrics_prometheus import fetch, graphite_lines, prometheus_lines, read_page

TARGET_MS = 50.0
COLLECTORS = ["--collector.interrupts", "--collector.slabinfo", "--collector.buddyinfo", "--collector.processes",
              "--collector.meminfo_numa", "--collector.cpu.info", "--no-collector.systemd"]


def _start(port: int) -> subprocess.Popen[bytes]:
    exe = shutil.which("prometheus-node-exporter")
    if exe is None:
        raise SystemExit("prometheus-node-exporter is not installed (Debian package prometheus-node-exporter)")
    child = subprocess.Popen([exe, f"--web.listen-address=127.0.0.1:{port}", *COLLECTORS],
                             stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        try:
            socket.create_connection(("127.0.0.1", port), 0.2).close()
            return child
        except OSError:
            time.sleep(0.1)
    child.kill()
    raise SystemExit("node_exporter did not start")


def _one(url: str, graphite: bool) -> tuple[float, int]:
    start = time.process_time()
    page = read_page(fetch(url, 10.0, 32 << 20), time.time())
    text = "".join(graphite_lines(page.samples, "host.node") if graphite else prometheus_lines(page))
    spent = time.process_time() - start
    assert text
    return spent * 1000, len(page.samples)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--runs", type=int, default=20)
    args = parser.parse_args()
    port = free_port()
    child = _start(port)
    url = f"http://127.0.0.1:{port}/metrics"
    try:
        _one(url, False)  # warm the imports and the exporter
        text_ms = [_one(url, False)[0] for _ in range(args.runs)]
        graphite_ms = [_one(url, True)[0] for _ in range(args.runs)]
        samples = _one(url, False)[1]
        script = Path(sys.executable).parent / "ogi-metrics-prometheus"
        before = resource.getrusage(resource.RUSAGE_CHILDREN)
        runs = 5
        for _ in range(runs):
            subprocess.run([str(script), url], stdout=subprocess.DEVNULL, check=True)
        after = resource.getrusage(resource.RUSAGE_CHILDREN)
        process_ms = (after.ru_utime + after.ru_stime - before.ru_utime - before.ru_stime) * 1000 / runs
    finally:
        child.terminate()
        child.wait(10)
    result = {
        "samples": samples,
        "prometheus_text_cpu_ms": {"median": round(statistics.median(text_ms), 1), "max": round(max(text_ms), 1)},
        "graphite_cpu_ms": {"median": round(statistics.median(graphite_ms), 1), "max": round(max(graphite_ms), 1)},
        "console_script_cpu_ms_with_startup": round(process_ms, 1),
        "target_ms": TARGET_MS,
        "met": samples >= 1000 and statistics.median(text_ms) <= TARGET_MS and statistics.median(graphite_ms) <= TARGET_MS,
    }
    print(json.dumps(result))


if __name__ == "__main__":
    main()
