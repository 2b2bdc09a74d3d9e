"""When an event's routes are all admitted, so the server can let the check's next result in.

A route is admitted once its place is settled: stopped by a gate, holding its handler's slot,
queued for its handler (pipeline/chain/spill.py) or in line for a slot. The server keeps one
client's check in arrival order only up to there (pipeline/server/results.py): handlers run
after the check's next result has been recorded, so one that hangs holds up its own runs and
the result it was given, not the check's later results.
"""

from __future__ import annotations

from collections.abc import Callable

#: Told once every route of an event is admitted.
Admitted = Callable[[], None]


class Countdown:
    """Calls `then` when `count` routes have each called it once, or at `fire()`, whichever is first."""

    __slots__ = ("_left", "_then")

    def __init__(self, count: int, then: Admitted) -> None:
        self._left = count
        self._then: Admitted | None = then

    def __call__(self) -> None:
        self._left -= 1
        if self._left == 0:
            self.fire()

    def fire(self) -> None:
        """Call `then` now unless it was called already (a route that never started still counts)."""
        then, self._then = self._then, None
        if then is not None:
            then()
