"""`ogi run` as a user starts it: a real process, a real check, a real pipe handler."""

from __future__ import annotations

import json
import signal
import socket
import subprocess
import threading
import time
from pathlib import Path

import pytest

from tests.helpers import OGI, events_in, free_port, wait_for


def alive(pid: int) -> bool:
    """Running, not a zombie (PID 1 here may never reap an orphan)."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except FileNotFoundError:
        return False
    return stat.rsplit(")", 1)[1].split()[0] != "Z"

@pytest.fixture
def ogi_run(tmp_path: Path):  # type: ignore[no-untyped-def]
    events = tmp_path / "events.json"
    (tmp_path / "code").write_text("2\n")
    (tmp_path / "output").write_text("CRITICAL: disk full\n")
    port = free_port()
    config = {
        "client": {"name": "e2e-host", "subscriptions": ["base"], "socket": {"port": port}},
        "checks": {
            "flaky": {
                "command": f"cat {tmp_path}/output; exit $(cat {tmp_path}/code)",
                "subscribers": ["base"], "interval": 1, "handlers": ["record"],
            }
        },
        "handlers": {"record": {"type": "pipe", "command": f"cat >> {events}; echo >> {events}"}},
    }
    (tmp_path / "config.json").write_text(json.dumps(config))
    process = subprocess.Popen(
        [*OGI, "run", "-c", str(tmp_path / "config.json"), "--quiet"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )
    try:
        yield process, tmp_path, events, port
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()


def test_a_failing_check_creates_an_event_its_recovery_resolves_it_and_pushed_results_are_handled(ogi_run):
    process, state, events, port = ogi_run

    created = wait_for(lambda: [e for e in events_in(events) if e["check"]["name"] == "flaky"])
    assert created[0]["action"] == "create" and created[0]["check"]["status"] == 2
    assert created[0]["check"]["output"] == "CRITICAL: disk full\n"
    assert created[0]["client"]["name"] == "e2e-host"

    (state / "output").write_text("OK: disk fine\n")
    (state / "code").write_text("0\n")
    resolved = wait_for(lambda: [e for e in events_in(events) if e["action"] == "resolve"])
    assert resolved[0]["check"]["name"] == "flaky" and resolved[0]["id"] == created[0]["id"]

    with socket.create_connection(("127.0.0.1", port), timeout=5) as conn:
        conn.sendall(json.dumps({"name": "backup", "output": "backup failed", "status": 2,
                                 "handlers": ["record"]}).encode())
        conn.shutdown(socket.SHUT_WR)
        assert conn.recv(100) == b"ok"
    pushed = wait_for(lambda: [e for e in events_in(events) if e["check"]["name"] == "backup"])
    assert pushed[0]["action"] == "create" and pushed[0]["check"]["output"] == "backup failed"

    started = time.monotonic()
    process.send_signal(signal.SIGTERM)
    assert process.wait(timeout=10) == 0
    assert time.monotonic() - started < 5


def test_sigint_stops_it_cleanly_and_kills_a_running_check(tmp_path: Path):
    marker = tmp_path / "child.pid"
    config = {
        "client": {"name": "e2e-host", "subscriptions": ["base"], "socket": {"port": free_port()}},
        "checks": {"slow": {"command": f"sleep 60 & echo $! > {marker}; wait", "subscribers": ["base"], "interval": 1}},
    }
    (tmp_path / "config.json").write_text(json.dumps(config))
    process = subprocess.Popen([*OGI, "run", "-c", str(tmp_path / "config.json"), "--quiet"],
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        child = int(wait_for(lambda: marker.exists() and marker.read_text().strip()))
        process.send_signal(signal.SIGINT)
        assert process.wait(timeout=10) == 0
        assert wait_for(lambda: not alive(child), timeout=5)
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()


def test_an_invalid_configuration_exits_1_with_every_error(tmp_path: Path):
    config = {"checks": {"bad name": {"subscribers": ["base"], "interval": 0}}}
    (tmp_path / "config.json").write_text(json.dumps(config))
    done = subprocess.run([*OGI, "run", "-c", str(tmp_path / "config.json")], capture_output=True, text=True, timeout=30)
    assert done.returncode == 1
    lines = [line for line in done.stderr.splitlines() if "config.json" in line]
    assert len(lines) >= 3, done.stderr
    assert any("checks" in line and "command" in line for line in lines)


def test_the_console_line_says_what_each_handler_did_and_escapes_control_characters(tmp_path: Path) -> None:
    config = {
        "client": {"name": "e2e-host", "subscriptions": ["base"], "socket": {"port": free_port()}},
        "api": {"port": free_port()},
        "checks": {
            "paint": {"command": "printf 'CRITICAL: \\033[31mred\\033[0m\\n'; exit 2", "subscribers": ["base"],
                      "interval": 1, "handlers": ["record", "warn_only", "prod_only"]},
        },
        "filters": {"prod_only": {"attributes": {"client": {"environment": "production"}}}},
        "handlers": {
            "record": {"type": "pipe", "command": "cat > /dev/null"},
            "warn_only": {"type": "pipe", "command": "cat > /dev/null", "severities": ["warning"]},
            "prod_only": {"type": "pipe", "command": "cat > /dev/null", "filter": "prod_only"},
        },
    }
    (tmp_path / "config.json").write_text(json.dumps(config))
    process = subprocess.Popen([*OGI, "run", "-c", str(tmp_path / "config.json")],
                               stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    try:
        assert process.stdout is not None
        timer = threading.Timer(30, process.kill)  # a hang fails the test, it does not block the run
        timer.start()
        first = process.stdout.readline()
        timer.cancel()
    finally:
        process.kill()
        process.wait()
    assert first == (
        "e2e-host paint create status=2 CRITICAL: \\x1b[31mred\\x1b[0m -> record: handled, "
        "warn_only: not handled (severities), prod_only: filtered by prod_only\n"
    )
