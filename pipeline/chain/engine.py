"""The handler chain: each event goes through gates -> filters -> mutator -> handler, per handler.

Routes are compiled at start-up (`pipeline/chain/routes.py`). `Engine.process(event)` runs the routes
of the event's handlers concurrently and returns when every one has finished, failed or timed
out, so the server can ack the result only then. A failure of one route is logged and counted
(`pipeline/chain/stagemetrics.py`) and never reaches the caller or another route.

Each route first takes a slot (pipeline/chain/slots.py: a handler holds at most its share of
a pool); a route that finds none free is queued for its handler (pipeline/chain/spill.py) when
the transport can keep it, so a slow handler holds neither the result nor anyone's slots. The
route's deadline starts once it holds its slot. Once every route of an event is admitted (its
place settled: stopped by a gate, holding a slot, queued, or in line for a slot) the engine
tells the caller (`admitted`, pipeline/chain/admission.py), which lets the check's next result in
while the handlers still run.

`Engine.reload(settings, context)` (SIGHUP) swaps in routes built from a new configuration:
events already running finish on the routes they started with, whose instances are closed
once the last of those events is done.
"""

from __future__ import annotations

import asyncio
from time import perf_counter
from typing import TYPE_CHECKING, Any

from pipeline.chain.admission import Admitted, Countdown
from pipeline.chain.deadlines import Watchdog
from pipeline.chain.gates import gate
from pipeline.chain.metric_routes import event_names
from pipeline.chain.outcome import QUEUED, Outcome, OutcomeListener
from pipeline.chain.payloads import Payloads, cancel_pending, shared_payload
from pipeline.chain.routes import (
    TIMEOUT_GRACE,
    Route,
    RouteTable,
)
from pipeline.chain.slots import HandlerSlots
from pipeline.chain.spill import HandlerQueues
from pipeline.chain.stagemetrics import DROPPED, ERROR, GATE, OK, PASSED, TIMEOUT, StageMetrics, StageStat
from pipeline.countmetrics import handler_queue_counts
from pipeline.extension import PROCESS_SLOT_HELD, Context, Mutator
from pipeline.model import Event
from pipeline.registry import Registry, default_registry

if TYPE_CHECKING:  # built by pipeline/config/, which checks each configuration with this room's routes
    from pipeline.config.settings import Settings

__all__ = ["Engine"]

#: Distinct handler-name lists remembered; results choose their own handlers, so bound it.
_PLAN_CACHE_SIZE = 4096

#: The routes, the mutators more than one of them shares, and the routes that skip the gates
#: (metric handlers: points flow whatever the event's status, silencing or flapping).
_Plan = tuple[list[Route], frozenset[Mutator], frozenset[Route]]


class _Generation:
    """The routes of one configuration and the events running through them."""

    __slots__ = ("table", "events", "idle")

    def __init__(self, table: RouteTable) -> None:
        self.table = table
        self.events = 0
        self.idle: asyncio.Event | None = None  # set when retired, fired when its last event is done


