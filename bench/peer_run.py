"""What `python -m bench.peers` does alike for ogi, Nagios 4 and Icinga 2.

- `tree_cpu_seconds`: CPU of a daemon and every process below it, from /proc. Each live
  process of the tree adds utime + stime + cutime + cstime: a child that ended and was reaped
  is in its parent's cutime/cstime, a child still running (Nagios' workers, Icinga's spawn
  helper, ogi's running plugins) is read from its own stat. The difference between two
  readings is what the whole tree used in between.
- `Daemon`: a peer started as a child of the benchmark in a session of its own, its output in a
  log file, stopped with SIGTERM after the window and its process group killed if anything of
  it is left.
- `measure_window`: the warm-up, then a window starting on a whole second (Nagios' and
  Icinga's result timestamps have 1 s resolution) with the tree's CPU read at both ends.
- `row`: the figures of one system at one N: results per second, CPU ms per result, latency
  p50/p99.
"""

from __future__ import annotations

import contextlib
import math
import os
import signal
import subprocess
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

PLUGIN_COMMAND = "/usr/lib/nagios/plugins/check_dummy 0 ok"
_TICK = os.sysconf("SC_CLK_TCK")


def _stat_fields(pid: str) -> list[str] | None:
    try:
        text = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None  # ended between listing /proc and reading it
    # the command name may hold spaces and parentheses: the fields start after the last ")"
    return text.rsplit(")", 1)[1].split()


def tree_cpu_seconds(root: int) -> float:
    """utime + stime + cutime + cstime of `root` and every live descendant, in seconds."""
    children: dict[int, list[int]] = {}
    ticks: dict[int, int] = {}
    for entry in os.scandir("/proc"):
        if not entry.name.isdigit():
            continue
        fields = _stat_fields(entry.name)
        if fields is None:
            continue
        pid = int(entry.name)
        children.setdefault(int(fields[1]), []).append(pid)
        ticks[pid] = sum(int(f) for f in fields[11:15])
    total, todo = 0, [root]
    while todo:
        pid = todo.pop()
        total += ticks.get(pid, 0)
        todo.extend(children.get(pid, ()))
    return total / _TICK


def tree_pids(root: int) -> set[int]:
    """`root` and its live descendants."""
    children: dict[int, list[int]] = {}
    for entry in os.scandir("/proc"):
        fields = _stat_fields(entry.name) if entry.name.isdigit() else None
        if fields is not None:
            children.setdefault(int(fields[1]), []).append(int(entry.name))
    found, todo = set(), [root]
    while todo:
        pid = todo.pop()
        if pid in found:
            continue
        found.add(pid)
        todo.extend(children.get(pid, ()))
    return found


class PeerFailed(RuntimeError):
    """A peer exited before the end of its window; the message carries its log's tail."""


class Daemon:
    """A peer daemon run as a child of the benchmark in its own session; stopped on exit."""

    def __init__(self, argv: Sequence[str], log: Path, env: Mapping[str, str] | None = None,
                 cwd: Path | None = None) -> None:
        self.argv = list(argv)
        self.log = log
        self._log_file: IO[bytes] = log.open("wb")
        self.proc = subprocess.Popen(self.argv, stdin=subprocess.DEVNULL, stdout=self._log_file,
                                     stderr=subprocess.STDOUT, start_new_session=True,
                                     env=dict(env) if env is not None else None, cwd=cwd)
        self.pid = self.proc.pid

    def __enter__(self) -> Daemon:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def check_alive(self) -> None:
        if self.proc.poll() is not None:
            self._log_file.flush()
            tail = self.log.read_text(errors="replace")[-2000:]
            raise PeerFailed(f"{self.argv[0]} exited with {self.proc.returncode}:\n{tail}")

    def stop(self) -> None:
        """SIGTERM, a clean shutdown (the peers flush their result files then), then no leftovers."""
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            with contextlib.suppress(subprocess.TimeoutExpired):
                self.proc.wait(timeout=60)
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(self.pid, signal.SIGKILL)  # workers or helpers the daemon left behind
        self.proc.wait()
        self._log_file.close()


@dataclass(frozen=True)
class Window:
    """The measured window: whole seconds [start, end) and the CPU the peer's tree used in it."""

    start: int
    end: int
    cpu_seconds: float


def _sleep_until(instant: float) -> None:
    time.sleep(max(0.0, instant - time.time()))


def measure_window(daemon: Daemon, warmup: float, seconds: int) -> Window:
    time.sleep(warmup)
    daemon.check_alive()
    start = math.ceil(time.time())
    _sleep_until(start)
    cpu0 = tree_cpu_seconds(daemon.pid)
    end = start + seconds
    _sleep_until(end)
    cpu1 = tree_cpu_seconds(daemon.pid)
    daemon.check_alive()
    return Window(start, end, cpu1 - cpu0)


def percentile(ordered: Sequence[float], q: float) -> float:
    """Nearest-rank percentile of an ascending sequence (not empty)."""
    return ordered[max(0, math.ceil(q * len(ordered)) - 1)]


def row(system: str, asked: int, window: Window, latencies_s: Sequence[float]) -> dict[str, Any]:
    """One system at one N: `latencies_s` holds one latency per result counted in the window."""
    count = len(latencies_s)
    ordered = sorted(latencies_s)
    seconds = window.end - window.start
    return {
        "system": system, "asked_per_s": asked, "window_s": seconds, "results": count,
        "rate_per_s": round(count / seconds, 1),
        "cpu_s": round(window.cpu_seconds, 3),
        "cpu_ms_per_check": round(window.cpu_seconds * 1000 / count, 3) if count else None,
        "latency_p50_ms": round(percentile(ordered, 0.50) * 1000, 1) if count else None,
        "latency_p99_ms": round(percentile(ordered, 0.99) * 1000, 1) if count else None,
    }
