"""bench.peers against the real peers: Debian's Nagios 4 and Icinga 2 accept the configs the
benchmark generates (their own validation), a short run of each counts results and leaves no
process behind, the process-tree accounting sees a running child's CPU, and the command prints
the JSON and the issue's table. Without nagios4/icinga2 the peer's tests skip, naming the
package; under OGI_REQUIRE_SERVICES=1 they fail instead.
"""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path
from types import ModuleType

import pytest

from bench import peer_icinga, peer_nagios
from bench.peer_run import tree_cpu_seconds
from bench.peers import table
from tests.helpers import ROOT, require_service

pytestmark = pytest.mark.services

N, WARMUP, SECONDS = 20, 2.0, 4


def _need(peer: ModuleType) -> None:
    missing = peer.available()
    require_service(f"{peer.NAME} ({missing})", available=missing is None)


def _processes_mentioning(text: str) -> list[str]:
    found = []
    for entry in os.scandir("/proc"):
        if entry.name.isdigit() and entry.name != str(os.getpid()):
            try:
                cmdline = Path(entry.path, "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
            except OSError:
                continue
            if text in cmdline:
                found.append(f"{entry.name}: {cmdline}")
    return found


def test_the_generated_nagios_config_passes_nagios4_preflight_check(tmp_path: Path) -> None:
    _need(peer_nagios)
    main = peer_nagios.write_config(tmp_path, 3)
    checked = peer_nagios.verify(main)
    assert checked.returncode == 0, checked.stdout + checked.stderr
    assert "Total Errors:   0" in checked.stdout
    assert "Checked 3 services." in checked.stdout


def test_the_generated_icinga_config_passes_icinga2_validation_inside_its_directory(tmp_path: Path) -> None:
    _need(peer_icinga)
    path = peer_icinga.write_config(tmp_path, 3)
    checked = peer_icinga.verify(path)
    assert checked.returncode == 0, checked.stdout + checked.stderr
    assert "Instantiated 3 Services." in checked.stdout
    # its cache went to the benchmark's directory, not /var/cache/icinga2
    assert (tmp_path / "CacheDir" / "icinga2.vars").exists()


@pytest.mark.parametrize("peer", [peer_nagios, peer_icinga], ids=["nagios4", "icinga2"])
def test_a_short_run_counts_results_and_stops_the_peer(peer: ModuleType, tmp_path: Path) -> None:
    _need(peer)
    result = peer.measure(N, WARMUP, SECONDS, workdir=tmp_path)
    # each service runs once a second: never more results than that, and some on any machine
    assert 0 < result["results"] <= N * (SECONDS + 1), result
    assert 0 < result["services_seen"] <= N
    assert result["cpu_ms_per_check"] > 0
    assert result["latency_p50_ms"] is not None and result["latency_p99_ms"] >= result["latency_p50_ms"]
    assert _processes_mentioning(str(tmp_path)) == []


def test_the_tree_counts_a_still_running_childs_cpu_which_cutime_does_not(tmp_path: Path) -> None:
    ready = tmp_path / "ready"
    # the parent forks a child that burns 0.3 s of CPU, says so, and keeps running unreaped
    child = (f"import os, time\nwhile sum(os.times()[:2]) < 0.3: pass\n"
             f"open({str(ready)!r}, 'w').close()\ntime.sleep(60)\n")
    parent = subprocess.Popen([sys.executable, "-c",
                               f"import subprocess, sys, time; subprocess.Popen([sys.executable, '-c', {child!r}]); time.sleep(60)"],
                              start_new_session=True)
    try:
        while not ready.exists():
            assert parent.poll() is None
            time.sleep(0.02)
        own = Path(f"/proc/{parent.pid}/stat").read_text().rsplit(")", 1)[1].split()
        parents_own_and_children = sum(int(f) for f in own[11:15]) / os.sysconf("SC_CLK_TCK")
        assert parents_own_and_children < 0.3  # the child is not reaped: cutime does not have it
        assert tree_cpu_seconds(parent.pid) >= 0.3 + parents_own_and_children - 0.02
    finally:
        os.killpg(parent.pid, signal.SIGKILL)  # the parent and its child: the session's only group
        parent.wait()


def _report(runs: dict[str, list[dict[str, object]]]) -> dict[str, object]:
    labels = {"ogi": "ogi", "icinga2": "Icinga 2", "nagios4": "Nagios 4"}
    return {
        "machine": {"cpus": 2, "loadavg_start": "1.00 / 1.00 / 1.00", "loadavg_end": "2.00 / 1.00 / 1.00"},
        "workload": {"command": "/usr/lib/nagios/plugins/check_dummy 0 ok", "rates": [600], "warmup_s": 5.0,
                     "window_s": 20, "rounds": 2},
        "systems": {name: {"label": labels[name], "version": "9.9", "runs": rows} for name, rows in runs.items()},
    }


def _run(rate: float, cpu: float, p50: float, p99: float) -> dict[str, object]:
    return {"asked_per_s": 600, "results": int(rate * 20), "rate_per_s": rate, "cpu_ms_per_check": cpu,
            "latency_p50_ms": p50, "latency_p99_ms": p99}


def test_the_table_has_a_row_per_n_and_a_column_per_system_with_the_rounds_spans() -> None:
    report = _report({
        "ogi": [_run(600.0, 2.04, 7.5, 20.0), _run(598.0, 2.11, 8.0, 1234.0)],
        "nagios4": [_run(590.0, 1.15, 4.0, 12.0), _run(590.0, 1.151, 4.0, 12.0)],
        "icinga2": [{"asked_per_s": 600, "error": "/usr/sbin/icinga2 not found (Debian package icinga2-bin)"}],
    })
    lines = table(report).splitlines()
    assert lines[0] == "| N checks/s asked | ogi (9.9) | Icinga 2 (9.9) | Nagios 4 (9.9) |"
    assert lines[2] == ("| 600 | 598–600/s, 2.04–2.11 ms CPU per check; p50 7.5–8.0 ms, p99 20–1,234 ms"
                        " | not run: /usr/sbin/icinga2 not found (Debian package icinga2-bin)"
                        " | 590/s, 1.15 ms CPU per check; p50 4.0 ms, p99 12 ms |")
    assert "load average (1/5/15 min) 1.00 / 1.00 / 1.00 at the start" in lines[-1]


def test_the_command_prints_the_json_then_the_table(tmp_path: Path) -> None:
    done = subprocess.run([sys.executable, "-m", "bench.peers", "--systems", "ogi", "--rates", str(N),
                           "--warmup", str(WARMUP), "--seconds", "2", "--rounds", "1"],
                          cwd=ROOT, capture_output=True, text=True, timeout=90, check=False)
    assert done.returncode == 0, done.stderr
    report_text, table_text = done.stdout.split("\n\n| ", 1)
    report = json.loads(report_text)
    (run,) = report["systems"]["ogi"]["runs"]
    assert run["asked_per_s"] == N and run["results"] > 0 and run["cpu_ms_per_check"] > 0
    assert table_text.splitlines()[2].startswith(f"| {N} | ")


def test_every_flag_docs_performance_md_shows_is_accepted() -> None:
    text = (ROOT / "docs" / "performance.md").read_text()
    synopsis = text.split("```\npython -m bench.peers", 1)[1].split("```", 1)[0]
    flags = re.findall(r"--[a-z]+", synopsis)
    assert len(flags) == 6
    shown = subprocess.run([sys.executable, "-m", "bench.peers", "--help"], cwd=ROOT, capture_output=True,
                           text=True, check=True).stdout
    assert [flag for flag in flags if flag not in shown] == []
