"""`python -m bench.peers`: N checks/s of `check_dummy 0 ok` every second through `ogi run`.

Issue 17's workload: N standalone checks at `interval` 1, each result handled (`type: metric`)
by a `udp` handler (json mutator) into this process. After a warm-up, for `--seconds`:
sustained rate (results received per second), CPU of the daemon and all its children from
/proc (utime + stime + cutime + cstime of `ogi run`) per check, and result latency (received
minus the check's `issued`) p50/p99. Nagios 4 and Icinga 2 are not run: Debian's `nagios4` and
`icinga2` packages are not installed here and installing them is a root step (apt) this
benchmark does not take. A benchmark, not a test: it prints JSON and asserts nothing.
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

PLUGIN = "/usr/lib/nagios/plugins/check_dummy"
OGI = str(Path(sys.executable).parent / "ogi")


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return sum(int(f) for f in fields[11:15]) / os.sysconf("SC_CLK_TCK")


class Sink:
    """Receives the handler's datagrams; keeps (arrival, latency) of each."""

    def __init__(self) -> None:
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 8 << 20)
        self.sock.bind(("127.0.0.1", 0))
        self.port = self.sock.getsockname()[1]
        self.seen: list[tuple[float, float]] = []
        threading.Thread(target=self._run, daemon=True).start()

    def _run(self) -> None:
        while True:
            data = self.sock.recv(65536)
            now = time.time()
            try:
                issued = float(json.loads(data)["check"]["issued"])
            except (ValueError, KeyError, TypeError):
                continue
            self.seen.append((now, now - issued))


def config(n: int, sink_port: int) -> dict[str, Any]:
    check = {"command": f"{PLUGIN} 0 ok", "standalone": True, "interval": 1, "type": "metric",
             "handlers": ["sink"]}
    return {"client": {"name": "peers", "subscriptions": [], "socket": {"port": _free_port()}},
            "api": {"port": _free_port()},
            "handlers": {"sink": {"type": "udp", "mutator": "json",
                                  "socket": {"host": "127.0.0.1", "port": sink_port}}},
            "checks": {f"c{i}": dict(check) for i in range(n)}}


def measure(n: int, warmup: float, seconds: float) -> dict[str, Any]:
    sink = Sink()
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "config.json"
        path.write_text(json.dumps(config(n, sink.port)))
        proc = subprocess.Popen([OGI, "run", "--quiet", "-c", str(path), "-L", "warn"],
                                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        try:
            time.sleep(warmup)
            cpu0, t0 = _cpu_seconds(proc.pid), time.time()
            time.sleep(seconds)
            cpu1, t1 = _cpu_seconds(proc.pid), time.time()
        finally:
            proc.send_signal(signal.SIGTERM)
            proc.wait(timeout=30)
    window = sorted(lat for at, lat in sink.seen if t0 <= at < t1)
    count = len(window)
    return {"asked_per_s": n, "rate_per_s": round(count / (t1 - t0), 1),
            "cpu_ms_per_check": round((cpu1 - cpu0) * 1000 / count, 3) if count else None,
            "latency_p50_ms": round(statistics.median(window) * 1000, 1) if count else None,
            "latency_p99_ms": round(window[max(0, int(count * 0.99) - 1)] * 1000, 1) if count else None}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rates", default="600,1000,2000", help="N checks per second, comma-separated")
    parser.add_argument("--warmup", type=float, default=10.0)
    parser.add_argument("--seconds", type=float, default=60.0)
    args = parser.parse_args()
    rows = [measure(int(n), args.warmup, args.seconds) for n in args.rates.split(",")]
    print(json.dumps({"ogi run": rows, "nagios4": "not run (package not installed; apt is a root step)",
                      "icinga2": "not run (package not installed; apt is a root step)"}, indent=2))


if __name__ == "__main__":
    main()
