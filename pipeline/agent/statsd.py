"""The agent's StatsD listener (`client.statsd`): UDP lines in, one metric result per interval out.

Datagrams are aggregated by `pipeline.metrics.statsd_parse.StatsdAggregator`; every
`flush_interval` seconds the aggregates become a result of this client named `statsd`, `type:
metric`, its output Graphite plaintext, sent to the configured `handlers` (an interval with
nothing to report sends nothing). The last partial interval is flushed when the agent stops.
A malformed line is counted (`counts["malformed"]`, and logged at most once a minute) and
skipped; the listener never stops for bad input.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections import Counter
from collections.abc import Awaitable, Callable
from typing import Any

from pipeline.metrics.statsd_parse import StatsdAggregator
from pipeline.metrics.statsd_settings import StatsdSettings
from pipeline.model import JSON, Clock, system_clock

log = logging.getLogger("ogi.client.statsd")

CHECK_NAME = "statsd"
#: Seconds between two log lines about malformed StatsD lines.
MALFORMED_LOG_EVERY = 60.0

Publish = Callable[[JSON], Awaitable[None]]
Sleep = Callable[[float], Awaitable[None]]


class _Datagrams(asyncio.DatagramProtocol):
    def __init__(self, listener: StatsdListener) -> None:
        self.listener = listener

    def datagram_received(self, data: bytes, addr: Any) -> None:
        self.listener.receive(data)


class StatsdListener:
    """A UDP StatsD listener and its flush timer; `publish` takes the `statsd` check result."""

    def __init__(self, options: StatsdSettings, publish: Publish, clock: Clock = system_clock,
                 sleep: Sleep = asyncio.sleep) -> None:
        self.options = options
        self.publish = publish
        self.clock = clock
        self.sleep = sleep
        self.aggregator = StatsdAggregator()
        self.counts = {"datagrams": 0, "flushes": 0, "flush_failed": 0}
        self._udp: asyncio.DatagramTransport | None = None
        self._timer: asyncio.Task[None] | None = None
        self._logged_malformed = 0
        self._logged_at = -MALFORMED_LOG_EVERY

    @property
    def port(self) -> int | None:
        """The UDP port listened on (the one given when `port` is 0)."""
        return None if self._udp is None else int(self._udp.get_extra_info("sockname")[1])

    async def start(self) -> None:
        """Listen, then flush every `flush_interval`; OSError when the port cannot be had."""
        loop = asyncio.get_running_loop()
        self._udp, _ = await loop.create_datagram_endpoint(
            lambda: _Datagrams(self), local_addr=(self.options.bind, self.options.port))
        self._timer = asyncio.create_task(self._flushes(), name="statsd-flush")
        log.info("StatsD listener started", extra={"fields": {"bind": self.options.bind, "port": self.port}})

    async def stop(self) -> None:
        """Close the socket, stop the timer and flush what the last interval gathered."""
        if self._udp is not None:
            self._udp.close()
            self._udp = None
        if self._timer is not None:
            self._timer.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._timer
            self._timer = None
            await self.flush()

    def receive(self, data: bytes) -> None:
        """One datagram; malformed lines are counted and, at most once a minute, logged."""
        self.counts["datagrams"] += 1
        aggregator = self.aggregator
        before = aggregator.malformed
        aggregator.feed(data)
        if aggregator.malformed != before:
            now = self.clock()
            if now - self._logged_at >= MALFORMED_LOG_EVERY:
                self._logged_at = now
                log.warning("malformed StatsD lines skipped",
                            extra={"fields": {"malformed_total": aggregator.malformed,
                                              "example": data[:200].decode("utf-8", "replace")}})

    @property
    def stats(self) -> dict[str, int]:
        """What `/info` and tests read: lines, malformed, dropped, datagrams, flushes."""
        aggregator = self.aggregator
        return {**self.counts, "lines": aggregator.lines, "malformed": aggregator.malformed,
                "dropped": aggregator.dropped}

    def result(self) -> JSON | None:
        """The `statsd` check result of the interval just ended, None when there is nothing."""
        now = int(self.clock())
        lines = self.aggregator.flush(now, self.options.flush_interval)
        if not lines:
            return None
        return {"name": CHECK_NAME, "type": "metric", "output": "\n".join(lines) + "\n",
                "output_metric_format": "graphite_plaintext", "status": 0,
                "handlers": list(self.options.handlers), "interval": self.options.flush_interval,
                "issued": now, "executed": now}

    async def flush(self) -> None:
        """Publish the interval's result; a failed publish is logged and counted, not raised."""
        result = self.result()
        if result is None:
            return
        try:
            await self.publish(result)
            self.counts["flushes"] += 1
        except Exception as error:
            self.counts["flush_failed"] += 1
            log.error("failed to publish the StatsD result", extra={"fields": {"error": repr(error)}})

    async def _flushes(self) -> None:
        while True:
            await self.sleep(self.options.flush_interval)
            await self.flush()


async def start_statsd(options: StatsdSettings | None, publish: Publish, clock: Clock,
                       counts: Counter[str]) -> StatsdListener | None:
    """The started listener, None when off or its port cannot be had (counted, logged: the agent runs on)."""
    if options is None:
        return None
    listener = StatsdListener(options, publish, clock=clock)
    try:
        await listener.start()
    except OSError as exc:
        counts["statsd_unavailable"] += 1
        log.error("cannot open the StatsD listener",
                  extra={"fields": {"bind": options.bind, "port": options.port, "error": str(exc)}})
        return None
    return listener
