"""`python -m bench.spawn_block`: how long starting one check blocks the event loop's thread.

asyncio (3.11) starts a child with `subprocess.Popen` on the loop's own thread: fork or vfork,
exec, and the wait for the exec to succeed all happen while nothing else can run. This
measures, for `check_dummy 0 ok` exec'd directly and through `sh -c`:

1. the wall time of that Popen call per spawn (what the loop loses per check);
2. whether a helper thread would give that time back: the share of a pure-Python loop's
   progress on the main thread that survives while another thread spawns continuously
   (1.0: the spawn runs without the GIL; 0.5 or less: the helper thread only moves the cost).

A benchmark, not a test: it prints JSON and asserts nothing.
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import threading
import time
from typing import Any

PLUGIN = "/usr/lib/nagios/plugins/check_dummy"


def _popen(argv: list[str]) -> subprocess.Popen[bytes]:
    return subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, start_new_session=True)


def blocking_per_spawn(argv: list[str], count: int) -> dict[str, float]:
    """Wall time of the Popen call alone, in microseconds (children reaped outside the timing)."""
    times = []
    for _ in range(count):
        started = time.perf_counter()
        proc = _popen(argv)
        times.append((time.perf_counter() - started) * 1e6)
        proc.communicate()
    times.sort()
    return {"p50_us": round(statistics.median(times), 1), "p99_us": round(times[int(len(times) * 0.99) - 1], 1),
            "mean_us": round(statistics.fmean(times), 1)}


def _spin(seconds: float) -> int:
    done, until = 0, time.perf_counter() + seconds
    while time.perf_counter() < until:
        done += 1
    return done


def progress_kept(argv: list[str], seconds: float) -> float:
    """Main-thread progress while a helper thread spawns, as a share of its progress alone."""
    alone = _spin(seconds)
    stop = threading.Event()

    def spawner() -> None:
        while not stop.is_set():
            _popen(argv).communicate()

    helper = threading.Thread(target=spawner, daemon=True)
    helper.start()
    shared = _spin(seconds)
    stop.set()
    helper.join()
    return round(shared / alone, 2)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--count", type=int, default=500)
    parser.add_argument("--seconds", type=float, default=2.0)
    args = parser.parse_args()
    report: dict[str, Any] = {}
    for name, argv in (("direct", [PLUGIN, "0", "ok"]), ("sh -c", ["/bin/sh", "-c", f"{PLUGIN} 0 ok"])):
        report[name] = blocking_per_spawn(argv, args.count)
        report[name]["progress_kept_with_a_spawn_thread"] = progress_kept(argv, args.seconds)
    print(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()
