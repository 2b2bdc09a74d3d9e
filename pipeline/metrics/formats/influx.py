"""InfluxDB line protocol: `measurement[,tag=v...] field=value[,field2=value...] [timestamp]`.

Each numeric field gives a point named `measurement.field` (as Sensu Go names them), with the
line's tags. Floats, integers (`2i`) and unsigned integers (`2u`) are numbers; string (`"x"`)
and boolean fields give no point and are not errors. The timestamp is an integer in ns by
default; ms, us and s are told apart by magnitude. Backslash escapes (`\\,` `\\=` `\\ ` `\\\\`)
work in names, tag keys and values; a quoted string field may hold spaces and commas. A line
that InfluxDB would reject (a field or tag without `=`, a value that is not a number, string
or boolean, a bad timestamp) is skipped and counted. Lines starting with `#` are comments.
"""

from __future__ import annotations

import re

from pipeline.metrics.formats import Parsed, epoch_seconds
from pipeline.model import Point

_BOOLEANS = frozenset({"t", "T", "true", "True", "TRUE", "f", "F", "false", "False", "FALSE"})
_ESCAPE = re.compile(r"\\([ ,=\\\"])")


class _Invalid(ValueError):
    pass


def _unescape(text: str) -> str:
    return _ESCAPE.sub(r"\1", text) if "\\" in text else text


def _split(text: str, sep: str, quotes: bool = False) -> list[str]:
    """`text.split(sep)`, but not at a backslash-escaped `sep` nor, with `quotes`, inside "..."."""
    if "\\" not in text and not (quotes and '"' in text):
        return text.split(sep)
    out: list[str] = []
    start, index, end, quoted = 0, 0, len(text), False
    while index < end:
        char = text[index]
        if char == "\\":
            index += 2
            continue
        if quotes and char == '"':
            quoted = not quoted
        elif char == sep and not quoted:
            out.append(text[start:index])
            start = index + 1
        index += 1
    if quoted:
        raise _Invalid("unterminated string")
    out.append(text[start:])
    return out


def _pair(text: str) -> tuple[str, str]:
    """Split at the first unescaped `=`; both sides must be non-empty."""
    key = _split(text, "=")[0]
    value = text[len(key) + 1:]
    if not key or not value:
        raise _Invalid(f"not key=value: {text!r}")
    return key, value


def _number(text: str) -> float | None:
    """A numeric field's value; None for a string or boolean field."""
    if text[0] == '"':
        if len(text) < 2 or text[-1] != '"':
            raise _Invalid("bad string field")
        return None
    if text in _BOOLEANS:
        return None
    if text[-1] in "iu":
        return float(int(text[:-1]))
    return float(text)


def _line(line: str, default_timestamp: float, points: list[Point]) -> None:
    sections = [s for s in _split(line, " ", quotes=True) if s]
    if len(sections) == 2:
        stamp = default_timestamp
    elif len(sections) == 3:
        stamp = epoch_seconds(float(int(sections[2])))
    else:
        raise _Invalid("not 2 or 3 sections")
    head = _split(sections[0], ",")
    measurement = _unescape(head[0])
    if not measurement:
        raise _Invalid("no measurement")
    tags = tuple((_unescape(k), _unescape(v)) for k, v in map(_pair, head[1:]))
    found: list[Point] = []
    for field in _split(sections[1], ",", quotes=True):
        key, raw = _pair(field)
        value = _number(raw)
        if value is not None and value - value == 0.0:
            found.append(Point(f"{measurement}.{_unescape(key)}", value, stamp, tags))
    points.extend(found)


def parse(output: str, default_timestamp: float) -> Parsed:
    points: list[Point] = []
    skipped = 0
    for line in output.split("\n"):
        line = line.strip()
        if not line or line[0] == "#":
            continue
        try:
            _line(line, default_timestamp, points)
        except (ValueError, OverflowError):
            skipped += 1
    return points, skipped
