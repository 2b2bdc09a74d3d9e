"""The bundled plugins, run as their installed console scripts on this machine; their parsers on real /proc text;
the check plugins against local HTTP servers; docs/plugins.md's examples."""

from __future__ import annotations

import json
import math
import os
import re
import socket
import subprocess
import sys
import threading
import time
import urllib.parse
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

from plugins import (
    metrics_cpu,
    metrics_disk_io,
    metrics_disk_usage,
    metrics_interface,
    metrics_processes,
    metrics_tcp,
)
from plugins.check_http_json import lookup, matches
from plugins.check_metric import aggregate
from tests.helpers import ROOT

BIN = Path(sys.executable).parent
#: console script suffix -> the default scheme's last node
METRIC_PLUGINS = {
    "cpu": "cpu", "load": "load", "memory": "memory", "swap": "swap", "disk-usage": "disk_usage",
    "disk-io": "disk_io", "interface": "interface", "processes": "processes", "uptime": "uptime",
    "vmstat": "vmstat", "tcp": "tcp",
}
HOST = os.uname().nodename.replace(".", "_")
PATH_RE = re.compile(r"^[A-Za-z0-9_:-]+(\.[A-Za-z0-9_:-]+)*$")


def run(script: str, *args: str) -> subprocess.CompletedProcess[str]:
    exe = BIN / script
    assert exe.exists(), f"{exe} is missing: run `.venv/bin/pip install -e .` to install the console scripts"
    return subprocess.run([str(exe), *args], capture_output=True, text=True, timeout=60)


def graphite_lines(output: str) -> list[tuple[str, float, int]]:
    """Strict Graphite plaintext: `path value timestamp`, single spaces, numeric value, integer time near now."""
    now = time.time()
    points = []
    assert output == "" or output.endswith("\n"), "the last line must be complete"
    for line in output.splitlines():
        fields = line.split(" ")
        assert len(fields) == 3, f"not three single-space separated fields: {line!r}"
        path, value, ts = fields
        assert PATH_RE.match(path), f"path with an empty node or a character carbon would rewrite: {line!r}"
        assert math.isfinite(float(value)), line
        assert ts.isdigit() and abs(int(ts) - now) < 30, f"timestamp not an integer near now: {line!r}"
        points.append((path, float(value), int(ts)))
    return points


def metrics(script: str, *args: str) -> dict[str, float]:
    """{path below the scheme: value} from a metric plugin run with `-s s`."""
    done = run(script, "-s", "s", *args)
    assert (done.returncode, done.stderr) == (0, ""), done.stdout + done.stderr
    return {path.removeprefix("s."): value for path, value, _ in graphite_lines(done.stdout)}


# --- every metric plugin on this machine -------------------------------------------------------------

@pytest.mark.parametrize("name", sorted(METRIC_PLUGINS))
def test_every_metric_plugin_runs_here_and_prints_graphite_plaintext_under_its_default_scheme(name: str) -> None:
    done = run(f"ogi-metrics-{name}")
    assert (done.returncode, done.stderr) == (0, ""), done.stdout + done.stderr
    points = graphite_lines(done.stdout)
    assert points, "no points at all"
    prefix = f"{HOST}.{METRIC_PLUGINS[name]}."
    assert all(path.startswith(prefix) for path, _, _ in points), done.stdout
    assert len({path for path, _, _ in points}) == len(points), "a path printed twice"
    assert len({ts for _, _, ts in points}) == 1, "one run, one timestamp"
    try:
        from pipeline.metrics.extract import parse  # the engine's own reader, where it exists
    except ImportError:
        return
    extracted = parse("graphite_plaintext", done.stdout, 0.0)
    assert extracted.skipped == 0
    assert [(p.name, p.value, p.timestamp) for p in extracted.points] == points


