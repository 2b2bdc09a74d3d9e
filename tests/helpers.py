"""Small test companions shared by the suites: a settable clock and an engine that records."""

from __future__ import annotations

from pipeline.model import Event

#: The instant tests start from unless they say otherwise.
T0 = 1_700_000_000.0


class FakeClock:
    """An injected clock the test moves by hand."""

    def __init__(self, now: float = T0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


class RecordingEngine:
    """Keeps every event the result processor hands on, as the engine would receive it."""

    def __init__(self) -> None:
        self.events: list[Event] = []

    async def process(self, event: Event) -> None:
        self.events.append(event)
