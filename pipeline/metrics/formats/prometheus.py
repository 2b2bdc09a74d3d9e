"""Prometheus text exposition format 0.0.4: `name{label="value",...} value [timestamp_ms]`.

`#` lines (HELP, TYPE, comments) and blank lines are ignored. Labels become tags in the order
printed; label values unescape `\\\\`, `\\"` and `\\n`. The optional timestamp is in milliseconds.
`NaN`, `+Inf` and `-Inf` parse but give no point (Graphite cannot store them, and a summary's
NaN quantile means "no observations yet"); they are not counted as skipped. Histogram and
summary samples (`_bucket`, `_sum`, `_count`, quantiles) are points like any other, `le` and
`quantile` being tags. A line with a bad metric or label name, a bad escape, a repeated label,
or a value or timestamp that is not a number is skipped and counted.
"""

from __future__ import annotations

import re

from pipeline.metrics.formats import Parsed
from pipeline.model import Point

_NAME = re.compile(r"[a-zA-Z_:][a-zA-Z0-9_:]*\Z")
_SAMPLE = re.compile(r"([a-zA-Z_:][a-zA-Z0-9_:]*)[ \t]*\{(.*)\}[ \t]*(\S+)(?:[ \t]+(\S+))?\Z")
_LABEL = re.compile(r'[ \t]*([a-zA-Z_][a-zA-Z0-9_]*)[ \t]*=[ \t]*"((?:[^"\\]|\\.)*)"[ \t]*(?:,[ \t]*|\Z)')
_ESCAPES = {"\\": "\\", '"': '"', "n": "\n"}
_ESCAPE = re.compile(r"\\(.)")


class _Invalid(ValueError):
    pass


def _unescape_char(match: re.Match[str]) -> str:
    try:
        return _ESCAPES[match.group(1)]
    except KeyError:
        raise _Invalid(f"bad escape \\{match.group(1)}") from None


def _labels(text: str) -> tuple[tuple[str, str], ...]:
    labels: list[tuple[str, str]] = []
    pos, end = 0, len(text)
    if not text.strip(" \t"):
        return ()
    while pos < end:
        match = _LABEL.match(text, pos)
        if match is None:
            raise _Invalid(f"bad label at {text[pos:pos + 20]!r}")
        value = match.group(2)
        if "\\" in value:
            value = _ESCAPE.sub(_unescape_char, value)
        labels.append((match.group(1), value))
        pos = match.end()
    if len({name for name, _ in labels}) != len(labels):
        raise _Invalid("repeated label")
    return tuple(labels)


def _sample(line: str, default_timestamp: float) -> Point | None:
    if "{" in line:
        match = _SAMPLE.match(line)
        if match is None:
            raise _Invalid("not a sample")
        name, labels, value_text, stamp_text = match.groups()
        tags = _labels(labels)
    else:
        fields = line.split()
        if len(fields) not in (2, 3) or not _NAME.match(fields[0]):
            raise _Invalid("not a sample")
        name, value_text = fields[0], fields[1]
        stamp_text = fields[2] if len(fields) == 3 else None
        tags = ()
    value = float(value_text)
    stamp = int(stamp_text) / 1000 if stamp_text is not None else default_timestamp
    if value - value != 0.0:
        return None
    return Point(name, value, stamp, tags)


def sample(line: str, default_timestamp: float) -> Point | None:
    """One stripped sample line as a Point (None for a NaN or infinite value); ValueError if it is not one."""
    return _sample(line, default_timestamp)


_TYPES = frozenset(("counter", "gauge", "histogram", "summary", "untyped"))
_SUFFIXES = ("_bucket", "_count", "_sum", "_total", "_created", "_gcount", "_gsum")


def type_line(line: str) -> tuple[str, str] | None:
    """`# TYPE name type` -> (name, type); None for any other line or an unknown type."""
    fields = line.split()
    if len(fields) == 4 and fields[0] == "#" and fields[1] == "TYPE" and fields[3] in _TYPES:
        return fields[2], fields[3]
    return None


def family_of(name: str, types: dict[str, str]) -> str | None:
    """The declared family a sample name belongs to: itself, or itself less a histogram/summary suffix."""
    if name in types:
        return name
    for suffix in _SUFFIXES:
        if name.endswith(suffix) and name[: -len(suffix)] in types:
            return name[: -len(suffix)]
    return None


def declared_types(output: str) -> dict[str, str]:
    """The `# TYPE` lines of an output: family name -> type (the first line for a name wins)."""
    types: dict[str, str] = {}
    if "# TYPE" not in output:
        return types
    for line in output.split("\n"):
        if line.startswith("# TYPE"):
            found = type_line(line)
            if found is not None:
                types.setdefault(*found)
    return types


def parse(output: str, default_timestamp: float) -> Parsed:
    points: list[Point] = []
    skipped = 0
    for line in output.split("\n"):
        line = line.strip()
        if not line or line[0] == "#":
            continue
        try:
            point = _sample(line, default_timestamp)
        except (ValueError, OverflowError):
            skipped += 1
            continue
        if point is not None:
            points.append(point)
    return points, skipped
