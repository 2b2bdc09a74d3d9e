"""OpenTSDB telnet style: `[put] metric timestamp value [tagk=tagv ...]`.

Sensu Go's `opentsdb_line` is the same line without `put`; both are read. The timestamp is in
seconds or, with 13 digits, milliseconds (it may have a fraction). OpenTSDB wants at least one
tag; ogi accepts none. A line with fewer than three fields, a value or timestamp that is not a
number, or a tag without `=`, is skipped and counted.
"""

from __future__ import annotations

from math import isfinite

from pipeline.metrics.formats import Parsed, epoch_seconds
from pipeline.model import Point


def _tag(text: str) -> tuple[str, str]:
    key, eq, value = text.partition("=")
    if not (key and eq and value):
        raise ValueError(f"not tagk=tagv: {text!r}")
    return key, value


def parse(output: str, default_timestamp: float) -> Parsed:
    points: list[Point] = []
    skipped = 0
    for line in output.split("\n"):
        fields = line.split()
        if not fields:
            continue
        # `put` is the telnet command unless it is a metric so named: then the fourth field is a tag.
        if fields[0] == "put" and len(fields) >= 4 and "=" not in fields[3]:
            del fields[0]
        try:
            if len(fields) < 3:
                raise ValueError("fewer than 3 fields")
            stamp = float(fields[1])
            value = float(fields[2])
            tags = tuple(_tag(t) for t in fields[3:])
        except ValueError:
            skipped += 1
            continue
        if not isfinite(stamp):
            skipped += 1
        elif value - value == 0.0:
            points.append(Point(fields[0], value, epoch_seconds(stamp), tags))
    return points, skipped
