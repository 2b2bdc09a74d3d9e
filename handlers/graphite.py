"""The `graphite` handler: metric points from check output, batched to carbon over TCP or UDP.

The handler understands the data: it parses the event's `check.output` itself
(`pipeline.metrics.extract.extract_points`, by the check's `output_metric_format`) and **ignores the
payload**: it declares `payload = False`, so its route runs no mutator at all. A check with no
metric format yields no points. `handle()` only formats the event's points into Carbon lines
(Graphite plaintext output in one pass, without building points), puts them on a bounded
in-memory queue and returns: sending happens on a thread (`pipeline/metrics/graphite_queue.py`) through
graphyte, one TCP connection per batch, so carbon being slow, down or restarting never blocks
the event loop. When the queue is full while carbon is taking batches (alive but slower
than the checks), `handle()` waits up to `queue_wait` seconds for room: that slows the intake
of results instead of throwing points away. When the last send failed (carbon down), it never
waits. What does not fit, or a batch whose send fails, is counted in
`ogi_graphite_points_dropped_total{handler}`; `close()` sends what is queued, within `timeout`.
Carbon being down is logged once, with the error, when the first send fails, and once more when
it answers again (with the count lost meanwhile): an absent carbon (the demo of `make run`)
does not warn every 10 seconds; the counter keeps the running total.
"""

from __future__ import annotations

import asyncio
import contextlib
import math
import weakref
from typing import Any, ClassVar

from prometheus_client import CollectorRegistry, Counter

from pipeline.extension import Context, DefinitionError, Handler
from pipeline.metrics.extract import default_timestamp, extract_points, metric_format, metric_tags
from pipeline.metrics.graphite_queue import (
    SEND_FAILED,
    BatchSender,
    LineFormatter,
    PointQueue,
    RateLimitedLog,
    Shipper,
    sanitize,
)
from pipeline.metrics.prefix import PrefixTemplate
from pipeline.model import JSON, Check, Client, Event

DEFAULT_HOST = "127.0.0.1"
DEFAULT_PORT = 2003
DEFAULT_QUEUE_SIZE = 100_000
DEFAULT_BATCH_SIZE = 5_000
#: Seconds a partial batch waits for more points before it is sent anyway.
DEFAULT_INTERVAL = 1.0
#: graphyte's default socket timeout; also the bound on flushing at shutdown.
DEFAULT_TIMEOUT = 5.0
#: Seconds `handle()` may wait for room in a full queue while carbon is up.
DEFAULT_QUEUE_WAIT = 1.0
#: Rendered prefixes (clients, mostly) whose formatter and path cache are kept.
_PREFIX_CACHE_SIZE = 10_000


class _Counters:
    """The handler's counters, registered once per registry and shared by every graphite handler."""

    _by_registry: ClassVar[weakref.WeakKeyDictionary[CollectorRegistry, _Counters]] = weakref.WeakKeyDictionary()

    def __init__(self, registry: CollectorRegistry) -> None:
        self.sent = Counter(
            "ogi_graphite_points_sent", "Metric points written to carbon", ["handler"], registry=registry
        )
        self.dropped = Counter(
            "ogi_graphite_points_dropped",
            "Metric points lost: queue full, send failed, value not finite, or not sent by the shutdown deadline",
            ["handler"], registry=registry,
        )
        self.skipped = Counter(
            "ogi_metric_lines_skipped", "Lines of metric check output that did not parse", ["handler"],
            registry=registry,
        )

    @classmethod
    def of(cls, registry: CollectorRegistry | None) -> _Counters:
        if registry is None:
            return cls(CollectorRegistry())
        found = cls._by_registry.get(registry)
        if found is None:
            found = cls._by_registry[registry] = cls(registry)
        return found


def _positive_int(definition: JSON, key: str, default: int, minimum: int = 1) -> int:
    value = definition.get(key, default)
    if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
        raise DefinitionError(key, f"must be an integer of at least {minimum}", value)
    return value


def _seconds(definition: JSON, key: str, default: float, zero: bool = False) -> float:
    value = definition.get(key, default)
    low_ok = value >= 0 if zero else value > 0
    if isinstance(value, bool) or not isinstance(value, int | float) or not low_ok or not value < math.inf:
        raise DefinitionError(key, f"must be a number of seconds {'of at least 0' if zero else 'greater than 0'}", value)
    return float(value)


