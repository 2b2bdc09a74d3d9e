"""The built-in `check_dependencies` filter (Sensu 1.x's extension).

A check lists what it depends on in `dependencies`: `"check"` (same client), `"client/check"`
or `"subscription:NAME/check"` (that check on any client with the subscription). While any of
them has an open event, this event is dropped, so one broken router does not page for every
host behind it. Sensu asked its API with a 10 s timeout; ogi asks the store directly, with the
same timeout. Without a store, or when it fails, the event passes (and that is logged once).
"""

from __future__ import annotations

import asyncio
from typing import Any, ClassVar

from pipeline.extension import Filter
from pipeline.model import Event
from pipeline.store.base import Store

SUBSCRIPTION = "subscription:"


def parse_dependency(dependency: str, client: str) -> tuple[str | None, str | None, str]:
    """(client, subscription, check) for one entry; exactly one of the first two is set."""
    target, slash, check = dependency.rpartition("/")
    if not slash:
        return client, None, check
    if target.startswith(SUBSCRIPTION):
        return None, target[len(SUBSCRIPTION):], check
    return target, None, check


class CheckDependenciesFilter(Filter):
    """Drops an event while a check it depends on has an open event."""

    type_name: ClassVar[str] = "check_dependencies"
    allowed_keys: ClassVar[frozenset[str] | None] = frozenset()
    #: Seconds to wait for the store, as Sensu waited for its API.
    timeout: float = 10.0

    _reported = False

    async def allows(self, event: Event) -> bool:
        check = event.get("check") or {}
        dependencies = check.get("dependencies")
        if not dependencies or not isinstance(dependencies, list):
            return True
        store = self.context.store
        if store is None:
            self._report("no store to look dependencies up in", event)
            return True
        try:
            return not await asyncio.wait_for(self._open(store, event, dependencies), self.timeout)
        except Exception as exc:  # noqa: BLE001 - a failing store must not stop alerts
            self._report(f"{type(exc).__name__}: {exc}", event)
            return True

    async def _open(self, store: Store, event: Event, dependencies: list[Any]) -> bool:
        client = str((event.get("client") or {}).get("name", ""))
        events: list[Event] | None = None
        for dependency in dependencies:
            if not isinstance(dependency, str) or not dependency:
                continue
            name, subscription, check = parse_dependency(dependency, client)
            if name is not None:
                if await store.get_event(name, check) is not None:
                    return True
                continue
            if events is None:
                events = await store.list_events()
            for other in events:
                subscriptions = (other.get("client") or {}).get("subscriptions") or []
                if (other.get("check") or {}).get("name") == check and subscription in subscriptions:
                    return True
        return False

    def _report(self, reason: str, event: Event) -> None:
        if self._reported:
            return
        self._reported = True
        self.context.log.error(
            "check_dependencies cannot look up dependencies; events pass (logged once)",
            extra={"fields": {"filter": self.name, "reason": reason,
                              "check": (event.get("check") or {}).get("name")}},
        )
