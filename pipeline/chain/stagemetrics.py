"""Counts and timings of the chain's stages, exported through a prometheus-client collector.

At 30,000 events/s a `Histogram.observe` per stage per event costs more than the stage itself,
so the engine adds to plain attributes of a `StageStat` it looked up once at start-up, and
`StageMetrics.collect()` turns them into metric families only when `/metrics` is scraped.
"""

from __future__ import annotations

from collections.abc import Iterator

from prometheus_client.core import CounterMetricFamily, Metric, SummaryMetricFamily
from prometheus_client.registry import Collector

GATE = "gate"
FILTER = "filter"
MUTATOR = "mutator"
HANDLER = "handler"

#: Outcomes a stage reports (the `outcome` label).
PASSED = "passed"  # a gate or filter let the event through
DROPPED = "dropped"  # a gate or filter stopped it, or a mutator returned None
OK = "ok"  # a mutator produced a payload, a handler finished
ERROR = "error"  # the stage raised
TIMEOUT = "timeout"  # the route's timeout expired during this stage


class StageStat:
    """Running totals of one (stage, name): calls, seconds and how each call ended."""

    __slots__ = ("stage", "name", "calls", "seconds", "outcomes")

    def __init__(self, stage: str, name: str) -> None:
        self.stage = stage
        self.name = name
        self.calls = 0
        self.seconds = 0.0
        self.outcomes: dict[str, int] = {}

    def add(self, outcome: str, seconds: float) -> None:
        self.calls += 1
        self.seconds += seconds
        outcomes = self.outcomes
        outcomes[outcome] = outcomes.get(outcome, 0) + 1

    def count(self, outcome: str) -> None:
        """An outcome without a timing (a timeout: its time is the route's, not this stage's)."""
        outcomes = self.outcomes
        outcomes[outcome] = outcomes.get(outcome, 0) + 1


class StageMetrics(Collector):
    """All of the engine's counters; register it into a `CollectorRegistry` to export them."""

    def __init__(self) -> None:
        self._stats: dict[tuple[str, str], StageStat] = {}
        self.events_processed = 0
        self.handler_failures: dict[str, int] = {}
        self.handler_timeouts: dict[str, int] = {}

    def stat(self, stage: str, name: str) -> StageStat:
        """The one StageStat of (stage, name), created on first use and shared afterwards."""
        key = (stage, name)
        found = self._stats.get(key)
        if found is None:
            found = self._stats[key] = StageStat(stage, name)
        return found

    def known_handler(self, name: str) -> None:
        """Export zero failures and timeouts for a handler before its first event."""
        self.handler_failures.setdefault(name, 0)
        self.handler_timeouts.setdefault(name, 0)

    def failed(self, handler: str) -> None:
        self.handler_failures[handler] = self.handler_failures.get(handler, 0) + 1

    def timed_out(self, handler: str) -> None:
        self.handler_timeouts[handler] = self.handler_timeouts.get(handler, 0) + 1

    def _families(self) -> tuple[CounterMetricFamily, SummaryMetricFamily, CounterMetricFamily,
                                 CounterMetricFamily, CounterMetricFamily]:
        return (
            CounterMetricFamily(
                "ogi_stage", "Calls of each chain stage by name and outcome", labels=["stage", "name", "outcome"]
            ),
            SummaryMetricFamily("ogi_stage_seconds", "Time spent in each chain stage", labels=["stage", "name"]),
            CounterMetricFamily("ogi_events_processed", "Events that entered the handler chain"),
            CounterMetricFamily("ogi_handler_failures", "Handler runs that raised", labels=["handler"]),
            CounterMetricFamily("ogi_handler_timeouts", "Handler routes that ran past their timeout", labels=["handler"]),
        )

    def describe(self) -> Iterator[Metric]:
        yield from self._families()

    def collect(self) -> Iterator[Metric]:
        stages, seconds, events, failures, timeouts = self._families()
        # list() because the engine may add a stat while a scrape runs in another thread
        for stat in list(self._stats.values()):
            for outcome, n in list(stat.outcomes.items()):
                stages.add_metric([stat.stage, stat.name, outcome], n)
            if stat.calls:
                seconds.add_metric([stat.stage, stat.name], stat.calls, stat.seconds)
        events.add_metric([], self.events_processed)
        for name, n in list(self.handler_failures.items()):
            failures.add_metric([name], n)
        for name, n in list(self.handler_timeouts.items()):
            timeouts.add_metric([name], n)
        yield from (stages, seconds, events, failures, timeouts)
