"""Sensu's "previous check command execution in progress" warning, at most once a minute per check.

A check whose last run is still going when it is due again is not started twice (Sensu's
rule); the skip is counted every time, but an agent that cannot keep up would otherwise spend
its time writing the same line: the first skip of a check is logged at once, the next at most
`INTERVAL` seconds later, its `skipped` field saying how many skips the line stands for.
"""

from __future__ import annotations

import logging

from pipeline.model import Clock

INTERVAL = 60.0

log = logging.getLogger("ogi.client")


class SkipLog:
    """Logs a check's skips, throttled per check key."""

    def __init__(self, clock: Clock) -> None:
        self.clock = clock
        #: check key -> (when its skip was last logged, skips since)
        self._logged: dict[str, tuple[float, int]] = {}

    def skipped(self, key: str, name: str) -> None:
        now = self.clock()
        last, skipped = self._logged.get(key, (-INTERVAL, 0))
        skipped += 1
        if now - last < INTERVAL:
            self._logged[key] = (last, skipped)
            return
        self._logged[key] = (now, 0)
        log.warning("previous check command execution in progress", extra={"fields": {"check": name, "skipped": skipped}})
