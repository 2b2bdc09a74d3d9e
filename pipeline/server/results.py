"""From one check result on the `results` pipe to a stored event handed to the engine.

`ResultProcessor` follows Sensu 1.x's server (docs/events.md): intake limits, the client (created
when unknown, a proxy client for `source`), the merge with the server's check definition,
aggregates, the stored result and history, the event, silencing, and the registry decision.
Bad input is dropped with one log line and counted; it never raises.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING, Any, Protocol

from prometheus_client import CollectorRegistry, Counter
from prometheus_client.core import CounterMetricFamily, Metric
from prometheus_client.registry import Collector

from pipeline import SENSU_COMPAT_VERSION, jsoncodec
from pipeline.chain.metric_routes import metric_handler_names
from pipeline.metrics.thresholds import apply_thresholds
from pipeline.model import (
    MAX_MESSAGE_SIZE,
    Check,
    Client,
    Clock,
    Event,
    system_clock,
    truthy,
)
from pipeline.optional_keys import without_null_options
from pipeline.server.check_cap import CheckNames
from pipeline.server.event_ids import new_event_id
from pipeline.server.events import (
    CREATE,
    RESOLVE,
    Decision,
    build_event,
    decide,
    found_silences,
    silence_ids,
    silenced_by,
    truncate_for_store,
)
from pipeline.server.intake import REJECT_REASONS, Rejected, validate_result
from pipeline.server.ordering import KeyedOrder, Turn
from pipeline.server.registration import is_deregistration
from pipeline.store.base import Store

if TYPE_CHECKING:
    from pipeline.config.settings import Settings

log = logging.getLogger("ogi")

class EngineLike(Protocol):
    """What the result processor needs from the engine (pipeline/chain/engine.py `Engine.process`).

    `admitted`, if the engine calls it, says the event's place with every handler is settled,
    so the check's next result may go ahead while the handlers run.
    """

    async def process(self, event: Event, status: bool = True, admitted: Callable[[], None] | None = None) -> None: ...


class AcceptedCounter(Collector):
    """`ogi_results_total`: a plain int the processor counts up, read at scrape time.

    prometheus_client's Counter takes a lock on every `inc`; one per result is worth
    avoiding on a single event loop. The exposition is a Counter's (`_total`, `_created`).
    """

    def __init__(self) -> None:
        self.count = 0
        self.created = time.time()

    def _family(self) -> CounterMetricFamily:
        return CounterMetricFamily("ogi_results", "Check results accepted for processing",
                                   value=self.count, created=self.created)

    def describe(self) -> Iterator[Metric]:
        yield self._family()

    def collect(self) -> Iterator[Metric]:
        yield self._family()


def new_client(name: str, now: float, proxy: bool) -> Client:
    """The client Sensu creates for a result from a name it has never seen (docs/events.md "Clients made from results")."""
    client: Client = {
        "name": name,
        "address": "unknown",
        "subscriptions": [f"client:{name}"],
        "keepalives": False,
        "version": SENSU_COMPAT_VERSION,
        "timestamp": int(now),
    }
    if proxy:
        client["type"] = "proxy"
    return client


def aggregate_names(check: Check) -> list[str]:
    """Aggregates the result joins: `aggregates`, else the `aggregate` string, else the check name."""
    listed = check.get("aggregates")
    single = check.get("aggregate")
    if not (truthy(listed) or truthy(single)):
        return []
    if truthy(listed):
        names = listed if isinstance(listed, list) else [listed]
    else:
        names = [single if isinstance(single, str) else check["name"]]
    return list(dict.fromkeys(n for n in names if isinstance(n, str) and n))


class ResultProcessor:
    """Turns check results into events, stores them and hands them to the engine."""

    def __init__(
        self,
        settings: Settings,
        store: Store,
        engine: EngineLike,
        clock: Clock = system_clock,
        metrics: CollectorRegistry | None = None,
        max_message_size: int = MAX_MESSAGE_SIZE,
        on_event: Callable[[Event], None] | None = None,
    ) -> None:
        self.settings = settings
        self.store = store
        self.engine = engine
        self.clock = clock
        self.max_message_size = max_message_size
        self.on_event = on_event
        registry = metrics if metrics is not None else CollectorRegistry()
        self.rejected = Counter(
            "ogi_results_rejected", "Check results dropped, by reason", ["reason"], registry=registry
        )
        for reason in REJECT_REASONS:
            self.rejected.labels(reason)
        self._accepted = AcceptedCounter()
        registry.register(self._accepted)
        self._order = KeyedOrder()
        self._checks = CheckNames(store, settings.limits.checks_per_client)

    def _reject(self, reason: str, detail: str, result: Any = None) -> None:
        fields: dict[str, Any] = {"reason": reason}
        if isinstance(result, dict):
            if isinstance(result.get("client"), str):
                fields["client"] = result["client"]
            check = result.get("check")
            if isinstance(check, dict) and isinstance(check.get("name"), str):
                fields["check"] = check["name"]
        log.warning("result dropped: %s", detail, extra={"fields": fields})
        self.rejected.labels(reason).inc()

    async def process_message(self, body: bytes) -> Event | None:
        """Parse and process one message from the `results` pipe; bad input gives None."""
        if len(body) > self.max_message_size:
            self._reject("too_large", f"message of {len(body)} bytes exceeds max_message_size {self.max_message_size}")
            return None
        try:
            result = jsoncodec.loads(body[3:] if body.startswith(b"\xef\xbb\xbf") else body)
        except (ValueError, RecursionError) as error:
            self._reject("not_json", f"message is not JSON: {str(error)[:80]}")
            return None
        return await self.process_result(result)

    async def process_result(self, result: Any) -> Event | None:
        """Process one parsed result (docs/events.md, and ARCHITECTURE.md "The path of one result").

        Returns the event when it goes to the handlers, None when it is dropped or needs
        nothing (a standard OK without an open event, or an OK under `auto_resolve: false`).
        """
        try:
            validate_result(result)
        except Rejected as rejected:
            self._reject(rejected.reason, rejected.detail, result)
            return None
        sent = result["check"] = without_null_options(result["check"])
        source = sent.get("source")
        client_name = source if source is not None else result["client"]
        if not await self._checks.admit(client_name, sent["name"]):
            self._reject("too_many_checks", f"client {client_name} has results for {self._checks.cap} checks "
                         "already (sensu.limits.checks_per_client)", result)
            return None
        # One client's results of one check are recorded, and admitted to their handlers, in
        # arrival order; the turn ends there (the engine calls `turn.end`), not when the handlers
        # finish, so a hanging handler does not hold up the check's later results (docs/chain.md).
        key = (client_name, sent["name"])
        order = self._order
        waiter = order.enter(key)
        if waiter is not None:
            await order.wait(key, waiter)
        turn = Turn(order, key)
        # The rest of the result runs inline, not in a coroutine of its own: one fewer per result.
        try:
            # The check as recorded depends on whether the client is a proxy, which the store
            # tells only in the same round trip that records it: both versions go, it keeps one.
            check, proxy_check = self._merge(sent, result["client"])
            if "output_metric_thresholds" in check:  # status from the points, before history and event
                check = apply_thresholds(check)
                proxy_check = None if proxy_check is None else apply_thresholds(proxy_check)
            checked = await self.store.record_checked(
                client_name, result.get("signature"), check, truncate_for_store(check),
                aggregate_names(check), None if proxy_check is None else truncate_for_store(proxy_check),
                source_given=source is not None,
            )
            recorded = checked.recorded
            if checked.refusal is not None or recorded is None:
                self._reject("bad_signature", f"{checked.refusal} (client {client_name})", result)
                return None
            client = checked.client
            if client is None:
                client = new_client(client_name, self.clock(), proxy=source is not None)
                await self.store.put_client(client)
            self._accepted.count += 1
            if checked.proxy and proxy_check is not None:
                check = proxy_check
            now = self.clock()
            event = build_event(client, check, recorded.history, recorded.last_ok, recorded.event, now, new_event_id)
            # An OK that creates nothing (metrics, mostly) is never looked up (docs/events.md "What the server keeps per check").
            if check["status"] != 0 or event["action"] != CREATE:
                await self._silence(event, client, check, now)

            decision = decide(event, recorded.event)
            if decision is Decision.STORE:
                await self.store.put_event(event)
            elif decision is Decision.DELETE:
                await self.store.delete_event(client_name, check["name"])
            # no status event, but its points still go to `output_metric_handlers`
            status = decision is not Decision.NOTHING
            handled = status or bool(metric_handler_names(check))
            if status and self.on_event is not None:
                self.on_event(event)
            if is_deregistration(result):
                if handled:  # in the turn to the end: the client goes after its handlers had the event
                    await self.engine.process(event, status)
                await self.store.delete_client(client_name)
                log.info("client deregistered", extra={"fields": {"client": client_name}})
            elif handled:
                await self.engine.process(event, status, turn.end)
            return event if handled else None
        finally:
            turn.end()

    def _merge(self, sent: Check, sender: str) -> tuple[Check, Check | None]:
        """The check for a client that is not a proxy, and for one that is (None: the same)."""
        # Shallow merge, the result winning, as Sensu's Hash#merge (docs/events.md "Clients made from results").
        found = self.settings.checks.get(sent["name"])
        definition = found.raw if found is not None else None
        if definition is not None and not truthy(sent.get("standalone")):
            check = {**definition, **sent}
            # Copies of the nested values the result does not replace, so that nothing done
            # to an event can change the settings (strings and numbers cannot be changed).
            for key, value in definition.items():
                if isinstance(value, dict | list) and key not in sent:
                    check[key] = _clone(value)
        else:
            definition = None
            check = dict(sent)
        if not truthy(check.get("type")):
            check["type"] = "standard"
        if truthy(check.get("source")):
            check["origin"] = sender
        if definition is not None and "command" in definition and check.get("command") != definition["command"]:
            # The client substituted tokens for its proxy target; the event shows the definition.
            return check, {**check, "command": definition["command"]}
        return check, None

    async def _silence(self, event: Event, client: Client, check: Check, now: float) -> None:
        ids = silence_ids(client, check)
        found = found_silences(ids, await self.store.get_silences(ids, seconds_left=False))
        if event["action"] == RESOLVE:
            kept = []
            for entry_id, entry in found:
                if truthy(entry.get("expire_on_resolve")):
                    await self.store.delete_silence(entry_id)
                else:
                    kept.append((entry_id, entry))
            found = kept
        ids_now = silenced_by(found, now)
        event["silenced_by"] = ids_now
        event["silenced"] = bool(ids_now)


def _clone(value: Any) -> Any:
    if isinstance(value, dict):
        return {key: _clone(inner) for key, inner in value.items()}
    if isinstance(value, list):
        return [_clone(inner) for inner in value]
    return value
