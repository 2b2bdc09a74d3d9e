"""The `prometheus` handler: metric points from check output become gauge series in the Store.

The handler reads the event's check (its output, parsed by `pipeline.metrics.extract.extract_points`)
and ignores the payload (`payload = False`: its route runs no mutator). Each point becomes one series `name{client,check,...}` whose last
value is kept in the Store until `expire_after` seconds pass without a newer one; the exporter
(`pipeline/metrics/exporter.py`) builds `/metrics` from the Store at scrape time, so every ogi process
serves the same picture. Names come from the `mappings` rules (`pipeline/metrics/graphite_mapping.py`).

With `pushgateway` set, the event's series are also pushed to a Prometheus Pushgateway in the
background: a push never delays the event, and a failed or dropped push is counted in
`ogi_prometheus_push_failures_total`.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import logging
import math
import weakref
from typing import Any, ClassVar
from urllib.parse import quote, urlsplit

from prometheus_client import CollectorRegistry, Counter

from pipeline.extension import Context, DefinitionError, Handler
from pipeline.metrics.exporter import series_text
from pipeline.metrics.extract import extract_points, metric_format
from pipeline.metrics.formats.prometheus import declared_types, family_of
from pipeline.metrics.graphite_mapping import Mapper, compile_rules
from pipeline.metrics.graphite_queue import RateLimitedLog
from pipeline.model import JSON, Event
from pipeline.store.base import COUNTER, GAUGE, SeriesSample
from plugins.counters import prometheus_path

log = logging.getLogger("ogi")

#: A check's interval when it names none (Sensu 1.x's default).
DEFAULT_INTERVAL = 60.0
#: A series lives this many check intervals without a new value.
EXPIRE_INTERVALS = 3
DEFAULT_PUSH_TIMEOUT = 5.0
DEFAULT_PUSH_JOB = "ogi"
#: Pushes in flight per handler; beyond this a push is dropped (and counted), never queued.
MAX_PUSHES_IN_FLIGHT = 32


class _Counters:
    """The handler's counters in one registry, shared by every prometheus handler using it."""

    _by_registry: ClassVar[weakref.WeakKeyDictionary[CollectorRegistry, _Counters]] = weakref.WeakKeyDictionary()

    def __init__(self, registry: CollectorRegistry | None) -> None:
        self.skipped = Counter(
            "ogi_prometheus_series_skipped", "Metric points not exported: no usable name, or dropped by a mapping",
            ["handler"], registry=registry,
        )
        self.lines_skipped = Counter(
            "ogi_prometheus_lines_skipped", "Lines of check output that did not parse as metrics",
            ["handler"], registry=registry,
        )
        self.push_failures = Counter(
            "ogi_prometheus_push_failures", "Pushes to the Pushgateway that failed or were dropped",
            ["handler"], registry=registry,
        )

    @classmethod
    def of(cls, registry: CollectorRegistry | None) -> _Counters:
        if registry is None:
            return cls(None)
        found = cls._by_registry.get(registry)
        if found is None:
            found = cls._by_registry[registry] = cls(registry)
        return found


def _positive(definition: JSON, key: str, default: float | None) -> float | None:
    value = definition.get(key, default)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int | float) or not value > 0 or math.isinf(value):
        raise DefinitionError(key, "must be a number of seconds greater than 0", value)
    return float(value)


def _path_segment(label: str, value: str) -> str:
    # The Pushgateway takes any value in base64 form; plain form only when it is URL-safe.
    if value and "/" not in value and quote(value, safe="") == value:
        return f"{label}/{value}"
    encoded = base64.urlsafe_b64encode(value.encode()).decode() or "="
    return f"{label}@base64/{encoded}"


class Pusher:
    """Pushes series to one Pushgateway group per client and check, in the background."""

    def __init__(self, handler: str, definition: Any, failures: Counter) -> None:
        if not isinstance(definition, dict):
            raise DefinitionError("pushgateway", "must be an object with url and job", definition)
        unknown = sorted(set(definition) - {"url", "job", "timeout"})
        if unknown:
            raise DefinitionError(f"pushgateway.{unknown[0]}", "unknown key (pushgateway takes url, job, timeout)")
        url = definition.get("url")
        parts = urlsplit(url) if isinstance(url, str) else None
        if not isinstance(url, str) or parts is None or parts.scheme not in ("http", "https") or not parts.netloc:
            raise DefinitionError("pushgateway.url", "must be an http:// or https:// URL", url)
        job = definition.get("job", DEFAULT_PUSH_JOB)
        if not isinstance(job, str) or not job:
            raise DefinitionError("pushgateway.job", "must be a non-empty string", job)
        try:
            timeout = _positive(definition, "timeout", DEFAULT_PUSH_TIMEOUT)
        except DefinitionError as error:
            raise DefinitionError("pushgateway.timeout", error.message, error.value) from None
        self.handler = handler
        self.base = f"{url.rstrip('/')}/metrics/{_path_segment('job', job)}"
        self.timeout = timeout or DEFAULT_PUSH_TIMEOUT
        self.failures = failures.labels(handler)
        self._session: Any = None  # aiohttp.ClientSession, opened on first push
        self._tasks: set[asyncio.Task[None]] = set()

    def url(self, client: str, check: str) -> str:
        return f"{self.base}/{_path_segment('client', client)}/{_path_segment('check', check)}"

    def submit(self, client: str, check: str, samples: dict[str, SeriesSample]) -> None:
        """Start a push and return at once; drop it (counted) when too many are in flight."""
        if len(self._tasks) >= MAX_PUSHES_IN_FLIGHT:
            self.failures.inc()
            return
        # Named and typed exactly as on /metrics: a counter is pushed as `..._total` with its TYPE line.
        text, _ = series_text(samples)
        body = text.encode()
        task = asyncio.create_task(self._push(self.url(client, check), body))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _push(self, url: str, body: bytes) -> None:
        import aiohttp

        try:
            if self._session is None:
                self._session = aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=self.timeout))
            # POST replaces the pushed metric names in the group and keeps the others.
            async with self._session.post(url, data=body, headers={"Content-Type": "text/plain; version=0.0.4"}) as rsp:
                if rsp.status >= 300:
                    text = (await rsp.text())[:200]
                    raise ConnectionError(f"HTTP {rsp.status}: {text.strip()}")
        except Exception as error:  # any failure is the Pushgateway's loss, never the event's
            self.failures.inc()
            log.warning("pushgateway push failed", extra={"fields": {"handler": self.handler, "url": url,
                                                                      "error": repr(error)}})

    async def close(self, wait: float = 2.0) -> None:
        """Let pushes in flight finish for up to `wait` seconds, then cancel them."""
        tasks = list(self._tasks)
        if tasks:
            _, pending = await asyncio.wait(tasks, timeout=wait)
            for task in pending:
                task.cancel()
            for task in pending:
                with contextlib.suppress(asyncio.CancelledError):
                    await task
        if self._session is not None:
            await self._session.close()
            self._session = None


