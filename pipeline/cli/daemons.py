"""`ogi server`, `ogi client` and `ogi api`: the distributed daemons, as Sensu's three processes.

They default to RabbitMQ and Redis, as Sensu does (`"transport": {"name": "memory"}` or
`"store": {"name": "memory"}` choose the embedded backends instead). `ogi server --workers N`
runs N processes on one host: every one consumes results and keepalives; the first also takes
part in the election of the server tasks and serves `/metrics`. Signals (SIGHUP reloads,
SIGTERM stops, ...) are pipeline/cli/signals.py's; the first process forwards them to the others.
"""

from __future__ import annotations

import argparse
import contextlib
import logging
import multiprocessing
import os
import signal
from collections.abc import Callable
from typing import Any

from pipeline.cli.child_env import export_loaded_files
from pipeline.cli.sensu_flags import pid_file, refused
from pipeline.cli.signals import OTHER_SIGNALS, STOP_WITHIN, EarlyStop, hold_early_signals, run_daemon
from pipeline.cli.worker_metrics import PeerPages, serve_worker_page
from pipeline.config.load import LoadedConfig
from pipeline.config.settings import Settings
from pipeline.logs import setup_logging

log = logging.getLogger("ogi")


def register(commands: Any, common: argparse.ArgumentParser) -> None:
    """Add `server`, `client` and `api` to the `ogi` command."""
    from pipeline.cli.main import load_or_report

    def daemon(main: Callable[[argparse.Namespace, LoadedConfig], int]) -> Callable[[argparse.Namespace], int]:
        def handler(args: argparse.Namespace) -> int:
            if (code := refused(args)) is not None:
                return code
            hold_early_signals()
            logger = setup_logging(args.log, args.log_level, args.log_format)
            try:
                loaded = load_or_report(args, logger if args.log else None)
                if loaded is None:
                    return 1
                logger.info("configuration loaded", extra={"fields": {"files": loaded.files}})
                export_loaded_files(loaded.files, args.command)
                with pid_file(args):
                    return main(args, loaded)
            except EarlyStop as stopped:
                logger.info("stopping: %s", stopped, extra={"fields": {"signal": str(stopped)}})
                return 0

        return handler

    server = commands.add_parser("server", parents=[common], help="consume results, run server tasks (RabbitMQ, Redis)",
                                 description="An ogi server: results, keepalives, elected server tasks, /metrics.")
    server.add_argument("--workers", type=int, default=1, metavar="N", help="consumer processes on this host (default 1)")
    server.set_defaults(handler=daemon(run_server))
    client = commands.add_parser("client", parents=[common], help="run this host's checks (RabbitMQ)",
                                 description="An ogi client: subscriptions, standalone checks, keepalives, socket.")
    client.set_defaults(handler=daemon(run_client), role="client")  # handler names are the server's
    api = commands.add_parser("api", parents=[common], help="the HTTP API (Redis, RabbitMQ)",
                              description="The Sensu 1.x compatible HTTP API on api.bind:api.port.")
    api.set_defaults(handler=daemon(run_api))


def _server_process(
    args: argparse.Namespace, settings: Settings, leader: bool, children: Callable[[], list[int]] = list,
    pages: Any = None,
) -> int:
    from pipeline.server.server import Server
    from pipeline.store.factory import store_from_settings
    from pipeline.transport import transport_from_settings
    from pipeline.transport.amqp_topology import TopologyConflict

    store = store_from_settings(settings, default="redis")
    transport = transport_from_settings(settings, default="rabbitmq")
    server = Server(settings, store, transport, run_tasks=leader, serve_metrics=leader)
    own_page: list[Any] = []
    if leader and pages is not None:
        server.peer_pages = PeerPages(pages)

    async def start() -> None:
        try:
            await server.start()
        except TopologyConflict as conflict:
            log.critical("RabbitMQ refused ogi's topology: %s", conflict, extra={"fields": {"error": str(conflict)}})
            raise
        if not leader and pages is not None and settings.metrics_listener is not None:
            try:
                own_page.append(await serve_worker_page(server.metrics, pages))
            except OSError as error:  # this worker's counters are left out; it consumes on
                log.error("worker metrics page failed to start", extra={"fields": {"error": str(error)}})

    async def stop() -> None:
        for page in own_page:
            await page.stop()
        await server.stop()
        await transport.close()
        await store.close()

    within = max(STOP_WITHIN, server.shutdown_timeout + 1.0)  # an operator's longer grace is honoured
    return run_daemon(args, settings, start, stop, server.reload, within=within, children=children)


