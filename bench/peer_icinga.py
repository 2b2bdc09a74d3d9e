"""Icinga 2's row of `python -m bench.peers`: Debian's /usr/sbin/icinga2 on a generated config.

`write_config` writes one file (`icinga2 daemon -c`): the checker feature, a PerfdataWriter,
a CheckCommand running the command's words (exec'd directly, no shell), one host whose own
check is off and N services with `check_interval 1s`. No ITL, no API listener, no
notifications. Every directory Icinga writes to is in the same temporary directory through
`--define DataDir= CacheDir= LogDir= SpoolDir= InitRunDir=` (nothing under /var is touched),
and `ICINGA2_USER`/`ICINGA2_GROUP` make it run as the benchmark's user. It runs in the
foreground as the benchmark's child; its own children (the daemon under the umbrella process,
the spawn helper, the plugins) are counted through the process tree.

Counting: the PerfdataWriter writes one line per processed service result, whether or not the
plugin printed performance data (template: `$icinga.timet$`, `$service.name$`,
`$service.latency$`, `$service.execution_time$`); its rotation is set past the run, and every
file it wrote is read once Icinga has stopped (and flushed them). A result counts when its
`$icinga.timet$` (the second Icinga processed it) falls in the window. Checked on small N
against a plugin that records its own runs: counted = executed.

Latency: `$service.latency$ + $service.execution_time$` = the check result's `schedule_end -
schedule_start`: from the time the check was scheduled for to the end of Icinga's processing
of its result, in µs.
"""

from __future__ import annotations

import grp
import json
import os
import pwd
import re
import shlex
import subprocess
import tempfile
from pathlib import Path
from typing import Any

from bench.peer_run import PLUGIN_COMMAND, Daemon, measure_window, row

NAME = "Icinga 2"
ICINGA = "/usr/sbin/icinga2"
PACKAGE = "icinga2-bin"
LATENCY = ("$service.latency$ + $service.execution_time$ (schedule to processed result, "
           "µs resolution)")
PERFDATA = "service-perfdata"
_TEMPLATE = "\t".join(("$icinga.timet$", "$service.name$", "$service.latency$", "$service.execution_time$"))
_DIRECTORIES = ("DataDir", "CacheDir", "LogDir", "SpoolDir", "InitRunDir")


def available() -> str | None:
    """None when Icinga 2 can be run, else why not."""
    return None if os.access(ICINGA, os.X_OK) else f"{ICINGA} not found (Debian package {PACKAGE})"


def version() -> str:
    out = subprocess.run([ICINGA, "--version"], capture_output=True, text=True, check=False).stdout
    found = re.search(r"version: r?([\d.]+)", out)
    return found.group(1) if found else "?"


def _string(value: str | Path) -> str:
    # an Icinga 2 string literal: double quotes and backslash escapes, as in JSON
    return json.dumps(str(value), ensure_ascii=False)


def config_text(directory: Path, n: int, command: str = PLUGIN_COMMAND) -> str:
    words = ", ".join(_string(word) for word in shlex.split(command))
    d = directory
    return f"""object CheckerComponent "checker" {{ }}

object PerfdataWriter "perfdata" {{
  service_perfdata_path = {_string(d / PERFDATA)}
  service_temp_path = {_string(d / (PERFDATA + ".tmp"))}
  host_perfdata_path = {_string(d / "host-perfdata")}
  host_temp_path = {_string(d / "host-perfdata.tmp")}
  service_format_template = {_string(_TEMPLATE)}
  rotation_interval = 1d
}}

object CheckCommand "peers-check" {{
  command = [ {words} ]
}}

object Host "peers" {{
  check_command = "peers-check"
  enable_active_checks = false
}}

for (i in range({n})) {{
  object Service "c" + i {{
    host_name = "peers"
    check_command = "peers-check"
    check_interval = 1s
    retry_interval = 1s
  }}
}}
"""


def write_config(directory: Path, n: int, command: str = PLUGIN_COMMAND) -> Path:
    """Writes the config for N services and Icinga's directories into `directory`; returns the config."""
    for name in _DIRECTORIES:
        (directory / name).mkdir(exist_ok=True)
    path = directory / "icinga2.conf"
    path.write_text(config_text(directory, n, command))
    return path


def _environment() -> dict[str, str]:
    return {**os.environ, "ICINGA2_USER": pwd.getpwuid(os.getuid()).pw_name,
            "ICINGA2_GROUP": grp.getgrgid(os.getgid()).gr_name}


def _argv(path: Path, *extra: str) -> list[str]:
    defines = [f"--define={name}={path.parent / name}" for name in _DIRECTORIES]
    return [ICINGA, "daemon", "-c", str(path), *defines, *extra]


def verify(path: Path) -> subprocess.CompletedProcess[str]:
    """`icinga2 daemon -C`: Icinga's own validation of the configuration."""
    return subprocess.run(_argv(path, "-C"), capture_output=True, text=True, check=False,
                          env=_environment(), cwd=path.parent)


def read_results(directory: Path, start: int, end: int) -> tuple[list[float], set[str]]:
    """Latencies (s) and services of the results Icinga processed in [start, end)."""
    latencies: list[float] = []
    services: set[str] = set()
    # the file being written (.tmp) and any rotated one (service-perfdata.<time>)
    for path in sorted(directory.glob(PERFDATA + ".*")):
        for line in path.read_text(errors="replace").splitlines():
            fields = line.split("\t")
            try:
                timet, latency, execution = int(fields[0]), float(fields[2]), float(fields[3])
            except (ValueError, IndexError):
                continue
            if start <= timet < end:
                latencies.append(latency + execution)
                services.add(fields[1])
    return latencies, services


def measure(n: int, warmup: float, seconds: int, command: str = PLUGIN_COMMAND,
            workdir: Path | None = None) -> dict[str, Any]:
    with tempfile.TemporaryDirectory(prefix="ogi-peers-icinga-", dir=workdir) as tmp:
        directory = Path(tmp)
        path = write_config(directory, n, command)
        with Daemon(_argv(path, "-x", "warning"), directory / "stdout.log", env=_environment(),
                    cwd=directory) as daemon:
            window = measure_window(daemon, warmup, seconds)
        latencies, services = read_results(directory, window.start, window.end)
    result = row(NAME, n, window, latencies)
    result["services_seen"] = len(services)
    return result
