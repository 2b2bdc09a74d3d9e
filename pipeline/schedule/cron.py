"""Five-field cron expressions, for checks scheduled with `cron` instead of `interval`.

`minute hour day-of-month month day-of-week`, each field `*`, a value, a range `1-5`, a step
`*/15`, `1-10/2` or `5/20` (from 5 to the field's end), or a comma list of those. Months and
weekdays take English names (`jan`..`dec`, `sun`..`sat`); weekday 0 and 7 are both Sunday.
`@yearly` (`@annually`), `@monthly`, `@weekly`, `@daily` (`@midnight`) and `@hourly` stand for
their usual expressions.

Day-of-month and day-of-week combine as in classic (Vixie) cron: when both are restricted the
day matches if *either* does (`0 0 13 * 5` runs on every 13th and every Friday); when either
field starts with `*` (`*`, `*/2`) both must match, which for a plain `*` means the other one
decides alone.

Times are wall-clock times in the given zone (local time by default). A time skipped by a
daylight-saving jump runs at the same wall-clock offset after the jump (02:30 becomes 03:30),
and a time repeated when clocks go back runs once, the first time.
"""

from __future__ import annotations

import calendar
from dataclasses import dataclass
from datetime import datetime, timedelta, tzinfo
from functools import lru_cache

__all__ = ["CronError", "CronExpr", "next_cron", "parse_cron"]

MACROS = {
    "@yearly": "0 0 1 1 *",
    "@annually": "0 0 1 1 *",
    "@monthly": "0 0 1 * *",
    "@weekly": "0 0 * * 0",
    "@daily": "0 0 * * *",
    "@midnight": "0 0 * * *",
    "@hourly": "0 * * * *",
}
_MONTHS = {name: i for i, name in enumerate(
    ("jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec"), 1)}
_WEEKDAYS = {name: i for i, name in enumerate(("sun", "mon", "tue", "wed", "thu", "fri", "sat"))}


@dataclass(frozen=True)
class _Field:
    name: str
    low: int
    high: int
    names: dict[str, int]


_FIELDS = (
    _Field("minute", 0, 59, {}),
    _Field("hour", 0, 23, {}),
    _Field("day-of-month", 1, 31, {}),
    _Field("month", 1, 12, _MONTHS),
    _Field("day-of-week", 0, 7, _WEEKDAYS),
)
# The longest a valid expression can wait: 29 February after a century year (2096 -> 2104).
_SEARCH_YEARS = 9


class CronError(ValueError):
    """A malformed cron expression; the message names the field and what is wrong."""


@dataclass(frozen=True)
class CronExpr:
    """A parsed expression: the allowed values of each field."""

    source: str
    minutes: tuple[int, ...]
    hours: frozenset[int]
    days: frozenset[int]
    months: frozenset[int]
    #: 0 = Sunday .. 6 = Saturday (7 folded into 0).
    weekdays: frozenset[int]
    #: Whether the day-of-month / day-of-week field starts with `*` (the classic cron rule).
    any_day: bool
    any_weekday: bool

    def day_matches(self, when: datetime) -> bool:
        dom = when.day in self.days
        dow = (when.isoweekday() % 7) in self.weekdays
        if self.any_day or self.any_weekday:
            return dom and dow
        return dom or dow

    def matches(self, when: datetime) -> bool:
        """Whether the minute of `when` (a wall-clock time) is one the expression names."""
        return (
            when.minute in self.minutes
            and when.hour in self.hours
            and when.month in self.months
            and self.day_matches(when)
        )

    def next_after(self, now: float, tz: tzinfo | None = None) -> float:
        """The first matching minute strictly after `now` (epoch seconds), as epoch seconds."""
        t = datetime.fromtimestamp(now, tz).replace(second=0, microsecond=0) + timedelta(minutes=1)
        limit = t.year + _SEARCH_YEARS
        while t.year <= limit:
            if t.month not in self.months:
                t = (t.replace(day=28) + timedelta(days=4)).replace(day=1, hour=0, minute=0)
            elif not self.day_matches(t):
                t = t.replace(hour=0, minute=0) + timedelta(days=1)
            elif t.hour not in self.hours:
                t = t.replace(minute=0) + timedelta(hours=1)
            else:
                later = [m for m in self.minutes if m >= t.minute]
                if not later:
                    t = t.replace(minute=0) + timedelta(hours=1)
                    continue
                t = t.replace(minute=later[0])
                stamp = t.timestamp()
                if stamp > now:
                    return stamp
                # A wall-clock time repeated after clocks went back: already past.
                t += timedelta(minutes=1)
        raise CronError(f"{self.source!r} matches no time in the next {_SEARCH_YEARS} years")