@pytest.mark.parametrize("name", sorted(METRIC_PLUGINS))
def test_the_scheme_option_prefixes_every_path_of_every_plugin(name: str) -> None:
    done = run(f"ogi-metrics-{name}", "--scheme", "web01.sys")
    points = graphite_lines(done.stdout)
    assert points and all(p.startswith("web01.sys.") and not p.startswith(f"web01.sys.{HOST}") for p, _, _ in points)


def test_cpu_prints_every_state_counter_in_total_and_for_each_cpu_the_kernel_lists() -> None:
    got = metrics("ogi-metrics-cpu")
    cpus = {line.split()[0] for line in Path("/proc/stat").read_text().splitlines() if re.match(r"cpu\d", line)}
    assert {p.split(".")[0] for p in got} == {"total", *cpus}
    for cpu in ("total", *cpus):
        assert {f"{cpu}.{f}" for f in ("user", "nice", "system", "idle", "iowait", "irq", "softirq", "steal",
                                       "guest")} <= set(got)
    assert got["total.idle"] >= max(got[f"{c}.idle"] for c in cpus)


def test_load_prints_the_three_averages_and_optionally_per_core() -> None:
    assert set(metrics("ogi-metrics-load")) == {"load1", "load5", "load15"}
    got = metrics("ogi-metrics-load", "--per-core")
    assert set(got) == {"load1", "load5", "load15", "per_core.load1", "per_core.load5", "per_core.load15"}
    assert got["per_core.load15"] == pytest.approx(got["load15"] / (os.cpu_count() or 1), abs=1e-3)


def _meminfo(key: str) -> int:
    return int(re.search(rf"^{key}:\s+(\d+) kB", Path("/proc/meminfo").read_text(), re.M).group(1)) * 1024  # type: ignore[union-attr]


def test_memory_is_in_bytes_and_used_free_buffers_and_cached_add_up_to_total() -> None:
    got = metrics("ogi-metrics-memory")
    assert got["total"] == _meminfo("MemTotal")
    assert got["used"] + got["free"] + got["buffers"] + got["cached"] == got["total"]
    assert 0 <= got["used_percent"] <= 100 and 0 < got["available"] <= got["total"]


def test_swap_prints_its_space_in_bytes_and_its_traffic_also_without_swap() -> None:
    got = metrics("ogi-metrics-swap")
    assert set(got) == {"total", "free", "used", "cached", "used_percent", "in", "out"}
    assert got["total"] == _meminfo("SwapTotal") and got["used"] == got["total"] - got["free"]


def test_disk_usage_reports_the_real_filesystems_and_skips_the_pseudo_ones() -> None:
    got = metrics("ogi-metrics-disk-usage")
    nodes = {p.split(".")[0] for p in got}
    assert not nodes & {"proc", "sys", "dev", "dev_shm", "sys_fs_cgroup", "dev_pts"}
    root_type = next(line.split()[2] for line in reversed(Path("/proc/mounts").read_text().splitlines())
                     if line.split()[1] == "/")
    if root_type in metrics_disk_usage.PSEUDO_TYPES:
        assert "root" not in nodes
        return
    st = os.statvfs("/")
    assert got["root.total"] == st.f_blocks * st.f_frsize and got["root.inodes_total"] == st.f_files
    assert {f"root.{k}" for k in ("used", "free", "used_percent", "inodes_used", "inodes_free",
                                  "inodes_used_percent")} <= set(got)
    assert set(metrics("ogi-metrics-disk-usage", "--mount", "/")) == {p for p in got if p.startswith("root.")}
    assert "root.total" not in metrics("ogi-metrics-disk-usage", "-x", root_type)


def test_disk_io_covers_the_kernels_block_devices_except_loop_and_ram() -> None:
    got = metrics("ogi-metrics-disk-io")
    listed = {line.split()[2] for line in Path("/proc/diskstats").read_text().splitlines()}
    expected = {metrics_disk_usage.mount_node(d) for d in listed if not d.startswith(("loop", "ram"))}
    assert {p.split(".")[0] for p in got} == expected
    for dev in expected:
        assert got[f"{dev}.read_bytes"] == got[f"{dev}.read_sectors"] * 512
        assert f"{dev}.writes" in got and f"{dev}.io_time_ms" in got
    whole = {p.split(".")[0] for p in metrics("ogi-metrics-disk-io", "--whole-disks")}
    assert whole == expected & set(os.listdir("/sys/block"))


