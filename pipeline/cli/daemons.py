"""`ogi server`, `ogi client` and `ogi api`: the distributed daemons, as Sensu's three processes.

They default to RabbitMQ and Redis, as Sensu does (`"transport": {"name": "memory"}` or
`"store": {"name": "memory"}` choose the embedded backends instead). `ogi server --workers N`
runs N processes on one host: every one consumes results and keepalives; the first also takes
part in the election of the server tasks and serves `/metrics`.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import logging
import multiprocessing
import os
import signal
from collections.abc import Awaitable, Callable
from typing import Any

from pipeline import heap
from pipeline.config.load import LoadedConfig
from pipeline.logs import setup_logging

log = logging.getLogger("ogi")


def register(commands: Any, common: argparse.ArgumentParser) -> None:
    """Add `server`, `client` and `api` to the `ogi` command."""
    from pipeline.cli.main import load_or_report

    def daemon(main: Callable[[argparse.Namespace, LoadedConfig], int]) -> Callable[[argparse.Namespace], int]:
        def handler(args: argparse.Namespace) -> int:
            logger = setup_logging(args.log, args.log_level, args.log_format)
            loaded = load_or_report(args, logger if args.log else None)
            if loaded is None:
                return 1
            logger.info("configuration loaded", extra={"fields": {"files": loaded.files}})
            return main(args, loaded)

        return handler

    server = commands.add_parser("server", parents=[common], help="consume results, run server tasks (RabbitMQ, Redis)",
                                 description="An ogi server: results, keepalives, elected server tasks, /metrics.")
    server.add_argument("--workers", type=int, default=1, metavar="N", help="consumer processes on this host (default 1)")
    server.set_defaults(handler=daemon(run_server))
    client = commands.add_parser("client", parents=[common], help="run this host's checks (RabbitMQ)",
                                 description="An ogi client: subscriptions, standalone checks, keepalives, socket.")
    client.set_defaults(handler=daemon(run_client))
    api = commands.add_parser("api", parents=[common], help="the HTTP API (Redis, RabbitMQ)",
                              description="The Sensu 1.x compatible HTTP API on api.bind:api.port.")
    api.set_defaults(handler=daemon(run_api))


def until_signalled(start: Callable[[], Awaitable[Any]], stop: Callable[[], Awaitable[Any]]) -> int:
    """Run start(), wait for SIGINT/SIGTERM, run stop(); 0 on a clean stop."""

    async def main() -> None:
        from pipeline.agent.execute import use_pidfd_child_watcher

        use_pidfd_child_watcher()
        stopping = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, stopping.set)
        await start()
        heap.settle()
        try:
            await stopping.wait()
        finally:
            await stop()

    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(main())
    return 0


def _server_process(settings: dict[str, Any], leader: bool) -> int:
    from pipeline.server.server import Server
    from pipeline.store.factory import store_from_settings
    from pipeline.transport import transport_from_settings
    from pipeline.transport.amqp_topology import TopologyConflict

    store = store_from_settings(settings, default="redis")
    transport = transport_from_settings(settings, default="rabbitmq")
    server = Server(settings, store, transport, run_tasks=leader, serve_metrics=leader)

    async def stop() -> None:
        await server.stop()
        await transport.close()
        await store.close()

    try:
        return until_signalled(server.start, stop)
    except TopologyConflict as conflict:
        log.critical("RabbitMQ refused ogi's topology: %s", conflict, extra={"fields": {"error": str(conflict)}})
        return 1


def _worker(settings: dict[str, Any], log_args: tuple[str | None, str, str]) -> None:
    setup_logging(*log_args)
    _server_process(settings, leader=False)


def run_server(args: argparse.Namespace, loaded: LoadedConfig) -> int:
    workers = max(1, int(args.workers))
    context = multiprocessing.get_context("spawn")
    children = [
        context.Process(target=_worker, args=(loaded.settings, (args.log, args.log_level, args.log_format)),
                        name=f"ogi-server-worker-{n}", daemon=False)
        for n in range(1, workers)
    ]
    for child in children:
        child.start()
    try:
        code = _server_process(loaded.settings, leader=True)
    finally:
        for child in children:
            if child.is_alive() and child.pid is not None:
                with contextlib.suppress(ProcessLookupError):
                    os.kill(child.pid, signal.SIGTERM)
        for child in children:
            child.join(10)
    return code


def run_client(args: argparse.Namespace, loaded: LoadedConfig) -> int:
    from pipeline.agent.agent import Agent
    from pipeline.transport import transport_from_settings

    transport = transport_from_settings(loaded.settings, default="rabbitmq")
    client = Agent(loaded.settings, transport)

    async def stop() -> None:
        await client.stop()
        await transport.close()

    return until_signalled(client.start, stop)


def run_api(args: argparse.Namespace, loaded: LoadedConfig) -> int:
    from pipeline.api import start_api
    from pipeline.store.factory import store_from_settings
    from pipeline.transport import transport_from_settings

    store = store_from_settings(loaded.settings, default="redis")
    transport = transport_from_settings(loaded.settings, default="rabbitmq")
    runner: list[Any] = []

    async def start() -> None:
        runner.append(await start_api(loaded.settings, store, transport))

    async def stop() -> None:
        for running in runner:
            await running.stop()
        await transport.close()
        await store.close()

    return until_signalled(start, stop)
