"""When checks run: Sensu's deterministic splay, `interval` and `cron` schedules, `subdue`.

Pure functions of an injected `now` (epoch seconds); nothing here sleeps or reads the clock.

- `first_delay(name, interval, now)` is Sensu 1.x's splay: every server computes the same
  phase for a check, so after a failover the new server publishes on the old rhythm. The
  ticks of a check are the instants whose epoch milliseconds are congruent to the first 8
  bytes of md5(name), read little-endian, modulo the interval in milliseconds. Standalone
  checks use the key `"<client>:<check>"`.
- `CheckSchedule` keeps one check's next tick. It advances from the *ideal* tick, not from
  when the last run finished, so drift does not accumulate; ticks missed while the process
  was stalled are skipped (one run, on the next tick of the same phase), never replayed.
- `in_subdue(check, now)`: whether `now` falls in the check's `subdue` window, which has the
  shape of a filter's `when` (pipeline/expr/when.py). A subdued tick is skipped, not delayed.
"""

from __future__ import annotations

import hashlib
import math
from dataclasses import dataclass
from datetime import tzinfo
from fractions import Fraction
from functools import lru_cache
from typing import Any, TypeGuard

from pipeline import jsoncodec
from pipeline.expr.when import WhenError, Window, compile_when
from pipeline.model import JSON
from pipeline.schedule.cron import CronError, CronExpr, next_cron, parse_cron

__all__ = [
    "CheckSchedule",
    "CronError",
    "ScheduleError",
    "first_delay",
    "first_tick",
    "in_subdue",
    "next_cron",
    "splay_hash",
    "standalone_key",
]


class ScheduleError(ValueError):
    """A check that cannot be scheduled; `path` is the attribute at fault (`cron`, `subdue.days`...)."""

    def __init__(self, path: str, message: str) -> None:
        super().__init__(f"{path}: {message}")
        self.path = path
        self.message = message


def splay_hash(key: str) -> int:
    """The first 8 bytes of md5(key) as a little-endian unsigned 64-bit integer."""
    return int.from_bytes(hashlib.md5(key.encode("utf-8"), usedforsecurity=False).digest()[:8], "little")


def _delay_ms(name: str, interval: float, now: float) -> tuple[int, Fraction]:
    if not _positive_number(interval):
        raise ValueError(f"interval must be a number above 0, got {interval!r}")
    now_ms = math.floor(now * 1000)
    return now_ms, (splay_hash(name) - now_ms) % (Fraction(interval) * 1000)


def first_delay(name: str, interval: float, now: float) -> float:
    """Seconds from `now` until the check's first tick: `(hash - now_ms) mod (interval*1000) / 1000`.

    Python's `%` of a negative number is non-negative, like Ruby's, which Sensu relies on.
    The arithmetic is exact (md5 values exceed a float's precision).
    """
    return float(_delay_ms(name, interval, now)[1] / 1000)


def first_tick(name: str, interval: float, now: float) -> float:
    """The epoch time of the check's first tick: `now + first_delay(...)` on whole milliseconds.

    Every server thus arrives at the very same instants, not merely within a millisecond.
    """
    now_ms, delay = _delay_ms(name, interval, now)
    return float((now_ms + delay) / 1000)


def standalone_key(client: str, check: str) -> str:
    """The splay key of a standalone check, which each client schedules for itself."""
    return f"{client}:{check}"


@lru_cache(maxsize=256)
def _window(text: bytes) -> Window:
    return compile_when(jsoncodec.loads(text))


def subdue_window(check: JSON) -> Window | None:
    """The compiled `subdue` window of a check, None without one; raise ScheduleError if malformed."""
    subdue = check.get("subdue")
    if subdue is None:
        return None
    try:
        return _window(jsoncodec.dumps(subdue))
    except WhenError as error:
        raise ScheduleError(f"subdue.{error.path}".rstrip("."), error.message) from None
    except (TypeError, ValueError) as error:
        raise ScheduleError("subdue", str(error)) from None


def in_subdue(check: JSON, now: float) -> bool:
    """Whether the check is subdued at `now` (local time, as a filter's `when`)."""
    window = subdue_window(check)
    return window is not None and window.contains(now)


def _positive_number(value: Any) -> TypeGuard[float]:
    return isinstance(value, int | float) and not isinstance(value, bool) and value > 0 and math.isfinite(value)


@dataclass
class CheckSchedule:
    """The next tick of one check: by `cron` if it has one, else by `interval` with Sensu's splay."""

    key: str
    next_at: float
    interval: float | None = None
    cron: CronExpr | None = None
    subdue: Window | None = None
    tz: tzinfo | None = None

    @classmethod
    def for_check(cls, key: str, check: JSON, now: float, tz: tzinfo | None = None) -> CheckSchedule:
        """Schedule `check` (splay keyed on `key`) from `now`; raise ScheduleError if it cannot be.

        `tz` is the zone of cron times (None: local time).
        """
        subdue = subdue_window(check)
        cron = check.get("cron")
        if cron is not None and cron is not False:
            try:
                parsed = parse_cron(cron)
                return cls(key, parsed.next_after(now, tz), cron=parsed, subdue=subdue, tz=tz)
            except CronError as error:
                raise ScheduleError("cron", str(error)) from None
        interval = check.get("interval")
        if not _positive_number(interval):
            raise ScheduleError("interval", f"must be a number above 0 (or set cron), got {interval!r}")
        return cls(key, first_tick(key, interval, now), interval=float(interval), subdue=subdue)

    def due(self, now: float) -> bool:
        return now >= self.next_at

    def subdued(self, now: float) -> bool:
        return self.subdue is not None and self.subdue.contains(now)

    def advance(self, now: float) -> float:
        """Move past the tick at `next_at` (run at `now`, on time or late); return the new `next_at`.

        The next tick is the first one of the same phase strictly after `now`: a late run does
        not shift the rhythm, and ticks missed during a stall are skipped rather than replayed.
        """
        if self.cron is not None:
            self.next_at = next_cron(self.cron, max(now, self.next_at), self.tz)
            return self.next_at
        assert self.interval is not None
        following = self.next_at + self.interval
        if following <= now:
            following += (math.floor((now - following) / self.interval) + 1) * self.interval
        self.next_at = following
        return following
