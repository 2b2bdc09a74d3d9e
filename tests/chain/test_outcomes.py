"""What the engine tells a listener about each route of each event: the words `ogi run` prints."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from pipeline.chain.engine import Engine
from pipeline.chain.outcome import Outcome, summary
from pipeline.config.load import settings_of
from pipeline.extension import Context
from pipeline.model import Event

HANDLERS: dict[str, Any] = {
    "ok": {"type": "pipe", "command": "cat > /dev/null"},
    "broken": {"type": "pipe", "command": "cat > /dev/null; exit 3"},
    "warn_only": {"type": "pipe", "command": "cat > /dev/null", "severities": ["warning"]},
    "incidents": {"type": "pipe", "command": "cat > /dev/null", "filters": ["is_incident"]},
    "not_prod": {"type": "pipe", "command": "cat > /dev/null", "filter": "production"},
}
FILTERS = {"production": {"negate": True, "attributes": {"client": {"environment": "production"}}}}


def event(status: int = 2, silenced: bool = False, handlers: Sequence[str] = tuple(HANDLERS)) -> Event:
    return {
        "id": "e1", "action": "create", "occurrences": 1, "silenced": silenced, "silenced_by": [],
        "client": {"name": "web-1", "environment": "production", "subscriptions": []},
        "check": {"name": "disk", "status": status, "output": "CRITICAL: full", "handlers": list(handlers),
                  "history": [str(status)]},
    }


async def outcomes_of(events: list[Event]) -> list[str]:
    settings = {"handlers": HANDLERS, "filters": FILTERS}
    engine = Engine(settings_of(settings), Context(settings=settings_of(settings)))
    seen: list[str] = []

    def listen(_event: Event, routes: Sequence[tuple[str, Outcome]]) -> None:
        seen.append(summary(routes))

    engine.on_outcome = listen
    try:
        for one in events:
            await engine.process(one)
    finally:
        await engine.close()
    return seen


async def test_each_handler_says_whether_it_ran_failed_or_which_gate_or_filter_stopped_it() -> None:
    [line] = await outcomes_of([event()])
    assert line == (
        "ok: handled, broken: failed (see the log), warn_only: not handled (severities), "
        "incidents: handled, not_prod: filtered by production"
    )


async def test_a_silenced_event_says_silenced_and_an_ok_says_which_filter_kept_it() -> None:
    lines = await outcomes_of([event(silenced=True, handlers=["ok"]), event(status=0, handlers=["incidents"])])
    assert lines == ["ok: silenced", "incidents: filtered by is_incident"]


async def test_an_event_whose_handlers_are_an_empty_list_says_no_handlers() -> None:
    assert await outcomes_of([event(handlers=[])]) == ["no handlers"]