def _value(text: str, field: _Field) -> int:
    lowered = text.lower()
    if lowered in field.names:
        return field.names[lowered]
    if not text.isdigit():
        known = f" or a name ({', '.join(field.names)})" if field.names else ""
        raise CronError(f"{field.name} field: {text!r} is not a number{known}")
    value = int(text)
    if not field.low <= value <= field.high:
        raise CronError(f"{field.name} field: {value} is out of range {field.low}-{field.high}")
    return value


def _parse_field(text: str, field: _Field) -> set[int]:
    values: set[int] = set()
    for item in text.split(","):
        if not item:
            raise CronError(f"{field.name} field: empty item in {text!r}")
        base, slash, step_text = item.partition("/")
        step = 1
        if slash:
            if not step_text.isdigit() or int(step_text) == 0:
                raise CronError(f"{field.name} field: step {step_text!r} must be a whole number above 0")
            step = int(step_text)
        if base == "*":
            low, high = field.low, field.high
        elif "-" in base:
            first, _, last = base.partition("-")
            low, high = _value(first, field), _value(last, field)
            if low > high:
                raise CronError(f"{field.name} field: range {base!r} runs backwards")
        else:
            low = _value(base, field)
            # `5/20` means from 5 to the end of the field in steps of 20; `5` alone is just 5.
            high = field.high if slash else low
        values.update(range(low, high + 1, step))
    return values


def parse_cron(expr: str) -> CronExpr:
    """Parse an expression; raise CronError naming the field that is wrong."""
    if not isinstance(expr, str):
        raise CronError(f"a cron expression must be a string, got {type(expr).__name__}")
    return _parse(expr)


@lru_cache(maxsize=1024)
def _parse(expr: str) -> CronExpr:
    text = expr.strip()
    if text.startswith("@"):
        if text.lower() not in MACROS:
            raise CronError(f"{text!r} is not supported (use {', '.join(MACROS)} or five fields)")
        text = MACROS[text.lower()]
    parts = text.split()
    if len(parts) != 5:
        raise CronError(
            f"{expr!r} has {len(parts)} fields; cron needs 5 (minute hour day-of-month month day-of-week)"
        )
    minutes, hours, days, months, weekdays = (_parse_field(p, f) for p, f in zip(parts, _FIELDS, strict=True))
    parsed = CronExpr(
        source=expr,
        minutes=tuple(sorted(minutes)),
        hours=frozenset(hours),
        days=frozenset(days),
        months=frozenset(months),
        weekdays=frozenset(d % 7 for d in weekdays),
        any_day=parts[2].startswith("*"),
        any_weekday=parts[4].startswith("*"),
    )
    if parsed.any_weekday and not any(
        day <= calendar.monthrange(2024, month)[1] for month in months for day in days
    ):
        raise CronError(f"{expr!r} never matches: no month in it has that day")
    return parsed


def next_cron(expr: str | CronExpr, now: float, tz: tzinfo | None = None) -> float:
    """The next time after `now` that `expr` names, in epoch seconds; `tz` None is local time."""
    parsed = expr if isinstance(expr, CronExpr) else parse_cron(expr)
    return parsed.next_after(now, tz)
