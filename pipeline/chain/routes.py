"""Routes: what one handler name means, worked out once at start-up.

A handler name resolves to leaf handlers (a `set` expands, recursively, into its members), and
each leaf to a `Route`: the handler instance, its filter instances in order, its mutator
instance and its timeout. Filters and mutators are built once per name and shared between
routes. `definition_errors` builds every definition the same way for the config checker.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any, TypeGuard

from pipeline.chain.gates import AttributeFilter
from pipeline.chain.stagemetrics import FILTER, HANDLER, MUTATOR, StageMetrics, StageStat
from pipeline.errors import ConfigError, path_index, path_key
from pipeline.extension import Context, DefinitionError, Extension, Filter, Handler, Mutator
from pipeline.registry import Kind, Registry, UnknownType

#: The mutator of a handler that names none (Sensu 1.x).
DEFAULT_MUTATOR = "json"
#: A route's timeout when its handler sets none, in seconds.
DEFAULT_TIMEOUT = 60.0
#: Added to a handler's own `timeout`: the handler enforces that one, the engine is the safety net.
TIMEOUT_GRACE = 5.0
#: The default bound on in-process handler routes in flight (`sensu.handlers.concurrency`).
DEFAULT_CONCURRENCY = 1000
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
    mutator: Mutator
    mutator_stat: StageStat
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


def flatten(name: str, handlers: dict[str, Any]) -> list[str]:
    """Leaf handler names of `name`: sets expanded at any depth, first occurrence kept, loops cut."""
    leaves: list[str] = []
    _expand(name, handlers, leaves, [])
    return leaves


def _expand(name: str, handlers: dict[str, Any], leaves: list[str], path: list[str]) -> None:
    definition = handlers.get(name)
    if not (isinstance(definition, dict) and definition.get("type") == "set"):
        if name not in leaves:
            leaves.append(name)
        return
    if name in path:  # validation reports set loops; here they only must not recurse forever
        return
    members = definition.get("handlers")
    if not isinstance(members, list):
        return
    path.append(name)
    for member in members:
        if isinstance(member, str):
            _expand(member, handlers, leaves, path)
    path.pop()


def route_timeout(handler: dict[str, Any], mutator: dict[str, Any] | None, grace: float) -> float:
    """The engine's deadline for one route: the stages' own timeouts plus grace, else 60 s."""
    own = handler.get("timeout")
    total = float(own) + grace if _is_number(own) else DEFAULT_TIMEOUT
    if mutator is not None and _is_number(mutator.get("timeout")):
        total += float(mutator["timeout"])
    return total


def _is_number(value: object) -> TypeGuard[float]:
    return isinstance(value, int | float) and not isinstance(value, bool) and value > 0


def concurrency(settings: dict[str, Any]) -> int:
    """`sensu.handlers.concurrency`: in-process handler routes in flight at once."""
    value = _dig(settings, ("sensu", "handlers", "concurrency"))
    if isinstance(value, int) and not isinstance(value, bool) and value > 0:
        return value
    return DEFAULT_CONCURRENCY


def _dig(data: Any, keys: Iterable[str]) -> Any:
    for key in keys:
        if not isinstance(data, dict):
            return None
        data = data.get(key)
    return data


class RouteTable:
    """Builds and keeps the routes of one settings; unknown names are logged once and skipped."""

    def __init__(
        self, settings: dict[str, Any], context: Context, registry: Registry, stats: StageMetrics,
        grace: float = TIMEOUT_GRACE,
    ) -> None:
        self.handlers: dict[str, Any] = _section(settings, "handlers")
        self._filter_defs = _section(settings, "filters")
        self._mutator_defs = _section(settings, "mutators")
        self._context = context
        self._registry = registry
        self._stats = stats
        self._grace = grace
        self._log = context.log
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
        definition = self.handlers.get(name)
        if not isinstance(definition, dict):
            # Sensu looks a name up in settings, then among extensions (here: registry types)
            if name in self.handlers or name not in self._handler_types():
                self._log.error("unknown handler", extra={"fields": {"handler": name}})
                return None
            definition = {"type": name}
        kind = definition.get("type")
        if not isinstance(kind, str):
            # `type` is required, as in Sensu; guessing `pipe` would run a command check-config refused
            self._log.error("invalid definition", extra={"fields": {
                "path": path_key(path_key("handlers", name), "type"), "error": "is required"}})
            return None
        handler = self._make("handlers", kind, name, definition, path_key("handlers", name))
        if handler is None:
            return None
        assert isinstance(handler, Handler)
        mutator_name = definition.get("mutator") or DEFAULT_MUTATOR
        mutator = self._mutator(str(mutator_name))
        if mutator is None:
            self._log.error("unusable mutator, handler skipped",
                            extra={"fields": {"handler": name, "mutator": mutator_name}})
            return None
        filters = tuple((f, self._stats.stat(FILTER, f.name)) for f in self._filter_list(name, definition))
        self._stats.known_handler(name)
        return Route(
            name=name,
            definition=definition,
            handler=handler,
            handler_stat=self._stats.stat(HANDLER, name),
            filters=filters,
            mutator=mutator,
            mutator_stat=self._stats.stat(MUTATOR, mutator.name),
            timeout=route_timeout(definition, self._mutator_defs.get(mutator_name), self._grace),
            pooled=kind not in PROCESS_TYPES and not getattr(handler, "runs_commands", False),
        )

    def _filter_list(self, handler: str, definition: dict[str, Any]) -> list[Filter]:
        names = definition.get("filters")
        if names is None:
            names = definition.get("filter")
        if isinstance(names, str):
            names = [names]
        if not isinstance(names, list):
            return []
        found: list[Filter] = []
        for name in names:
            if not isinstance(name, str):
                continue
            filt = self._filter(name, handler)
            if filt is not None:
                found.append(filt)
        return found

    def _filter(self, name: str, handler: str) -> Filter | None:
        if name not in self._filters:
            definition = self._filter_defs.get(name)
            made: Extension | None
            if isinstance(definition, dict):
                made = self._construct(AttributeFilter, name, definition, path_key("filters", name))
            elif self._registry.has("filters", name):
                made = self._make("filters", name, name, {}, path_key("filters", name))
            else:
                # Sensu 1.x: an unknown filter does not filter
                self._log.error("unknown filter, ignored", extra={"fields": {"handler": handler, "filter": name}})
                made = None
            self._filters[name] = made if isinstance(made, Filter) else None
        return self._filters[name]

    def _mutator(self, name: str) -> Mutator | None:
        if name not in self._mutators:
            definition = self._mutator_defs.get(name)
            if isinstance(definition, dict):
                made = self._make("mutators", "pipe", name, definition, path_key("mutators", name))
            else:
                made = self._make("mutators", name, name, {}, path_key("mutators", name))
            self._mutators[name] = made if isinstance(made, Mutator) else None
        return self._mutators[name]

    def _make(self, kind: Kind, type_name: str, name: str, definition: dict[str, Any], path: str) -> Extension | None:
        try:
            cls = self._registry.get(kind, type_name)
        except UnknownType as err:
            self._log.error("unknown type", extra={"fields": {"path": path, "error": str(err)}})
            return None
        return self._construct(cls, name, definition, path)

    def _construct(self, cls: type[Extension], name: str, definition: dict[str, Any], path: str) -> Extension | None:
        try:
            return cls(name, definition, self._context)
        except DefinitionError as err:
            self._log.error("invalid definition", extra={"fields": {"path": _join(path, err.path), "error": err.message}})
        except Exception as err:  # a third-party constructor's bug must not stop the server
            self._log.error("definition cannot be built", extra={"fields": {"path": path, "error": repr(err)}})
        return None


def _section(settings: dict[str, Any], key: str) -> dict[str, Any]:
    value = settings.get(key)
    return value if isinstance(value, dict) else {}


def _join(base: str, relative: str) -> str:
    """A definition-relative DefinitionError path (`socket.port`, `[0]`) under `base`."""
    if not relative:
        return base
    return f"{base}{relative}" if relative.startswith("[") else f"{base}.{relative}"


def definition_errors(settings: dict[str, Any], registry: Registry) -> list[ConfigError]:
    """Every error found by building each handler, filter and mutator defined in `settings`,
    and each handler type named without a definition (built as the engine builds it, once).

    Paths are full JSON paths (`handlers.graphite.socket.port`). What `pipeline/config/validate.py`
    reports (names and handler types that exist, set loops, the types of Sensu's own keys) is
    skipped here; `pipeline.config.load.load_settings` drops what falls in a definition validation
    already reported on, so one mistake is one line.
    """
    context = Context(settings=settings)
    errors: list[ConfigError] = []
    handlers = _section(settings, "handlers")
    for name, definition in handlers.items():
        kind = definition.get("type") if isinstance(definition, dict) else None
        if not isinstance(kind, str) or kind == "set" or not registry.has("handlers", kind):
            continue
        errors += _build_errors(registry.get("handlers", kind), name, definition, context,
                                path_key("handlers", name), Handler.common_keys, f"a {kind} handler")
    built: set[str] = set()
    for name, where in handler_references(settings):
        if name in handlers or name in built or not registry.has("handlers", name):
            continue
        built.add(name)
        errors += _undefined_type_errors(registry.get("handlers", name), name, context, where)
    for name, definition in _section(settings, "filters").items():
        if isinstance(definition, dict):
            errors += _build_errors(AttributeFilter, name, definition, context, path_key("filters", name),
                                    frozenset(), "a filter")
    mutators = _section(settings, "mutators")
    if mutators and registry.has("mutators", "pipe"):
        command = registry.get("mutators", "pipe")
        for name, definition in mutators.items():
            if isinstance(definition, dict):
                errors += _build_errors(command, name, definition, context, path_key("mutators", name),
                                        frozenset(), "a command mutator")
    value = _dig(settings, ("sensu", "handlers", "concurrency"))
    if value is not None and (not isinstance(value, int) or isinstance(value, bool) or value < 1):
        errors.append(ConfigError("sensu.handlers.concurrency", "must be a positive integer", value))
    return errors


def handler_references(settings: dict[str, Any]) -> list[tuple[str, str]]:
    """(handler name, JSON path) of every place settings name a handler for the engine to resolve:
    each check's handlers as `handler_names` reads them (`default` at the check's own path), the
    client's keepalive, registration and deregistration, `sensu.keepalives` and set members."""
    found: list[tuple[str, str]] = []
    for name, check in _section(settings, "checks").items():
        if isinstance(check, dict):
            path = path_key("checks", name)
            found += _named(check, path) if "handlers" in check or "handler" in check else [("default", path)]
    client = _section(settings, "client")
    for key in ("keepalive", "registration", "deregistration"):
        if isinstance(client.get(key), dict):
            found += _named(client[key], path_key("client", key))
    keepalives = _dig(settings, ("sensu", "keepalives"))
    if isinstance(keepalives, dict):
        found += _named(keepalives, "sensu.keepalives")
    for name, definition in _section(settings, "handlers").items():
        if isinstance(definition, dict) and definition.get("type") == "set":
            found += _named({"handlers": definition.get("handlers")}, path_key("handlers", name))
    return found