class PrometheusHandler(Handler):
    """Keeps the last value of each metric series of an event in the Store for `/metrics`."""

    type_name: ClassVar[str] = "prometheus"
    payload: ClassVar[bool] = False  # samples come from `check.output`, parsed here
    allowed_keys: ClassVar[frozenset[str] | None] = frozenset({"mappings", "expire_after", "pushgateway"})

    def __init__(self, name: str, definition: JSON, context: Context) -> None:
        super().__init__(name, definition, context)
        self.mapper = Mapper(compile_rules(definition.get("mappings")), prometheus_path)
        self.expire_after = _positive(definition, "expire_after", None)
        counters = _Counters.of(context.metrics)
        self._skipped = counters.skipped.labels(name)
        self._lines_skipped = counters.lines_skipped.labels(name)
        self._log_lines = RateLimitedLog()
        self._log_series = RateLimitedLog()
        push = definition.get("pushgateway")
        self.pusher = Pusher(name, push, counters.push_failures) if push is not None else None

    def expiry(self, check: JSON) -> float:
        """Seconds a series of this check lives without a new value."""
        if self.expire_after is not None:
            return self.expire_after
        interval = check.get("interval")
        if isinstance(interval, bool) or not isinstance(interval, int | float) or not interval > 0:
            interval = DEFAULT_INTERVAL
        return EXPIRE_INTERVALS * float(interval)

    def samples(self, event: Event) -> dict[str, SeriesSample]:
        """The series of one event, keyed by series id (counts what it cannot export)."""
        check = event.get("check")
        client = event.get("client")
        if not isinstance(check, dict) or not isinstance(client, dict):
            raise ValueError(f"prometheus handler {self.name}: event has no check or client object")
        extracted = extract_points(check, client)
        client_name = str(client.get("name", ""))
        check_name = str(check.get("name", ""))
        host = client.get("hostname")
        host = host if isinstance(host, str) else ""
        if extracted.skipped:
            self._lines_skipped.inc(extracted.skipped)
            self._log_lines("metric lines skipped", extracted.skipped,
                            {"handler": self.name, "client": client_name, "check": check_name})
        if not extracted.points:
            return {}
        now = self.context.clock()
        expires = now + self.expiry(check)
        samples: dict[str, SeriesSample] = {}
        dropped = unnamed = 0
        series = self.mapper.series
        # the output's own `# TYPE` lines type what no rule types (prometheus_text only)
        output = check.get("output")
        types = declared_types(output) if metric_format(check) == "prometheus_text" and isinstance(output, str) else {}
        for point in extracted.points:
            sid, kind, factor = series(client_name, check_name, point.name, point.tags, host)
            if sid:
                if kind is None and types:
                    family = family_of(point.name, types)
                    kind = COUNTER if family is not None and types[family] == COUNTER else None
                samples[sid] = SeriesSample(float(point.value) * factor, now, expires, kind or GAUGE)
            elif sid is None:
                unnamed += 1
            else:
                dropped += 1
        if dropped or unnamed:
            self._skipped.inc(dropped + unnamed)
        if unnamed:
            self._log_series("metric series not exported: no usable Prometheus name", unnamed,
                             {"handler": self.name, "client": client_name, "check": check_name})
        return samples

    async def handle(self, event: Event, payload: bytes) -> None:
        samples = self.samples(event)
        if not samples:
            return
        store = self.context.store
        if store is None:
            raise RuntimeError(f"prometheus handler {self.name}: no store to keep series in")
        await store.put_series(samples)
        if self.pusher is not None:
            self.pusher.submit(str(event["client"].get("name", "")), str(event["check"].get("name", "")), samples)

    async def close(self) -> None:
        if self.pusher is not None:
            await self.pusher.close()
