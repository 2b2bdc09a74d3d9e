"""Text for people from the API's JSON: aligned tables, durations, ages, and the rows of each listing.

Everything here is pure (the clock is a parameter), so `tests/cli/test_opscli.py` checks exact
output. Cells are made safe for a terminal: check output is written by whoever wrote the check,
so control characters (escape sequences included) are shown escaped, never sent to the terminal.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Iterable, Sequence
from typing import Any

from pipeline.model import is_number

__all__ = [
    "DURATION_HELP",
    "check_rows",
    "client_rows",
    "event_rows",
    "format_age",
    "format_duration",
    "parse_duration",
    "result_rows",
    "silence_rows",
    "stash_rows",
    "status_name",
    "table",
]

_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}
_DURATION = re.compile(r"(\d+)([smhdw])")
_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f]")
DURATION_HELP = "a duration such as 90s, 30m, 1h, 2d, 1h30m, or plain seconds (3600)"


def parse_duration(text: str) -> int:
    """Seconds in `1h`, `30m`, `90s`, `2d`, `1w`, `1h30m` or plain `3600`; ValueError if not positive."""
    spec = text.strip().lower()
    if spec.isdigit():
        seconds = int(spec)
    else:
        pos, seconds = 0, 0
        for match in _DURATION.finditer(spec):
            if match.start() != pos:
                break
            seconds += int(match.group(1)) * _UNITS[match.group(2)]
            pos = match.end()
        if not spec or pos != len(spec):
            raise ValueError(f"{text!r} is not {DURATION_HELP}")
    if seconds <= 0:
        raise ValueError(f"{text!r} is not a positive duration")
    return seconds


def format_duration(seconds: float) -> str:
    """The largest unit and the next one down, truncated: `45s`, `5m30s`, `2h`, `1d3h`."""
    left = max(0, int(seconds))
    units = (("d", 86400), ("h", 3600), ("m", 60), ("s", 1))
    for index, (unit, size) in enumerate(units[:-1]):
        if left >= size:
            count, rest = divmod(left, size)
            smaller, small_size = units[index + 1]
            below = rest // small_size
            return f"{count}{unit}{below}{smaller}" if below else f"{count}{unit}"
    return f"{left}s"


def format_age(timestamp: Any, now: float) -> str:
    """`12s ago`, `in 5m`, or `-` when there is no usable timestamp."""
    if not is_number(timestamp):
        return "-"
    delta = now - float(timestamp)
    return f"{format_duration(delta)} ago" if delta >= 0 else f"in {format_duration(-delta)}"


def status_name(status: Any) -> str:
    names = {0: "OK", 1: "WARNING", 2: "CRITICAL", 3: "UNKNOWN"}
    if isinstance(status, int) and not isinstance(status, bool):
        return names.get(status, str(status))
    return "-" if status is None else _text(status)


def _escape(match: re.Match[str]) -> str:
    char = match.group(0)
    return {"\t": " ", "\n": "\\n", "\r": "\\r"}.get(char, f"\\x{ord(char):02x}")


def _text(value: Any) -> str:
    if value is None:
        return "-"
    if isinstance(value, str):
        text = value
    elif isinstance(value, bool):
        text = "yes" if value else "no"
    elif isinstance(value, list):
        text = ",".join(_text(v) for v in value) or "-"
    elif isinstance(value, dict):
        text = json.dumps(value, separators=(",", ":"), sort_keys=True)
    else:
        text = str(value)
    return _CONTROL.sub(_escape, text)


def first_line(value: Any) -> str:
    if not isinstance(value, str):
        return _text(value)
    lines = value.strip().splitlines()
    return _text(lines[0]) if lines else ""


def table(headers: Sequence[str], rows: Iterable[Sequence[Any]]) -> str:
    """Columns as wide as their widest cell, two spaces apart; the last column is not padded."""
    cells = [[_text(h) for h in headers]] + [[_text(c) for c in row] for row in rows]
    widths = [max(len(row[i]) for row in cells) for i in range(len(headers))]
    lines = []
    for row in cells:
        padded = [cell.ljust(width) for cell, width in zip(row[:-1], widths, strict=False)] + [row[-1]]
        lines.append("  ".join(padded).rstrip())
    return "\n".join(lines)


def _dict(value: Any) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


def _list(value: Any) -> list[Any]:
    if isinstance(value, list):
        return value
    return [] if value is None else [value]


def _by_first(count: int) -> Callable[[Sequence[Any]], tuple[str, ...]]:
    """Sort key: the first `count` cells as text."""
    def key(row: Sequence[Any]) -> tuple[str, ...]:
        return tuple(str(cell) for cell in row[:count])
    return key


EVENT_HEADERS = ("CLIENT", "CHECK", "STATUS", "OCCURRENCES", "SILENCED", "OUTPUT")


def event_rows(events: list[Any]) -> list[list[Any]]:
    rows = []
    for event in map(_dict, events):
        client, check = _dict(event.get("client")), _dict(event.get("check"))
        rows.append([client.get("name"), check.get("name"), status_name(check.get("status")),
                     event.get("occurrences"), bool(event.get("silenced")), first_line(check.get("output"))])
    return sorted(rows, key=_by_first(2))


CLIENT_HEADERS = ("NAME", "ADDRESS", "SUBSCRIPTIONS", "VERSION", "LAST KEEPALIVE")


def client_rows(clients: list[Any], now: float) -> list[list[Any]]:
    rows = []
    for client in map(_dict, clients):
        own = f"client:{client.get('name')}"
        subscriptions = [s for s in _list(client.get("subscriptions")) if s != own]
        rows.append([client.get("name"), client.get("address"), subscriptions or None,
                     client.get("version"), format_age(client.get("timestamp"), now)])
    return sorted(rows, key=_by_first(1))


CHECK_HEADERS = ("NAME", "SCHEDULE", "SUBSCRIBERS", "HANDLERS", "COMMAND")


def check_rows(checks: list[Any]) -> list[list[Any]]:
    rows = []
    for check in map(_dict, checks):
        if check.get("cron") is not None:
            schedule = f"cron {_text(check['cron'])}"
        elif is_number(check.get("interval")):
            schedule = f"every {format_duration(check['interval'])}"
        else:
            schedule = None
        handlers = check.get("handlers") if "handlers" in check else check.get("handler")
        rows.append([check.get("name"), schedule, _list(check.get("subscribers")) or None,
                     _list(handlers) or None, check.get("command")])
    return sorted(rows, key=_by_first(1))


RESULT_HEADERS = ("CLIENT", "CHECK", "STATUS", "EXECUTED", "OUTPUT")


def result_rows(results: list[Any], now: float) -> list[list[Any]]:
    rows = []
    for result in map(_dict, results):
        check = _dict(result.get("check"))
        rows.append([result.get("client"), check.get("name"), status_name(check.get("status")),
                     format_age(check.get("executed"), now), first_line(check.get("output"))])
    return sorted(rows, key=_by_first(2))


SILENCE_HEADERS = ("ID", "BEGIN", "EXPIRES", "ON RESOLVE", "CREATOR", "REASON")


def _remaining(expire: Any) -> str:
    # The API reports what is left of `expire` in seconds; -1 (or nothing) means no expiry.
    return format_duration(expire) if is_number(expire) and expire >= 0 else "never"


def silence_rows(entries: list[Any], now: float) -> list[list[Any]]:
    rows = []
    for entry in map(_dict, entries):
        begin = entry.get("begin")
        started = not (isinstance(begin, int | float) and not isinstance(begin, bool) and begin > now)
        rows.append([entry.get("id"), "now" if started else format_age(begin, now),
                     _remaining(entry.get("expire")), bool(entry.get("expire_on_resolve")),
                     entry.get("creator"), entry.get("reason")])
    return sorted(rows, key=_by_first(1))


STASH_HEADERS = ("PATH", "EXPIRES", "CONTENT")


def stash_rows(stashes: list[Any]) -> list[list[Any]]:
    rows = [[s.get("path"), _remaining(s.get("expire")), _dict(s.get("content"))] for s in map(_dict, stashes)]
    return sorted(rows, key=_by_first(1))
