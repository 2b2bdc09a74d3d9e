"""The Nagios plugin API (monitoring-plugins guidelines): statuses, threshold ranges, perfdata, the status line.

Standalone and stdlib-only, so a check can use it without the rest of the SDK; `plugins.sdk` re-exports all
of it.
"""

from __future__ import annotations

import math
import sys
from enum import IntEnum

TYPE_CHECKING = False  # typing.TYPE_CHECKING without importing typing: plugins start often
if TYPE_CHECKING:
    from collections.abc import Iterable
    from typing import NoReturn

Number = int | float


class Status(IntEnum):
    """Nagios plugin exit codes."""

    OK = 0
    WARNING = 1
    CRITICAL = 2
    UNKNOWN = 3


OK, WARNING, CRITICAL, UNKNOWN = Status.OK, Status.WARNING, Status.CRITICAL, Status.UNKNOWN


def parse_status(text: str) -> Status:
    """`2`, `critical` or `CRITICAL` -> Status.CRITICAL; ValueError otherwise."""
    word = text.strip().upper()
    if word.isdigit() and int(word) in (0, 1, 2, 3):
        return Status(int(word))
    try:
        return Status[word]
    except KeyError:
        raise ValueError(f"not a Nagios status: {text!r} (use 0-3 or OK, WARNING, CRITICAL, UNKNOWN)") from None


def format_number(value: Number) -> str:
    """A number as Graphite and Nagios read it: integers plain, floats to 6 decimals, never an exponent."""
    if isinstance(value, bool):
        return "1" if value else "0"
    if isinstance(value, int):
        return str(value)
    if not math.isfinite(value):
        raise ValueError(f"not a finite number: {value!r}")
    if value.is_integer() and abs(value) < 2**53:
        return str(int(value))
    text = f"{value:.6f}".rstrip("0").rstrip(".")
    return "0" if text in ("", "-0") else text


class Range:
    """A Nagios threshold range `[@]start:end`: `10` alerts outside 0..10, `10:` below 10, `~:10` above 10,
    `@10:20` inside 10..20 (endpoints included)."""

    __slots__ = ("start", "end", "inside", "text")

    def __init__(self, start: float, end: float, inside: bool = False, text: str = "") -> None:
        self.start, self.end, self.inside, self.text = start, end, inside, text

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Range) and (self.start, self.end, self.inside) == (other.start, other.end, other.inside)

    def __hash__(self) -> int:
        return hash((self.start, self.end, self.inside))

    def __repr__(self) -> str:
        return f"Range({self.start!r}, {self.end!r}, inside={self.inside!r}, text={self.text!r})"

    @classmethod
    def parse(cls, text: str) -> Range:
        raw = text.strip()
        body = raw[1:] if raw.startswith("@") else raw
        if not body:
            raise ValueError(f"empty range: {text!r}")
        if ":" in body:
            lo, hi = body.split(":", 1)
            start = -math.inf if lo == "~" else (_range_number(lo, text) if lo else 0.0)
            end = _range_number(hi, text) if hi else math.inf
        else:
            start, end = 0.0, _range_number(body, text)
        if start > end:
            raise ValueError(f"range start is above its end: {text!r}")
        return cls(start, end, raw.startswith("@"), raw)

    def alerts(self, value: Number) -> bool:
        """True when the value is one the range alerts on."""
        within = self.start <= value <= self.end
        return within if self.inside else not within

    def explain(self, value: Number) -> str:
        """Why the value alerts, in words: `above 200`, `below 10`, `inside 10:20`."""
        if self.inside:
            return f"inside {self}"
        return f"above {format_number(self.end)}" if value > self.end else f"below {format_number(self.start)}"

    def __str__(self) -> str:
        if self.text:
            return self.text
        lo = "~" if self.start == -math.inf else format_number(self.start)
        hi = "" if self.end == math.inf else format_number(self.end)
        body = hi if lo == "0" and hi else f"{lo}:{hi}"
        return ("@" if self.inside else "") + body


def _range_number(text: str, whole: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise ValueError(f"not a number in range {whole!r}: {text!r}") from None
    if not math.isfinite(value):
        raise ValueError(f"not a finite number in range {whole!r}: {text!r}")
    return value


def status_of(value: Number, warning: Range | None = None, critical: Range | None = None) -> Status:
    """CRITICAL if the critical range alerts, else WARNING if the warning range does, else OK."""
    if critical is not None and critical.alerts(value):
        return CRITICAL
    if warning is not None and warning.alerts(value):
        return WARNING
    return OK


_LABEL_QUOTE = frozenset(" \t=';")


def perfdata(label: str, value: Number | None, uom: str = "", warn: Range | Number | str | None = None,
             crit: Range | Number | str | None = None, minimum: Number | None = None,
             maximum: Number | None = None) -> str:
    """`'label'=value[UOM];warn;crit;min;max`: the label quoted when it needs it (`''` for a quote inside),
    trailing empty fields dropped, `U` for a value that could not be measured."""
    if not label:
        raise ValueError("a perfdata label cannot be empty")
    if "|" in label or "\n" in label:
        raise ValueError(f"a perfdata label cannot contain '|' or a newline: {label!r}")
    if any(c in _LABEL_QUOTE for c in label):
        label = "'" + label.replace("'", "''") + "'"
    fields = [
        ("U" if value is None else format_number(value)) + uom,
        "" if warn is None else (warn if isinstance(warn, str | Range) else format_number(warn)),
        "" if crit is None else (crit if isinstance(crit, str | Range) else format_number(crit)),
        "" if minimum is None else format_number(minimum),
        "" if maximum is None else format_number(maximum),
    ]
    text = [str(f) for f in fields]
    while len(text) > 1 and not text[-1]:
        text.pop()
    return f"{label}={';'.join(text)}"


class PluginExit(SystemExit):
    """Raised by `exit_with` after printing: the status is the exit code."""


def status_line(status: Status | int, message: str, perfdata: str | Iterable[str] | None = None,
                label: str = "") -> str:
    """`LABEL STATUS: message | perfdata`; later lines of the message follow as Nagios long text.

    A `|` in the message would start perfdata in every Nagios parser, so it is shown as `/`.
    """
    lines = (message.replace("|", "/").splitlines() or [""])
    word = Status(status).name if status in (0, 1, 2, 3) else UNKNOWN.name
    first = f"{label} {word}: {lines[0]}" if label else f"{word}: {lines[0]}"
    perf = perfdata if isinstance(perfdata, str) else " ".join(perfdata or ())
    if perf:
        first = f"{first} | {perf}"
    return "\n".join([first, *lines[1:]]) + "\n"


def exit_with(status: Status | int, message: str, perfdata: str | Iterable[str] | None = None,
              label: str = "") -> NoReturn:
    """Print the status line and exit with the status (UNKNOWN for anything outside 0-3)."""
    sys.stdout.write(status_line(status, message, perfdata, label))
    sys.stdout.flush()
    raise PluginExit(int(status) if status in (0, 1, 2, 3) else 3)