class Engine:
    """Runs events through the compiled routes of their handlers."""

    def __init__(
        self,
        settings: Settings,
        context: Context,
        registry: Registry = default_registry,
        *,
        timeout_grace: float = TIMEOUT_GRACE,
    ) -> None:
        self.metrics = StageMetrics()
        if context.metrics is not None:
            context.metrics.register(self.metrics)
        self._log = context.log
        self._registry = registry
        self._grace = timeout_grace
        self._table = RouteTable(settings, context, registry, self.metrics, timeout_grace)
        self._table.build_all()
        self._current = _Generation(self._table)
        self._retiring: set[asyncio.Task[None]] = set()
        self._pool = HandlerSlots(settings.limits.handler_concurrency, settings.limits.handler_share)
        self._processes = HandlerSlots(settings.limits.spawn_limit, settings.limits.handler_share)
        self.queues = HandlerQueues(context.transport, self._run_queued, context.log)
        if context.metrics is not None:
            queued, taken = handler_queue_counts(context.metrics)
            queued.watch("engine", lambda: self.queues.queued_by_handler)
            taken.watch("engine", lambda: self.queues.taken_by_handler)
        self._watchdog = Watchdog()
        self._plans: dict[tuple[tuple[str, ...], tuple[str, ...]], _Plan] = {}
        self._gate_passed = self.metrics.stat(GATE, "all")
        self._gates: dict[str, StageStat] = {}
        self._closed = False
        #: Told what happened on each route of each event (`ogi run`'s console line); None costs nothing.
        self.on_outcome: OutcomeListener | None = None

    def handlers_for(self, names: tuple[str, ...], metric: tuple[str, ...] = ()) -> list[str]:
        """The leaf handler names an event naming `names` (and metric handlers `metric`) goes to, in order."""
        return [route.name for route in self._plan((names, metric))[0]]

    async def process(self, event: Event, status: bool = True, admitted: Admitted | None = None) -> None:
        """Handle one event with all its handlers; returns when each has finished, failed or is queued.

        `status` false: the event goes only to the check's `output_metric_handlers` (an OK
        that Sensu 1.x would not hand to `handlers`, pipeline/chain/metric_routes.py).
        `admitted` is called once every route is admitted (gated out, holding a slot, queued
        for its handler or in line for a slot), exactly once, at the latest as this returns or raises.
        """
        self.metrics.events_processed += 1
        generation = self._current  # taken with the plan, before any await: a reload cannot split them
        generation.events += 1
        countdown: Countdown | None = None
        try:
            check = event.get("check")
            names = event_names(check if isinstance(check, dict) else {}, status)
            plan = self._plans.get(names)
            if plan is None:
                plan = self._plan(names)
            routes, shared, ungated = plan
            if len(routes) == 1:
                # the common case runs in the caller's task: no task creation per event
                tell, admitted = admitted, None  # the route tells, whatever happens to it
                outcome = await self._run(routes[0], event, None, routes[0] not in ungated, admitted=tell)
                if self.on_outcome is not None:
                    self.on_outcome(event, ((routes[0].name, outcome),))
            elif routes:
                if admitted is not None:
                    countdown, admitted = Countdown(len(routes), admitted), None
                outcomes = await self._run_all(routes, shared, ungated, event, countdown)
                if self.on_outcome is not None:
                    self.on_outcome(event, tuple(zip((r.name for r in routes), outcomes, strict=True)))
            elif self.on_outcome is not None:
                self.on_outcome(event, ())
        finally:
            if admitted is not None:
                admitted()
            elif countdown is not None:
                countdown.fire()
            generation.events -= 1
            if generation.idle is not None and not generation.events:
                generation.idle.set()

    async def start(self) -> None:
        """Consume the queues of every defined handler (events queued before a restart)."""
        await self.queues.start(self._table.handlers)

    async def _run_queued(self, name: str, event: Event) -> None:
        """Run one event taken from `name`'s queue, waiting for the handler's slot."""
        route = self._table.route(name)
        if route is None:
            self._log.error("queued event for a handler no longer defined dropped", extra={"fields": {"handler": name}})
            return
        generation = self._current
        generation.events += 1
        try:
            await self._run(route, event, None, gated=False, queued=True)  # its gates passed before it was queued
        finally:
            generation.events -= 1
            if generation.idle is not None and not generation.events:
                generation.idle.set()

    def reload(self, settings: Settings, context: Context) -> None:
        """Route new events through handlers, filters and mutators built from `settings`.

        Events in flight finish on their old routes; the old instances are closed after them.
        """
        table = RouteTable(settings, context, self._registry, self.metrics, self._grace)
        table.build_all()
        old, self._current = self._current, _Generation(table)
        self._table = table
        self._plans.clear()
        old.idle = asyncio.Event()
        if not old.events:
            old.idle.set()
        task = asyncio.get_running_loop().create_task(self._retire(old))
        self._retiring.add(task)
        task.add_done_callback(self._retiring.discard)

    async def _retire(self, generation: _Generation) -> None:
        assert generation.idle is not None
        await generation.idle.wait()
        await self._close_all(generation.table)

    async def _run_all(
        self, routes: list[Route], shared: frozenset[Mutator], ungated: frozenset[Route], event: Event,
        admitted: Countdown | None,
    ) -> list[Outcome]:
        """Run several routes at once: the first in the caller's task (one task fewer), the rest in tasks."""
        payloads: Payloads | None = {} if shared else None
        tasks = [
            asyncio.create_task(self._run(r, event, payloads if r.mutator in shared else None, r not in ungated,
                                          admitted=admitted))
            for r in routes[1:]
        ]
        first = routes[0]
        try:
            outcomes = [await self._run(first, event, payloads if first.mutator in shared else None,
                                        first not in ungated, admitted=admitted)]
            for task in tasks:
                outcomes.append(await task)
            return outcomes
        except asyncio.CancelledError:
            for task in tasks:
                task.cancel()
            cancel_pending(payloads)
            raise

    def _plan(self, names: tuple[tuple[str, ...], tuple[str, ...]]) -> _Plan:
        status, metric = names
        metric_routes = self._table.resolve(metric) if metric else []
        # a handler named in both lists runs once, ungated: its points must not depend on the status
        routes = [r for r in self._table.resolve(status) if r not in metric_routes] + metric_routes
        seen: set[Mutator] = set()
        shared: set[Mutator] = set()
        for route in routes:
            if route.mutator is not None:
                (shared if route.mutator in seen else seen).add(route.mutator)
        if len(self._plans) >= _PLAN_CACHE_SIZE:
            self._plans.clear()
        plan = self._plans[names] = (routes, frozenset(shared), frozenset(metric_routes))
        return plan

    async def _run(
        self, route: Route, event: Event, payloads: Payloads | None, gated: bool = True, queued: bool = False,
        admitted: Admitted | None = None,
    ) -> Outcome:
        """Gates; then, holding a slot, filters, mutator and handler under the route's timeout.

        Returns the stage that decided the route's end and its outcome, as counted. `admitted`
        is called once, as soon as the route's place is settled, and at the latest on return.

        One coroutine for the whole route: every further level of `await` costs a coroutine
        object and a frame per event.
        """
        try:
            start = perf_counter()
            stopped = gate(route.definition, event) if gated else None
            elapsed = perf_counter() - start
            if stopped is not None:
                stopper = self._gate(stopped)
                stopper.add(DROPPED, elapsed)
                return stopper, DROPPED
            self._gate_passed.add(PASSED, elapsed)
            slots = self._pool if route.pooled else self._processes
            if not slots.take(route.name):
                if not queued and await self.queues.queue(route.name, event):
                    return route.handler_stat, QUEUED  # its handler's queue runs it when a slot frees
                if admitted is not None:
                    # Told before the wait: `wait` joins the line before it first suspends, so
                    # the check's next result, which can only run after that, lines up behind.
                    admitted()
                    admitted = None
                await slots.wait(route.name)
            elif admitted is not None:
                admitted()
                admitted = None
            held = None if route.pooled else PROCESS_SLOT_HELD.set(True)
            try:
                stat: StageStat | None = None  # the stage running, to name it if the timeout strikes
                deadline = self._watchdog.start(route.timeout)
                try:
                    for filt, stat in route.filters:
                        start = perf_counter()
                        try:
                            allowed = await filt.allows(event)
                        except Exception as err:
                            # Sensu 1.x: a filter extension that fails does not filter
                            stat.add(ERROR, perf_counter() - start)
                            self._log.error(
                                "filter failed, event passes",
                                extra={"fields": {**_fields(route, event), "filter": filt.name, "error": repr(err)}},
                            )
                            continue
                        stat.add(PASSED if allowed else DROPPED, perf_counter() - start)
                        if not allowed:
                            return stat, DROPPED
                    stat = route.mutator_stat
                    if route.mutator is None:
                        payload: bytes | None = b""  # the handler reads the event itself
                    elif payloads is None:
                        payload = await self._mutate(route, event, route.mutator)
                    else:
                        payload = await shared_payload(payloads, route.mutator, self._mutate, route, event)
                    if payload is None:
                        assert route.mutator_stat is not None  # only a mutator gives None
                        return route.mutator_stat, DROPPED  # a failure is logged and counted as ERROR
                    stat = route.handler_stat
                    start = perf_counter()
                    try:
                        await route.handler.handle(event, payload)
                    except Exception as err:
                        stat.add(ERROR, perf_counter() - start)
                        self.metrics.failed(route.name)
                        self._log.error("handler failed", extra={"fields": {**_fields(route, event), "error": repr(err)}})
                        return stat, ERROR
                    stat.add(OK, perf_counter() - start)
                    return stat, OK
                except asyncio.CancelledError:
                    if not self._watchdog.timed_out(deadline):
                        raise  # cancelled from outside (shutdown): not ours to swallow
                    if stat is not None:
                        stat.count(TIMEOUT)
                    self.metrics.timed_out(route.name)
                    self._log.error(
                        "handler timed out",
                        extra={"fields": {**_fields(route, event), "timeout": route.timeout,
                                          "stage": stat.stage if stat is not None else None}},
                    )
                    return stat or route.handler_stat, TIMEOUT
                finally:
                    self._watchdog.stop(deadline)
            finally:
                if held is not None:
                    PROCESS_SLOT_HELD.reset(held)
                slots.give(route.name)
        except Exception:  # a bug in the engine or the gates: log it, keep the other routes going
            self._gate_passed.count(ERROR)
            self._log.exception("event processing failed", extra={"fields": _fields(route, event)})
            return self._gate_passed, ERROR
        finally:
            if admitted is not None:  # gated out, queued, failed or cancelled before its place was settled
                admitted()

    def _gate(self, name: str) -> StageStat:
        stat = self._gates.get(name)
        if stat is None:
            stat = self._gates[name] = self.metrics.stat(GATE, name)
        return stat

    async def _mutate(self, route: Route, event: Event, mutator: Mutator) -> bytes | None:
        stat = route.mutator_stat
        assert stat is not None  # set whenever the route has a mutator
        start = perf_counter()
        try:
            payload = await mutator.mutate(event)
        except Exception as err:
            stat.add(ERROR, perf_counter() - start)
            self._log.error(
                "mutator failed, event dropped",
                extra={"fields": {**_fields(route, event), "mutator": mutator.name, "error": repr(err)}},
            )
            return None
        stat.add(OK if payload is not None else DROPPED, perf_counter() - start)
        return payload

    async def close(self) -> None:
        """Close every handler, filter and mutator instance once."""
        if self._closed:
            return
        self._closed = True
        await self.queues.close()
        self._watchdog.close()
        if self._retiring:  # the caller drained the events first; routes still retiring close now
            _done, late = await asyncio.wait(set(self._retiring), timeout=1.0)
            for task in late:
                task.cancel()
        await self._close_all(self._table)

    async def _close_all(self, table: RouteTable) -> None:
        for instance in table.instances():
            try:
                await instance.close()
            except Exception as err:
                self._log.error("closing failed", extra={"fields": {"extension": instance.name, "error": repr(err)}})


def _fields(route: Route, event: Event) -> dict[str, Any]:
    """Handler, client and check names for a log line."""
    client, check = event.get("client"), event.get("check")
    return {
        "handler": route.name,
        "client": client.get("name") if isinstance(client, dict) else None,
        "check": check.get("name") if isinstance(check, dict) else None,
    }
