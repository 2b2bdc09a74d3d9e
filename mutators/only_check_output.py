"""The `only_check_output` mutator: the check's output alone, as Sensu 1.x's built-in.

With a `tcp` handler this is the canonical Graphite setup: a metric check prints Carbon
plaintext lines and they go to port 2003 unchanged.
"""

from __future__ import annotations

from typing import ClassVar

from pipeline.extension import Mutator
from pipeline.model import Event


class OnlyCheckOutputMutator(Mutator):
    """Passes `check.output` as UTF-8 bytes; a missing output gives an empty payload."""

    type_name: ClassVar[str] = "only_check_output"
    allowed_keys: ClassVar[frozenset[str] | None] = frozenset()
    inline: ClassVar[bool] = True

    async def mutate(self, event: Event) -> bytes | None:
        check = event.get("check")
        output = check.get("output") if isinstance(check, dict) else None
        if type(output) is str:  # the usual case first
            return output.encode("utf-8", errors="replace")
        if output is None:
            return b""
        if isinstance(output, bytes):
            return output
        return str(output).encode("utf-8", errors="replace")
