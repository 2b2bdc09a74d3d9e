"""The built-in `occurrences` filter (Sensu 1.x's extension, v1.2 semantics).

It reads the check's `occurrences` (N, default 1), `refresh` (1800) and `interval` (60):
an event is handled once it has occurred N times in a row, then again every
`floor(refresh / interval)` occurrences; a resolve is handled only if the event had reached
N (its watermark), so a blip that was never announced is never "resolved" either.
"""

from __future__ import annotations

import math
from typing import Any, ClassVar

from pipeline.extension import Filter
from pipeline.model import Event


def _number(value: Any, default: float) -> float:
    if isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value):
        return value
    if isinstance(value, str):
        try:
            return float(value)
        except ValueError:
            pass
    return default


def occurrences_allow(event: Event) -> bool:
    """The occurrences rule as a pure function of the event."""
    check = event.get("check") or {}
    needed = _number(check.get("occurrences"), 1)
    occurrences = _number(event.get("occurrences"), 1)
    action = event.get("action")
    if action == "resolve":
        return _number(event.get("occurrences_watermark"), occurrences) >= needed
    if occurrences < needed:
        return False
    if occurrences > needed and action in ("create", "flapping"):
        interval = _number(check.get("interval"), 60)
        every = math.floor(_number(check.get("refresh"), 1800) / interval) if interval > 0 else 0
        # refresh shorter than interval: no repeat spacing to keep, every occurrence passes
        return every <= 0 or (occurrences - needed) % every == 0
    return True


class OccurrencesFilter(Filter):
    """Drops events until `check.occurrences` is reached, then repeats every refresh period."""

    type_name: ClassVar[str] = "occurrences"
    allowed_keys: ClassVar[frozenset[str] | None] = frozenset()

    async def allows(self, event: Event) -> bool:
        return occurrences_allow(event)
