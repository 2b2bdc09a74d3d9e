"""Graphite plaintext: `path value [timestamp]` per line, as carbon reads it.

Fields are split on any whitespace, as carbon does; a missing timestamp, or carbon's `-1`,
means the result's time. A line with one field or more than three, or a value or timestamp
that is not a number, is skipped and counted; blank lines are not counted. This is the hot
path of every metric check, so it is one `str.split` per line and no regex.
"""

from __future__ import annotations

from math import isfinite

from pipeline.metrics.formats import Parsed
from pipeline.model import Point

_new = tuple.__new__  # Point(...) without the generated __new__'s Python frame


def parse(output: str, default_timestamp: float) -> Parsed:
    points: list[Point] = []
    append = points.append
    skipped = 0
    for line in output.split("\n"):
        fields = line.split()
        count = len(fields)
        if count == 3:
            try:
                value = float(fields[1])
                stamp = float(fields[2])
            except ValueError:
                skipped += 1
                continue
            if stamp == -1.0:
                stamp = default_timestamp
            elif not isfinite(stamp):
                skipped += 1
                continue
        elif count == 2:
            try:
                value = float(fields[1])
            except ValueError:
                skipped += 1
                continue
            stamp = default_timestamp
        elif count == 0:
            continue
        else:
            skipped += 1
            continue
        if value - value == 0.0:  # finite: nan and inf give nan
            append(_new(Point, (fields[0], value, stamp, ())))
    return points, skipped
