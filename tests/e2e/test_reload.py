"""SIGHUP on `ogi run` as an operator meets it: a check file added, then a broken one."""

from __future__ import annotations

import json
import signal
import subprocess
import time
from pathlib import Path
from typing import Any

from tests.helpers import OGI, events_in, free_port, wait_for

#: The new check's interval: its results must come within two of them after the reload.
NEW_INTERVAL = 3


def log_lines(path: Path) -> list[dict[str, Any]]:
    if not path.exists():
        return []
    return [json.loads(line) for line in path.read_text().splitlines() if line.startswith("{")]


def logged(path: Path, message: str) -> list[dict[str, Any]]:
    return [line for line in log_lines(path) if line["message"].startswith(message)]


def of(events: Path, check: str) -> list[dict[str, Any]]:
    return [e for e in events_in(events) if e["check"]["name"] == check]


def test_sighup_adds_a_new_check_without_losing_events_and_refuses_a_broken_configuration(tmp_path: Path) -> None:
    conf = tmp_path / "conf.d"
    conf.mkdir()
    events, log = tmp_path / "events.json", tmp_path / "ogi.log"
    base = {
        "client": {"name": "reload-host", "subscriptions": ["base"], "socket": {"port": free_port()}},
        "api": {"port": free_port()},
        # slow enough that a SIGHUP often lands while an event is with the handler
        "handlers": {"record": {"type": "pipe", "command": f"sleep 0.3; cat >> {events}; echo >> {events}"}},
        "checks": {"old": {"command": "echo old failing; exit 2", "subscribers": ["base"], "interval": 1,
                           "handlers": ["record"]}},
    }
    (conf / "base.json").write_text(json.dumps(base))
    process = subprocess.Popen([*OGI, "run", "-d", str(conf), "-l", str(log), "--quiet"],
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        wait_for(lambda: len(of(events, "old")) >= 2, 20)

        new = {"checks": {"new": {"command": "echo new warning; exit 1", "subscribers": ["base"],
                                  "interval": NEW_INTERVAL, "handlers": ["record"]}}}
        (conf / "new.json").write_text(json.dumps(new))
        process.send_signal(signal.SIGHUP)
        wait_for(lambda: logged(log, "configuration reloaded"), 15)
        reloaded = time.monotonic()
        wait_for(lambda: of(events, "new"), 2 * NEW_INTERVAL + 1)
        assert time.monotonic() - reloaded <= 2 * NEW_INTERVAL + 1
        assert of(events, "new")[0]["check"]["output"] == "new warning\n"

        # The old check went on across the reload, and no event of it was lost: every occurrence handled.
        before = len(of(events, "old"))
        wait_for(lambda: len(of(events, "old")) >= before + 2, 10)
        occurrences = sorted(e["occurrences"] for e in of(events, "old"))
        assert occurrences == list(range(1, occurrences[-1] + 1)), occurrences
        assert process.poll() is None

        (conf / "broken.json").write_text('{"checks": {"half": ')
        process.send_signal(signal.SIGHUP)
        refused = wait_for(lambda: logged(log, "reload refused"), 15)
        assert refused[0]["level"] == "error"
        errors = logged(log, "invalid configuration")
        assert [line["file"] for line in errors] == [str(conf / "broken.json")], errors

        (conf / "broken.json").unlink()
        (conf / "unknown.json").write_text(json.dumps({"handlers": {"nope": {"type": "no-such-type"}}}))
        process.send_signal(signal.SIGHUP)
        wait_for(lambda: len(logged(log, "reload refused")) == 2, 15)
        errors = logged(log, "invalid configuration")[1:]
        assert [(line["file"], line["path"]) for line in errors] == [(str(conf / "unknown.json"), "handlers.nope.type")]

        # Still running the last good configuration: both checks keep producing events.
        counts = len(of(events, "old")), len(of(events, "new"))
        wait_for(lambda: len(of(events, "old")) > counts[0] and len(of(events, "new")) > counts[1],
                 2 * NEW_INTERVAL + 5)
        assert process.poll() is None
        assert len(logged(log, "configuration reloaded")) == 1

        process.send_signal(signal.SIGTERM)
        assert process.wait(timeout=10) == 0
        stops = logged(log, "stopping")
        assert [line["signal"] for line in stops] == ["SIGTERM"]
        assert not [line for line in log_lines(log) if "backtrace" in line]
        _out, err = process.communicate()
        assert "Traceback" not in err
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
