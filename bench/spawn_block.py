"""`python -m bench.spawn_block`: how long starting one check blocks the event loop's thread.

asyncio (3.11) starts a child with `subprocess.Popen` on the loop's own thread: fork or vfork,
exec, and the wait for the exec to succeed all happen while nothing else can run. This
measures, for `check_dummy 0 ok` exec'd directly and through `sh -c`:

1. the wall time of that Popen call per spawn (what the loop loses per check);
2. whether a helper thread would give that time back: the share of a pure-Python loop's
   progress on the main thread that survives while another thread spawns continuously
   (1.0: the spawn runs without the GIL; 0.5 or less: the helper thread only moves the cost).

3. ogi's three ways of starting a direct check (pipeline/agent/process/execute.py), each running
   `--runs` checks of `check_dummy 0 ok`, 32 at once, in this process: the agent's own CPU
   and its children's per run, runs per second, and the event loop's lag meanwhile (how late
   a 1 ms sleep wakes: what every other check, result and handler waits):
   `spawn-thread` (glibc's posix_spawn through ctypes on the spawn thread, always),
   `on-loop` (os.posix_spawn on the loop's thread, always), `default` (the agent's own mix:
   on the loop while those spawns hold it at most a quarter of its time and spawn slots are
   free, else on the spawn threads)
   and `asyncio` (asyncio's subprocesses).

A benchmark, not a test: it prints JSON and asserts nothing.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import resource
import statistics
import subprocess
import threading
import time
from typing import Any

from pipeline.agent.process import execute
from pipeline.agent.process.posix_child import LoopShare

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


def _cpu() -> tuple[float, float]:
    own, children = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
    return own.ru_utime + own.ru_stime, children.ru_utime + children.ru_stime


async def _start_path(path: str, runs: int) -> dict[str, float]:
    execute._DIRECT = path != "asyncio"
    execute._OFF_LOOP = path in ("default", "spawn-thread")
    execute._LOOP_SHARE = LoopShare(0.0 if path == "spawn-thread" else 0.25)
    slots, env, lags, stop = asyncio.Semaphore(32), execute.command_env(), [], asyncio.Event()

    async def one() -> None:
        async with slots:
            await execute.run_command(f"{PLUGIN} 0 ok", timeout=10, env=env)

    async def lag() -> None:
        while not stop.is_set():
            asked = time.perf_counter()
            await asyncio.sleep(0.001)
            lags.append(time.perf_counter() - asked - 0.001)

    watcher = asyncio.create_task(lag())
    (own0, kids0), wall0 = _cpu(), time.perf_counter()
    await asyncio.gather(*(one() for _ in range(runs)))
    (own1, kids1), wall1 = _cpu(), time.perf_counter()
    stop.set()
    await watcher
    lags.sort()
    return {"agent_cpu_ms_per_run": round((own1 - own0) * 1000 / runs, 3),
            "children_cpu_ms_per_run": round((kids1 - kids0) * 1000 / runs, 3),
            "runs_per_s": round(runs / (wall1 - wall0)), "loop_lag_p50_ms": round(lags[len(lags) // 2] * 1000, 2),
            "loop_lag_p99_ms": round(lags[int(len(lags) * 0.99)] * 1000, 2)}


def start_paths(runs: int) -> dict[str, dict[str, float]]:
    """Each way of starting a direct check, one after the other, in fresh event loops."""
    saved = execute._DIRECT, execute._OFF_LOOP, execute._LOOP_SHARE
    paths = ["asyncio"] + (["on-loop"] if saved[0] else []) + (["spawn-thread", "default"] if saved[1] else [])
    try:
        return {path: asyncio.run(_start_path(path, runs)) for path in paths}
    finally:
        execute._DIRECT, execute._OFF_LOOP, execute._LOOP_SHARE = saved


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--count", type=int, default=500)
    parser.add_argument("--seconds", type=float, default=2.0)
    parser.add_argument("--runs", type=int, default=3000, help="checks per start path (part 3)")
    args = parser.parse_args()
    report: dict[str, Any] = {}
    for name, argv in (("direct", [PLUGIN, "0", "ok"]), ("sh -c", ["/bin/sh", "-c", f"{PLUGIN} 0 ok"])):
        report[name] = blocking_per_spawn(argv, args.count)
        report[name]["progress_kept_with_a_spawn_thread"] = progress_kept(argv, args.seconds)
    report["start_paths"] = start_paths(args.runs)
    print(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()
