"""`ogi run`: the embedded all-in-one ogi over the memory transport and store."""

from __future__ import annotations

import asyncio
import contextlib
import signal
import sys
from typing import Any

from prometheus_client import CollectorRegistry

from pipeline.checkrunner import CheckRunner
from pipeline.engine import Engine
from pipeline.errors import ConfigErrors
from pipeline.exporter import Runner as MetricsRunner
from pipeline.exporter import start_exporter
from pipeline.extension import Context
from pipeline.model import Event
from pipeline.results import ResultProcessor
from pipeline.server import ResultConsumer
from pipeline.store.memory import MemoryStore
from pipeline.transport.memory import MemoryTransport


def event_line(event: Event) -> str:
    """One line a person reads: client, check, action, status, first line of output."""
    check = event.get("check") or {}
    output = str(check.get("output") or "").strip().splitlines()
    return (
        f"{event.get('client', {}).get('name', '?')} {check.get('name', '?')} "
        f"{event.get('action', '?')} status={check.get('status', '?')} {output[0] if output else ''}"
    )


def _printer(quiet: bool) -> Any:
    if quiet:
        return None

    def show(event: Event) -> None:
        print(event_line(event), flush=True)

    return show


async def serve(settings: dict[str, Any], quiet: bool = False, shutdown_timeout: float = 4.0) -> None:
    """Run server and local checks until SIGINT/SIGTERM."""
    metrics = CollectorRegistry()
    store = MemoryStore()
    transport = MemoryTransport()
    context = Context(settings=settings, store=store, transport=transport, metrics=metrics)
    engine = Engine(settings, context)
    processor = ResultProcessor(settings, store, engine, metrics=metrics, on_event=_printer(quiet))
    consumer = ResultConsumer(transport, processor)
    runner = CheckRunner(settings, transport)

    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)

    exporter: MetricsRunner | None = None
    if "metrics" in settings:
        try:
            exporter = await start_exporter(settings, store, metrics)
        except (OSError, ConfigErrors) as error:  # monitoring goes on without /metrics
            context.log.error("metrics listener failed to start", extra={"fields": {"error": str(error)}})
    consuming = asyncio.create_task(consumer.run())
    runner.start()
    try:
        await stop.wait()
    finally:
        if exporter is not None:
            await exporter.stop()
        await runner.stop()
        await consumer.drain(shutdown_timeout)
        consuming.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await consuming
        await engine.close()
        await transport.close()


def run(args: Any, loaded: Any) -> int:
    """Entry from `ogi run`; `loaded` is the validated LoadedConfig."""
    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(serve(loaded.settings, quiet=bool(getattr(args, "quiet", False))))
    sys.stdout.flush()
    return 0
