"""Check output -> metric points, in the format the check names.

A check says how to read its output with `output_metric_format` (Sensu Go's key and names);
a `"type": "metric"` check without one is read as Graphite plaintext, the format of every
Sensu 1.x metric plugin. `output_metric_tags` adds tags to every point; their values may hold
`:::path|default:::` tokens, read from the client (or from the check, for `check.` paths).

Parsing never raises: a line (or perfdata item) that does not parse is left out and counted
in `Extracted.skipped`, for the caller to log. Handlers call `extract_points(check, client)`;
the parsers themselves are in `pipeline/metrics/formats/`.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from math import isfinite
from typing import Any

from pipeline import jsoncodec
from pipeline.expr.tokens import substitute
from pipeline.metrics.formats import Parsed, graphite, influx, nagios, opentsdb, prometheus
from pipeline.model import Check, Client, Clock, Point, system_clock

__all__ = ["FORMATS", "Extracted", "Point", "extract_points", "metric_format", "metric_tags", "parse"]

FORMATS = ("graphite_plaintext", "nagios_perfdata", "influxdb_line", "opentsdb_line", "prometheus_text")

_PARSERS: dict[str, Callable[[str, float], Parsed]] = {
    "graphite_plaintext": graphite.parse,
    "nagios_perfdata": nagios.parse,
    "influxdb_line": influx.parse,
    "opentsdb_line": opentsdb.parse,
    "prometheus_text": prometheus.parse,
}

#: Sensu 1.x's token syntax, `:::path|default:::`.
Tags = tuple[tuple[str, str], ...]


@dataclass
class Extracted:
    """The points read from one check output, and how many lines or items did not parse."""

    points: list[Point]
    skipped: int


def metric_format(check: Check) -> str | None:
    """The check's metric format name: `output_metric_format`, else Graphite for a metric check.

    The name is returned as written, known or not (`FORMATS` lists the known ones); None means
    the check carries no metrics.
    """
    fmt = check.get("output_metric_format")
    if fmt is None or fmt == "":
        return "graphite_plaintext" if check.get("type") == "metric" else None
    return fmt if isinstance(fmt, str) else None


def parse(fmt: str, output: str, default_timestamp: float) -> Extracted:
    """Points of `output` in format `fmt`; an unknown format gives no points and no skips."""
    parser = _PARSERS.get(fmt)
    if parser is None or not isinstance(output, str):
        return Extracted([], 0)
    points, skipped = parser(output, default_timestamp)
    return Extracted(points, skipped)


#: A tuple, not `int | float`: the union would be built anew on every call of a hot path.
_NUMBER_TYPES = (int, float)


def _number(value: Any) -> float | None:
    if isinstance(value, _NUMBER_TYPES) and not isinstance(value, bool) and isfinite(value):
        return float(value)
    return None


def default_timestamp(check: Check, clock: Clock = system_clock) -> float:
    """The time of points printed without one: the check's `executed`, else `issued`, else now."""
    value = check.get("executed")
    if type(value) is int or type(value) is float:  # the usual case, in a few bytecodes
        executed = float(value)
        if executed - executed == 0.0:  # finite: nan and inf give nan
            return executed
    stamp = _number(value)
    if stamp is None:
        stamp = _number(check.get("issued"))
    return clock() if stamp is None else stamp


def _text(value: Any) -> str | None:
    """A JSON value as tag text, as Ruby's `to_s` would print it; None for null."""
    if value is None:
        return None
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str):
        return value
    if isinstance(value, int | float):
        return str(value)
    return jsoncodec.dumps(value).decode()


def _substitute(template: str, check: Check, client: Client) -> str | None:
    """Tokens filled from the client (`check.` paths from the check); None if one matches nothing."""
    # `client.` as a prefix reads the client too, so both spellings users bring work.
    scope = {**client, "check": check}
    scope.setdefault("client", client)
    text, unmatched = substitute(template, scope)
    return None if unmatched else str(text)


def _tag_pairs(raw: Any) -> Iterable[tuple[Any, Any]]:
    if isinstance(raw, dict):
        return raw.items()
    if isinstance(raw, list):
        return [(t.get("name"), t.get("value")) for t in raw if isinstance(t, dict)]
    return ()


def metric_tags(check: Check, client: Client | None = None) -> Tags:
    """The check's `output_metric_tags`, tokens substituted.

    Both Sensu Go's list of `{"name": ..., "value": ...}` and a plain object are read. A tag
    whose value is null, or holds a token that matches nothing and has no default, is left out.
    """
    tags: list[tuple[str, str]] = []
    for name, value in _tag_pairs(check.get("output_metric_tags")):
        text = _text(value)
        if not isinstance(name, str) or not name or text is None:
            continue
        if ":::" in text:
            filled = _substitute(text, check, client or {})
            if filled is None:
                continue
            text = filled
        tags.append((name, text))
    return tuple(tags)


def _with_tags(points: list[Point], extra: Tags) -> list[Point]:
    """Each point with `extra` appended; a tag of the same name from the output gives way."""
    names = {name for name, _ in extra}
    new = tuple.__new__  # Point(...) without the generated __new__'s Python frame
    out: list[Point] = []
    append = out.append
    for name, value, stamp, tags in points:
        if tags:
            tags = tuple(t for t in tags if t[0] not in names) + extra
        append(new(Point, (name, value, stamp, tags or extra)))
    return out


def extract_points(check: Check, client: Client | None = None, *, clock: Clock = system_clock) -> Extracted:
    """The points in a check result's output, with the check's `output_metric_tags`.

    A check without a metric format, or with one ogi does not know (see `metric_format`),
    gives no points and no skips; the caller decides whether that is worth a log line.
    """
    fmt = metric_format(check)
    output = check.get("output")
    if fmt is None or not isinstance(output, str) or not output:
        return Extracted([], 0)
    extracted = parse(fmt, output, default_timestamp(check, clock))
    if extracted.points:
        extra = metric_tags(check, client)
        if extra:
            extracted.points = _with_tags(extracted.points, extra)
    return extracted
