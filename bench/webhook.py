"""`python -m bench.webhook`: notifications per second, in process (`webhook`) and forked (`pipe`).

Both run through the handler chain (`Engine.process`: gates, the `json` mutator, the handler),
with this process pinned to one CPU and the receiving end in another process on the other CPU
when there are two:

1. `webhook`: events POSTed to a local HTTP sink (aiohttp, answers 200) over the handler's kept
   connections, 64 events in flight (the server's results arrive concurrently). The sink counts
   what it received; the figure holds only if every event arrived. Target: >= 2,000 events/s.
2. `pipe`: the same events to a `pipe` handler whose command is a small Python script reading the
   event from stdin, one process forked per event, as Sensu's pipe handlers are.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path
from typing import Any

from prometheus_client import CollectorRegistry

from pipeline.chain.engine import Engine
from pipeline.config.load import settings_of
from pipeline.extension import Context
from pipeline.model import Event

#: The HTTP sink: counts POSTs, answers GET /count; prints its port first.
SINK = r"""
import asyncio, sys
from aiohttp import web
received = 0
async def post(request):
    global received
    await request.read()
    received += 1
    return web.Response(text="ok")
async def count(request):
    return web.Response(text=str(received))
async def main():
    app = web.Application()
    app.router.add_post("/hook", post)
    app.router.add_get("/count", count)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    print(runner.addresses[0][1], flush=True)
    await asyncio.Event().wait()
asyncio.run(main())
"""

#: What a pipe handler's script does with the event: read it, parse it, note one line.
PIPE_SCRIPT = "import json, sys\nevent = json.load(sys.stdin)\nprint(event['check']['name'])\n"


def event(n: int) -> Event:
    return {
        "id": f"00000000-0000-4000-8000-{n:012d}", "action": "create", "timestamp": 1_700_000_000 + n,
        "occurrences": 1, "silenced": False, "silenced_by": [],
        "client": {"name": f"web-{n % 1000:03d}", "address": "10.0.0.1", "subscriptions": ["linux"]},
        "check": {"name": "disk", "status": 2, "output": f"DISK CRITICAL - / at 97% ({n})", "interval": 60,
                  "handlers": ["notify"], "history": ["0", "2"], "issued": 1_700_000_000 + n},
    }


def pin() -> tuple[set[int], set[int]]:
    """This process on one CPU; the other CPUs for the sink (the same one when there is only one)."""
    cpus = sorted(os.sched_getaffinity(0))
    mine = {cpus[0]}
    os.sched_setaffinity(0, mine)
    return mine, set(cpus[1:]) or mine


async def through_chain(definition: dict[str, Any], count: int, in_flight: int) -> float:
    settings = settings_of({"handlers": {"notify": definition}})
    engine = Engine(settings, Context(settings=settings, metrics=CollectorRegistry()))
    events = [event(n) for n in range(count)]
    position = 0

    async def worker() -> None:
        nonlocal position
        while position < count:
            one = events[position]
            position += 1
            await engine.process(one)

    began = time.perf_counter()
    await asyncio.gather(*(worker() for _ in range(in_flight)))
    elapsed = time.perf_counter() - began
    await engine.close()
    return elapsed


def sink_count(port: int) -> int:
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/count", timeout=10) as reply:
        return int(reply.read())


def run(args: argparse.Namespace) -> None:
    mine, theirs = pin()
    sink = subprocess.Popen([sys.executable, "-c", SINK], stdout=subprocess.PIPE, text=True,
                            preexec_fn=lambda: os.sched_setaffinity(0, theirs))
    try:
        assert sink.stdout is not None
        port = int(sink.stdout.readline())
        hook = {"type": "webhook", "url": f"http://127.0.0.1:{port}/hook", "retries": 0}
        asyncio.run(through_chain(hook, min(200, args.events), args.in_flight))  # warm-up: connections, caches
        before = sink_count(port)
        elapsed = asyncio.run(through_chain(hook, args.events, args.in_flight))
        received = sink_count(port) - before
        print(json.dumps({
            "benchmark": "webhook handler: events POSTed to a local HTTP sink, through the chain, one core",
            "events": args.events, "received": received, "seconds": round(elapsed, 2),
            "events_per_s": round(args.events / elapsed), "in_flight": args.in_flight, "cpu": sorted(mine),
            "target_events_per_s": 2000,
        }), flush=True)
        if received != args.events:
            raise SystemExit(f"the sink received {received} of {args.events} events")
    finally:
        sink.terminate()
        sink.wait(10)

    with tempfile.TemporaryDirectory(prefix="ogi-bench-webhook-") as base:
        script = Path(base) / "notify.py"
        script.write_text(PIPE_SCRIPT)
        pipe = {"type": "pipe", "command": f"{sys.executable} {script} > /dev/null"}
        elapsed = asyncio.run(through_chain(pipe, args.pipe_events, args.in_flight))
        print(json.dumps({
            "benchmark": "pipe handler forking a Python script per event, through the chain",
            "events": args.pipe_events, "seconds": round(elapsed, 2), "events_per_s": round(args.pipe_events / elapsed),
            "in_flight": args.in_flight,
        }), flush=True)


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.webhook")
    parser.add_argument("--events", type=int, default=20_000, help="events through the webhook handler")
    parser.add_argument("--pipe-events", type=int, default=300, help="events through the pipe handler")
    parser.add_argument("--in-flight", type=int, default=64, help="events handled concurrently")
    run(parser.parse_args())


if __name__ == "__main__":
    main()