def test_interface_counts_the_loopback_unless_told_to_skip_it() -> None:
    got = metrics("ogi-metrics-interface")
    assert {f"lo.{k}" for k in ("rx_bytes", "rx_packets", "rx_errors", "rx_drops", "tx_bytes", "tx_packets",
                                "tx_errors", "tx_drops")} <= set(got)
    assert got["lo.rx_bytes"] > 0  # this test run itself talks over lo
    skipped = metrics("ogi-metrics-interface", "--skip-lo")
    assert not any(p.startswith("lo.") for p in skipped)
    assert set(skipped) == {p for p in got if not p.startswith("lo.")}


def test_processes_counts_a_zombie_we_made_and_every_state_always() -> None:
    child = subprocess.Popen(["true"])
    try:
        while Path(f"/proc/{child.pid}/stat").read_text().split(")")[-1].split()[0] != "Z":
            time.sleep(0.01)
        got = metrics("ogi-metrics-processes")
    finally:
        child.wait()
    assert got["zombies"] >= 1
    assert {"running", "sleeping", "blocked", "stopped", "paging", "dead", "idle", "forks"} <= set(got)
    assert got["running"] >= 1 and got["threads"] >= got["total"] >= 3
    assert sum(got[k] for k in metrics_processes.NAMES) <= got["total"]


def test_uptime_matches_the_kernels() -> None:
    got = metrics("ogi-metrics-uptime")
    assert abs(got["seconds"] - float(Path("/proc/uptime").read_text().split()[0])) < 5
    assert set(got) == {"seconds", "idle_seconds"}


def test_vmstat_prints_the_paging_counters_and_everything_on_request() -> None:
    assert set(metrics("ogi-metrics-vmstat")) == {"pgpgin", "pgpgout", "pswpin", "pswpout", "pgfault", "pgmajfault"}
    everything = metrics("ogi-metrics-vmstat", "--all")
    assert "nr_free_pages" in everything and len(everything) > 50


def test_tcp_counts_a_listener_and_a_connection_we_opened_on_a_port() -> None:
    with socket.socket() as server:
        server.bind(("127.0.0.1", 0))
        server.listen()
        port = server.getsockname()[1]
        with socket.create_connection(("127.0.0.1", port)) as client:
            accepted, _ = server.accept()
            with accepted:
                got = metrics("ogi-metrics-tcp", "--port", str(port))
                everywhere = metrics("ogi-metrics-tcp")
            client.close()
    # the client's side has an ephemeral local port, so only the listener and the accepted socket count
    assert (got["listen"], got["established"], got["total"]) == (1, 1, 2)
    assert sum(got[k] for k in metrics_tcp.NAMES) == got["total"]
    assert everywhere["established"] >= 2 and everywhere["listen"] >= 1


# --- the parsers on recorded /proc text -----------------------------------------------------------

def test_cpu_lines_of_an_older_kernel_give_only_the_fields_they_have() -> None:
    text = "cpu  10 0 5 100\ncpu0 10 0 5 100\nintr 1 2\nctxt 3\n"
    assert list(metrics_cpu.parse_stat(text)) == [
        ("total", "user", 10), ("total", "nice", 0), ("total", "system", 5), ("total", "idle", 100),
        ("cpu0", "user", 10), ("cpu0", "nice", 0), ("cpu0", "system", 5), ("cpu0", "idle", 100)]


def stat_line(pid: int, comm: str, state: str, threads: int) -> bytes:
    # pid (comm) state ppid pgrp session tty_nr tpgid flags minflt cminflt majflt cmajflt utime stime cutime
    # cstime priority nice num_threads itrealvalue starttime vsize
    return f"{pid} ({comm}) {state} 1 {pid} {pid} 0 -1 4194560 10 0 0 0 1 2 0 0 20 0 {threads} 0 5 1000".encode()


