"""Nagios 4's row of `python -m bench.peers`: Debian's /usr/sbin/nagios4 on a generated config.

`write_config` puts everything in one directory: the main config (own log, status, command
file, lock file, query socket, check_result_path, temp path; state retention off), one host
whose own check is off, and N services running the command with `check_interval 1` under
`interval_length=1` (so every second), `max_concurrent_checks=0` (no cap); notifications,
event handlers, flap detection, freshness checks and the update check are off. Nagios runs as
the benchmark's user, in the foreground, as its child; its check workers are its children.

Counting: with `process_performance_data=1` the core appends one line per processed service
result to `service_perfdata_file` (template: `$TIMET$`, `$SERVICEDESC$`, `$LASTSERVICECHECK$`,
`$SERVICELATENCY$`, `$SERVICEEXECUTIONTIME$`); the file is read once Nagios has stopped (and
flushed it), and a result counts when its `$TIMET$` (the second the core processed it) falls in
the window.

Latency: Nagios' timestamps have 1 s resolution (`$TIMET$` - `$LASTSERVICECHECK$`, kept in the
JSON as `latency_coarse_*_s`). The finest it gives is `$SERVICELATENCY$` (from the time the
check was scheduled for to the time it started, in ms) plus `$SERVICEEXECUTIONTIME$` (the
plugin's run, in ms): from the schedule to the plugin's exit, without the trip of the result
from the worker back to the core and its processing.
"""

from __future__ import annotations

import grp
import os
import pwd
import re
import subprocess
import tempfile
from pathlib import Path
from typing import Any

from bench.peer_run import PLUGIN_COMMAND, Daemon, measure_window, percentile, row

NAME = "Nagios 4"
NAGIOS = "/usr/sbin/nagios4"
PACKAGE = "nagios4-core"
LATENCY = ("$SERVICELATENCY$ + $SERVICEEXECUTIONTIME$ (schedule to plugin exit, ms resolution; "
           "Nagios' own timestamps are whole seconds)")
PERFDATA = "service-perfdata"
_TEMPLATE = r"$TIMET$\t$SERVICEDESC$\t$LASTSERVICECHECK$\t$SERVICELATENCY$\t$SERVICEEXECUTIONTIME$"


def available() -> str | None:
    """None when Nagios 4 can be run, else why not."""
    return None if os.access(NAGIOS, os.X_OK) else f"{NAGIOS} not found (Debian package {PACKAGE})"


def version() -> str:
    out = subprocess.run([NAGIOS, "--version"], capture_output=True, text=True, check=False).stdout
    found = re.search(r"Nagios Core (\S+)", out)
    return found.group(1) if found else "?"


def _main_config(d: Path) -> str:
    user, group = pwd.getpwuid(os.getuid()).pw_name, grp.getgrgid(os.getgid()).gr_name
    settings = {
        "log_file": d / "nagios.log", "cfg_file": d / "objects.cfg",
        "object_cache_file": d / "objects.cache", "precached_object_file": d / "objects.precache",
        "status_file": d / "status.dat", "status_update_interval": 3600,
        "nagios_user": user, "nagios_group": group,
        "check_external_commands": 0, "command_file": d / "nagios.cmd",
        "query_socket": d / "nagios.qh", "lock_file": d / "nagios.lock",
        "temp_file": d / "nagios.tmp", "temp_path": d,
        "check_result_path": d / "checkresults",
        "retain_state_information": 0, "state_retention_file": d / "retention.dat",
        "debug_level": 0, "debug_file": d / "nagios.debug",
        "use_syslog": 0, "log_initial_states": 0, "log_current_states": 0,
        "interval_length": 1, "max_concurrent_checks": 0,
        "execute_host_checks": 0, "enable_notifications": 0, "enable_event_handlers": 0,
        "enable_flap_detection": 0, "check_service_freshness": 0,
        "check_for_orphaned_services": 0, "check_for_orphaned_hosts": 0, "check_for_updates": 0,
        "illegal_macro_output_chars": "`~$&|'\"<>",
        "process_performance_data": 1, "service_perfdata_file": d / PERFDATA,
        "service_perfdata_file_template": _TEMPLATE, "service_perfdata_file_mode": "a",
    }
    return "".join(f"{key}={value}\n" for key, value in settings.items())


