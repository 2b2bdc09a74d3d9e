"""Small recording extensions for engine tests: each appends what it saw to `settings["record"]`,
so a test reads back exactly what happened and in which order. `chain_registry()` registers
them under type names in a fresh Registry.
"""

from __future__ import annotations

import asyncio
import json
from typing import Any

from pipeline.extension import Filter, Handler, Mutator
from pipeline.model import Event
from pipeline.registry import Registry


def record(ext: Any, *entry: Any) -> None:
    ext.context.settings.raw.setdefault("record", []).append(entry)


class RecordHandler(Handler):
    """Records (handler name, check name, payload)."""

    async def handle(self, event: Event, payload: bytes) -> None:
        record(self, "handled", self.name, event["check"]["name"], payload)


class BlockedHandler(Handler):
    """Starts, then waits until the test sets `settings["release"]`."""

    async def handle(self, event: Event, payload: bytes) -> None:
        record(self, "started", self.name)
        await self.context.settings.raw["release"].wait()
        record(self, "handled", self.name, event["check"]["name"], payload)


class RaisingHandler(Handler):
    async def handle(self, event: Event, payload: bytes) -> None:
        record(self, "raising", self.name)
        raise RuntimeError("the downstream said no")


class HangingHandler(Handler):
    async def handle(self, event: Event, payload: bytes) -> None:
        record(self, "started", self.name)
        await asyncio.Event().wait()


class JsonMutator(Mutator):
    async def mutate(self, event: Event) -> bytes | None:
        record(self, "mutated", self.name)
        return json.dumps(event).encode()


class CommandMutator(Mutator):
    """Stands in for the command mutator: `command` says what it does."""

    async def mutate(self, event: Event) -> bytes | None:
        record(self, "mutated", self.name)
        await asyncio.sleep(0)  # a real command mutator yields while the child runs
        command = self.definition["command"]
        if command == "fail":
            raise RuntimeError("exit status 1")
        if command == "drop":
            return None
        return f"{command}:{event['check']['name']}".encode()


class InlineMutator(Mutator):
    """A mutator that only computes (as the built-in json and only_check_output): `inline`."""

    inline = True

    async def mutate(self, event: Event) -> bytes | None:
        record(self, "mutated", self.name)
        return event["check"]["output"].upper().encode()


class FailingInlineMutator(InlineMutator):
    async def mutate(self, event: Event) -> bytes | None:
        record(self, "mutated", self.name)
        raise ValueError("cannot encode")


class KeepFilter(Filter):
    async def allows(self, event: Event) -> bool:
        record(self, "filtered", self.name)
        return True


class DropFilter(Filter):
    async def allows(self, event: Event) -> bool:
        record(self, "filtered", self.name)
        return False


class BrokenFilter(Filter):
    async def allows(self, event: Event) -> bool:
        record(self, "filtered", self.name)
        raise RuntimeError("cannot reach the API")


def chain_registry() -> Registry:
    registry = Registry(use_entry_points=False)
    for name, cls in {
        "record": RecordHandler, "pipe": RecordHandler, "blocked": BlockedHandler, "raising": RaisingHandler,
        "hanging": HangingHandler,
    }.items():
        registry.register("handlers", name, cls)
    registry.register("mutators", "json", JsonMutator)
    registry.register("mutators", "pipe", CommandMutator)
    registry.register("mutators", "loud", InlineMutator)
    registry.register("mutators", "bad", FailingInlineMutator)
    registry.register("filters", "keep", KeepFilter)
    registry.register("filters", "drop", DropFilter)
    registry.register("filters", "broken", BrokenFilter)
    return registry