def test_process_names_with_spaces_and_parentheses_do_not_shift_the_fields() -> None:
    stats = [stat_line(1, "systemd", "S", 1), stat_line(42, "evil) R (name", "R", 7),
             stat_line(43, "kworker/0:1", "I", 1), stat_line(44, "a b", "Z", 1), stat_line(45, "t", "t", 1),
             b"46 (cut short) S 1"]
    counts = metrics_processes.count(stats)
    assert {k: v for k, v in counts.items() if v} == {
        "sleeping": 1, "running": 1, "idle": 1, "zombies": 1, "stopped": 1, "total": 5, "threads": 11}


TCP_TABLE = b"""  sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode
   0: 0100007F:1F90 00000000:0000 0A 00000000:00000000 00:00000000 00000000     0        0 1 1 0 100 0 0 10 0
   1: 0100007F:1F90 0100007F:C350 01 00000000:00000000 00:00000000 00000000     0        0 2 1 0 20 4 30 10 -1
   2: 0100007F:C350 0100007F:1F90 01 00000000:00000000 00:00000000 00000000     0        0 3 1 0 20 4 30 10 -1
   3: 0100007F:1F90 0100007F:C351 06 00000000:00000000 03:00001770 00000000     0        0 0 3 0
   4: 0100007F:1F90 0100007F:C352 0C 00000000:00000000 00:00000000 00000000     0        0 0 1 0
"""


def test_tcp_states_are_read_from_the_hex_columns_and_the_port_filter_uses_the_local_port() -> None:
    all_sockets = metrics_tcp.count([TCP_TABLE, TCP_TABLE.split(b"\n")[0]])
    assert (all_sockets["listen"], all_sockets["established"], all_sockets["time_wait"],
            all_sockets["syn_recv"], all_sockets["total"]) == (1, 2, 1, 1, 5)
    on_8080 = metrics_tcp.count([TCP_TABLE], port=8080)
    assert (on_8080["established"], on_8080["total"]) == (1, 4)


def test_net_dev_lines_parse_after_the_two_header_lines() -> None:
    text = ("Inter-|   Receive                            |  Transmit\n face |bytes packets errs drop fifo frame"
            " compressed multicast|bytes packets errs drop fifo colls carrier compressed\n"
            "    lo: 100 2 0 0 0 0 0 0 100 2 0 0 0 0 0 0\n"
            "eth0.100:5 6 7 8 0 0 0 0 9 10 11 12 0 0 0 0\n")
    parsed = dict(metrics_interface.parse_net_dev(text))
    assert parsed["eth0.100"] == {"rx_bytes": 5, "rx_packets": 6, "rx_errors": 7, "rx_drops": 8,
                                  "tx_bytes": 9, "tx_packets": 10, "tx_errors": 11, "tx_drops": 12}
    assert set(parsed) == {"lo", "eth0.100"}


def test_diskstats_of_old_and_new_kernels_parse_alike() -> None:
    text = (" 254 0 vda 75972 11960 3590802 39980 38899 42421 2783192 13278 0 13488 55866 25169 19 941008 2335 5700 271\n"
            "   8 1 sda1 10 1 80 5 20 2 160 7 0 9 12\n   7 0 loop0 0 0 0 0 0 0 0 0 0 0 0\n")
    parsed = dict(metrics_disk_io.parse_diskstats(text))
    assert parsed["vda"]["write_sectors"] == 2783192 and parsed["vda"]["weighted_io_time_ms"] == 55866
    assert parsed["sda1"]["reads"] == 10 and parsed["sda1"]["in_progress"] == 0
    points = {p[0]: p[1] for p in metrics_disk_io.device_points("sda1", parsed["sda1"])}
    assert points["sda1.write_bytes"] == 160 * 512


