"""One parser per `output_metric_format`; `pipeline.metrics.extract` chooses among them.

Each module has `parse(output, default_timestamp) -> (points, skipped)`: the points of the
lines (or perfdata items) that parsed, and how many did not. Values that parse but are not
finite (NaN, infinities, perfdata's `U`) give no point and are not counted as skipped: they are
valid input with nothing to store (carbon drops `nan` the same way).
"""

from __future__ import annotations

from pipeline.model import Point

Parsed = tuple[list[Point], int]

_MS = 1e11   # 5138 AD in seconds, 1973 in milliseconds
_US = 1e14
_NS = 1e17


def epoch_seconds(stamp: float) -> float:
    """A Unix timestamp in s, ms, us or ns, in seconds.

    The unit is read from the magnitude (any date from 1973 to 5138 has a different number of
    digits in each unit): Sensu Go likewise reads a 13-digit OpenTSDB stamp as milliseconds
    and only the first 10 digits of an InfluxDB one.
    """
    size = abs(stamp)
    if size < _MS:
        return stamp
    if size < _US:
        return stamp / 1e3
    if size < _NS:
        return stamp / 1e6
    return stamp / 1e9
