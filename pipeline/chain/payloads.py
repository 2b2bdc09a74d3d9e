"""One payload per mutator per event, shared by the routes of that event that use the mutator.

When two handlers of one event name the same mutator, it runs once: the first route to need
the payload starts it and the others wait for the same result. A command mutator's run is a
task the routes await through `asyncio.shield`, so one route timing out cannot cancel the
payload another route is waiting for.

The speed trick: an `inline` mutator (json, only_check_output: they only compute, nothing to
wait for) is awaited in place and its bytes kept, with no task and no shielded future per
route. Measured in the engine with two handlers sharing the json mutator: 3 fewer
tasks/futures and about 6 fewer event-loop callbacks per event (commit 0a46ba8). An inline
mutator must not await I/O: a route's timeout could not cut it short for the others.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar, cast

from pipeline.extension import Mutator

#: Per event, each shared mutator's payload: the bytes (an inline mutator) or the task making them.
Payloads = dict[Mutator, "bytes | None | asyncio.Future[bytes | None]"]
_MISSING: Any = object()
_R = TypeVar("_R")
_E = TypeVar("_E")


async def shared_payload(
    payloads: Payloads, mutator: Mutator,
    mutate: Callable[[_R, _E, Mutator], Awaitable[bytes | None]], route: _R, event: _E,
) -> bytes | None:
    """`mutate(route, event, mutator)` once for all routes of this event with this mutator."""
    found = payloads.get(mutator, _MISSING)
    if mutator.inline:
        # Nothing to wait for, so nothing another route's timeout could cut short.
        if found is _MISSING:
            found = payloads[mutator] = await mutate(route, event, mutator)
        return cast(bytes | None, found)
    if found is _MISSING:
        found = payloads[mutator] = asyncio.ensure_future(mutate(route, event, mutator))
    # shielded: one route timing out must not cancel the payload another route waits for
    return await asyncio.shield(cast("asyncio.Future[bytes | None]", found))


def cancel_pending(payloads: Payloads | None) -> None:
    """Cancel the payloads still being made (each route awaited them shielded)."""
    for found in (payloads or {}).values():
        if isinstance(found, asyncio.Future):
            found.cancel()
