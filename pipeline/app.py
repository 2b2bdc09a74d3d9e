"""`ogi run`: the embedded all-in-one ogi: server, client and outputs in one process.

It runs over the memory transport and store, so it needs no broker and no database. The
client runs this host's checks; the server publishes subscription check requests, consumes
results and keepalives, watches keepalives and TTLs, and hands events to the handlers.
"""

from __future__ import annotations

import asyncio
import contextlib
import signal
import sys
from collections.abc import Callable
from typing import Any

from prometheus_client import CollectorRegistry

from pipeline.client import Client
from pipeline.engine import Engine
from pipeline.errors import ConfigErrors
from pipeline.execute import use_pidfd_child_watcher
from pipeline.exporter import Runner as MetricsRunner
from pipeline.exporter import start_exporter
from pipeline.extension import Context
from pipeline.keepalives import KeepaliveConsumer, KeepaliveMonitor
from pipeline.model import MAX_MESSAGE_SIZE, Event, dig
from pipeline.monitors import PeriodicTask, TtlMonitor, server_pipe
from pipeline.publisher import CheckRequestPublisher
from pipeline.results import ResultProcessor
from pipeline.server import ResultConsumer
from pipeline.store.memory import MemoryStore
from pipeline.transport.memory import MemoryTransport

#: How long handlers in flight get to finish at shutdown before they are cancelled.
SHUTDOWN_TIMEOUT = 4.0


def event_line(event: Event) -> str:
    """One line a person reads: client, check, action, status, first line of output."""
    check = event.get("check") or {}
    output = str(check.get("output") or "").strip().splitlines()
    return (
        f"{event.get('client', {}).get('name', '?')} {check.get('name', '?')} "
        f"{event.get('action', '?')} status={check.get('status', '?')} {output[0] if output else ''}"
    )


def _printer(quiet: bool) -> Callable[[Event], None] | None:
    if quiet:
        return None

    def show(event: Event) -> None:
        print(event_line(event), flush=True)

    return show


def _number(value: Any, default: float) -> float:
    ok = isinstance(value, int | float) and not isinstance(value, bool) and value > 0
    return float(value) if ok else default


class AllInOne:
    """Every part of ogi wired over the embedded memory transport and store."""

    def __init__(self, settings: dict[str, Any], quiet: bool = False) -> None:
        self.settings = settings
        self.metrics = CollectorRegistry()
        self.store = MemoryStore()
        self.transport = MemoryTransport()
        self.context = Context(settings=settings, store=self.store, transport=self.transport, metrics=self.metrics)
        self.engine = Engine(settings, self.context)
        max_size = int(_number(dig(settings, "sensu.server.max_message_size"), MAX_MESSAGE_SIZE))
        self.processor = ResultProcessor(
            settings, self.store, self.engine, metrics=self.metrics,
            max_message_size=max_size, on_event=_printer(quiet),
        )
        self.consumer = ResultConsumer(self.transport, self.processor)
        self.client = Client(settings, self.transport, spawn=self.context.spawn_limit())
        self.server_tasks: list[KeepaliveConsumer | CheckRequestPublisher | PeriodicTask] = [
            KeepaliveConsumer(settings, self.store, self.transport, metrics=self.metrics),
            CheckRequestPublisher(settings, self.transport, metrics=self.metrics),
            KeepaliveMonitor(settings, self.store, self.transport),
            TtlMonitor(settings, self.store, self.transport),
        ]
        self.shutdown_timeout = _number(dig(settings, "sensu.shutdown_timeout"), SHUTDOWN_TIMEOUT)
        self._tasks: list[asyncio.Task[None]] = []
        self._exporter: MetricsRunner | None = None

    async def start(self) -> None:
        if "metrics" in self.settings:
            try:
                self._exporter = await start_exporter(self.settings, self.store, self.metrics)
            except (OSError, ConfigErrors) as error:  # monitoring goes on without /metrics
                self.context.log.error("metrics listener failed to start", extra={"fields": {"error": str(error)}})
        # The server listens before the client speaks, so its first keepalive and results land.
        self._tasks.append(asyncio.create_task(self.consumer.run(server_pipe(self.settings, "results"))))
        self._tasks.extend(asyncio.create_task(task.run()) for task in self.server_tasks)
        await asyncio.sleep(0)
        await self.client.start()

    async def stop(self) -> None:
        """Stop checks (their processes killed), give handlers in flight their grace, close."""
        await self.client.stop()
        for task in self._tasks[1:]:
            task.cancel()
        await self.consumer.drain(self.shutdown_timeout)
        self._tasks[0].cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        if self._exporter is not None:
            await self._exporter.stop()
        await self.engine.close()
        await self.transport.close()


async def serve(settings: dict[str, Any], quiet: bool = False) -> None:
    """Run everything until SIGINT or SIGTERM."""
    use_pidfd_child_watcher()
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    ogi = AllInOne(settings, quiet=quiet)
    await ogi.start()
    try:
        await stop.wait()
    finally:
        await ogi.stop()


def run(args: Any, loaded: Any) -> int:
    """Entry from `ogi run`; `loaded` is the validated LoadedConfig."""
    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(serve(loaded.settings, quiet=bool(getattr(args, "quiet", False))))
    sys.stdout.flush()
    return 0
