"""The server side of keepalives: consume them, and raise `keepalive` events for silent clients.

Clients send their (redacted) definition to the `keepalives` pipe every 20 s. The consumer
stores it with the time the *server* received it. The monitor (Sensu's `client_monitor` task)
runs every 30 s and publishes a `keepalive` check result for each client that has not set
`keepalives: false`:

- age ≥ critical (180 s): status 2, "No keepalive sent from client for N seconds (>=180)"
- age ≥ warning (120 s): status 1, "No keepalive sent from client for N seconds (>=120)"
- otherwise status 0, "Keepalive sent from client N seconds ago", which resolves an open event.

Thresholds and handlers: defaults, then `sensu.keepalives`, then the client's `keepalive`,
deep-merged; the handler is `keepalive` when such a handler is defined.

Unlike Sensu 1.x, which subtracted the client's own `timestamp` from the server's clock (so a
client whose clock ran 3 minutes slow was reported dead while it was talking), ogi measures
the age from the server's receipt time: clients' clocks do not matter, only servers must agree.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from prometheus_client import CollectorRegistry, Counter

from pipeline import jsoncodec
from pipeline.config.load import deep_merge
from pipeline.model import JSON, MAX_MESSAGE_SIZE, Check, Client, Clock, system_clock, valid_name
from pipeline.server.monitors import (
    ResultMonitor,
    publish_result,
    result_payload,
)
from pipeline.store.base import INVALIDATED, Store
from pipeline.transport.base import Message, Transport

if TYPE_CHECKING:
    from pipeline.config.settings import Settings

log = logging.getLogger("ogi")

DEFAULT_THRESHOLDS = {"warning": 120, "critical": 180}
#: Label values of `ogi_keepalives_rejected_total`.
KEEPALIVE_REJECT_REASONS = ("too_large", "not_json", "not_object", "bad_name", "bad_subscriptions", "bad_signature")


class KeepaliveRejected(Exception):
    def __init__(self, reason: str, detail: str) -> None:
        super().__init__(detail)
        self.reason = reason
        self.detail = detail


def parse_keepalive(body: bytes, max_size: int = MAX_MESSAGE_SIZE) -> Client:
    """The client definition in a keepalive message, with `client:NAME` in its subscriptions.

    Raise KeepaliveRejected naming what is wrong.
    """
    if len(body) > max_size:
        raise KeepaliveRejected("too_large", f"keepalive of {len(body)} bytes exceeds {max_size}")
    try:
        client = jsoncodec.loads(body)
    except (ValueError, RecursionError) as error:
        raise KeepaliveRejected("not_json", f"keepalive is not JSON: {str(error)[:80]}") from None
    if not isinstance(client, dict):
        raise KeepaliveRejected("not_object", f"a keepalive must be a client object, got {type(client).__name__}")
    name = client.get("name")
    if not valid_name(name):
        raise KeepaliveRejected("bad_name", f"client name {str(name)[:60]!r} is not [\\w.-]+")
    subscriptions = client.get("subscriptions", [])
    if not isinstance(subscriptions, list) or not all(isinstance(s, str) for s in subscriptions):
        raise KeepaliveRejected("bad_subscriptions", "subscriptions must be an array of strings")
    own = f"client:{name}"
    client["subscriptions"] = list(dict.fromkeys([*subscriptions, own]))
    return client


class KeepaliveConsumer:
    """Consumes the `keepalives` pipe into the client registry (every server does; not elected)."""

    def __init__(
        self,
        settings: Settings,
        store: Store,
        transport: Transport,
        clock: Clock = system_clock,
        metrics: CollectorRegistry | None = None,
    ) -> None:
        self.store = store
        self.transport = transport
        self.clock = clock
        self.pipe = settings.limits.keepalives_pipe
        registry = metrics if metrics is not None else CollectorRegistry()
        self.accepted = Counter("ogi_keepalives", "Keepalives received", registry=registry)
        self.rejected = Counter("ogi_keepalives_rejected", "Keepalives dropped, by reason", ["reason"],
                                registry=registry)
        for reason in KEEPALIVE_REJECT_REASONS:
            self.rejected.labels(reason)
        #: Called with each client its first keepalive registered (pipeline/server/registration.py).
        self.on_registered: Callable[[Client], object] | None = None

    async def receive(self, body: bytes) -> Client | None:
        """Record one keepalive message; None (logged and counted) when it is rejected."""
        try:
            client = parse_keepalive(body)
            # Sensu registers a client when its keepalive creates the signature key (SETNX).
            new = self.on_registered is not None and await self.store.get_signature(client["name"]) is None
            await self._claim_signature(client)
        except KeepaliveRejected as rejected:
            log.warning("keepalive dropped: %s", rejected.detail, extra={"fields": {"reason": rejected.reason}})
            self.rejected.labels(rejected.reason).inc()
            return None
        await self.store.record_keepalive(client, received=self.clock())
        self.accepted.inc()
        if new and self.on_registered is not None:
            self.on_registered(client)
        return client

    async def _claim_signature(self, client: Client) -> None:
        """Sensu's rule: the first keepalive sets `client:<name>:signature` (SETNX); later ones
        must carry it. An unsigned client may start signing; an invalidated one matches nothing."""
        sent = client.get("signature")
        if sent is not None and not isinstance(sent, str):
            raise KeepaliveRejected("bad_signature", f"signature of client {client['name']} must be a string")
        claimed = await self.store.claim_signature(client["name"], sent)
        if claimed == INVALIDATED:
            raise KeepaliveRejected("bad_signature", f"client {client['name']} was deleted with invalidate=true")
        if claimed not in ("", sent):
            raise KeepaliveRejected("bad_signature", f"signature does not match the one of client {client['name']}")

    async def run(self) -> None:
        """Consume until cancelled; each message is acked once it is stored."""
        subscription = await self.transport.subscribe(self.pipe, "direct")
        try:
            async for message in subscription:
                await self._handle(message)
        finally:
            await subscription.close()

    async def _handle(self, message: Message) -> None:
        try:
            async with message.process():
                await self.receive(message.body)
        except Exception:  # a store failure: the message went back to the queue
            log.exception("keepalive processing failed; message requeued")


def _threshold(value: Any, default: int) -> int | float:
    if isinstance(value, int | float) and not isinstance(value, bool):
        return value
    return default


def keepalive_definition(settings: Settings, client: Client) -> Check:
    """The `keepalive` check of a client without output or status: thresholds and handlers.

    Defaults (warning 120, critical 180, handler `keepalive` if defined), then
    `sensu.keepalives`, then the client's `keepalive`, deep-merged in that order.
    """
    check: Check = {"thresholds": dict(DEFAULT_THRESHOLDS)}
    if "keepalive" in settings.handlers:
        check["handler"] = "keepalive"
    for layer in (settings.raw_section("sensu").get("keepalives"), client.get("keepalive")):
        if isinstance(layer, dict):
            check = deep_merge(check, layer)
    thresholds = check.get("thresholds")
    if not isinstance(thresholds, dict):
        thresholds = {}
    check["thresholds"] = {
        **thresholds,
        "warning": _threshold(thresholds.get("warning"), DEFAULT_THRESHOLDS["warning"]),
        "critical": _threshold(thresholds.get("critical"), DEFAULT_THRESHOLDS["critical"]),
    }
    return check


def keepalive_check(settings: Settings, client: Client, age: int, now: float) -> Check:
    """The `keepalive` result for a client whose last keepalive arrived `age` seconds ago."""
    check = keepalive_definition(settings, client)
    warning, critical = check["thresholds"]["warning"], check["thresholds"]["critical"]
    if age >= critical:
        status, output = 2, f"No keepalive sent from client for {age} seconds (>={critical})"
    elif age >= warning:
        status, output = 1, f"No keepalive sent from client for {age} seconds (>={warning})"
    else:
        status, output = 0, f"Keepalive sent from client {age} seconds ago"
    issued = int(now)
    check.update(name="keepalive", issued=issued, executed=issued, output=output, status=status)
    return check


class KeepaliveMonitor(ResultMonitor):
    """Sensu's client monitor: a `keepalive` result for every monitored client, every 30 s."""

    task_name = "client_monitor"

    async def tick(self, now: float) -> list[JSON]:
        """Publish the keepalive result of each monitored client; return the payloads.

        Clients the server only knows from results (no keepalive received) are skipped.
        """
        received = await self.store.keepalive_times()
        published: list[JSON] = []
        for client in await self.store.list_clients():
            name = client.get("name")
            if client.get("keepalives") is False or name not in received:
                continue
            age = max(0, int(now - received[name]))
            payload = result_payload(client, keepalive_check(self.settings, client, age, now))
            await publish_result(self.transport, payload, self.pipe)
            published.append(payload)
        return published
