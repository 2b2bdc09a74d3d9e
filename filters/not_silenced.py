"""The built-in `not_silenced` filter: drops silenced events even for `handle_silenced` handlers."""

from __future__ import annotations

from typing import ClassVar

from pipeline.extension import Filter
from pipeline.model import Event


class NotSilencedFilter(Filter):
    """Passes events that are not silenced."""

    type_name: ClassVar[str] = "not_silenced"
    allowed_keys: ClassVar[frozenset[str] | None] = frozenset()

    async def allows(self, event: Event) -> bool:
        return not event.get("silenced")