def _named(definition: dict[str, Any], path: str) -> list[tuple[str, str]]:
    """The names in a definition's `handlers` (else `handler`), each with its path."""
    names = definition.get("handlers")
    if isinstance(names, list):
        where = path_key(path, "handlers")
        return [(n, path_index(where, i)) for i, n in enumerate(names) if isinstance(n, str)]
    if names is None and isinstance(definition.get("handler"), str):
        return [(definition["handler"], path_key(path, "handler"))]
    return []


def _undefined_type_errors(cls: type[Extension], name: str, context: Context, where: str) -> list[ConfigError]:
    """Build a handler type the way the engine does for a name with no definition: `{"type": name}`."""
    what = f"handler type {name!r} is named without a definition, and cannot be built that way"
    try:
        cls(name, {"type": name}, context)
    except DefinitionError as err:
        detail = f"{err.path}: {err.message}" if err.path else err.message
        return [ConfigError(where, f"{what}: {detail}") if err.value is None
                else ConfigError(where, f"{what}: {detail}", err.value)]
    except Exception as err:  # a buggy third-party type is reported, not a crash of the checker
        return [ConfigError(where, f"{what}: {err!r}")]
    return []


def _build_errors(
    cls: type[Extension], name: str, definition: dict[str, Any], context: Context, path: str,
    common: frozenset[str], what: str,
) -> list[ConfigError]:
    errors: list[ConfigError] = []
    if cls.allowed_keys is not None:
        allowed = cls.allowed_keys | common
        errors += [
            ConfigError(path_key(path, key), f"unknown key for {what}", value)
            for key, value in definition.items() if key not in allowed
        ]
    try:
        cls(name, definition, context)
    except DefinitionError as err:
        where = _join(path, err.path)
        errors.append(ConfigError(where, err.message) if err.value is None else ConfigError(where, err.message, err.value))
    except Exception as err:  # a buggy third-party type is reported, not a crash of the checker
        errors.append(ConfigError(path, f"cannot be built: {err!r}"))
    return errors
