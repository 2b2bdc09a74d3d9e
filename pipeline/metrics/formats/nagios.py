"""Nagios performance data: `'label'=value[UOM];[warn];[crit];[min];[max]` after a `|`.

Where the perfdata is (Nagios 3 plugin API): after the first `|` of the first line, and, when a
later line has a `|`, after it and on every line that follows. The lines between are long text.

Each item gives a point named by its label (quotes removed, `''` read as `'`), with the value as
printed and the unit of measure, when there is one, as the tag `unit` (Sensu Go drops the unit;
ogi keeps it so that `time=0.5ms` and `time=0.5s` stay distinguishable). Thresholds and min/max
are not points. A value of `U` (unknown) gives no point and is not an error.

Accepted quirks of real plugins: a trailing `;` or trailing spaces (check_load), a `;` before
the `|` (check_disk), no space after the `|` (check_tcp), `1e+03` values, a `|` between items,
and items glued together without a space as Nagios joins its two perfdata parts
(`load15=0.08;3;6;0;size=1B`): a `;`-field with an `=` or a leading quote starts a new item.
"""

from __future__ import annotations

import re

from pipeline.metrics.formats import Parsed
from pipeline.model import Point

_ITEM = re.compile(r"(?:'((?:[^']|'')*)'|([^\s'=|][^\s=|]*))=([^\s|]*)")
_GAP = re.compile(r"[\s|]*")
_JUNK = re.compile(r"[^\s|]*")
_VALUE = re.compile(r"([-+]?(?:\d+\.?\d*|\.\d+)(?:[eE][-+]?\d+)?)((?:[^\W\d_]|[%/°])*)\Z")


def perfdata(output: str) -> list[str]:
    """The perfdata parts of a plugin's output, in order (possibly none)."""
    lines = output.split("\n")
    parts: list[str] = []
    head, bar, tail = lines[0].partition("|")
    if bar:
        parts.append(tail)
    for index in range(1, len(lines)):
        head, bar, tail = lines[index].partition("|")
        if bar:
            parts.append(tail)
            parts.extend(lines[index + 1:])
            break
    return parts


def _items(text: str, default_timestamp: float, points: list[Point]) -> int:
    skipped = 0
    pos, end = 0, len(text)
    while True:
        pos = _GAP.match(text, pos).end()  # type: ignore[union-attr]  # matches the empty string
        if pos >= end:
            return skipped
        item = _ITEM.match(text, pos)
        if item is None:
            skipped += 1
            pos = max(_JUNK.match(text, pos).end(), pos + 1)  # type: ignore[union-attr]
            continue
        data = item.group(3)
        pos = item.end()
        fields = data.split(";")
        for index in range(1, len(fields)):
            field = fields[index]
            if "=" in field or field.startswith("'"):
                # Two items glued together: the next one starts at this field.
                data = ";".join(fields[:index])
                pos = item.start(3) + len(data) + 1
                break
        quoted, bare = item.group(1), item.group(2)
        label = bare if bare is not None else quoted.replace("''", "'")
        reading = data.partition(";")[0]
        if reading == "U":
            continue
        value = _VALUE.match(reading)
        if not label or value is None:
            skipped += 1
            continue
        number = float(value.group(1))
        if number - number != 0.0:
            continue
        unit = value.group(2)
        points.append(Point(label, number, default_timestamp, (("unit", unit),) if unit else ()))


def parse(output: str, default_timestamp: float) -> Parsed:
    points: list[Point] = []
    skipped = 0
    for part in perfdata(output):
        skipped += _items(part, default_timestamp, points)
    return points, skipped
