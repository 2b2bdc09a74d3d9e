"""The `debug` handler: logs each event it is given, as Sensu 1.x's built-in `debug` extension did.

A check with `"handler": "debug"` (and no handler of that name defined) logs its events at info
level in the server's log, one line each, with the event as a field; nothing leaves the server.
It reads the event itself, so no mutator runs for it.
"""

from __future__ import annotations

import logging
from typing import ClassVar

from pipeline.extension import Handler
from pipeline.model import Event

log = logging.getLogger("ogi")


class DebugHandler(Handler):
    """Writes the event to the log; for trying a check's handling before a real handler exists."""

    type_name: ClassVar[str] = "debug"
    allowed_keys: ClassVar[frozenset[str] | None] = frozenset()
    payload: ClassVar[bool] = False

    async def handle(self, event: Event, payload: bytes) -> None:
        check, client = event.get("check"), event.get("client")
        check = check if isinstance(check, dict) else {}
        client = client if isinstance(client, dict) else {}
        log.info("debug handler: event", extra={"fields": {
            "handler": self.name, "client": client.get("name"), "check": check.get("name"),
            "action": event.get("action"), "status": check.get("status"), "event": event,
        }})
