"""ogi-metrics-prometheus over Debian's real node_exporter, and over pages that fail or are garbage."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import sys
import threading
import time
import urllib.request
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from pipeline.config.validate import validate
from pipeline.metrics.formats import prometheus as prometheus_format
from pipeline.registry import Registry
from tests.helpers import ROOT, free_port, port_answers, require_service

BIN = Path(sys.executable).parent
NODE_EXPORTER = "prometheus-node-exporter"


def scrape(*args: str) -> subprocess.CompletedProcess[str]:
    exe = BIN / "ogi-metrics-prometheus"
    assert exe.exists(), f"{exe} is missing: run `.venv/bin/pip install -e .`"
    return subprocess.run([str(exe), *args], capture_output=True, text=True, timeout=60)


@pytest.fixture(scope="module")
def node_exporter() -> Iterator[str]:
    exe = shutil.which(NODE_EXPORTER)
    require_service(NODE_EXPORTER, available=exe is not None)
    assert exe is not None
    port = free_port()
    # systemd's collector needs the system bus, absent in containers; interrupts adds per-CPU counters
    child = subprocess.Popen(
        [exe, f"--web.listen-address=127.0.0.1:{port}", "--no-collector.systemd", "--collector.interrupts"],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 20
        while not port_answers("127.0.0.1", port, 0.2):
            assert child.poll() is None and time.monotonic() < deadline, "node_exporter did not start"
            time.sleep(0.1)
        yield f"http://127.0.0.1:{port}/metrics"
    finally:
        child.terminate()
        child.wait(10)


def test_node_exporters_page_is_printed_with_its_types_and_labels_and_ogi_reads_every_sample(
        node_exporter: str) -> None:
    done = scrape(node_exporter)
    assert done.returncode == 0 and done.stderr == "", done.stdout + done.stderr
    types = dict(t for line in done.stdout.splitlines() if (t := prometheus_format.type_line(line)))
    assert types["node_cpu_seconds_total"] == "counter"
    assert types["node_load1"] == "gauge"
    assert types["go_gc_duration_seconds"] == "summary"
    points, skipped = prometheus_format.parse(done.stdout, 0.0)
    assert skipped == 0 and len(points) > 100
    cpu = [p for p in points if p.name == "node_cpu_seconds_total"]
    assert cpu and all(dict(p.tags).keys() == {"cpu", "mode"} for p in cpu)
    now = time.time()
    assert all(abs(p.timestamp - now) < 60 for p in points), "stamped with the scrape's time, in ms"


def test_the_printed_page_is_as_clean_for_promtool_as_node_exporters_own(node_exporter: str) -> None:
    promtool = shutil.which("promtool")
    require_service("promtool", available=promtool is not None)
    assert promtool is not None
    with urllib.request.urlopen(node_exporter) as response:
        original = response.read().decode()
    printed = scrape(node_exporter).stdout

    def lint(text: str) -> tuple[int, set[str]]:
        done = subprocess.run([promtool, "check", "metrics"], input=text, capture_output=True, text=True)
        # node_exporter's own names break promtool's naming lints (camelCase, bits); a parse error is different
        return done.returncode, {line.split()[0] for line in (done.stdout + done.stderr).splitlines() if line}

    _, problems = lint(printed)
    assert not any("error while linting" in p or "parse" in p for p in problems), problems
    assert problems <= lint(original)[1] | {"node_scrape_collector_duration_seconds"}


def test_graphite_format_prints_tagged_lines_under_the_scheme(node_exporter: str) -> None:
    done = scrape("--format", "graphite", "-s", "web-01.node", node_exporter)
    assert done.returncode == 0, done.stdout
    lines = done.stdout.splitlines()
    assert len(lines) > 100
    line = re.compile(r"^web-01\.node\.[A-Za-z_:][A-Za-z0-9_:]*(;[^;= ]+=[^;= ]+)* \S+ \d{10}$")
    bad = [ln for ln in lines if not line.match(ln)]
    assert not bad, bad[:3]
    assert any(ln.startswith("web-01.node.node_cpu_seconds_total;cpu=0;mode=idle ") for ln in lines)


def test_the_check_in_the_prometheus_doc_is_valid_and_feeds_ogi(node_exporter: str) -> None:
    text = (ROOT / "docs" / "prometheus.md").read_text()
    [block] = [json.loads(b) for b in re.findall(r"```json\n(.*?)```", text, re.S) if "ogi-metrics-prometheus" in b]
    errors, _ = validate(block, Registry(use_entry_points=False))
    assert errors == []
    [check] = block["checks"].values()
    assert check["output_metric_format"] == "prometheus_text"
    program, *args = check["command"].split()
    args = [node_exporter if a.startswith("http://") else a for a in args]
    done = scrape(*args)
    assert done.returncode == 0
    points, skipped = prometheus_format.parse(done.stdout, 0.0)
    assert skipped == 0 and any(p.name == "node_load1" for p in points)


class _Page(BaseHTTPRequestHandler):
    pages: dict[str, tuple[int, bytes]] = {
        "/html": (200, b"<html><body>Node Exporter</body></html>\n"),
        "/empty": (200, b"# HELP x nothing\n\n"),
        "/error": (500, b"collector failed\n"),
        "/binary": (200, b"\xff\xfe\x00garbage"),
        "/ok": (200, b'# TYPE jobs_total counter\njobs_total{queue="a b"} 3\nup NaN\n'),
    }

    def do_GET(self) -> None:  # noqa: N802 - http.server's name
        status, body = self.pages.get(self.path, (404, b"not found"))
        self.send_response(status)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture(scope="module")
def pages() -> Iterator[str]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Page)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()


@pytest.mark.parametrize(("path", "reason"), [
    ("/html", "line 1 is not a Prometheus sample: '<html><body>Node Exporter</body></html>'"),
    ("/empty", "the page holds no sample"),
    ("/error", "answered HTTP 500"),
    ("/missing", "answered HTTP 404"),
    ("/binary", "is not UTF-8 text"),
])
def test_a_failed_or_garbage_scrape_is_one_critical_line(pages: str, path: str, reason: str) -> None:
    done = scrape(pages + path)
    assert done.returncode == 2 and done.stderr == ""
    assert done.stdout.startswith("METRICS_PROMETHEUS CRITICAL: ") and reason in done.stdout
    assert done.stdout.count("\n") == 1


def test_a_refused_connection_and_a_page_too_large_are_critical_and_a_bad_url_unknown(pages: str) -> None:
    done = scrape(f"http://127.0.0.1:{free_port()}/metrics")
    assert (done.returncode, done.stderr) == (2, "") and "Connection refused" in done.stdout
    done = scrape("--max-bytes", "10", pages + "/ok")
    assert done.returncode == 2 and "more than 10 bytes" in done.stdout
    done = scrape("not-a-url")  # a usage error, UNKNOWN by the Nagios convention
    assert done.returncode == 3 and "expected an http:// or https:// URL, got 'not-a-url'" in done.stdout


def test_nan_samples_print_nothing_and_label_values_are_escaped_back(pages: str) -> None:
    done = scrape(pages + "/ok")
    assert done.returncode == 0
    lines = done.stdout.splitlines()
    assert lines[0] == "# TYPE jobs_total counter"
    assert re.fullmatch(r'jobs_total\{queue="a b"\} 3 \d{13}', lines[1])
    assert len(lines) == 2
    done = scrape("--format", "graphite", "-s", "h", pages + "/ok")
    assert re.fullmatch(r"h\.jobs_total;queue=a_b 3 \d{10}\n", done.stdout)
