"""Counts kept as plain `collections.Counter`s on objects, exported on `/metrics` at scrape time.

The transport, the handler queues and the listeners count in a `Counter[str]` on the hot path (no
lock, no label lookup); `CountsCollector` reads those counters when `/metrics` is scraped. Each
source is a callable so a listener or transport that is rebuilt on reload is read afresh.
"""

from __future__ import annotations

import time
import weakref
from collections.abc import Callable, Iterator, Mapping
from typing import ClassVar

from prometheus_client import CollectorRegistry
from prometheus_client.core import CounterMetricFamily, Metric
from prometheus_client.registry import Collector

CountsSource = Callable[[], Mapping[str, int] | None]


class CountsCollector(Collector):
    """One counter family whose samples are the keys of counters read from named sources.

    `key_label` names the counter's key (`reason`, `handler`); `source_label` names the source
    (`listener`), or None for one source. `keys` restricts the exported keys.
    """

    def __init__(self, name: str, documentation: str, key_label: str, source_label: str | None = None,
                 keys: tuple[str, ...] | None = None) -> None:
        self.name = name
        self.documentation = documentation
        self.key_label = key_label
        self.source_label = source_label
        self.keys = keys
        self.created = time.time()
        self.sources: dict[str, CountsSource] = {}

    def watch(self, source: str, read: CountsSource) -> None:
        """Read `read()` at each scrape under `source` (a later watch of the same name replaces it)."""
        self.sources[source] = read

    def _labels(self) -> list[str]:
        return [self.source_label, self.key_label] if self.source_label else [self.key_label]

    def describe(self) -> Iterator[Metric]:
        yield CounterMetricFamily(self.name, self.documentation, labels=self._labels())

    def collect(self) -> Iterator[Metric]:
        family = CounterMetricFamily(self.name, self.documentation, labels=self._labels())
        for source, read in list(self.sources.items()):
            counts = read() or {}
            keys = self.keys if self.keys is not None else sorted(counts)
            for key in keys:
                labels = [source, key] if self.source_label else [key]
                family.add_metric(labels, counts.get(key, 0), created=self.created)
        yield family


class CountsCollectors:
    """The collectors of one registry, made and registered once (a registry refuses a name twice)."""

    _by_registry: ClassVar[weakref.WeakKeyDictionary[CollectorRegistry, CountsCollectors]] = (
        weakref.WeakKeyDictionary()
    )

    def __init__(self, registry: CollectorRegistry) -> None:
        self.registry = registry
        self._made: dict[str, CountsCollector] = {}

    def get(self, name: str, documentation: str, key_label: str, source_label: str | None = None,
            keys: tuple[str, ...] | None = None) -> CountsCollector:
        found = self._made.get(name)
        if found is None:
            found = self._made[name] = CountsCollector(name, documentation, key_label, source_label, keys)
            self.registry.register(found)
        return found

    @classmethod
    def of(cls, registry: CollectorRegistry) -> CountsCollectors:
        found = cls._by_registry.get(registry)
        if found is None:
            found = cls._by_registry[registry] = cls(registry)
        return found


def publish_drops(registry: CollectorRegistry) -> CountsCollector:
    """`ogi_publish_dropped_total{reason="publish_refused"|"publish_failed"}` of the transport."""
    return CountsCollectors.of(registry).get(
        "ogi_publish_dropped",
        "Publishes dropped: publish_refused (the broker refuses it for good), "
        "publish_failed (the broker did not confirm it after every attempt)",
        "reason", keys=("publish_refused", "publish_failed"))


def socket_refusals(registry: CollectorRegistry) -> CountsCollector:
    """`ogi_socket_refusals_total{listener, reason}`: messages and connections a listener refused."""
    return CountsCollectors.of(registry).get(
        "ogi_socket_refusals", "Messages and connections refused by a listener, by reason",
        "reason", source_label="listener")


def handler_queue_counts(registry: CollectorRegistry) -> tuple[CountsCollector, CountsCollector]:
    """`ogi_handler_queued_events_total{handler}` and `ogi_handler_queue_taken_total{handler}`."""
    collectors = CountsCollectors.of(registry)
    queued = collectors.get("ogi_handler_queued_events",
                            "Events published to a busy handler's durable queue", "handler")
    taken = collectors.get("ogi_handler_queue_taken", "Events taken from a handler's queue and run", "handler")
    return queued, taken