def _worker(args: argparse.Namespace, settings: Settings, pages: Any = None) -> None:
    hold_early_signals()
    setup_logging(args.log, args.log_level, args.log_format)
    log.info("server worker starting", extra={"fields": {"pid": os.getpid()}})
    try:
        code = _server_process(args, settings, leader=False, pages=pages)
    except EarlyStop as stopped:
        log.info("stopping: %s", stopped, extra={"fields": {"signal": str(stopped)}})
        code = 0
    raise SystemExit(code)


def _typed(loaded: LoadedConfig) -> Settings:
    assert loaded.typed is not None, "load_settings sets it"
    return loaded.typed


def run_server(args: argparse.Namespace, loaded: LoadedConfig) -> int:
    workers = max(1, int(args.workers))
    context = multiprocessing.get_context("spawn")
    # what a worker needs of the options (its own reloads re-read -c/-d); the handler does not pickle
    options = argparse.Namespace(**{k: v for k, v in vars(args).items() if k != "handler"})
    pages = context.Queue() if workers > 1 else None  # the workers' /metrics ports (worker_metrics.py)
    children = [
        # Settings pickle as their checked JSON (Settings.__reduce__), parsed again in the worker.
        context.Process(target=_worker, args=(options, _typed(loaded), pages), name=f"ogi-server-worker-{n}", daemon=False)
        for n in range(1, workers)
    ]
    for sig in OTHER_SIGNALS:  # a worker inherits "ignored" until it holds them itself, never "default: die"
        signal.signal(sig, signal.SIG_IGN)
    for child in children:
        child.start()
    hold_early_signals()

    def pids() -> list[int]:  # signals the first process receives are forwarded to these
        return [child.pid for child in children if child.pid is not None and child.is_alive()]

    try:
        code = _server_process(args, _typed(loaded), leader=True, children=pids, pages=pages)
    finally:
        for pid in pids():  # forwarded already when a signal stopped us; not when an error did
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGTERM)
        for child in children:
            child.join(STOP_WITHIN)
            if child.is_alive():
                child.kill()
                child.join(1)
    return code


def run_client(args: argparse.Namespace, loaded: LoadedConfig) -> int:
    from pipeline.agent.agent import Agent
    from pipeline.transport import transport_from_settings

    transport = transport_from_settings(_typed(loaded), default="rabbitmq")
    client = Agent(_typed(loaded), transport)

    async def stop() -> None:
        await client.stop()
        await transport.close()

    return run_daemon(args, _typed(loaded), client.start, stop, client.reload)


def run_api(args: argparse.Namespace, loaded: LoadedConfig) -> int:
    from pipeline.api import start_api
    from pipeline.store.factory import store_from_settings
    from pipeline.transport import transport_from_settings

    settings = _typed(loaded)
    store = store_from_settings(settings, default="redis")
    transport = transport_from_settings(settings, default="rabbitmq")
    runner: list[Any] = []

    async def start() -> None:
        runner.append(await start_api(settings, store, transport))

    async def reload(settings: Settings) -> None:
        for running in runner:
            await running.reload(settings)

    async def stop() -> None:
        for running in runner:
            await running.stop()
        await transport.close()
        await store.close()

    return run_daemon(args, settings, start, stop, reload)
