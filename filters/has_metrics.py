"""The built-in `has_metrics` filter: only results that carry metrics."""

from __future__ import annotations

from typing import ClassVar

from pipeline.extension import Filter
from pipeline.model import Event


class HasMetricsFilter(Filter):
    """Passes events of checks with `type: metric` or an `output_metric_format`."""

    type_name: ClassVar[str] = "has_metrics"
    allowed_keys: ClassVar[frozenset[str] | None] = frozenset()

    async def allows(self, event: Event) -> bool:
        check = event.get("check") or {}
        return check.get("type") == "metric" or bool(check.get("output_metric_format"))
