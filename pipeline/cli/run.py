"""`ogi run`: the embedded all-in-one ogi: server, client, API and outputs in one process.

It runs over the memory transport and store unless the configuration names others
(`"transport": {"name": "rabbitmq"}`, `"store": {"name": "redis"}`), so it needs no broker
and no database. The client runs this host's checks; the server publishes subscription check
requests, consumes results and keepalives, watches keepalives and TTLs, and hands events to
the handlers; the API answers on `api.bind`/`api.port` (127.0.0.1:4567).
"""

from __future__ import annotations

import contextlib
import logging
import re
import sys
from collections.abc import Mapping, Sequence
from typing import Any

from pipeline.agent.agent import Agent
from pipeline.api import start_api
from pipeline.chain.outcome import Outcome, OutcomeListener, summary
from pipeline.cli.signals import STOP_WITHIN, run_daemon
from pipeline.config.settings import Settings
from pipeline.countmetrics import socket_refusals
from pipeline.errors import ConfigErrors
from pipeline.model import Event
from pipeline.server.server import Server
from pipeline.store.factory import store_from_settings
from pipeline.transport import transport_from_settings

log = logging.getLogger("ogi")


#: C0 and C1 control characters and DEL: a check's output must not move the cursor or recolour the terminal.
_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f]")


def _escaped(value: Any) -> str:
    return _CONTROL.sub(lambda m: repr(m.group())[1:-1], str(value))


def event_line(event: Event, routes: Sequence[tuple[str, Outcome]] | None = None) -> str:
    """One line a person reads: client, check, action, status, first line of output; then each handler's fate."""
    check = event.get("check") or {}
    client = event.get("client") or {}
    output = str(check.get("output") or "").strip().splitlines()
    line = (
        f"{client.get('name', '?')} {check.get('name', '?')} "
        f"{event.get('action', '?')} status={check.get('status', '?')} {output[0] if output else ''}"
    )
    if routes is not None:
        line = f"{line.rstrip()} -> {summary(routes)}"
    return _escaped(line)


def _printer(quiet: bool) -> OutcomeListener | None:
    if quiet:
        return None

    def show(event: Event, routes: Sequence[tuple[str, Outcome]]) -> None:
        with contextlib.suppress(OSError, ValueError):  # stdout closed or a broken pipe: the daemon goes on
            print(event_line(event, routes), flush=True)

    return show


class AllInOne:
    """Server, client and API in one process; memory backends unless configured otherwise."""

    def __init__(self, settings: Settings, quiet: bool = False) -> None:
        self.settings = settings
        self.store = store_from_settings(settings, default="memory")
        self.transport = transport_from_settings(settings, default="memory")
        self.server = Server(settings, self.store, self.transport, elect=False)
        # printed once the handlers are done, so the line says what each did with the event
        self.server.engine.on_outcome = _printer(quiet)
        # The client's own spawn limit: handlers that hang must not stop its checks.
        self.client = Agent(settings, self.transport)
        socket_refusals(self.server.metrics).watch("client_socket", self._socket_refusals)
        self._api: Any = None

    def _socket_refusals(self) -> Mapping[str, int] | None:
        socket = self.client.socket
        return socket.refusals.counts if socket is not None else None

    async def start(self) -> None:
        # The server listens before the client speaks, so its first keepalive and results land.
        await self.server.start()
        try:
            self._api = await start_api(self.settings, self.store, self.transport)
        except (OSError, ConfigErrors) as error:  # checks and handlers go on without the API
            log.error("API listener failed to start", extra={"fields": {"error": str(error)}})
        await self.client.start()

    async def reload(self, settings: Settings) -> None:
        """SIGHUP: the server's chain and schedules, the client's checks and the API's settings."""
        await self.server.reload(settings)  # first: it is the part that can refuse
        await self.client.reload(settings)
        if self._api is not None:
            await self._api.reload(settings)
        self.settings = settings

    async def stop(self) -> None:
        """Stop checks (their processes killed), give handlers in flight their grace, close."""
        await self.client.stop()
        if self._api is not None:
            await self._api.stop()
        await self.server.stop()
        await self.transport.close()
        await self.store.close()


def run(args: Any, loaded: Any) -> int:
    """Entry from `ogi run`; `loaded` is the validated LoadedConfig. Signals: pipeline/cli/signals.py."""
    assert loaded.typed is not None, "load_settings sets it"
    ogi = AllInOne(loaded.typed, quiet=bool(getattr(args, "quiet", False)))
    within = max(STOP_WITHIN, ogi.server.shutdown_timeout + 1.0)  # an operator's longer grace is honoured
    code = run_daemon(args, loaded.typed, ogi.start, ogi.stop, ogi.reload, within=within)
    sys.stdout.flush()
    return code
