"""contrib/systemd units pass `systemd-analyze verify` and are hardened; contrib/logrotate parses."""

from __future__ import annotations

import configparser
import shutil
import subprocess
from pathlib import Path

import pytest

from tests.helpers import ROOT, require_service

UNITS = sorted((ROOT / "contrib" / "systemd").glob("*.service"))
OGI = ROOT / ".venv" / "bin" / "ogi"


def unit(path: Path) -> configparser.RawConfigParser:
    parser = configparser.RawConfigParser(strict=False, interpolation=None)
    parser.optionxform = str  # type: ignore[assignment,method-assign]
    parser.read_string(path.read_text())
    return parser


def test_there_is_a_unit_per_daemon() -> None:
    assert [u.name for u in UNITS] == ["ogi-api.service", "ogi-client.service", "ogi-server.service"]


@pytest.mark.parametrize("path", UNITS, ids=lambda p: p.name)
def test_the_unit_runs_its_daemon_hardened_and_reloads_with_sighup(path: Path) -> None:
    service = unit(path)["Service"]
    role = path.stem.removeprefix("ogi-")
    assert service["ExecStart"].split()[:2] == ["/opt/ogi/bin/ogi", role]
    assert service["ExecReload"] == "/bin/kill -HUP $MAINPID"
    assert service["User"] == "ogi" and service["NoNewPrivileges"] == "yes"
    assert service["ProtectSystem"] == "strict" and service["ProtectHome"] == "yes"
    assert (service["StateDirectory"], service["LogsDirectory"]) == ("ogi", "ogi")


@pytest.mark.parametrize("path", UNITS, ids=lambda p: p.name)
def test_systemd_analyze_verify_passes(path: Path, tmp_path: Path) -> None:
    require_service("systemd-analyze (Debian package systemd)", available=shutil.which("systemd-analyze") is not None)
    # verify insists that ExecStart exists: point it at this checkout's ogi, change nothing else
    copy = tmp_path / path.name
    copy.write_text(path.read_text().replace("/opt/ogi/bin/ogi", str(OGI)))
    done = subprocess.run(["systemd-analyze", "verify", str(copy)], capture_output=True, text=True, timeout=60)
    complaints = [line for line in (done.stdout + done.stderr).splitlines() if path.name in line or str(copy) in line]
    assert done.returncode == 0 and complaints == [], done.stdout + done.stderr


def test_systemd_analyze_verify_would_catch_a_mistake(tmp_path: Path) -> None:
    require_service("systemd-analyze (Debian package systemd)", available=shutil.which("systemd-analyze") is not None)
    copy = tmp_path / "ogi-server.service"
    copy.write_text(UNITS[-1].read_text().replace("/opt/ogi/bin/ogi", str(OGI)).replace("ProtectSystem=", "ProtectSystm="))
    done = subprocess.run(["systemd-analyze", "verify", str(copy)], capture_output=True, text=True, timeout=60)
    assert "ProtectSystm" in done.stdout + done.stderr


def test_logrotate_reads_the_configuration(tmp_path: Path) -> None:
    require_service("logrotate", available=shutil.which("logrotate") is not None)
    text = (ROOT / "contrib" / "logrotate" / "ogi").read_text()
    logs = tmp_path / "log"
    logs.mkdir()
    (logs / "server.log").write_text("x\n" * 10)
    config = tmp_path / "ogi"
    # as a user without an `ogi` account: the same file minus its `su` line, over a temporary folder
    config.write_text(text.replace("/var/log/ogi", str(logs)).replace("    su ogi ogi\n", ""))
    done = subprocess.run(["logrotate", "-d", "-s", str(tmp_path / "state"), str(config)],
                          capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    assert f"considering log {logs}/server.log" in done.stdout + done.stderr
