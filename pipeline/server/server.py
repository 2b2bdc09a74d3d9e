"""The server side of ogi: consume results and keepalives, run the server tasks, serve /metrics.

`Server` is what `ogi server` runs (over RabbitMQ and Redis by default) and what `ogi run`
embeds (over the memory backends). Every server consumes results and keepalives; the three
server tasks (check request publishing, keepalive and TTL monitoring) run on one server at a
time through `pipeline.server.tasks.TaskElection`, or directly when `elect=False` (one process).
"""

from __future__ import annotations

import asyncio
import dataclasses
import logging
import uuid
from collections.abc import Awaitable, Callable, Coroutine
from typing import TYPE_CHECKING, Any

from prometheus_client import CollectorRegistry

from pipeline.chain.engine import Engine
from pipeline.countmetrics import publish_drops
from pipeline.errors import ConfigErrors
from pipeline.extension import Context
from pipeline.metrics.exporter import Runner as MetricsRunner
from pipeline.metrics.exporter import start_exporter
from pipeline.metrics.self_metrics import StoreRoundTrip, register, transport_collector
from pipeline.model import Event
from pipeline.server.aging import ResultAging
from pipeline.server.keepalives import KeepaliveConsumer, KeepaliveMonitor
from pipeline.server.monitors import TtlMonitor
from pipeline.server.proxy import ProxyRequests
from pipeline.server.publisher import CheckRequestPublisher
from pipeline.server.registration import Registrations
from pipeline.server.results import ResultProcessor
from pipeline.server.tasks import TaskElection
from pipeline.store.base import Store, StoreUnavailable
from pipeline.transport.base import Message, Subscription, Transport
from pipeline.transport.pipes import RESULTS

if TYPE_CHECKING:
    from pipeline.config.settings import Settings

log = logging.getLogger("ogi")

#: Seconds between store health probes while consuming is paused.
STORE_PROBE_INTERVAL = 1.0
#: Longest wait for a batch to fill, and the most results released together (see ResultConsumer).
LINGER = 0.003
BATCH_SIZE = 50


