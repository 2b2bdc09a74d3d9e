"""The built-in `is_incident` filter (as in Sensu Go): only problems and their resolution."""

from __future__ import annotations

from typing import ClassVar

from pipeline.extension import Filter
from pipeline.model import Event


class IsIncidentFilter(Filter):
    """Passes events whose status is not 0, and resolves."""

    type_name: ClassVar[str] = "is_incident"
    allowed_keys: ClassVar[frozenset[str] | None] = frozenset()

    async def allows(self, event: Event) -> bool:
        if event.get("action") == "resolve":
            return True
        status = (event.get("check") or {}).get("status", 0)
        return status != 0
