"""What happened to one event on one route, in words a person reads (`ogi run`'s console line).

The engine reports, per route, the stage that decided the route's fate and how it ended: the
same `StageStat` it counts on `/metrics` (pipeline/chain/stagemetrics.py), so the words and the
counters cannot disagree.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

from pipeline.chain.stagemetrics import ERROR, FILTER, GATE, MUTATOR, OK, TIMEOUT, StageStat
from pipeline.model import Event

#: One route's end: the stage that decided it and its outcome (stagemetrics' outcome names).
Outcome = tuple[StageStat, str]
#: Called once per event after all its routes ended: the event and (handler name, outcome) per route.
OutcomeListener = Callable[[Event, Sequence[tuple[str, Outcome]]], None]
#: A route that found no free slot and was queued durably for its handler (pipeline/chain/spill.py).
QUEUED = "queued"


def describe(outcome: Outcome) -> str:
    """A few words for one route's end: "handled", "silenced", "filtered by is_incident", ..."""
    stat, result = outcome
    if result == TIMEOUT:
        return f"timed out in {stat.stage} {stat.name}"
    if result == ERROR:
        return "failed (see the log)"
    if stat.stage == GATE:
        return "silenced" if stat.name == "silenced" else f"not handled ({stat.name})"
    if stat.stage == FILTER:
        return f"filtered by {stat.name}"
    if stat.stage == MUTATOR:
        return f"mutator {stat.name} gave no payload"
    if result == QUEUED:
        return "queued for a free slot"
    return "handled" if result == OK else result

def summary(routes: Sequence[tuple[str, Outcome]]) -> str:
    """Every route of an event: "mail: handled, slack: silenced"; "no handlers" when none."""
    if not routes:
        return "no handlers"
    return ", ".join(f"{name}: {describe(outcome)}" for name, outcome in routes)
