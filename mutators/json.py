"""The `json` mutator, Sensu 1.x's default: the event as compact JSON."""

from __future__ import annotations

from typing import ClassVar

from pipeline import jsoncodec
from pipeline.extension import Mutator
from pipeline.model import Event


def encode_event(event: Event) -> bytes:
    """The event JSON a handler or command mutator receives (UTF-8, no padding)."""
    return jsoncodec.dumps(event)


class JsonMutator(Mutator):
    """Serializes the whole event as JSON: what a handler gets when it names no mutator."""

    type_name: ClassVar[str] = "json"
    allowed_keys: ClassVar[frozenset[str] | None] = frozenset()
    inline: ClassVar[bool] = True

    async def mutate(self, event: Event) -> bytes | None:
        return encode_event(event)