def _define(kind: str, attributes: dict[str, object]) -> str:
    body = "".join(f"    {key} {value}\n" for key, value in attributes.items())
    return f"define {kind} {{\n{body}}}\n"


def _objects(n: int, command: str) -> str:
    days = ("sunday", "monday", "tuesday", "wednesday", "thursday", "friday", "saturday")
    parts = [
        _define("timeperiod", {"timeperiod_name": "always", "alias": "always",
                               **{day: "00:00-24:00" for day in days}}),
        _define("command", {"command_name": "peers-check", "command_line": command}),
        _define("contact", {"contact_name": "nobody", "host_notifications_enabled": 0,
                            "service_notifications_enabled": 0,
                            "host_notification_period": "always", "service_notification_period": "always",
                            "host_notification_options": "n", "service_notification_options": "n",
                            "host_notification_commands": "peers-check",
                            "service_notification_commands": "peers-check"}),
        _define("host", {"host_name": "peers", "address": "127.0.0.1", "check_command": "peers-check",
                         "active_checks_enabled": 0, "max_check_attempts": 1, "check_period": "always",
                         "notification_period": "always", "contacts": "nobody"}),
        _define("service", {"name": "peers-service", "register": 0, "host_name": "peers",
                            "check_command": "peers-check", "check_interval": 1, "retry_interval": 1,
                            "max_check_attempts": 1, "check_period": "always",
                            "notification_period": "always", "contacts": "nobody"}),
    ]
    parts += [_define("service", {"use": "peers-service", "service_description": f"c{i}"}) for i in range(n)]
    return "".join(parts)


def write_config(directory: Path, n: int, command: str = PLUGIN_COMMAND) -> Path:
    """Writes the main and object configs for N services into `directory`; returns the main one."""
    (directory / "checkresults").mkdir(exist_ok=True)
    (directory / "objects.cfg").write_text(_objects(n, command))
    main = directory / "nagios.cfg"
    main.write_text(_main_config(directory))
    return main


def verify(main: Path) -> subprocess.CompletedProcess[str]:
    """`nagios4 -v`: Nagios' own pre-flight check of the configuration."""
    return subprocess.run([NAGIOS, "-v", str(main)], capture_output=True, text=True, check=False)


def read_results(perfdata: Path, start: int, end: int) -> tuple[list[float], list[float], set[str]]:
    """Fine latencies (s), coarse latencies (s) and services of the results processed in [start, end)."""
    fine: list[float] = []
    coarse: list[float] = []
    services: set[str] = set()
    if not perfdata.exists():
        return fine, coarse, services
    for line in perfdata.read_text(errors="replace").splitlines():
        fields = line.split("\t")
        try:
            timet, last_check, latency, execution = int(fields[0]), int(fields[2]), float(fields[3]), float(fields[4])
        except (ValueError, IndexError):
            continue
        if start <= timet < end:
            fine.append(latency + execution)
            coarse.append(float(timet - last_check))
            services.add(fields[1])
    return fine, coarse, services


def measure(n: int, warmup: float, seconds: int, command: str = PLUGIN_COMMAND,
            workdir: Path | None = None) -> dict[str, Any]:
    with tempfile.TemporaryDirectory(prefix="ogi-peers-nagios-", dir=workdir) as tmp:
        directory = Path(tmp)
        main = write_config(directory, n, command)
        with Daemon([NAGIOS, str(main)], directory / "stdout.log", cwd=directory) as daemon:
            window = measure_window(daemon, warmup, seconds)
        fine, coarse, services = read_results(directory / PERFDATA, window.start, window.end)
    result = row(NAME, n, window, fine)
    coarse.sort()
    result["latency_coarse_p50_s"] = percentile(coarse, 0.5) if coarse else None
    result["latency_coarse_p99_s"] = percentile(coarse, 0.99) if coarse else None
    result["services_seen"] = len(services)
    return result
