"""Sensu 1.x's own Python software from PyPI against `ogi run`: what a migrating fleet runs.

- `pysensu-yelp`'s `send_event` with its defaults (`"source": null`, `"ttl": null`,
  `"handler": "default"`, and a socket closed without reading `ok`);
- a `sensu-plugin` `SensuHandler` run as a pipe handler, finding its settings through
  `SENSU_LOADED_TEMPFILE` as under Sensu.
"""

from __future__ import annotations

import json
import signal
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from tests.helpers import OGI, events_in, free_port, wait_for

pysensu_yelp = pytest.importorskip("pysensu_yelp", reason="pysensu-yelp is in the dev extras")
pytest.importorskip("sensu_plugin", reason="sensu-plugin is in the dev extras")

SENSU_PLUGIN_HANDLER = """
import json
from sensu_plugin import SensuHandler


class Recorder(SensuHandler):
    def handle(self):
        recorder = self.settings["recorder"]  # from the files SENSU_LOADED_TEMPFILE lists
        with open(recorder["path"], "a") as out:
            out.write(json.dumps({"check": self.event["check"]["name"], "team": recorder["team"],
                                  "status": self.event["check"]["status"]}) + "\\n")


Recorder()
"""


def start(tmp_path: Path, config: dict[str, Any], *flags: str) -> subprocess.Popen[str]:
    conf_d = tmp_path / "conf.d"
    conf_d.mkdir()
    (tmp_path / "config.json").write_text(json.dumps(config))
    (conf_d / "recorder.json").write_text(json.dumps({"recorder": {"path": str(tmp_path / "recorded.json"),
                                                                   "team": "storage"}}))
    return subprocess.Popen([*OGI, "run", "-c", str(tmp_path / "config.json"), "-d", str(conf_d), "--quiet",
                             *flags], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def stop(process: subprocess.Popen[str]) -> str:
    process.send_signal(signal.SIGTERM)
    _out, err = process.communicate(timeout=15)
    return err


def test_pysensu_yelp_send_event_with_its_defaults_is_accepted_and_handled_by_default(tmp_path: Path) -> None:
    port = free_port()
    events = tmp_path / "events.json"
    pid_file = tmp_path / "ogi.pid"
    config = {"client": {"name": "yelp-host", "subscriptions": [], "socket": {"port": port}},
              "handlers": {"default": {"type": "pipe", "command": f"cat >> {events}; echo >> {events}"}}}
    process = start(tmp_path, config, "-p", str(pid_file))
    try:
        wait_for(lambda: pid_file.exists() and pid_file.read_text().strip() == str(process.pid))

        def send() -> bool:
            try:
                pysensu_yelp.send_event(name="batch_job", runbook="http://runbooks/batch", status=2,
                                        output="batch job failed", team="storage", sensu_host="127.0.0.1",
                                        sensu_port=port)
            except ConnectionRefusedError:
                return False
            return True

        wait_for(send)
        got = wait_for(lambda: [e for e in events_in(events) if e["check"]["name"] == "batch_job"])
        check = got[0]["check"]
        assert (check["status"], check["output"], check["team"], check["interval"]) == (2, "batch job failed",
                                                                                         "storage", 30)
        assert "source" not in check and "ttl" not in check  # null means unset, as Sensu 1.9
        assert got[0]["client"]["name"] == "yelp-host"
    finally:
        err = stop(process) if process.poll() is None else process.communicate()[1]
    assert "Unhandled exception" not in err and "Traceback" not in err, err
    assert not pid_file.exists()  # -p FILE is removed when the daemon stops


def test_a_sensu_plugin_handler_reads_its_settings_through_sensu_loaded_tempfile(tmp_path: Path) -> None:
    handler = tmp_path / "handler_recorder.py"
    handler.write_text(SENSU_PLUGIN_HANDLER)
    config = {"client": {"name": "plugin-host", "subscriptions": ["base"], "socket": {"port": free_port()}},
              "checks": {"disk": {"command": "echo 'DISK CRITICAL'; exit 2", "subscribers": ["base"], "interval": 1,
                                  "handlers": ["recorder"]}},
              "handlers": {"recorder": {"type": "pipe", "command": f"{sys.executable} {handler}"}}}
    process = start(tmp_path, config)
    try:
        recorded = wait_for(lambda: events_in(tmp_path / "recorded.json"))
    finally:
        stop(process)
    assert recorded[0] == {"check": "disk", "team": "storage", "status": 2}
