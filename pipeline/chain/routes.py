"""Routes: what one handler name means, worked out once at start-up.

A handler name resolves to leaf handlers (a `set` expands, recursively, into its members), and
each leaf to a `Route`: the handler instance, its filter instances in order, its mutator
instance and its timeout. Filters and mutators are built once per name and shared between
routes. `ogi check-config` builds a table too, with `report` collecting what the engine would
otherwise log and skip (`pipeline/config/validate.py`), so the checker and the engine agree.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, TypeGuard

from pipeline.chain.gates import AttributeFilter
from pipeline.chain.stagemetrics import FILTER, HANDLER, MUTATOR, StageMetrics, StageStat
from pipeline.errors import ConfigError, path_key
from pipeline.extension import (
    DEFAULT_HANDLER_TIMEOUT,
    Context,
    DefinitionError,
    Extension,
    Filter,
    Handler,
    Mutator,
)
from pipeline.model import is_number
from pipeline.registry import Kind, Registry, UnknownType

if TYPE_CHECKING:  # the typed settings are config's; the checker there builds this table
    from pipeline.config.settings import FilterDefinition, HandlerDefinition, MutatorDefinition, Settings

#: The mutator of a handler that names none (Sensu 1.x).
DEFAULT_MUTATOR = "json"
#: A route's timeout before grace when its handler sets none (a `pipe` handler's command is killed then).
DEFAULT_TIMEOUT = DEFAULT_HANDLER_TIMEOUT
#: Added to a handler's own `timeout`: the handler enforces that one, the engine is the safety net.
TIMEOUT_GRACE = 5.0
#: Undefined handler names remembered (so each is logged once) before the memory is reset.
_UNKNOWN_LIMIT = 1024
#: Handler types that run child processes: bounded by `sensu.spawn.limit`, not the in-process pool.
PROCESS_TYPES = frozenset({"pipe"})


@dataclass(eq=False)
class Route:
    """One leaf handler with everything the engine needs to run an event through it."""

    name: str
    #: The handler's definition, read by the gates (`handle_flapping`, `severities`, ...).
    definition: dict[str, Any]
    handler: Handler
    handler_stat: StageStat
    filters: tuple[tuple[Filter, StageStat], ...]
    #: None when the handler takes no payload (`Handler.payload`): no mutator runs.
    mutator: Mutator | None
    mutator_stat: StageStat | None
    timeout: float
    #: True when the handler runs in-process and so takes a slot of the shared pool.
    pooled: bool


def handler_names(check: dict[str, Any]) -> tuple[str, ...]:
    """The names an event is handled by: `check.handlers`, else `check.handler`, else `default`.

    As in Sensu 1.x an explicit empty `handlers` list means no handler at all.
    """
    names = check.get("handlers")
    if names is None:
        names = check.get("handler")
        if names is None:
            return ("default",)
    if isinstance(names, str):
        return (names,)
    if isinstance(names, _SEQUENCES):
        for name in names:
            if not isinstance(name, str):
                return tuple(n for n in names if isinstance(n, str))
        return tuple(names)  # the usual list of names, without a generator per event
    return ()


#: A tuple, not `list | tuple`: the union would be built anew on every event.
_SEQUENCES = (list, tuple)


def flatten(name: str, handlers: Mapping[str, HandlerDefinition]) -> list[str]:
    """Leaf handler names of `name`: sets expanded at any depth, first occurrence kept, loops cut."""
    leaves: list[str] = []
    _expand(name, handlers, leaves, [])
    return leaves


def _expand(name: str, handlers: Mapping[str, HandlerDefinition], leaves: list[str], path: list[str]) -> None:
    definition = handlers.get(name)
    if definition is None or definition.type != "set":
        if name not in leaves:
            leaves.append(name)
        return
    if name in path:  # validation reports set loops; here they only must not recurse forever
        return
    path.append(name)
    for member in definition.members:
        _expand(member, handlers, leaves, path)
    path.pop()


def route_timeout(handler: HandlerDefinition, mutator: MutatorDefinition | None, grace: float) -> float:
    """The engine's deadline for one route: the stages' own timeouts (60 s for a handler without one) plus grace."""
    own = handler.timeout
    total = (float(own) if _positive(own) else DEFAULT_TIMEOUT) + grace
    if mutator is not None and _positive(mutator.timeout):
        total += float(mutator.timeout)
    return total


class RouteTable:
    """Builds and keeps the routes of typed settings; unknown names are logged once and skipped.

    With `report`, each problem goes to it as a ConfigError instead of the log (the checker's way).
    """

    def __init__(
        self, settings: Settings, context: Context, registry: Registry, stats: StageMetrics,
        grace: float = TIMEOUT_GRACE, report: Callable[[ConfigError], None] | None = None,
    ) -> None:
        self.handlers: Mapping[str, HandlerDefinition] = settings.handlers
        self._filter_defs: Mapping[str, FilterDefinition] = settings.filters
        self._mutator_defs: Mapping[str, MutatorDefinition] = settings.mutators
        self._context = context
        self._registry = registry
        self._stats = stats
        self._grace = grace
        self._log = context.log
        self._report = report
        self._routes: dict[str, Route | None] = {}
        self._filters: dict[str, Filter | None] = {}
        self._mutators: dict[str, Mutator | None] = {}
        self._leaves: dict[str, list[str]] = {}
        self._unknown: set[str] = set()
        self._types: frozenset[str] | None = None

    def build_all(self) -> None:
        """Build the route of every handler defined in settings (start-up, so errors show early)."""
        for name in self.handlers:
            self.resolve((name,))

    def resolve(self, names: Iterable[str]) -> list[Route]:
        """The routes for a list of handler names: sets flattened, duplicates and unknowns dropped."""
        routes: list[Route] = []
        for name in names:
            leaves = self._leaves.get(name)
            if leaves is None:
                leaves = flatten(name, self.handlers)
                if name in self.handlers:  # names from results are unbounded: cache only defined ones
                    self._leaves[name] = leaves
            for leaf in leaves:
                route = self.route(leaf)
                if route is not None and route not in routes:
                    routes.append(route)
        return routes

    def route(self, name: str) -> Route | None:
        if name in self._routes:
            return self._routes[name]
        if name in self._unknown:
            return None
        route = self._build(name)
        if route is None and name not in self.handlers:
            # a result may name anything: remember a bounded number of misses, logged once each
            if len(self._unknown) >= _UNKNOWN_LIMIT:
                self._unknown.clear()
            self._unknown.add(name)
        else:
            self._routes[name] = route
        return route

    def _handler_types(self) -> frozenset[str]:
        # the installed types do not change while ogi runs; asking the registry scans packages
        if self._types is None:
            self._types = frozenset(self._registry.known("handlers"))
        return self._types

    def instances(self) -> list[Extension]:
        """Every instance built, each once, handlers first."""
        found: list[Extension] = [r.handler for r in self._routes.values() if r is not None]
        found += [f for f in self._filters.values() if f is not None]
        found += [m for m in self._mutators.values() if m is not None]
        return found

    def _build(self, name: str) -> Route | None:
        typed = self.handlers.get(name)
        if typed is None:
            # Sensu looks a name up in settings, then among extensions (here: registry types)
            if name not in self._handler_types():
                self._problem("unknown handler", path_key("handlers", name), "no handler has this name", name,
                              fields={"handler": name})
                return None
            definition: dict[str, Any] = {"type": name}
            kind: str | None = name
        else:
            definition, kind = typed.raw, typed.type
        if kind is None:
            # `type` is required, as in Sensu; guessing `pipe` would run a command check-config refused
            self._problem("invalid definition", path_key(path_key("handlers", name), "type"), "is required")
            return None
        handler = self._make("handlers", kind, name, definition, path_key("handlers", name))
        if handler is None:
            return None
        assert isinstance(handler, Handler)
        mutator_name = (typed.mutator if typed is not None else None) or DEFAULT_MUTATOR
        mutator = self._mutator(mutator_name) if handler.payload else None
        if mutator is None and handler.payload:
            self._problem("unusable mutator, handler skipped", path_key(path_key("handlers", name), "mutator"),
                          "this mutator cannot be built, so the handler would be skipped", mutator_name,
                          fields={"handler": name, "mutator": mutator_name})
            return None
        filter_names = typed.filters if typed is not None else ()
        filters = tuple((f, self._stats.stat(FILTER, f.name)) for f in self._filter_list(name, filter_names))
        self._stats.known_handler(name)
        return Route(
            name=name,
            definition=definition,
            handler=handler,
            handler_stat=self._stats.stat(HANDLER, name),
            filters=filters,
            mutator=mutator,
            mutator_stat=self._stats.stat(MUTATOR, mutator.name) if mutator is not None else None,
            timeout=route_timeout(typed, self._mutator_defs.get(mutator_name) if mutator else None, self._grace)
            if typed is not None else DEFAULT_TIMEOUT,
            pooled=kind not in PROCESS_TYPES and not getattr(handler, "runs_commands", False),
        )

    def _filter_list(self, handler: str, names: Iterable[str]) -> list[Filter]:
        found: list[Filter] = []
        for name in names:
            filt = self._filter(name, handler)
            if filt is not None:
                found.append(filt)
        return found

    def _filter(self, name: str, handler: str) -> Filter | None:
        if name not in self._filters:
            definition = self._filter_defs.get(name)
            made: Extension | None
            if definition is not None:
                made = self._construct(AttributeFilter, name, definition.raw, path_key("filters", name))
            elif self._registry.has("filters", name):
                made = self._make("filters", name, name, {}, path_key("filters", name))
            else:
                # Sensu 1.x: an unknown filter does not filter
                self._problem("unknown filter, ignored", path_key(path_key("handlers", handler), "filters"),
                              "no filter has this name, so it would be ignored", name,
                              fields={"handler": handler, "filter": name})
                made = None
            self._filters[name] = made if isinstance(made, Filter) else None
        return self._filters[name]

    def _mutator(self, name: str) -> Mutator | None:
        if name not in self._mutators:
            mutator = self._mutator_defs.get(name)
            if mutator is not None:
                made = self._make("mutators", "pipe", name, mutator.raw, path_key("mutators", name))
            else:
                made = self._make("mutators", name, name, {}, path_key("mutators", name))
            self._mutators[name] = made if isinstance(made, Mutator) else None
        return self._mutators[name]

    def _make(self, kind: Kind, type_name: str, name: str, definition: dict[str, Any], path: str) -> Extension | None:
        try:
            cls = self._registry.get(kind, type_name)
        except UnknownType as err:
            self._problem("unknown type", path, str(err))
            return None
        return self._construct(cls, name, definition, path)

    def _construct(self, cls: type[Extension], name: str, definition: dict[str, Any], path: str) -> Extension | None:
        try:
            return cls(name, definition, self._context)
        except DefinitionError as err:
            self._problem("invalid definition", _join(path, err.path), err.message, *_given(err.value))
        except Exception as err:  # a third-party constructor's bug must not stop the server
            self._problem("definition cannot be built", path, f"cannot be built: {err!r}")
        return None

    def _problem(self, event: str, path: str, message: str, *value: Any, fields: dict[str, Any] | None = None) -> None:
        """Log what is skipped (the engine), or hand it to `report` (the checker)."""
        if self._report is not None:
            self._report(ConfigError(path, message, *value))
            return
        self._log.error(event, extra={"fields": fields or {"path": path, "error": message}})


def _given(value: Any) -> tuple[Any, ...]:
    return () if value is None else (value,)


def _positive(value: object) -> TypeGuard[int | float]:
    return is_number(value) and value > 0


def _join(base: str, relative: str) -> str:
    """A definition-relative DefinitionError path (`socket.port`, `[0]`) under `base`."""
    if not relative:
        return base
    return f"{base}{relative}" if relative.startswith("[") else f"{base}.{relative}"
