"""The agent (`ogi client`): runs the checks its subscriptions ask for and reports back.

At start it sends a keepalive (so the server knows its attributes from the first result on),
subscribes, schedules its standalone checks, opens its local input socket, then sends a
keepalive every 20 s; the HTTP socket on 3031 (pipeline/agent/http_socket.py) opens with the
3030 one; on stop, a client with `deregister: true` publishes its deregistration
(pipeline/agent/deregistration.py). Pipes keep Sensu's layout:

- each subscription `NAME` is a fanout pipe read through this client's own queue
  `<name>-<version>-<start epoch>`; `roundrobin:NAME` (or `direct:NAME`) is a direct pipe
  with one shared queue, so one client of the group gets each request; `client:<name>` is
  always subscribed;
- results go to the direct pipe `results`, keepalives to `keepalives`, unless
  `sensu.server.results_pipe`/`keepalives_pipe` rename both (pipeline/transport/pipes.py).

A check request is the check definition plus `name` and `issued`. The local definition of
that name overrides the request (not a proxy request, which the server filled in for its
`source`); with `safe_mode` a check not defined locally is answered with status 3 instead of
being run, and a local one runs as defined plus only the request's `name` and `issued` (other
request keys, hooks among them, are ignored, counted and logged once per check); the hook for
the result's status runs after the check (pipeline/agent/hooks.py); a check still running is not started again; tokens are
filled in from the client definition (pipeline/expr/tokens.py) before the command runs. A request
that is not JSON, has no valid name or no command is logged, counted and skipped.

`Agent.counts` counts what happened (requests, requests_malformed, skipped_running, executed, results,
keepalives, subdued, ..._unavailable); `client.metrics` serves them (pipeline/agent/client_metrics.py).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
from collections import Counter
from collections.abc import Awaitable, Callable, Coroutine, Mapping
from typing import TYPE_CHECKING, Any

import pipeline
from pipeline import SENSU_COMPAT_VERSION, jsoncodec
from pipeline.agent.batch import ResultBatch
from pipeline.agent.client_metrics import client_registry, start_client_metrics
from pipeline.agent.definition import client_definition, keepalive_payload, socket_limits, socket_options
from pipeline.agent.deregistration import deregistration_check
from pipeline.agent.hooks import run_hook
from pipeline.agent.http_socket import HttpOptions, HttpSocket
from pipeline.agent.process.capture import fit_message
from pipeline.agent.process.execute import DEFAULT_OUTPUT_CAP, command_env, execute_check
from pipeline.agent.skips import SkipLog
from pipeline.agent.socket_input import SocketInput
from pipeline.agent.standalone import Standalone
from pipeline.agent.statsd import StatsdListener, start_statsd
from pipeline.config.load import redact
from pipeline.expr.tokens import prepare_check
from pipeline.model import JSON, Clock, system_clock, valid_name
from pipeline.transport.base import PipeKind, Subscription, Transport
from pipeline.transport.pipes import request_pipe

if TYPE_CHECKING:
    from pipeline.config.settings import Settings
    from pipeline.metrics.exporter import Runner as MetricsRunner

#: What a check request may add to a locally defined check in safe mode.
SAFE_REQUEST_KEYS = ("name", "issued")

log = logging.getLogger("ogi.client")

KEEPALIVE_INTERVAL = 20.0
SAFE_MODE_OUTPUT = "Check is not locally defined (safe mode)"
#: The result for a request naming a Sensu check extension (Ruby run inside sensu-client).
EXTENSION_OUTPUT = "check extension {!r} cannot run on an ogi client: give the check a \"command\""
Sleep = Callable[[float], Awaitable[None]]


def subscription_pipe(subscription: str, queue: str) -> tuple[str, PipeKind, str | None]:
    """(pipe, kind, own queue) for a subscription: `roundrobin:`/`direct:` share one queue."""
    pipe, kind = request_pipe(subscription)
    return pipe, kind, (queue if kind == "fanout" else None)


class Agent:
    """One agent: subscriptions, check execution, standalone checks, keepalives, local socket."""

    def __init__(
        self,
        settings: Settings,
        transport: Transport,
        clock: Clock = system_clock,
        *,
        env: Mapping[str, str] | None = None,
        spawn: asyncio.Semaphore | None = None,
        keepalive_interval: float = KEEPALIVE_INTERVAL,
        sleep: Sleep = asyncio.sleep,
        output_cap: int = DEFAULT_OUTPUT_CAP,
    ) -> None:
        self.settings = settings
        self._env = os.environ if env is None else env
        self.definition = client_definition(settings.client, self._env)
        self.name: str = self.definition["name"]
        self.checks: dict[str, JSON] = {name: check.raw for name, check in settings.checks.items()}
        self.transport = transport
        self.results_pipe = settings.limits.results_pipe
        self.keepalives_pipe = settings.limits.keepalives_pipe
        self.clock = clock
        self.sleep = sleep
        self.spawn = spawn if spawn is not None else asyncio.Semaphore(settings.limits.agent_spawn_limit)
        self.keepalive_interval = keepalive_interval
        self.output_cap = output_cap
        #: What every check runs with, taken once (a copy per run cost more than preparing it).
        self._command_env = command_env()
        self.started_at = int(clock())
        #: This client's own queue on every fanout subscription.
        self.queue = f"{self.name}-{pipeline.__version__}-{self.started_at}"
        self.safe_mode = self.definition.get("safe_mode") is True
        self.counts: Counter[str] = Counter()
        self._results = ResultBatch(transport, self.results_pipe, self.counts)
        self.standalone = Standalone(self)
        self.socket: SocketInput | None = None
        self.http: HttpSocket | None = None
        self.statsd: StatsdListener | None = None
        self.metrics = client_registry(self.counts, transport, lambda: self.statsd.stats if self.statsd else {})
        self.metrics_page: MetricsRunner | None = None
        self._running: set[str] = set()
        self._safe_logged: set[tuple[Any, tuple[str, ...]]] = set()
        self._skips = SkipLog(clock)
        self._checks: set[asyncio.Task[Any]] = set()
        self._loops: list[asyncio.Task[None]] = []
        #: pipe -> its subscription and the task reading it
        self._subscribed: dict[str, tuple[Subscription, asyncio.Task[None]]] = {}

    # --- lifecycle -------------------------------------------------------------------------

    def subscriptions(self) -> list[tuple[str, PipeKind, str | None]]:
        names = [s for s in self.definition.get("subscriptions") or [] if isinstance(s, str) and s]
        names.append(f"client:{self.name}")
        return [subscription_pipe(name, self.queue) for name in dict.fromkeys(names)]

    async def start(self) -> None:
        """Keepalive, subscriptions, standalone checks, socket, then the keepalive timer."""
        await self.send_keepalive()
        for pipe, kind, queue in self.subscriptions():
            await self._subscribe(pipe, kind, queue)
        self.standalone.start()
        enabled, bind, port = socket_options(self.definition)
        if enabled:
            socket = SocketInput(self._publish_pushed, bind, port, clock=self.clock, limits=socket_limits(self.definition))
            try:
                await socket.start()
                self.socket = socket
            except OSError as exc:
                self.counts["socket_unavailable"] += 1
                log.error(
                    "cannot open the client socket; results cannot be pushed to this client",
                    extra={"fields": {"bind": bind, "port": port, "error": str(exc)}},
                )
        await self._start_http()
        self.statsd = await start_statsd(self.settings.client_statsd, self.publish_result, self.clock, self.counts)
        self.metrics_page = await start_client_metrics(self.settings.client_metrics, self.metrics, self.counts)
        self._loops.append(asyncio.create_task(self._keepalives(), name="keepalives"))
        log.info("client started", extra={"fields": {"name": self.name, "subscriptions": self.subscriptions()}})

    async def _start_http(self) -> None:
        options = HttpOptions.of(self.definition)
        if not options.enabled:
            return
        http = HttpSocket(options, self._publish_pushed, self.info,
                          lambda: redact(self.settings.raw), clock=self.clock)
        try:
            await http.start()
            self.http = http
        except OSError as exc:
            self.counts["http_socket_unavailable"] += 1
            log.error("cannot open the client HTTP socket",
                      extra={"fields": {"bind": options.bind, "port": options.port, "error": str(exc)}})

    def info(self) -> JSON:
        """What `GET /info` on the HTTP socket answers."""
        return {"sensu": {"version": SENSU_COMPAT_VERSION}, "ogi": {"version": pipeline.__version__},
                "client": {"name": self.name, "started": self.started_at},
                "results": self.counts["results"], "keepalives": self.counts["keepalives"],
                **({"statsd": self.statsd.stats} if self.statsd is not None else {})}

    async def stop(self) -> None:
        """Stop everything; running checks are cancelled (their process groups killed)."""
        await self.standalone.stop()
        if self.http is not None:
            await self.http.stop()
            self.http = None
        if self.socket is not None:
            await self.socket.stop()
            self.socket = None
        for part in (self.metrics_page, self.statsd):  # StatsD's last interval goes before any deregistration
            if part is not None:
                await part.stop()
        self.metrics_page, self.statsd = None, None
        for subscription, _task in self._subscribed.values():
            with contextlib.suppress(Exception):
                await subscription.close()
        tasks = [*self._loops, *(task for _s, task in self._subscribed.values()), *self._checks]
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        self._subscribed.clear()
        started, self._loops = bool(self._loops), []
        deregistration = deregistration_check(self.definition, self.clock()) if started else None
        if deregistration is not None:
            try:  # last, so no keepalive or result of ours follows it and registers us again
                await self.publish_result(deregistration)
                log.info("deregistration published", extra={"fields": {"name": self.name}})
            except Exception as error:
                log.error("failed to publish the deregistration", extra={"fields": {"error": repr(error)}})

    async def reload(self, settings: Settings) -> None:
        """Use the checks and client definition of `settings` from now on (SIGHUP).

        Subscriptions follow the new definition, standalone checks are rescheduled (the splay
        keeps their phase), checks running go on; the socket and this client's name stay.
        """
        definition = client_definition(settings.client, self._env)
        if definition["name"] != self.name:
            log.warning("a new client name needs a restart; the old one stays",
                        extra={"fields": {"name": self.name, "new_name": definition["name"]}})
            definition = {**definition, "name": self.name}
        self.settings, self.definition = settings, definition
        self._command_env = command_env()
        self.checks = {name: check.raw for name, check in settings.checks.items()}
        self.safe_mode = definition.get("safe_mode") is True
        if not self._loops:
            return  # not started: start() reads the new settings
        wanted = {pipe: (kind, queue) for pipe, kind, queue in self.subscriptions()}
        for pipe in [p for p in self._subscribed if p not in wanted]:
            subscription, task = self._subscribed.pop(pipe)
            task.cancel()
            with contextlib.suppress(Exception):
                await subscription.close()
        for pipe, (kind, queue) in wanted.items():
            if pipe not in self._subscribed:
                await self._subscribe(pipe, kind, queue)
        await self.standalone.stop()
        self.standalone.start()
        try:
            await self.send_keepalive()  # the server learns the new attributes now, not in 20 s
        except Exception as error:
            log.error("failed to publish keepalive", extra={"fields": {"error": repr(error)}})

    async def _subscribe(self, pipe: str, kind: PipeKind, queue: str | None) -> None:
        subscription = await self.transport.subscribe(pipe, kind, queue)
        task = asyncio.create_task(self._consume(pipe, subscription), name=f"subscription:{pipe}")
        self._subscribed[pipe] = (subscription, task)

    async def _consume(self, pipe: str, subscription: Subscription) -> None:
        async for message in subscription:
            try:
                async with message.process():
                    self.request(message.body)
            except Exception:
                log.exception("check request processing failed", extra={"fields": {"pipe": pipe}})

    # --- check requests --------------------------------------------------------------------

    def request(self, body: bytes) -> asyncio.Task[Any] | None:
        """Handle one check request; the task running it, or None when it was skipped."""
        try:
            request = jsoncodec.loads(body)
        except jsoncodec.JSONDecodeError as exc:
            self._malformed("not JSON", error=str(exc), body=body[:200].decode("utf-8", "replace"))
            return None
        if not isinstance(request, dict):
            self._malformed("not a JSON object", body=body[:200].decode("utf-8", "replace"))
            return None
        name = request.get("name")
        if not isinstance(name, str) or not valid_name(name):
            self._malformed("no valid check name", name=name)
            return None
        local = self.checks.get(name)
        if "proxy_requests" in request:
            local = None if not self.safe_mode else local  # a proxy request is run as the server filled it in
        if self.safe_mode and local is not None:
            check = self._safe_merge(request, local)  # only local commands and hooks run in safe mode
        else:
            check = {**request, **local} if local is not None else request
        command = check.get("command")
        if "extension" in check and not isinstance(command, str):
            # Sent by a Sensu server: say so in an event, every interval, rather than only in a log.
            now = int(self.clock())
            refused = {**check, "output": EXTENSION_OUTPUT.format(check.get("extension")), "status": 3,
                       "executed": now}
            refused.setdefault("issued", now)
            return self._spawn(self.publish_result(refused))
        if not isinstance(command, str) or not command.strip():
            self._malformed("no command", name=name)
            return None
        self.counts["requests"] += 1
        log.debug("received check request", extra={"fields": {"check": name}})
        if self.safe_mode and local is None:
            now = int(self.clock())
            refused = {**check, "output": SAFE_MODE_OUTPUT, "status": 3, "handle": False, "executed": now}
            refused.setdefault("issued", now)
            return self._spawn(self.publish_result(refused))
        return self._spawn(self.run_check(check))

    def _safe_merge(self, request: JSON, local: JSON) -> JSON:
        """Safe mode: the local definition plus only what a request may carry; the rest is logged.
        Otherwise a request could add `unsafe_tokens`, `stdin`, a tiny `timeout` or another `source`."""
        ignored = sorted(k for k in request if k not in SAFE_REQUEST_KEYS and k not in local)
        if ignored:
            self.counts["safe_mode_ignored"] += 1
        if ignored and (local.get("name"), tuple(ignored)) not in self._safe_logged:
            self._safe_logged.add((local.get("name"), tuple(ignored)))
            log.warning("safe mode: ignoring check request attributes the local definition does not set",
                        extra={"fields": {"check": local.get("name", request.get("name")), "ignored": ignored}})
        return {**{k: request[k] for k in SAFE_REQUEST_KEYS if k in request}, **local}

    def _malformed(self, reason: str, **fields: Any) -> None:
        self.counts["requests_malformed"] += 1
        log.error("malformed check request skipped", extra={"fields": {"reason": reason, **fields}})

    def _spawn(self, coroutine: Coroutine[Any, Any, Any]) -> asyncio.Task[Any]:
        task = asyncio.create_task(coroutine)
        self._checks.add(task)
        task.add_done_callback(self._finished)
        return task

    def _finished(self, task: asyncio.Task[Any]) -> None:
        self._checks.discard(task)
        if not task.cancelled() and task.exception() is not None:
            log.error("check run failed", exc_info=task.exception())

    async def run_check(self, check: JSON, issued: float | None = None) -> JSON | None:
        """Run a check now and publish its result; None (and nothing run) if it is still running."""
        name = check.get("name")
        if not isinstance(name, str) or not valid_name(name) or not isinstance(check.get("command"), str):
            self._malformed("a check needs a valid name and a command", name=name)
            return None
        key = f"{check.get('source') or ''}:{name}"
        if key in self._running:
            self.counts["skipped_running"] += 1
            self._skips.skipped(key, name)
            return None
        self._running.add(key)
        try:
            if issued is not None:
                check = {**check, "issued": int(issued)}
            prepared = prepare_check(check, self.definition)
            if prepared.status is None:
                result = await execute_check(
                    prepared.check, self.definition, limit=self.spawn, clock=self.clock, output_cap=self.output_cap,
                    base_env=self._command_env,
                )
                result = await run_hook(result, self.definition, limit=self.spawn, clock=self.clock)
            else:
                now = int(self.clock())
                result = {**prepared.check, "executed": now, "duration": 0.0,
                          "output": prepared.output, "status": prepared.status}
                result.setdefault("issued", now)
                if prepared.handle is not None:
                    result["handle"] = prepared.handle
            self.counts["executed"] += 1
            await self.publish_result(result)
            return result
        finally:
            self._running.discard(key)

    # --- publishing ------------------------------------------------------------------------

    async def publish_result(self, check: JSON) -> None:
        """Publish `check` (with its output and status) to `results` as this client's result.

        Results finished in the same turn of the loop go out together (pipeline/agent/batch.py).
        """
        payload: JSON = {"client": self.name, "check": check}
        if isinstance(self.definition.get("signature"), str):
            payload["signature"] = self.definition["signature"]
        await self._results.publish(fit_message(payload))
        log.debug("check result published", extra={"fields": {"check": check.get("name"), "status": check.get("status")}})

    async def _publish_pushed(self, check: JSON) -> None:
        check.setdefault("issued", int(self.clock()))
        await self.publish_result(check)

    async def send_keepalive(self) -> None:
        payload = keepalive_payload(self.definition, self.clock())
        await self.transport.publish(self.keepalives_pipe, jsoncodec.dumps(payload))
        self.counts["keepalives"] += 1

    async def _keepalives(self) -> None:
        while True:
            await self.sleep(self.keepalive_interval)
            try:
                await self.send_keepalive()
            except Exception:
                log.exception("failed to publish keepalive")

