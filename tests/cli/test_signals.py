"""The daemons' signals as an operator sends them: real `ogi` processes, their log files read back."""

from __future__ import annotations

import json
import signal
import subprocess
import time
from pathlib import Path
from typing import Any

import pytest

from tests.helpers import OGI, free_port, wait_for

DAEMONS = ["run", "server", "client", "api"]
#: A line each daemon logs at debug level once SIGTRAP turned debug on (the API logs none).
DEBUG_LINE = {"run": "check request published", "server": "check request published",
              "client": "check result published", "api": None}


def lines(path: Path) -> list[dict[str, Any]]:
    if not path.exists():
        return []
    return [json.loads(line) for line in path.read_text().splitlines() if line.startswith("{")]


def logged(path: Path, message: str) -> list[dict[str, Any]]:
    return [line for line in lines(path) if line["message"].startswith(message)]


def start(command: list[str], config: dict[str, Any], tmp_path: Path, *extra: str) -> subprocess.Popen[str]:
    (tmp_path / "config.json").write_text(json.dumps(config))
    return subprocess.Popen([*OGI, *command, "-c", str(tmp_path / "config.json"), "-l", str(tmp_path / "ogi.log"),
                             *extra], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)


def finish(process: subprocess.Popen[str]) -> str:
    """Kill what a failed test left running; the process's stderr."""
    if process.poll() is None:
        process.kill()
    _out, err = process.communicate()
    return err


def memory_config() -> dict[str, Any]:
    return {
        "transport": {"name": "memory"}, "store": {"name": "memory"},
        "api": {"port": free_port()},
        "client": {"name": "signals-host", "subscriptions": ["x"], "socket": {"port": free_port()}},
        "checks": {"published": {"command": "true", "subscribers": ["x"], "interval": 1},
                   "own": {"command": "true", "standalone": True, "interval": 1}},
    }


@pytest.mark.parametrize("daemon", DAEMONS)
def test_usr1_usr2_trap_and_hup_leave_the_daemon_running_and_term_writes_one_stop_line(
    daemon: str, tmp_path: Path
) -> None:
    log, moved = tmp_path / "ogi.log", tmp_path / "ogi.log.1"
    process = start([daemon], memory_config(), tmp_path)
    try:
        wait_for(lambda: logged(log, "configuration loaded"), 20)

        process.send_signal(signal.SIGUSR1)
        wait_for(lambda: logged(log, "SIGUSR1 received: ignored"), 10)

        process.send_signal(signal.SIGTRAP)
        wait_for(lambda: logged(log, "SIGTRAP received: debug logging on"), 10)
        if DEBUG_LINE[daemon] is not None:
            wait_for(lambda: [line for line in logged(log, DEBUG_LINE[daemon]) if line["level"] == "debug"], 10)
        process.send_signal(signal.SIGTRAP)
        wait_for(lambda: logged(log, "SIGTRAP received: debug logging off"), 10)

        # logrotate: move the file away, SIGUSR2, and the daemon writes to a new file of the old name
        log.rename(moved)
        process.send_signal(signal.SIGUSR2)
        wait_for(lambda: logged(log, "SIGUSR2 received: log file reopened"), 10)
        assert not logged(moved, "SIGUSR2")

        process.send_signal(signal.SIGHUP)
        wait_for(lambda: logged(log, "configuration reloaded"), 15)
        assert process.poll() is None

        process.send_signal(signal.SIGTERM)
        assert process.wait(timeout=10) == 0
        assert [line["signal"] for line in logged(log, "stopping")] == ["SIGTERM"]
        assert not [line for line in lines(log) + lines(moved) if "backtrace" in line]
    finally:
        err = finish(process)
    assert "Traceback" not in err


def unreachable_config() -> dict[str, Any]:
    """RabbitMQ and Redis on ports where nothing listens."""
    return {
        "transport": {"name": "rabbitmq"}, "rabbitmq": {"host": "127.0.0.1", "port": free_port()},
        "redis": {"host": "127.0.0.1", "port": free_port()},
        "api": {"port": free_port()},
        "client": {"name": "signals-host", "subscriptions": ["x"], "socket": {"port": free_port()}},
    }


@pytest.mark.parametrize(("daemon", "sig"), [("server", signal.SIGTERM), ("server", signal.SIGINT),
                                             ("client", signal.SIGTERM), ("run", signal.SIGTERM),
                                             ("api", signal.SIGTERM)])
def test_a_daemon_still_connecting_to_an_unreachable_broker_stops_within_5_s(
    daemon: str, sig: signal.Signals, tmp_path: Path
) -> None:
    log = tmp_path / "ogi.log"
    process = start([daemon], unreachable_config(), tmp_path)
    try:
        wait_for(lambda: logged(log, "configuration loaded"), 20)
        if daemon != "api":  # the API connects on its first request; the others retry at once
            wait_for(lambda: logged(log, "cannot connect to RabbitMQ"), 20)
        else:  # past its imports: a loaded machine can take seconds to get there
            wait_for(lambda: logged(log, "api listening"), 20)
        process.send_signal(sig)
        deadline = time.monotonic() + 5
        while process.poll() is None and time.monotonic() < deadline:
            time.sleep(0.05)
        assert process.poll() == 0, f"ogi {daemon} did not exit within 5 s of {sig.name}"
        assert [line["signal"] for line in logged(log, "stopping")] == [sig.name]
    finally:
        err = finish(process)
    assert "Traceback" not in err


def test_server_workers_get_the_signals_of_the_first_process(tmp_path: Path) -> None:
    log = tmp_path / "ogi.log"
    process = start(["server"], memory_config(), tmp_path, "--workers", "2")
    try:
        wait_for(lambda: logged(log, "server worker starting"), 30)  # from here it holds signals till it runs
        process.send_signal(signal.SIGHUP)
        wait_for(lambda: len(logged(log, "configuration reloaded")) == 2, 30)

        process.send_signal(signal.SIGTERM)
        assert process.wait(timeout=15) == 0
        assert [line["signal"] for line in logged(log, "stopping")] == ["SIGTERM", "SIGTERM"]
    finally:
        err = finish(process)
    assert "Traceback" not in err


def test_the_docs_name_every_signal_the_daemons_handle_and_the_systemd_unit_reloads() -> None:
    from pipeline.cli.signals import OTHER_SIGNALS, STOP_SIGNALS
    from tests.helpers import ROOT

    configuration = (ROOT / "docs" / "configuration.md").read_text()
    table = configuration[configuration.index("## Signals and reloading"):]
    for sig in (*STOP_SIGNALS, *OTHER_SIGNALS):
        assert f"`{sig.name}`" in table, sig.name
    assert "ExecReload=/bin/kill -HUP $MAINPID" in (ROOT / "docs" / "distributed.md").read_text()
