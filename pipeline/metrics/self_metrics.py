"""ogi's own health on `/metrics`: transport counters, store round-trip time, the client's counts.

- `ogi_transport_events_total{event=...}`: what the transport counted (`dead_lettered`,
  `retried`, `disconnects`, `buffer_dropped`, `publish_failed`, ... every key its `counts`
  has; the first four always shown, 0 until they happen), and `ogi_transport_publish_buffer`,
  messages held while the broker is away (RabbitMQ's reconnect buffer).
- `ogi_store_round_trip_seconds`: a histogram of the store's `ping()`, timed on every scrape
  (so one sample per scrape interval, and a scrape shows a store that has become slow).
- `ogi_client_events_total{event=...}` and `ogi_client_statsd_lines_total{outcome=...}` on the
  client's own page (`client.metrics`).
"""

from __future__ import annotations

import contextlib
import re
import time
from collections.abc import Callable, Iterable, Mapping
from typing import Any

from prometheus_client import CollectorRegistry, Histogram
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from pipeline.errors import ConfigError, ConfigErrors
from pipeline.metrics.access import Access
from pipeline.metrics.exporter import listener_access
from pipeline.store.base import Store

#: Shown even before they first happen, so an alert rule on them has a series to read.
ALWAYS = ("dead_lettered", "retried", "disconnects", "buffer_dropped")
ROUND_TRIP_BUCKETS = (0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5)
_LABEL = re.compile(r"[^A-Za-z0-9_]")


class CountsCollector(Collector):
    """A `Counter[str]` of a component as one counter family labelled `event`."""

    def __init__(self, name: str, help_text: str, counts: Callable[[], Mapping[str, int]],
                 always: Iterable[str] = (), gauges: Callable[[], Mapping[str, float]] | None = None) -> None:
        self.name, self.help_text, self.counts, self.always, self.gauges = name, help_text, counts, always, gauges

    def collect(self) -> Iterable[Metric]:
        family = CounterMetricFamily(self.name, self.help_text, labels=["event"])
        values = {key: 0 for key in self.always}
        values.update({_LABEL.sub("_", str(k)): v for k, v in self.counts().items()})
        for key in sorted(values):
            family.add_metric([key], values[key])
        yield family
        for name, value in (self.gauges() if self.gauges is not None else {}).items():
            gauge = GaugeMetricFamily(name, "Messages held while the broker is unreachable, not yet sent")
            gauge.add_metric([], value)
            yield gauge


def transport_collector(transport: Any) -> CountsCollector:
    """`ogi_transport_events_total` and `ogi_transport_publish_buffer` of a transport."""

    def counts() -> Mapping[str, int]:
        return dict(getattr(transport, "counts", None) or {})

    def buffered() -> Mapping[str, float]:
        pending = getattr(transport, "pending", None)
        value = pending() if callable(pending) else pending
        return {"ogi_transport_publish_buffer": float(value) if isinstance(value, int | float) else 0.0}

    return CountsCollector("ogi_transport_events", "What the transport counted, by event", counts,
                           ALWAYS, buffered)


def register(registry: CollectorRegistry, collector: Collector) -> None:
    """Register once: a registry shared by two daemons in one process keeps the first."""
    with contextlib.suppress(ValueError):
        registry.register(collector)


class StoreRoundTrip:
    """Times the store's `ping()` into `ogi_store_round_trip_seconds`."""

    def __init__(self, store: Store, registry: CollectorRegistry) -> None:
        self.store = store
        self.histogram = Histogram("ogi_store_round_trip_seconds", "Time the store takes to answer a ping",
                                   buckets=ROUND_TRIP_BUCKETS, registry=None)
        register(registry, self.histogram)

    async def sample(self) -> None:
        start = time.perf_counter()
        await self.store.ping()
        self.histogram.observe(time.perf_counter() - start)


def client_listener(raw: Any) -> tuple[str, int, Access] | None:
    """`client.metrics` (bind, port, access; the same keys as the server's `metrics`), None when absent."""
    client = raw.get("client") if isinstance(raw, dict) else None
    if not isinstance(client, dict) or client.get("metrics") is None:
        return None
    try:
        return listener_access({"metrics": client["metrics"]})
    except ConfigErrors as wrong:
        raise ConfigErrors([ConfigError("client." + e.path, e.message, e.value) for e in wrong.errors]) from None
