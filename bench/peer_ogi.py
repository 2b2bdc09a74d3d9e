"""ogi's row of `python -m bench.peers`: N standalone checks at `interval` 1 through `ogi run`.

Each result is handled (`type: metric`) by a `udp` handler (json mutator) into this process,
which only timestamps the datagrams while the window runs and reads them afterwards, so the
benchmark's own work competes as little as possible with the daemon for the CPUs.

Counted: results whose datagram arrived in the window. Latency: arrival minus the tick the run
was scheduled for: the whole path from the schedule to the handled result. A result's `issued`
is whole seconds (Sensu's integer epoch), so the tick is rebuilt from the check's splay phase
(`pipeline/schedule/timing.py`: ticks fall on the milliseconds congruent to the splay hash
modulo the interval): the latest tick of that phase in `issued`'s second or the one before,
not after the arrival. Exact to the millisecond for latencies under 1 s; above that, a run
issued across a second boundary may be put 1 s late. `latency_coarse_*_s` is arrival minus
`issued` (1 s resolution, what the event alone tells).
"""

from __future__ import annotations

import json
import socket
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

from bench.peer_run import PLUGIN_COMMAND, Daemon, measure_window, percentile, row
from bench.private_peers import free_port
from pipeline.schedule.timing import splay_hash, standalone_key

NAME = "ogi"
CLIENT = "peers"
OGI = str(Path(sys.executable).parent / "ogi")
LATENCY = ("arrival of the handled result (udp handler) minus the tick it was scheduled for "
           "(from `issued` and the check's splay phase), wall clock")


def available() -> str | None:
    """None when ogi can be run, else why not."""
    return None if Path(OGI).exists() else f"{OGI} not found (make .venv/.installed)"


def version() -> str:
    out = subprocess.run([OGI, "--version"], capture_output=True, text=True, check=False).stdout
    return out.strip().split()[-1] if out.strip() else "?"


class Sink:
    """Receives the handler's datagrams and keeps (arrival, datagram); parsing waits for the end."""

    def __init__(self) -> None:
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 8 << 20)
        self.sock.bind(("127.0.0.1", 0))
        self.port = int(self.sock.getsockname()[1])
        self.sock.settimeout(0.2)  # lets `close` end the thread
        self.seen: list[tuple[float, bytes]] = []
        self._open = True
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _run(self) -> None:
        while self._open:
            try:
                data = self.sock.recv(65536)
            except TimeoutError:
                continue
            self.seen.append((time.time(), data))

    def close(self) -> None:
        self._open = False
        self._thread.join()
        self.sock.close()

    def latencies(self, start: float, end: float) -> tuple[list[float], list[float]]:
        """Fine and coarse latencies (s) of the results that arrived in [start, end)."""
        fine: list[float] = []
        coarse: list[float] = []
        for at, data in list(self.seen):
            if not start <= at < end:
                continue
            try:
                check = json.loads(data)["check"]
                issued, name = int(check["issued"]), str(check["name"])
            except (ValueError, KeyError, TypeError):
                continue
            fine.append(at - scheduled_tick(name, issued, at))
            coarse.append(at - issued)
        return fine, coarse


def scheduled_tick(check: str, issued: int, arrival: float) -> float:
    """The tick (interval 1) a run issued in second `issued` and handled at `arrival` was scheduled for."""
    phase = splay_hash(standalone_key(CLIENT, check)) % 1000 / 1000
    # issued = int(the run's start), which is at or after its tick: the tick is in that second
    # or the one before; the later one unless it would be after the arrival
    later = issued + phase
    return later if later <= arrival else later - 1


def config(n: int, sink_port: int, command: str = PLUGIN_COMMAND) -> dict[str, Any]:
    check = {"command": command, "standalone": True, "interval": 1, "type": "metric",
             "handlers": ["sink"]}
    return {"client": {"name": CLIENT, "subscriptions": [], "socket": {"port": free_port()}},
            "api": {"port": free_port()},
            "handlers": {"sink": {"type": "udp", "mutator": "json",
                                  "socket": {"host": "127.0.0.1", "port": sink_port}}},
            "checks": {f"c{i}": dict(check) for i in range(n)}}


def measure(n: int, warmup: float, seconds: int, command: str = PLUGIN_COMMAND,
            workdir: Path | None = None) -> dict[str, Any]:
    sink = Sink()
    with tempfile.TemporaryDirectory(prefix="ogi-peers-ogi-", dir=workdir) as tmp:
        path = Path(tmp) / "config.json"
        path.write_text(json.dumps(config(n, sink.port, command)))
        try:
            with Daemon([OGI, "run", "--quiet", "-c", str(path), "-L", "warn"], Path(tmp) / "ogi.log") as daemon:
                window = measure_window(daemon, warmup, seconds)
        finally:
            sink.close()
    fine, coarse = sink.latencies(window.start, window.end)
    result = row(NAME, n, window, fine)
    coarse.sort()
    result["latency_coarse_p50_s"] = round(percentile(coarse, 0.5), 3) if coarse else None
    result["latency_coarse_p99_s"] = round(percentile(coarse, 0.99), 3) if coarse else None
    return result