class ResultConsumer:
    """Consumes the `results` pipe: each message is acked only after its event was processed.

    Messages are dispatched to handlers as they arrive (`Subscription.dispatch`; over RabbitMQ
    the prefetch bounds how many are in hand) and processed in batches: a message waits until
    `batch_size` have come or `linger` seconds have passed since the first, then the batch goes
    on together, in arrival order, so its results share one Redis pipeline and one ack instead
    of paying a round trip and the event loop's wake-ups each (at a steady 2,800-3,000
    results/s, 3-5 ms of waiting took a fifth off the server's CPU per result).

    When the store is unavailable the message in hand waits, unacked, and no handler starts
    processing until the store answers again (Sensu's pause); then processing resumes where it
    stopped, in arrival order, so a Redis failover neither loses a result nor counts it as a
    failure.
    """

    def __init__(
        self, transport: Transport, processor: ResultProcessor, concurrency: int = 100,
        probe_interval: float = STORE_PROBE_INTERVAL, linger: float = LINGER, batch_size: int = BATCH_SIZE,
    ) -> None:
        self.transport = transport
        self.processor = processor
        self.concurrency = concurrency
        self.probe_interval = probe_interval
        #: The tasks running a handler (over RabbitMQ, the delivery's own task).
        self._tasks: set[asyncio.Task[Any]] = set()
        self._store_up = asyncio.Event()
        self._store_up.set()
        self.paused_count = 0
        self.linger = linger
        self.batch_size = batch_size
        self._waiters: list[asyncio.Future[None]] | None = None  # the batch being gathered
        self._batch = 1  # set from the subscription: messages released together at most

    @property
    def paused(self) -> bool:
        return not self._store_up.is_set()

    async def run(self, pipe: str = RESULTS) -> None:
        await self.consume(await self.transport.subscribe(pipe))

    async def consume(self, subscription: Subscription) -> None:
        """Process messages of an open subscription until it ends, then close it."""
        # Half of what can be in hand, so the broker keeps streaming while a batch waits.
        self._batch = min(self.batch_size, subscription.in_hand(self.concurrency) // 2) if self.linger > 0 else 1
        try:
            await subscription.dispatch(self._handle, self.concurrency)
        finally:
            await subscription.close()

    async def _handle(self, message: Message) -> None:
        task = asyncio.current_task()
        assert task is not None
        self._tasks.add(task)
        try:
            if self._batch > 1:
                await self._batched()
            if not self._store_up.is_set():
                await self._store_up.wait()
            async with message.process():
                while True:
                    try:
                        await self.processor.process_message(message.body)
                        break
                    except StoreUnavailable as error:
                        await self._wait_for_store(error)
        except Exception:  # the processor never raises for bad input; this is a bug, not data
            log.exception("result processing failed; message requeued")
        finally:
            self._tasks.discard(task)

    def _batched(self) -> asyncio.Future[None]:
        """What this message waits on with the others of its batch (see the class docstring).

        A future of its own, not one shared by the batch: cancelling one waiting task must not
        cancel the others' wait.
        """
        loop = asyncio.get_running_loop()
        waiters = self._waiters
        if waiters is None:
            waiters = self._waiters = []
            loop.call_later(self.linger, self._release, waiters)
        waiter = loop.create_future()
        waiters.append(waiter)
        if len(waiters) >= self._batch:
            # Released from the loop, not here: this message must wake after those before it.
            self._waiters = None
            loop.call_soon(self._release, waiters)
        return waiter

    def _release(self, waiters: list[asyncio.Future[None]]) -> None:
        if self._waiters is waiters:
            self._waiters = None
        for waiter in waiters:
            if not waiter.done():
                waiter.set_result(None)

    async def _wait_for_store(self, error: StoreUnavailable) -> None:
        if self._store_up.is_set():
            self._store_up.clear()
            self.paused_count += 1
            log.error("store unavailable: consuming paused", extra={"fields": {"error": str(error)}})
        store = self.processor.store
        while not self._store_up.is_set():
            await asyncio.sleep(self.probe_interval)
            if await store.ping():
                self._store_up.set()
                log.info("store available again: consuming resumed")

    async def drain(self, timeout: float) -> None:
        """Wait up to `timeout` seconds for results in flight, then cancel the rest."""
        if not self._tasks:
            return
        _done, pending = await asyncio.wait(set(self._tasks), timeout=timeout)
        for task in pending:
            task.cancel()


class Server:
    """One ogi server process over a given store and transport."""

    def __init__(
        self,
        settings: Settings,
        store: Store,
        transport: Transport,
        *,
        metrics: CollectorRegistry | None = None,
        on_event: Callable[[Event], None] | None = None,
        elect: bool = True,
        run_tasks: bool = True,
        serve_metrics: bool = True,
    ) -> None:
        self.settings = settings
        self.store = store
        self.transport = transport
        self.metrics = metrics if metrics is not None else CollectorRegistry()
        publish_drops(self.metrics).watch("transport", lambda: getattr(self.transport, "counts", None))
        self.context = Context(settings=settings, store=store, transport=transport, metrics=self.metrics)
        register(self.metrics, transport_collector(transport))
        self.engine = Engine(settings, self.context)
        self.processor = ResultProcessor(
            settings, store, self.engine, metrics=self.metrics, max_message_size=settings.limits.max_message_size,
            on_event=on_event,
        )
        self.consumer = ResultConsumer(transport, self.processor)
        self.keepalives = KeepaliveConsumer(settings, store, transport, metrics=self.metrics)
        self.registrations = Registrations(settings, self.engine, metrics=self.metrics)
        self.keepalives.on_registered = self.registrations.registered
        self.publisher = CheckRequestPublisher(settings, transport, metrics=self.metrics)
        self.publisher.proxy = ProxyRequests(store, transport)
        self.monitors = (KeepaliveMonitor(settings, store, transport), TtlMonitor(settings, store, transport))
        tasks: dict[str, Callable[[], Coroutine[Any, Any, None]]] = {
            "check_request_publisher": self.publisher.run,
            "client_monitor": self.monitors[0].run,
            "check_result_monitor": self.monitors[1].run,
            ResultAging.task_name: ResultAging(store, settings.limits.result_max_age).run,
        }
        self.id = str(uuid.uuid4())
        self.election = TaskElection(store, self.id, tasks) if elect and run_tasks else None
        self._direct_tasks = list(tasks.values()) if run_tasks and not elect else []
        self.serve_metrics = serve_metrics and settings.metrics_listener is not None
        #: How long handlers in flight get to finish at shutdown before they are cancelled.
        self.shutdown_timeout = settings.limits.shutdown_timeout
        self._results: asyncio.Task[None] | None = None
        self._others: list[asyncio.Task[None]] = []
        self._timers: list[asyncio.Task[None]] = []
        self._stopping = False
        self._exporter: MetricsRunner | None = None
        #: the other workers' `/metrics` pages, summed into this one (pipeline/cli/worker_metrics.py)
        self.peer_pages: Callable[[], Awaitable[list[str]]] | None = None

    async def start(self) -> None:
        if self.serve_metrics:
            try:
                self._exporter = await start_exporter(self.settings.metrics_listener, self.store, self.metrics,
                                                      before=StoreRoundTrip(self.store, self.metrics).sample,
                                                      others=self.peer_pages)
            except (OSError, ConfigErrors) as error:  # monitoring goes on without /metrics
                log.error("metrics listener failed to start", extra={"fields": {"error": str(error)}})
        # Subscribed here, not in the task, so a broker that refuses the topology stops start-up.
        results = await self.transport.subscribe(self.settings.limits.results_pipe)
        await self.engine.start()
        self._results = asyncio.create_task(self.consumer.consume(results))
        self._others.append(asyncio.create_task(self.keepalives.run()))
        self._start_tasks()
        self.transport.on_disconnect(self._pause)
        self.transport.on_reconnect(self._resume)
        await asyncio.sleep(0)

    def _start_tasks(self) -> None:
        if self.election is not None:
            self._timers.append(asyncio.create_task(self.election.run()))
        self._timers.extend(asyncio.create_task(run()) for run in self._direct_tasks)

    def _pause(self) -> None:
        """Sensu's pause: without the broker, the timers stop (and elected tasks are released)."""
        if self._timers:
            log.warning("transport disconnected: server tasks paused")
        for task in self._timers:
            task.cancel()
        self._timers = []

    def _resume(self) -> None:
        if not self._timers and not self._stopping:
            log.info("transport reconnected: server tasks resumed")
            self._start_tasks()

    async def reload(self, settings: Settings) -> None:
        """Use the checks, handlers, filters and mutators of `settings` from now on (SIGHUP).

        Nothing closes: the consumers, the transport, the store and /metrics keep running;
        results in flight finish with the handlers they started with.
        """
        context = dataclasses.replace(self.context, settings=settings)
        self.engine.reload(settings, context)  # first: it is the part that can refuse
        self.settings = settings
        self.context = context
        self.processor.settings = settings
        self.registrations.settings = settings
        for monitor in self.monitors:
            monitor.settings = settings
        self.publisher.reload(settings)

    async def stop(self) -> None:
        """Stop taking work, give handlers in flight their grace, close what we opened."""
        self._stopping = True
        for task in [*self._others, *self._timers]:
            task.cancel()
        await asyncio.gather(*self._others, *self._timers, return_exceptions=True)
        await self.consumer.drain(self.shutdown_timeout)
        await self.registrations.close(self.shutdown_timeout)
        if self.publisher.proxy is not None:
            await self.publisher.proxy.close()
        if self._results is not None:
            self._results.cancel()
            await asyncio.gather(self._results, return_exceptions=True)
        if self._exporter is not None:
            await self._exporter.stop()
        await self.engine.close()
