"""Sensu's check request publisher: the server asks subscribers to run their checks.

Every check that is neither `standalone` nor `publish: false` and has `subscribers` is
requested on its schedule (pipeline/schedule/timing.py: `interval` with Sensu's splay, or `cron`),
except while it is subdued. The request is the definition without `subscribers` and
`interval`, plus `name` and `issued`. It goes to each subscription's pipe: `roundrobin:NAME`
(and Sensu's `direct:NAME`) to the direct pipe of that name, where one client of the group
takes it; anything else, `client:NAME` included, to the fanout pipe of that name, where every
subscribed client gets a copy. A check with `proxy_requests` goes out once per matching client
instead (pipeline/server/proxy.py).
"""

from __future__ import annotations

import asyncio
import logging
from datetime import tzinfo
from typing import TYPE_CHECKING, NamedTuple

from prometheus_client import CollectorRegistry, Counter

from pipeline import jsoncodec
from pipeline.model import JSON, Check, Clock, system_clock
from pipeline.schedule.timing import CheckSchedule, ScheduleError
from pipeline.server.monitors import Sleep
from pipeline.server.proxy import ProxyRequests
from pipeline.transport.base import PipeKind, Transport
from pipeline.transport.pipes import request_pipe

if TYPE_CHECKING:
    from pipeline.config.settings import Settings

log = logging.getLogger("ogi")


def published_checks(settings: Settings) -> dict[str, Check]:
    """The checks the server requests: not standalone, not `publish: false`, with subscribers."""
    return {
        name: check.raw
        for name, check in settings.checks.items()
        if not check.standalone and check.publish and check.subscribers
    }


def check_request(name: str, check: Check, now: float) -> JSON:
    """The request payload: the definition minus `subscribers` and `interval`, plus `name` and `issued`."""
    payload = {key: value for key, value in check.items() if key not in ("subscribers", "interval")}
    payload["name"] = name
    payload["issued"] = int(now)
    return payload


class Request(NamedTuple):
    """One published request: which check, on which pipe, what was sent."""

    check: str
    pipe: str
    kind: PipeKind
    payload: JSON


class CheckRequestPublisher:
    """Publishes check requests on each check's schedule (Sensu's `check_request_publisher` task)."""

    task_name = "check_request_publisher"

    def __init__(
        self,
        settings: Settings,
        transport: Transport,
        clock: Clock = system_clock,
        metrics: CollectorRegistry | None = None,
        tz: tzinfo | None = None,
        sleep: Sleep = asyncio.sleep,
    ) -> None:
        self.settings = settings
        self.transport = transport
        self.clock = clock
        self.tz = tz
        self._sleep = sleep
        self.schedules: dict[str, CheckSchedule] | None = None
        self._checks: dict[str, Check] = {}
        self._reloaded: asyncio.Event | None = None  # wakes run() when reload() brings new schedules
        #: Publishes the checks with `proxy_requests` (set by the server, which has the client registry).
        self.proxy: ProxyRequests | None = None
        registry = metrics if metrics is not None else CollectorRegistry()
        self.requests = Counter(
            "ogi_check_requests", "Check request ticks, by outcome", ["outcome"], registry=registry
        )
        for outcome in ("published", "subdued", "failed"):
            self.requests.labels(outcome)

    def start(self, now: float) -> dict[str, CheckSchedule]:
        """Schedule every published check from `now`; a check that cannot be scheduled is logged and left out.

        Called again (after a lost and regained task lock), it starts afresh: the splay puts
        the ticks back on the same phase.
        """
        schedules: dict[str, CheckSchedule] = {}
        self._checks = published_checks(self.settings)
        for name, check in self._checks.items():
            try:
                schedules[name] = CheckSchedule.for_check(name, check, now, self.tz)
            except ScheduleError as error:
                log.error("check not published: %s", error, extra={"fields": {"check": name, "path": error.path}})
        self.schedules = schedules
        return schedules

    async def publish(self, name: str, check: Check, now: float) -> list[Request]:
        """Publish one request for `check` to each of its subscriptions, now."""
        payload = check_request(name, check, now)
        if "proxy_requests" in check and self.proxy is not None:
            self.proxy.publish(check, payload)  # one per matching client, in the background
            return []
        body = jsoncodec.dumps(payload)
        sent: list[Request] = []
        subscriptions = check.get("subscribers") or []
        for subscription in dict.fromkeys(s for s in subscriptions if isinstance(s, str) and s):
            pipe, kind = request_pipe(subscription)
            await self.transport.publish(pipe, body, kind)
            sent.append(Request(name, pipe, kind, payload))
        log.debug("check request published", extra={"fields": {"check": name, "subscribers": subscriptions}})
        return sent

    async def publish_due(self, now: float) -> list[Request]:
        """Publish the requests whose tick has come by `now`; return what was published."""
        schedules = self.schedules if self.schedules is not None else self.start(now)
        sent: list[Request] = []
        for name, schedule in schedules.items():
            if not schedule.due(now):
                continue
            schedule.advance(now)
            if schedule.subdued(now):
                self.requests.labels("subdued").inc()
                log.info("check request was subdued", extra={"fields": {"check": name}})
                continue
            try:
                sent.extend(await self.publish(name, self._checks[name], now))
            except Exception:  # a broken connection must not stop the other checks
                self.requests.labels("failed").inc()
                log.exception("check request could not be published", extra={"fields": {"check": name}})
            else:
                self.requests.labels("published").inc()
        return sent

    def next_wake(self) -> float | None:
        """When the earliest scheduled tick is due; None with nothing scheduled."""
        if not self.schedules:
            return None
        return min(schedule.next_at for schedule in self.schedules.values())

    def reload(self, settings: Settings) -> None:
        """Publish the checks of `settings` from now on (SIGHUP); the splay keeps each check's phase."""
        self.settings = settings
        if self.schedules is not None:
            self.start(self.clock())
        if self._reloaded is not None:
            self._reloaded.set()

    async def run(self) -> None:
        """Publish on schedule until cancelled."""
        self.start(self.clock())
        while True:
            reloaded = self._reloaded = asyncio.Event()
            wake = self.next_wake()
            nap = None if wake is None else asyncio.ensure_future(self._sleep(max(0.0, wake - self.clock())))
            woken = asyncio.ensure_future(reloaded.wait())
            try:
                await asyncio.wait([t for t in (nap, woken) if t is not None], return_when=asyncio.FIRST_COMPLETED)
            finally:
                for task in (nap, woken):
                    if task is not None:
                        task.cancel()
            if nap is not None and nap.done():
                nap.result()  # a sleep that raised (or was cancelled) ends run() as it would inline
            if not reloaded.is_set():
                await self.publish_due(self.clock())
