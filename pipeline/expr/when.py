"""Time windows: a filter's `when` and (later) a check's `subdue`.

`{"days": {"all" | "monday".."sunday": [{"begin": "5PM", "end": "8AM"}, ...]}}`, in local time
unless a time names its zone. As in Sensu 1.x, the day is the day of *now*, and a window whose
end is before its begin spans midnight *within that day*: `monday 5PM-8AM` covers Monday
00:00-08:00 and Monday 17:00-23:59:59. Both ends are inclusive.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta, timezone
from typing import Any

DAYS = ("monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday")

_TIME_RE = re.compile(
    r"\s*(\d{1,2})(?::(\d{2}))?(?::(\d{2}))?\s*(?:([ap])\.?\s*m\.?)?\s*([A-Za-z]+|[+-]\d{2}:?\d{2})?\s*",
    re.IGNORECASE,
)
_ZONES = {
    "utc": 0, "gmt": 0, "z": 0, "est": -5, "edt": -4, "cst": -6, "cdt": -5, "mst": -7, "mdt": -6,
    "pst": -8, "pdt": -7,
}


class WhenError(ValueError):
    """A malformed window; `path` is relative to the `when` object (e.g. `days.monday[0].begin`)."""

    def __init__(self, path: str, message: str, value: Any = None) -> None:
        super().__init__(f"{path}: {message}")
        self.path = path
        self.message = message
        self.value = value


@dataclass(frozen=True, slots=True)
class ClockTime:
    """A time of day, with its zone's UTC offset in seconds (None = local time)."""

    hour: int
    minute: int
    second: int
    offset: int | None = None

    def on(self, day: date) -> float:
        tz = None if self.offset is None else timezone(timedelta(seconds=self.offset))
        return datetime.combine(day, time(self.hour, self.minute, self.second), tzinfo=tz).timestamp()


def parse_time(text: str) -> ClockTime:
    """Read "5PM", "5:00 PM", "5:30:15 pm", "17:00", "17:00:00", optionally with a zone
    ("UTC", "PST", "+02:00"); raise ValueError otherwise."""
    m = _TIME_RE.fullmatch(text) if isinstance(text, str) else None
    if m is None:
        raise ValueError(f"{text!r} is not a time of day (write e.g. 5PM, 5:30 PM or 17:30)")
    hour, minute, second = int(m.group(1)), int(m.group(2) or 0), int(m.group(3) or 0)
    meridiem, zone = m.group(4), m.group(5)
    if meridiem is None and m.group(2) is None:
        raise ValueError(f"{text!r} is not a time of day: give minutes (17:00) or AM/PM (5PM)")
    if meridiem is not None:
        if not 1 <= hour <= 12:
            raise ValueError(f"{text!r}: the hour must be 1-12 with AM/PM")
        hour = hour % 12 + (12 if meridiem.lower() == "p" else 0)
    if hour > 23 or minute > 59 or second > 59:
        raise ValueError(f"{text!r} is not a valid time of day")
    offset = None
    if zone is not None:
        if zone[0] in "+-":
            digits = zone[1:].replace(":", "")
            offset = (int(digits[:2]) * 3600 + int(digits[2:]) * 60) * (-1 if zone[0] == "-" else 1)
        elif zone.lower() in _ZONES:
            offset = _ZONES[zone.lower()] * 3600
        else:
            raise ValueError(f"{text!r}: unknown time zone {zone!r}")
    return ClockTime(hour, minute, second, offset)


_MIDNIGHT = ClockTime(0, 0, 0)
_LAST_SECOND = ClockTime(23, 59, 59)


@dataclass(frozen=True, slots=True)
class Span:
    begin: ClockTime
    end: ClockTime

    def contains(self, now: float, today: date) -> bool:
        begin, end = self.begin.on(today), self.end.on(today)
        if end < begin:
            if now <= end:
                begin = _MIDNIGHT.on(today)
            else:
                end = _LAST_SECOND.on(today)
        return begin <= now <= end


@dataclass(frozen=True)
class Window:
    """A compiled `when`/`subdue` object."""

    days: dict[str, tuple[Span, ...]]

    def contains(self, now: float) -> bool:
        local = datetime.fromtimestamp(now)
        today = local.date()
        for key in ("all", DAYS[local.weekday()]):
            for span in self.days.get(key, ()):
                if span.contains(now, today):
                    return True
        return False


def compile_when(when: Any) -> Window:
    """Validate and compile a `when` object; raise WhenError naming the bad key."""
    if not isinstance(when, dict):
        raise WhenError("", "must be an object with 'days'", when)
    extra = sorted(set(when) - {"days"})
    if extra:
        raise WhenError(extra[0], "unknown key (a window has only 'days')", when[extra[0]])
    days = when.get("days")
    if not isinstance(days, dict):
        raise WhenError("days", "must be an object of day names", days)
    compiled: dict[str, tuple[Span, ...]] = {}
    for day, spans in days.items():
        where = f"days.{day}"
        if day not in DAYS and day != "all":
            raise WhenError(where, f"unknown day (use all, {', '.join(DAYS)})", day)
        if not isinstance(spans, list):
            raise WhenError(where, "must be a list of {begin, end} objects", spans)
        out = []
        for i, span in enumerate(spans):
            if not isinstance(span, dict):
                raise WhenError(f"{where}[{i}]", "must be an object with begin and end", span)
            bounds = []
            for key in ("begin", "end"):
                if key not in span:
                    raise WhenError(f"{where}[{i}].{key}", "is missing")
                try:
                    bounds.append(parse_time(span[key]))
                except ValueError as exc:
                    raise WhenError(f"{where}[{i}].{key}", str(exc), span[key]) from None
            out.append(Span(bounds[0], bounds[1]))
        compiled[day] = tuple(out)
    return Window(compiled)
