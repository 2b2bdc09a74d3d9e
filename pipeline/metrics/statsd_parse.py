"""StatsD lines -> aggregates -> Graphite plaintext lines (pure: no sockets, no clock).

A line is `name:value|type[|@rate][|#tags]`, several per datagram separated by newlines:

- `c` counter: summed over the interval, each value divided by its sample rate
  (`hits:1|c|@0.1` counts 10); flushed as `<name>.count` and `<name>.rate` (per second);
- `g` gauge: the last value, kept across flushes; `+N`/`-N` add to it rather than set it;
- `ms` / `h` timer or histogram: flushed as `<name>.count` (scaled by the sample rate),
  `.mean`, `.p50`, `.p90`, `.p99` (nearest rank) and `.max`;
- `s` set: the number of distinct values seen in the interval, as `<name>.count`.

DogStatsD `|#tags` are accepted and ignored. Names keep `[A-Za-z0-9_.-]`; a space becomes `_`,
`/` becomes `-`, anything else is dropped (Graphite paths). A line that does not parse is
counted in `malformed` and skipped; the rest of its datagram is still read. Memory is
bounded: past `max_series` names a new one is counted in `dropped` and skipped, and a timer
or set keeps at most `max_samples` values per interval (count, mean and max stay exact).
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass, field

#: Distinct names one aggregator keeps between flushes.
DEFAULT_MAX_SERIES = 10_000
#: Values one timer or set keeps per interval.
DEFAULT_MAX_SAMPLES = 100_000
PERCENTILES = (50, 90, 99)

_UNSAFE = re.compile(r"[^A-Za-z0-9_.\-]")
_KINDS = frozenset(("c", "g", "ms", "h", "s"))


def clean_name(name: str) -> str:
    """The Graphite-safe form of a StatsD name ('' when nothing is left)."""
    return _UNSAFE.sub("", name.replace(" ", "_").replace("/", "-"))


@dataclass
class _Timer:
    count: float = 0.0
    seen: int = 0
    total: float = 0.0
    largest: float = -math.inf
    values: list[float] = field(default_factory=list)


def percentile(ordered: list[float], pct: int) -> float:
    """Nearest-rank percentile of sorted values."""
    rank = max(1, math.ceil(pct / 100 * len(ordered)))
    return ordered[rank - 1]


def _fmt(value: float) -> str:
    if value == int(value) and abs(value) < 1e15:
        return str(int(value))
    return repr(round(value, 6))


class StatsdAggregator:
    """What the lines of one flush interval add up to; `feed` datagrams, `flush` lines."""

    def __init__(self, max_series: int = DEFAULT_MAX_SERIES, max_samples: int = DEFAULT_MAX_SAMPLES) -> None:
        self.max_series = max_series
        self.max_samples = max_samples
        self.counters: dict[str, float] = {}
        self.gauges: dict[str, float] = {}
        self.timers: dict[str, _Timer] = {}
        self.sets: dict[str, set[str]] = {}
        #: raw name -> clean name; names repeat, so each is cleaned once
        self._names: dict[str, str] = {}
        self.lines = 0
        self.malformed = 0
        self.dropped = 0

    def feed(self, datagram: bytes) -> None:
        """Aggregate every line of one datagram."""
        text = datagram.decode("utf-8", "replace")
        for line in text.split("\n"):
            if line and not line.isspace():
                self.line(line.strip())

    def line(self, line: str) -> bool:
        """Aggregate one line; False (and counted as malformed) when it does not parse."""
        self.lines += 1
        raw, sep, rest = line.partition(":")
        parts = rest.split("|")
        if not sep or len(parts) < 2 or parts[1] not in _KINDS:
            self.malformed += 1
            return False
        kind, text = parts[1], parts[0]
        rate = 1.0
        if len(parts) > 2:
            for extra in parts[2:]:
                if extra[:1] == "@":
                    try:
                        rate = float(extra[1:])
                    except ValueError:
                        rate = 0.0
                    if not 0 < rate <= 1:
                        self.malformed += 1
                        return False
                elif extra[:1] != "#":
                    self.malformed += 1
                    return False
        name = self._names.get(raw)
        if name is None:
            name = clean_name(raw)
            if not name:
                self.malformed += 1
                return False
            if len(self._names) < self.max_series * 2:
                self._names[raw] = name
        if kind == "s":
            return self._set(name, text)
        try:
            value = float(text)
        except ValueError:
            self.malformed += 1
            return False
        if not math.isfinite(value):
            self.malformed += 1
            return False
        if kind == "c":
            counters = self.counters
            if name in counters:
                counters[name] += value / rate
            elif self._room():
                counters[name] = value / rate
        elif kind == "g":
            gauges = self.gauges
            delta = text[:1] in "+-"
            if name in gauges:
                gauges[name] = gauges[name] + value if delta else value
            elif self._room():
                gauges[name] = value
        else:
            timer = self.timers.get(name)
            if timer is None:
                if not self._room():
                    return True
                timer = self.timers[name] = _Timer()
            timer.count += 1 / rate
            timer.seen += 1
            timer.total += value
            if value > timer.largest:
                timer.largest = value
            if len(timer.values) < self.max_samples:
                timer.values.append(value)
        return True

    def _set(self, name: str, member: str) -> bool:
        members = self.sets.get(name)
        if members is None:
            if not self._room():
                return True
            members = self.sets[name] = set()
        if len(members) < self.max_samples:
            members.add(member)
        return True

    def _room(self) -> bool:
        if len(self.counters) + len(self.gauges) + len(self.timers) + len(self.sets) < self.max_series:
            return True
        self.dropped += 1
        return False

    def series(self) -> int:
        """Names held now."""
        return len(self.counters) + len(self.gauges) + len(self.timers) + len(self.sets)

    def flush(self, now: int, interval: float) -> list[str]:
        """Graphite plaintext lines for the interval; counters, timers and sets start again,
        gauges keep their value (StatsD's behaviour)."""
        out: list[str] = []
        stamp = f" {now}"
        for name, total in self.counters.items():
            out.append(f"{name}.count {_fmt(total)}{stamp}")
            out.append(f"{name}.rate {_fmt(total / interval) if interval > 0 else '0'}{stamp}")
        for name, value in self.gauges.items():
            out.append(f"{name} {_fmt(value)}{stamp}")
        for name, timer in self.timers.items():
            ordered = sorted(timer.values)
            out.append(f"{name}.count {_fmt(timer.count)}{stamp}")
            out.append(f"{name}.mean {_fmt(timer.total / timer.seen)}{stamp}")
            for pct in PERCENTILES:
                out.append(f"{name}.p{pct} {_fmt(percentile(ordered, pct))}{stamp}")
            out.append(f"{name}.max {_fmt(timer.largest)}{stamp}")
        for name, members in self.sets.items():
            out.append(f"{name}.count {len(members)}{stamp}")
        self.counters, self.timers, self.sets = {}, {}, {}
        return out
