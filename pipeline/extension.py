"""What a filter, mutator or handler type is, and what it is given.

A new type is one file with one class and one registry entry; the engine only knows these
base classes. Each is built once at start-up from its definition, and must validate that
definition in `__init__` by raising `DefinitionError` with the offending key.
"""

from __future__ import annotations

import asyncio
import logging
from contextvars import ContextVar
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, ClassVar

from pipeline.model import DEFAULT_SPAWN_LIMIT, JSON, Clock, Event, system_clock

if TYPE_CHECKING:
    from prometheus_client import CollectorRegistry

    from pipeline.config.settings import Settings
    from pipeline.store.base import Store
    from pipeline.transport.base import Transport


#: A handler's `timeout` when its definition sets none, in seconds: a `pipe` handler's command
#: is killed then, and the engine's deadline for the route adds its grace as for any timeout.
DEFAULT_HANDLER_TIMEOUT = 60.0

#: True while the engine runs a command route holding its process slot: the commands of that
#: route (its mutator, its handler) take no second slot of the spawn limit.
PROCESS_SLOT_HELD: ContextVar[bool] = ContextVar("ogi_process_slot_held", default=False)


class DefinitionError(ValueError):
    """A definition is wrong; `path` is relative to the definition (e.g. `socket.port`)."""

    def __init__(self, path: str, message: str, value: Any = None) -> None:
        super().__init__(message)
        self.path = path
        self.message = message
        self.value = value


@dataclass
class Context:
    """Shared services handed to every extension at construction."""

    #: The typed settings (`pipeline.config.settings.Settings`); None for an extension built alone.
    settings: Settings | None = None
    store: Store | None = None
    transport: Transport | None = None
    clock: Clock = system_clock
    #: Shared limit on child processes (`sensu.spawn.limit`, default 12).
    spawn: asyncio.Semaphore | None = None
    metrics: CollectorRegistry | None = None
    log: logging.Logger = field(default_factory=lambda: logging.getLogger("ogi"))

    def spawn_limit(self) -> asyncio.Semaphore:
        if self.spawn is None:
            limit = self.settings.limits.spawn_limit if self.settings is not None else DEFAULT_SPAWN_LIMIT
            self.spawn = asyncio.Semaphore(limit)
        return self.spawn


class Extension:
    """Base of filters, mutators and handlers: a name, its definition and the context."""

    #: The `type` string (handlers) or name (built-in filters/mutators) this class implements.
    type_name: ClassVar[str] = ""
    #: Keys a definition of this type may carry besides the common ones; None = free-form.
    allowed_keys: ClassVar[frozenset[str] | None] = None

    def __init__(self, name: str, definition: JSON, context: Context) -> None:
        self.name = name
        self.definition = definition
        self.context = context

    async def close(self) -> None:
        """Release connections and flush buffers at shutdown."""


class Filter(Extension):
    """Decides whether an event goes on to a handler. True keeps the event."""

    async def allows(self, event: Event) -> bool:
        raise NotImplementedError


class Mutator(Extension):
    """Turns an event into the bytes a handler receives; None drops the event for that handler."""

    #: True when `mutate` never waits (it only computes): routes of one event that share it
    #: then take its bytes directly instead of through a task and a shielded future each.
    inline: ClassVar[bool] = False

    async def mutate(self, event: Event) -> bytes | None:
        raise NotImplementedError


class Handler(Extension):
    """Does something with an event: runs a command, writes to a socket, ships metrics."""

    #: Keys every handler definition may carry (the chain's settings, read by the engine).
    common_keys: ClassVar[frozenset[str]] = frozenset(
        {
            "type", "mutator", "filter", "filters", "severities", "handle_flapping",
            "handle_silenced", "timeout",
        }
    )

    #: False for a handler that reads the event itself and ignores the payload: its route then
    #: runs no mutator (a named one is not even built) and `handle` receives `b""`.
    payload: ClassVar[bool] = True

    async def handle(self, event: Event, payload: bytes) -> None:
        raise NotImplementedError