MOUNTS = """proc /proc proc rw 0 0
sysfs /sys sysfs rw 0 0
/dev/vda1 / ext4 rw 0 0
tmpfs /run tmpfs rw 0 0
overlay /var/lib/docker/overlay2/x/merged overlay rw 0 0
/dev/vda1 /srv/bind ext4 rw 0 0
/dev/vdb1 /mnt/my\\040disk xfs rw 0 0
server:/export /home nfs4 rw 0 0
cgroup2 /sys/fs/cgroup cgroup2 rw 0 0
"""


def test_only_real_filesystems_count_once_each_with_escaped_paths_decoded() -> None:
    chosen = metrics_disk_usage.real_mounts(MOUNTS)
    assert [m for _, m, _ in chosen] == ["/", "/mnt/my disk", "/home"]
    assert [m for _, m, _ in metrics_disk_usage.real_mounts(MOUNTS, types=["xfs"])] == ["/mnt/my disk"]
    assert [m for _, m, _ in metrics_disk_usage.real_mounts(MOUNTS, exclude_types=["nfs4"],
                                                            exclude_mounts=["/"])] == ["/mnt/my disk"]
    assert [m for _, m, _ in metrics_disk_usage.real_mounts(MOUNTS, types=["tmpfs"])] == ["/run"]


# --- ogi-check-http-json -----------------------------------------------------------------------------

DOCUMENT = {"db": {"latency_ms": 250, "up": True}, "status": "ok", "items": [{"n": 1}, {"n": 2}], "queue": 7}


class _Handler(BaseHTTPRequestHandler):
    requests: list[tuple[str, dict[str, str]]] = []
    render: dict[str, Any] = {}

    def do_GET(self) -> None:
        url = urllib.parse.urlparse(self.path)
        type(self).requests.append((self.path, dict(self.headers)))
        status, body = 200, b""
        if url.path == "/health":
            body = json.dumps(DOCUMENT).encode()
        elif url.path == "/token":
            body = json.dumps({"token": self.headers.get("X-Token")}).encode()
        elif url.path == "/html":
            body = b"<html>maintenance</html>"
        elif url.path == "/render":
            target = urllib.parse.parse_qs(url.query)["target"][0]
            if target == "broken":
                status = 500
            elif target == "html":
                body = b"<html>"
            else:
                pattern = re.compile("^" + re.escape(target).replace(r"\*", "[^.]*") + "$")
                series = [{"target": name, "tags": {"name": name}, "datapoints": points}
                          for name, points in self.render.items() if pattern.match(name)]
                body = json.dumps(series).encode()
        else:
            status = 503
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args: Any) -> None:
        pass


@pytest.fixture(scope="module")
def http_server() -> Iterator[str]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
    thread = threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()


def check(script: str, *args: str) -> tuple[int, str]:
    done = run(script, *args)
    assert done.stderr == "" and done.stdout.count("\n") == 1, done.stdout + done.stderr
    return done.returncode, done.stdout.rstrip("\n")


