"""The client's own `/metrics` (`client.metrics`, off by default): its counts, its transport, StatsD.

Served by the same listener as the server's page (pipeline/metrics/exporter.py, with its
`user`/`password`, `ssl` and HTTP limits), without check series: the client keeps none.
"""

from __future__ import annotations

import logging
from collections import Counter
from collections.abc import Callable, Mapping
from typing import Any

from prometheus_client import CollectorRegistry

from pipeline.errors import ConfigErrors
from pipeline.metrics.access import Access
from pipeline.metrics.exporter import Runner, start_exporter
from pipeline.metrics.self_metrics import CountsCollector, transport_collector

log = logging.getLogger("ogi.client.metrics")


def client_registry(counts: Counter[str], transport: Any,
                    statsd: Callable[[], Mapping[str, int]]) -> CollectorRegistry:
    """`ogi_client_events_total`, `ogi_client_statsd_total` and the transport's families."""
    registry = CollectorRegistry()
    registry.register(CountsCollector("ogi_client_events", "What the client counted, by event",
                                      lambda: dict(counts), ("results", "keepalives", "executed")))
    registry.register(CountsCollector("ogi_client_statsd", "StatsD lines, datagrams and flushes, by event", statsd))
    registry.register(transport_collector(transport))
    return registry


async def start_client_metrics(found: tuple[str, int, Access] | None, registry: CollectorRegistry,
                               counts: Counter[str]) -> Runner | None:
    """The running page, None when off or its port cannot be had (logged, counted; the client runs on)."""
    if found is None:
        return None
    try:
        return await start_exporter(found, None, registry)
    except (OSError, ConfigErrors) as error:
        counts["metrics_unavailable"] += 1
        log.error("cannot open the client's /metrics", extra={"fields": {"bind": found[0], "port": found[1],
                                                                         "error": str(error)}})
        return None
