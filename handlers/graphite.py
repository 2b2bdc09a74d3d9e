"""The `graphite` handler: metric points from check output, batched to carbon over TCP or UDP.

The handler understands the data: it parses the event's `check.output` itself
(`pipeline.metrics.extract_points`, by the check's `output_metric_format`) and **ignores the
payload**, so the mutator does not matter (`only_check_output` is the cheapest). A check with no
metric format yields no points. `handle()` only puts the event's points on a bounded in-memory
queue and returns: formatting and sending happen on a thread (`pipeline/graphite_queue.py`)
through graphyte, one TCP connection per batch, so carbon being slow, down or restarting never
blocks the event loop. What does not fit the queue, or a batch whose send fails, is counted in
`ogi_graphite_points_dropped_total{handler}`; `close()` sends what is queued, within `timeout`.
"""

from __future__ import annotations

import asyncio
import math
import weakref
from typing import Any, ClassVar

from prometheus_client import CollectorRegistry, Counter

from pipeline.extension import Context, DefinitionError, Handler
from pipeline.graphite_queue import BatchSender, LineFormatter, PointQueue, RateLimitedLog, Shipper, sanitize
from pipeline.metrics import extract_points
from pipeline.model import JSON, Event

DEFAULT_HOST = "127.0.0.1"
DEFAULT_PORT = 2003
DEFAULT_QUEUE_SIZE = 100_000
DEFAULT_BATCH_SIZE = 5_000
#: Seconds a partial batch waits for more points before it is sent anyway.
DEFAULT_INTERVAL = 1.0
#: graphyte's default socket timeout; also the bound on flushing at shutdown.
DEFAULT_TIMEOUT = 5.0


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


def _seconds(definition: JSON, key: str, default: float) -> float:
    value = definition.get(key, default)
    if isinstance(value, bool) or not isinstance(value, int | float) or not 0 < value < math.inf:
        raise DefinitionError(key, "must be a number of seconds greater than 0", value)
    return float(value)


class GraphiteHandler(Handler):
    """Ships the event's metric points to carbon's plaintext port in batches."""

    type_name: ClassVar[str] = "graphite"
    allowed_keys: ClassVar[frozenset[str] | None] = frozenset(
        {"host", "port", "protocol", "prefix", "tags", "queue_size", "batch_size", "interval"}
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
        self.prefix = sanitize(prefix.strip(".")) if prefix else None
        self.tags = tags
        self.queue_size = _positive_int(definition, "queue_size", DEFAULT_QUEUE_SIZE)
        self.batch_size = _positive_int(definition, "batch_size", DEFAULT_BATCH_SIZE)
        self.interval = _seconds(definition, "interval", DEFAULT_INTERVAL)
        self.timeout = _seconds(definition, "timeout", DEFAULT_TIMEOUT)
        counters = _Counters.of(context.metrics)
        self._sent = counters.sent.labels(name)
        self._dropped = counters.dropped.labels(name)
        self._skipped = counters.skipped.labels(name)
        self._log_skipped = RateLimitedLog()
        self._log_dropped = RateLimitedLog()
        self.formatter = LineFormatter(self.prefix, tags)
        self.queue = PointQueue(self.queue_size, min(self.batch_size, self.queue_size))
        self._shipper: Shipper | None = None  # started on the first point: no thread, no I/O before
        self._closed = False

    @property
    def target(self) -> str:
        return f"{self.protocol}://{self.host}:{self.port}"

    def _fields(self, **more: Any) -> dict[str, Any]:
        return {"handler": self.name, "target": self.target, **more}

    def _start(self) -> Shipper:
        sender = BatchSender(self.host, self.port, self.protocol, self.timeout)
        shipper = Shipper(
            f"ogi-graphite-{self.name}", self.queue, self.formatter, sender, self.interval,
            self._sent.inc, self._on_dropped,
        )
        shipper.start()
        self._shipper = shipper
        return shipper

    def _on_dropped(self, count: int, reason: str) -> None:
        self._dropped.inc(count)
        self._log_dropped("graphite points dropped", count, self._fields(reason=reason))

    async def handle(self, event: Event, payload: bytes) -> None:
        check = event.get("check")
        if not isinstance(check, dict):
            return
        client = event.get("client")
        extracted = extract_points(check, client if isinstance(client, dict) else None)
        if extracted.skipped:
            self._skipped.inc(extracted.skipped)
            self._log_skipped(
                "metric lines skipped", extracted.skipped,
                self._fields(check=check.get("name"), client=client.get("name") if isinstance(client, dict) else None),
            )
        points = extracted.points
        if not points:
            return
        if self._closed:
            self._on_dropped(len(points), "handler closed")
            return
        if self._shipper is None:
            self._start()
        queued = self.queue.put(points)
        if queued < len(points):
            self._on_dropped(len(points) - queued, f"queue full ({self.queue_size} points)")

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