@pytest.mark.parametrize(("args", "code", "start"), [
    (["-k", "db.latency_ms", "-w", "300", "-c", "500"], 0, "HTTP_JSON OK: db.latency_ms = 250 | db.latency_ms=250;300;500 time="),
    (["-k", "db.latency_ms", "-w", "200", "-c", "500"], 1, "HTTP_JSON WARNING: db.latency_ms = 250 (warning: above 200) | "),
    (["-k", "db.latency_ms", "-w", "100", "-c", "200"], 2, "HTTP_JSON CRITICAL: db.latency_ms = 250 (critical: above 200) | "),
    (["-k", "queue", "-c", "@5:10"], 2, "HTTP_JSON CRITICAL: queue = 7 (critical: inside @5:10) | queue=7;;@5:10 "),
    (["-k", "items.1.n", "-w", "2:"], 0, "HTTP_JSON OK: items.1.n = 2 | items.1.n=2;2: time="),
    (["-k", "db.up", "-c", "1:"], 0, "HTTP_JSON OK: db.up = true | db.up=1;;1: "),
    (["-k", "status", "--expect", "ok"], 0, "HTTP_JSON OK: status is ok | time="),
    (["-k", "status", "--expect", "degraded"], 2, "HTTP_JSON CRITICAL: status is ok, expected degraded | "),
    (["-k", "db.up", "--expect", "true"], 0, "HTTP_JSON OK: db.up is true | "),
    (["-k", "queue", "--expect", "true"], 2, "HTTP_JSON CRITICAL: queue is 7, expected true"),
    (["-k", "queue"], 0, "HTTP_JSON OK: queue = 7 | queue=7 time="),
    (["-k", "db.nothing", "-w", "1"], 3, "HTTP_JSON UNKNOWN: db.nothing is not in the document from "),
    (["-k", "status", "-w", "1"], 3, "HTTP_JSON UNKNOWN: status is ok, not a number to compare with the ranges"),
    (["-k", "queue", "-w", "5:1"], 3, "HTTP_JSON UNKNOWN: ogi-check-http-json: argument -w/--warning: range start"),
    (["-k", "queue", "-w", "1", "--expect", "7"], 3, "HTTP_JSON UNKNOWN: use either --expect or -w/-c, not both"),
])
def test_http_json_checks_a_field_against_ranges_or_an_expected_value(http_server: str, args: list[str], code: int,
                                                                      start: str) -> None:
    got = check("ogi-check-http-json", "-u", f"{http_server}/health", *args)
    assert got[0] == code and got[1].startswith(start), got


def test_http_json_sends_extra_headers(http_server: str) -> None:
    got = check("ogi-check-http-json", "-u", f"{http_server}/token", "-k", "token", "--expect", "s3cret",
                "--header", "X-Token: s3cret")
    assert got[0] == 0, got


@pytest.mark.parametrize(("path", "message"), [
    ("/html", "did not answer JSON"), ("/missing", "answered HTTP 503"),
])
def test_a_server_answering_badly_is_critical(http_server: str, path: str, message: str) -> None:
    code, line = check("ogi-check-http-json", "-u", http_server + path, "-k", "status")
    assert code == 2 and line.startswith("HTTP_JSON CRITICAL: ") and message in line


def closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def test_a_refused_connection_is_critical() -> None:
    code, line = check("ogi-check-http-json", "-u", f"http://127.0.0.1:{closed_port()}/", "-k", "x")
    assert code == 2 and "Connection refused" in line


@pytest.mark.parametrize(("timeout", "code", "word"), [("0.3", 2, "CRITICAL"), ("0.3:UNKNOWN", 3, "UNKNOWN")])
def test_a_server_that_never_answers_times_out_critical_unless_told_otherwise(timeout: str, code: int,
                                                                              word: str) -> None:
    with socket.socket() as silent:  # accepts connections (the kernel's backlog) and never replies
        silent.bind(("127.0.0.1", 0))
        silent.listen()
        url = f"http://127.0.0.1:{silent.getsockname()[1]}/health"
        got = check("ogi-check-http-json", "-u", url, "-k", "x", "-t", timeout)
    assert got == (code, f"HTTP_JSON {word}: no answer from {url} within 0.3 seconds")


def test_dot_paths_index_objects_and_lists_and_expect_keeps_booleans_apart_from_numbers() -> None:
    sentinel = lookup(DOCUMENT, "nope")
    assert lookup(DOCUMENT, "items.-1.n") == 2 and lookup(DOCUMENT, "items.5") is sentinel
    assert lookup(DOCUMENT, "") is DOCUMENT and lookup(DOCUMENT, "status.x") is sentinel
    assert matches(True, "true") and not matches(1, "true") and not matches(True, "1")
    assert matches("ok", "ok") and matches("ok", '"ok"') and matches(None, "null") and matches(2.0, "2")


