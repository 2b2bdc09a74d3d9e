"""Registration and deregistration events, by Sensu 1.x's rules.

**Registration.** The first keepalive of a client the server does not know (no
`client:<name>:signature` key yet: never seen, or deleted since) registers it and, when a
`registration` handler is defined or the client defines `registration`, raises a `registration`
event: the check `{"handler": "registration", "status": 1}` deep-merged with the client's
`registration`, with `name`, `output`, `issued` and `executed` set by the server. The event is
handled, not stored, and it is handled after the client is in the registry, in a task of its
own: a handler that fails or hangs (under its deadline) neither unregisters the client nor
holds up other keepalives. Two servers taking two of one client's keepalives at the same
instant could both register it; keepalives are 20 s apart, so in practice one does.

**Deregistration.** A client with `"deregister": true` publishes a `deregistration` result when
it stops (pipeline/agent/deregistration.py). The server handles it like any result (its
handler is `deregistration` unless the client's `deregistration` says otherwise), then removes
the client: its registry entry, results, history, events and signature key.
"""

from __future__ import annotations

import asyncio
import logging
import uuid
from typing import TYPE_CHECKING, Any, Protocol

from prometheus_client import CollectorRegistry, Counter

from pipeline.config.load import deep_merge
from pipeline.model import JSON, Check, Client, Clock, Event, system_clock

if TYPE_CHECKING:
    from pipeline.config.settings import Settings

log = logging.getLogger("ogi")

REGISTRATION = "registration"
DEREGISTRATION = "deregistration"
REGISTRATION_OUTPUT = "new client registration"


class Processes(Protocol):
    async def process(self, event: Event) -> None: ...


def registration_check(settings: JSON, client: Client, now: float) -> Check | None:
    """The `registration` check of a newly registered client; None when nothing handles one."""
    own = client.get(REGISTRATION)
    handlers = settings.get("handlers")
    if not isinstance(own, dict) and not (isinstance(handlers, dict) and REGISTRATION in handlers):
        return None
    check: Check = {"handler": REGISTRATION, "status": 1}
    if isinstance(own, dict):
        check = deep_merge(check, own)
    timestamp = int(now)
    check.update(name=REGISTRATION, output=REGISTRATION_OUTPUT, issued=timestamp, executed=timestamp)
    return check


def registration_event(client: Client, check: Check, now: float) -> Event:
    """The event handed to the handlers (never stored)."""
    timestamp = int(now)
    status = check.get("status")
    return {
        "id": str(uuid.uuid4()),
        "client": client,
        "check": {**check, "history": [str(status)], "total_state_change": 0},
        "occurrences": 1,
        "occurrences_watermark": 1,
        "last_ok": None,
        "action": "create",
        "timestamp": timestamp,
        "last_state_change": timestamp,
        "silenced": False,
        "silenced_by": [],
    }


def is_deregistration(result: Any) -> bool:
    """A client's own deregistration result (not one a proxy `source` sent for another)."""
    check = result.get("check") if isinstance(result, dict) else None
    return isinstance(check, dict) and check.get("name") == DEREGISTRATION and check.get("source") is None


class Registrations:
    """Raises the registration events of newly registered clients, each in a task of its own."""

    def __init__(self, settings: Settings, engine: Processes, clock: Clock = system_clock,
                 metrics: CollectorRegistry | None = None) -> None:
        self.settings = settings
        self.engine = engine
        self.clock = clock
        self._tasks: set[asyncio.Task[None]] = set()
        registry = metrics if metrics is not None else CollectorRegistry()
        self.counts = Counter("ogi_registrations", "Client registrations, by outcome", ["outcome"],
                              registry=registry)
        for outcome in ("registered", "handled", "failed"):
            self.counts.labels(outcome)

    def registered(self, client: Client) -> asyncio.Task[None] | None:
        """A client just joined the registry: handle its registration event, if any, in the background."""
        self.counts.labels("registered").inc()
        log.info("client registered", extra={"fields": {"client": client.get("name")}})
        check = registration_check(self.settings.raw, client, self.clock())
        if check is None:
            return None
        task = asyncio.create_task(self._handle(registration_event(client, check, self.clock())))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        return task

    async def _handle(self, event: Event) -> None:
        try:
            await self.engine.process(event)
        except Exception as error:  # the client stays registered; the failure is counted and logged
            self.counts.labels("failed").inc()
            log.error("registration event handling failed",
                      extra={"fields": {"client": event["client"].get("name"), "error": repr(error)}})
        else:
            self.counts.labels("handled").inc()

    async def close(self, timeout: float) -> None:
        """Give the registration events in flight `timeout` seconds, then cancel them."""
        if not self._tasks:
            return
        _done, pending = await asyncio.wait(set(self._tasks), timeout=timeout)
        for task in pending:
            task.cancel()
        await asyncio.gather(*pending, return_exceptions=True)