class GraphiteHandler(Handler):
    """Ships the event's metric points to carbon's plaintext port in batches."""

    type_name: ClassVar[str] = "graphite"
    payload: ClassVar[bool] = False  # points come from `check.output`, parsed here
    allowed_keys: ClassVar[frozenset[str] | None] = frozenset(
        {"host", "port", "protocol", "prefix", "tags", "queue_size", "queue_wait", "batch_size", "interval"}
    )

    def __init__(self, name: str, definition: JSON, context: Context) -> None:
        super().__init__(name, definition, context)
        host = definition.get("host", DEFAULT_HOST)
        if not isinstance(host, str) or not host.strip():
            raise DefinitionError("host", "must be a non-empty string", host)
        port = definition.get("port", DEFAULT_PORT)
        if isinstance(port, bool) or not isinstance(port, int) or not 0 < port < 65536:
            raise DefinitionError("port", "must be an integer from 1 to 65535", port)
        protocol = definition.get("protocol", "tcp")
        if protocol not in ("tcp", "udp"):
            raise DefinitionError("protocol", "must be tcp or udp", protocol)
        prefix = definition.get("prefix")
        if prefix is not None and (not isinstance(prefix, str) or not prefix.strip(".")):
            raise DefinitionError("prefix", "must be a non-empty string (dots separate its nodes)", prefix)
        tags = definition.get("tags", False)
        if not isinstance(tags, bool):
            raise DefinitionError("tags", "must be true or false", tags)
        self.host, self.port, self.protocol = host, port, protocol
        #: a prefix with tokens is rendered per event (pipeline/metrics/prefix.py), else fixed here
        self._template = PrefixTemplate(prefix) if prefix and ":::" in prefix else None
        self.prefix = sanitize(prefix.strip(".")) if prefix and self._template is None else None
        self.tags = tags
        self.queue_size = _positive_int(definition, "queue_size", DEFAULT_QUEUE_SIZE)
        self.batch_size = _positive_int(definition, "batch_size", DEFAULT_BATCH_SIZE)
        self.interval = _seconds(definition, "interval", DEFAULT_INTERVAL)
        self.timeout = _seconds(definition, "timeout", DEFAULT_TIMEOUT)
        self.queue_wait = _seconds(definition, "queue_wait", DEFAULT_QUEUE_WAIT, zero=True)
        counters = _Counters.of(context.metrics)
        self._sent = counters.sent.labels(name)
        self._dropped = counters.dropped.labels(name)
        self._skipped = counters.skipped.labels(name)
        self._log_skipped = RateLimitedLog()
        self._log_dropped = RateLimitedLog()
        #: Points lost since carbon stopped answering; None while it answers (both touched by the sending thread only).
        self._lost_while_down: int | None = None
        self.formatter = LineFormatter(self.prefix, tags)
        self._formatters: dict[str | None, LineFormatter] = {}
        self.queue: PointQueue[str] = PointQueue(self.queue_size, min(self.batch_size, self.queue_size))
        self._shipper: Shipper | None = None  # started on the first point: no thread, no I/O before
        self._closed = False
        self._loop: asyncio.AbstractEventLoop | None = None
        #: Set (from the sending thread) when a batch left the queue; events waiting for room wake.
        self._room = asyncio.Event()
        self._waiting = 0

    @property
    def target(self) -> str:
        return f"{self.protocol}://{self.host}:{self.port}"

    def _fields(self, **more: Any) -> dict[str, Any]:
        return {"handler": self.name, "target": self.target, **more}

    def _start(self) -> Shipper:
        sender = BatchSender(self.host, self.port, self.protocol, self.timeout)
        self._loop = asyncio.get_running_loop()
        shipper = Shipper(
            f"ogi-graphite-{self.name}", self.queue, sender, self.interval,
            self._on_sent, self._on_dropped, self._on_taken,
        )
        shipper.start()
        self._shipper = shipper
        return shipper

    def _on_dropped(self, count: int, reason: str) -> None:
        self._dropped.inc(count)
        if reason.startswith(SEND_FAILED):
            if self._lost_while_down is None:
                self._lost_while_down = 0
                self.context.log.warning(
                    "carbon unreachable: metric points are dropped and counted until it answers",
                    extra={"fields": self._fields(error=reason[len(SEND_FAILED):].lstrip(": "),
                                                  counter="ogi_graphite_points_dropped_total")},
                )
            self._lost_while_down += count
            return
        self._log_dropped("graphite points dropped", count, self._fields(reason=reason))

    def _on_sent(self, count: int) -> None:
        self._sent.inc(count)
        if self._lost_while_down is not None:
            lost, self._lost_while_down = self._lost_while_down, None
            self.context.log.info("carbon answers again", extra={"fields": self._fields(dropped_while_down=lost)})

    def _on_taken(self) -> None:
        # called on the sending thread; only worth a wake-up of the loop when someone waits
        if self._waiting and self._loop is not None:
            with contextlib.suppress(RuntimeError):  # the loop is closed: nobody waits any more
                self._loop.call_soon_threadsafe(self._room.set)

    async def _wait_for_room(self, shipper: Shipper, rest: list[str]) -> int:
        """Queue `rest` as room frees up, while carbon takes batches; returns the count not queued."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self.queue_wait
        self._waiting += 1
        try:
            while shipper.healthy and not self._closed:
                self._room.clear()
                rest = rest[self.queue.put(rest):]
                if not rest:
                    break
                remaining = deadline - loop.time()
                if remaining <= 0:
                    break
                try:
                    async with asyncio.timeout(remaining):
                        await self._room.wait()
                except TimeoutError:
                    rest = rest[self.queue.put(rest):]
                    break
        finally:
            self._waiting -= 1
        return len(rest)

    def _formatter(self, check: Check, client: Client | None) -> LineFormatter:
        """The formatter of this event's prefix: one per rendered prefix, each with its path cache."""
        if self._template is None:
            return self.formatter
        prefix = self._template.render(check, client)
        formatter = self._formatters.get(prefix)
        if formatter is None:
            if len(self._formatters) >= _PREFIX_CACHE_SIZE:
                self._formatters.clear()
            formatter = self._formatters[prefix] = LineFormatter(prefix, self.tags)
        return formatter

    def _lines(self, check: Check, client: Client | None) -> tuple[list[str], int]:
        """The event's lines for carbon, and how many lines of output did not parse."""
        fmt = metric_format(check)
        output = check.get("output")
        if fmt is None or not isinstance(output, str) or not output:
            return [], 0
        formatter = self._formatter(check, client)
        if fmt == "graphite_plaintext":
            # its points carry no tags of their own: the check's tags are the same on every line
            suffix = ""
            if self.tags and check.get("output_metric_tags"):
                suffix = formatter.tag_suffix(metric_tags(check, client))
            return formatter.plaintext(output, default_timestamp(check), suffix)
        extracted = extract_points(check, client)
        try:
            lines, left_out = formatter.lines(extracted.points)
        except Exception as err:  # a point of a shape the formatter cannot take: lose the event's points only
            self._on_dropped(len(extracted.points), f"cannot format: {err!r}")
            return [], extracted.skipped
        if left_out:
            self._on_dropped(left_out, "value is not a finite number")
        return lines, extracted.skipped

    async def handle(self, event: Event, payload: bytes) -> None:
        check = event.get("check")
        if not isinstance(check, dict):
            return
        client = event.get("client")
        lines, skipped = self._lines(check, client if isinstance(client, dict) else None)
        if skipped:
            self._skipped.inc(skipped)
            self._log_skipped(
                "metric lines skipped", skipped,
                self._fields(check=check.get("name"), client=client.get("name") if isinstance(client, dict) else None),
            )
        if not lines:
            return
        if self._closed:
            self._on_dropped(len(lines), "handler closed")
            return
        shipper = self._shipper or self._start()
        queued = self.queue.put(lines)
        if queued == len(lines):
            return
        left = len(lines) - queued
        if self.queue_wait and shipper.healthy:
            left = await self._wait_for_room(shipper, lines[queued:])
        if left:
            self._on_dropped(left, f"queue full ({self.queue_size} points)")

    async def close(self) -> None:
        """Send what is queued before returning, for at most `timeout` seconds."""
        self._closed = True
        shipper = self._shipper
        if shipper is None:
            return
        shipper.stop()
        await asyncio.to_thread(shipper.join, self.timeout)
        if shipper.is_alive():
            shipper.abandon()  # the batch in flight ends within graphyte's socket timeout
            await asyncio.to_thread(shipper.join, self.timeout)