def test_the_engines_perfdata_parser_reads_the_checks_perfdata(http_server: str) -> None:
    engine = pytest.importorskip("pipeline.metrics.extract")
    _, line = check("ogi-check-http-json", "-u", f"{http_server}/health", "-k", "db.latency_ms", "-w", "300")
    points = engine.parse("nagios_perfdata", line, 0.0)
    assert [p.name for p in points.points] == ["db.latency_ms", "time"] and points.skipped == 0


# --- ogi-check-metric --------------------------------------------------------------------------------

RENDER = {
    "web1.load.load1": [[1.0, 100], [5.0, 110], [None, 120]],
    "web2.load.load1": [[12.0, 100], [2.0, 110], [None, 120]],
    "web3.load.load1": [[None, 100], [None, 110]],
}


@pytest.fixture()
def graphite(http_server: str) -> str:
    _Handler.render = RENDER
    _Handler.requests.clear()
    return http_server


@pytest.mark.parametrize(("args", "code", "line"), [
    (["-m", "web1.load.load1", "-w", "4", "-c", "8"], 1,
     "METRIC WARNING: web1.load.load1 = 5 (warning: above 4) | web1.load.load1=5;4;8"),
    (["-m", "web1.load.load1", "-w", "6", "-c", "8"], 0, "METRIC OK: web1.load.load1 = 5 | web1.load.load1=5;6;8"),
    (["-m", "web1.load.load1", "-c", "4", "--aggregate", "avg"], 0,
     "METRIC OK: web1.load.load1 = 3 (avg) | web1.load.load1=3;;4"),
    (["-m", "web2.load.load1", "-c", "10", "--aggregate", "max"], 2,
     "METRIC CRITICAL: web2.load.load1 = 12 (max) (critical: above 10) | web2.load.load1=12;;10"),
    (["-m", "web2.load.load1", "-w", "3:", "--aggregate", "min"], 1,
     "METRIC WARNING: web2.load.load1 = 2 (min) (warning: below 3) | web2.load.load1=2;3:"),
    (["-m", "web*.load.load1", "-w", "4", "-c", "8"], 1,
     "METRIC WARNING: 1 of 2 series not OK: web1.load.load1 = 5 (warning: above 4), web2.load.load1 = 2"
     " | web1.load.load1=5;4;8 web2.load.load1=2;4;8"),
    (["-m", "web*.load.load1", "-w", "10"], 0,
     "METRIC OK: 2 series OK: web1.load.load1 = 5, web2.load.load1 = 2 | web1.load.load1=5;10 web2.load.load1=2;10"),
    (["-m", "web3.load.load1", "-w", "1"], 3, "METRIC UNKNOWN: no data for web3.load.load1 from -5min"),
    (["-m", "db*.load.load1", "-w", "1", "--no-data", "critical"], 2, "METRIC CRITICAL: no data for db*.load.load1 from -5min"),
    (["-m", "broken", "-w", "1"], 3, "METRIC UNKNOWN: graphite-web answered HTTP 500 Internal Server Error for broken"),
    (["-m", "html", "-w", "1"], 3, "METRIC UNKNOWN: graphite-web did not answer JSON: Expecting value: line 1 column 1 (char 0)"),
])
def test_check_metric_judges_the_last_or_aggregated_value_of_each_series(graphite: str, args: list[str], code: int,
                                                                        line: str) -> None:
    assert check("ogi-check-metric", "-u", graphite, *args) == (code, line)


def test_check_metric_asks_the_render_api_for_json_over_the_last_five_minutes(graphite: str) -> None:
    check("ogi-check-metric", "-u", graphite + "/", "-m", "sumSeries(web*.load.load1)", "-w", "1")
    check("ogi-check-metric", "-u", graphite, "-m", "web1.load.load1", "--from", "-1h", "--until", "-10min")
    (first, headers), (second, _) = _Handler.requests
    assert urllib.parse.urlparse(first).path == "/render"
    assert urllib.parse.parse_qs(urllib.parse.urlparse(first).query) == {
        "target": ["sumSeries(web*.load.load1)"], "from": ["-5min"], "format": ["json"]}
    assert urllib.parse.parse_qs(urllib.parse.urlparse(second).query)["until"] == ["-10min"]
    assert headers.get("Accept") == "application/json"


def test_graphite_web_down_is_unknown_not_critical() -> None:
    code, line = check("ogi-check-metric", "-u", f"http://127.0.0.1:{closed_port()}", "-m", "a.b", "-c", "1")
    assert code == 3 and line.startswith("METRIC UNKNOWN: cannot reach graphite-web at ")


def test_aggregates_ignore_null_points() -> None:
    points: list[list[Any]] = [[None, 1], [4.0, 2], [None, 3], [2.0, 4], [None, 5]]
    assert [aggregate(points, how) for how in ("last", "avg", "max", "min")] == [2.0, 3.0, 4.0, 2.0]
    assert aggregate([[None, 1]], "avg") is None and aggregate([], "last") is None


# --- docs/plugins.md ---------------------------------------------------------------------------------

DOC = ROOT / "docs" / "plugins.md"


def doc_json_blocks() -> list[dict[str, Any]]:
    return [json.loads(block) for block in re.findall(r"```json\n(.*?)```", DOC.read_text(), re.S)]


def test_every_json_example_in_the_plugins_doc_passes_validation() -> None:
    from pipeline.config.validate import validate
    from pipeline.registry import Registry

    blocks = doc_json_blocks()
    assert len(blocks) >= 3
    for block in blocks:
        assert "checks" in block
        errors, _ = validate(block, Registry(use_entry_points=False))
        assert errors == [], errors


def test_every_command_in_the_plugins_doc_is_an_installed_plugin_and_the_metric_ones_run() -> None:
    commands = [check["command"] for block in doc_json_blocks() for check in block["checks"].values()]
    commands += re.findall(r"^\$ (ogi-\S+.*)$", DOC.read_text(), re.M)
    assert commands
    for command in commands:
        program, *args = command.replace(":::name:::", "host1").split()
        assert (BIN / program).exists(), command
        if program.startswith("ogi-metrics-"):
            done = run(program, *args)
            assert done.returncode == 0 and graphite_lines(done.stdout), command


def test_the_collectd_and_ganglia_tables_name_series_the_plugins_print() -> None:
    rows = re.findall(r"^\| `([\w.-]+)` \| `(host1\.[^`]+)`", DOC.read_text(), re.M)
    assert len([r for r in rows if r[0].startswith("collectd.")]) >= 40 and len(rows) >= 70
    leaves: dict[str, set[str]] = {}
    for script, node in METRIC_PLUGINS.items():
        extra = ["--per-core"] if node == "load" else []
        leaves[node] = {p.split(".")[-1] for p in metrics(f"ogi-metrics-{script}", *extra)}
    for theirs, ours in rows:
        host, plugin, *_rest, leaf = ours.split(".")
        assert host == "host1" and plugin in leaves, ours
        assert leaf in leaves[plugin], f"{theirs} maps to {ours}, but {plugin} prints no {leaf}"


def test_the_sdk_examples_in_the_plugins_doc_run(tmp_path: Path) -> None:
    blocks = re.findall(r"```python\n(.*?)```", DOC.read_text(), re.S)
    assert len(blocks) == 2
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    metric, check = (tmp_path / "metric.py", tmp_path / "check.py")
    metric.write_text(blocks[0])
    check.write_text(blocks[1])
    done = subprocess.run([sys.executable, str(metric), "-s", "x"], capture_output=True, text=True, env=env)
    assert [p for p, _, _ in graphite_lines(done.stdout)] == ["x.available"], done.stdout + done.stderr
    (tmp_path / "d").mkdir()
    for i in range(3):
        (tmp_path / "d" / str(i)).touch()
    done = subprocess.run([sys.executable, str(check), "-d", str(tmp_path / "d"), "-w", "2"], capture_output=True,
                          text=True, env=env)
    assert (done.returncode, done.stdout) == (1, f"FILES WARNING: 3 entries in {tmp_path / 'd'} | entries=3;2;5000;0\n")
