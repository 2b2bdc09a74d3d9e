"""Validation of the handler chain: handler, filter and mutator definitions, the names that
refer to them, set loops and `eval:` expressions.

Each definition is checked for shape, then, when its shape is right, built with the class the
engine will build it with: a constructor's refusal is reported at its full JSON path, and a
name that refers to a type without a definition (`"mutator": "pipe"`) is built the way the
engine would build it (`{}`), so a route the engine would skip is an error here.
"""

from __future__ import annotations

from typing import Any

from pipeline.chain.gates import AttributeFilter
from pipeline.config.load import parent_path
from pipeline.config.rules import BOOL, POS_NUM, STR, STR_LIST, Collector, Rule, names_hint
from pipeline.errors import ConfigError, path_index, path_key
from pipeline.expr.expression import EVAL_PREFIX, ExpressionError, compile_expression
from pipeline.extension import Context, DefinitionError, Extension, Handler
from pipeline.model import SEVERITY_NAMES
from pipeline.registry import Kind, Registry

#: Handler types that only mean something with a definition (a command, a socket, members):
#: a check cannot name them directly as it can an extension type such as `graphite`.
CORE_HANDLER_TYPES = frozenset({"pipe", "tcp", "udp", "transport", "set"})

def extension_handler_hint(name: str, types: Any) -> str:
    """What to write instead of Sensu's `"type": "extension"` (a Ruby extension run in-process)."""
    if name in types:
        return (f"Sensu's Ruby extensions do not run in ogi; ogi's built-in {name!r} does the same: "
                f"write \"type\": \"{name}\", or delete this definition and name {name!r} in the check")
    return ("Sensu's Ruby extensions do not run in ogi: use a pipe handler running an equivalent program, "
            "or one of ogi's handler types (" + ", ".join(sorted(types)) + ")")


HANDLER_SUBDUE_REMOVED = "handler subdue was removed in Sensu 0.26; use a filter with `when`"

HANDLER_RULES: dict[str, Rule | str] = {
    "type": STR, "mutator": STR, "filter": STR, "filters": STR_LIST, "severities": STR_LIST,
    "handle_flapping": BOOL, "handle_silenced": BOOL, "timeout": POS_NUM,
}


class ChainValidator(Collector):
    """The chain's sections: shapes, references and the build of every definition."""

    def __init__(self, settings: dict[str, Any], registry: Registry, context: Context) -> None:
        super().__init__(settings)
        self.registry = registry
        self.context = context
        self.handlers = self.section("handlers")
        self.filters = self.section("filters")
        self.mutators = self.section("mutators")
        self.handler_types = frozenset(registry.known("handlers")) | {"set"}
        self.filter_types = frozenset(registry.known("filters"))
        self.mutator_types = frozenset(registry.known("mutators"))
        #: Names built without a definition, and the problem found (None: it builds).
        self._undefined: dict[tuple[Kind, str], str | None] = {}
        #: False for a client's configuration: its handler names are only names (Sensu's rule),
        #: resolved by the server that handles the events.
        self.resolve_handlers = True

    # -- building -----------------------------------------------------------------------------

    def build(self, cls: type[Extension], name: str, definition: dict[str, Any], path: str,
              what: str, since: int, common: frozenset[str] = frozenset()) -> None:
        """Report the keys `cls` does not take and what its constructor refuses, except at a path
        the shape rules already reported on since error number `since` (one mistake, one line)."""
        reported = {e.path for e in self.errors[since:]}
        # A shape error inside a part (`when.days`) stands for that part: its siblings are not news.
        parts = {p for p in map(parent_path, reported) if p and p != path}
        found: list[ConfigError] = []
        if cls.allowed_keys is not None:
            allowed = cls.allowed_keys | common
            found += [ConfigError(path_key(path, key), f"unknown key for {what}", value)
                      for key, value in definition.items() if key not in allowed]
        try:
            cls(name, definition, self.context)
        except DefinitionError as err:
            found.append(ConfigError(join_path(path, err.path), err.message, *(() if err.value is None else (err.value,))))
        except Exception as err:  # a buggy third-party type is reported, not a crash of the checker
            found.append(ConfigError(path, f"cannot be built: {err!r}"))
        self.errors += [e for e in found if e.path not in reported and parent_path(e.path) not in parts]

    def undefined(self, kind: Kind, name: str, path: str) -> None:
        """A registry type named without a definition: build it as the engine does, once per name."""
        key = (kind, name)
        if key in self._undefined:
            return  # reported once, at the first place that names it
        if key not in self._undefined:
            definition: dict[str, Any] = {"type": name} if kind == "handlers" else {}
            problem = None
            try:
                self.registry.get(kind, name)(name, definition, self.context)
            except DefinitionError as err:
                problem = f"{err.path}: {err.message}" if err.path else err.message
            except Exception as err:  # a buggy third-party type is reported, not a crash of the checker
                problem = repr(err)
            self._undefined[key] = problem
        problem = self._undefined[key]
        if problem is not None:
            self.error(path, f"{kind[:-1]} type {name!r} is named without a definition, "
                       f"and cannot be built that way: {problem}")

    # -- references ---------------------------------------------------------------------------

    def handler_ref(self, name: str, path: str) -> None:
        if name in self.handlers or not self.resolve_handlers:
            return
        if name in CORE_HANDLER_TYPES:
            self.error(path, f"names a handler type, not a handler: define handlers.{name} first", name)
        elif name in self.handler_types:
            self.undefined("handlers", name, path)
        else:
            usable = self.handler_types - CORE_HANDLER_TYPES
            self.error(path, f"no handler has this name (known: {names_hint(self.handlers, usable)})", name)

    def handler_refs(self, definition: dict[str, Any], path: str) -> None:
        if isinstance(definition.get("handler"), str):
            self.handler_ref(definition["handler"], path_key(path, "handler"))
        if isinstance(definition.get("handlers"), list):
            for i, name in enumerate(definition["handlers"]):
                if isinstance(name, str) and name:
                    self.handler_ref(name, path_index(path_key(path, "handlers"), i))

    def filter_ref(self, name: str, path: str) -> None:
        if name in self.filters:
            return
        if name in self.filter_types:
            self.undefined("filters", name, path)
        else:
            self.error(path, f"no filter has this name (known: {names_hint(self.filters, self.filter_types)})", name)

    def mutator_ref(self, name: str, path: str) -> None:
        if name in self.mutators:
            return
        if name not in self.mutator_types:
            self.error(path, f"no mutator has this name (known: {names_hint(self.mutators, self.mutator_types)})",
                       name)
            return
        self.undefined("mutators", name, path)
        if name == "ruby_hash":
            self.warnings.append(f"{path}: ruby_hash is treated as json (ogi has no Ruby hashes)")

    # -- handlers -----------------------------------------------------------------------------

    def handler_definitions(self) -> None:
        for name, handler, path in self.objects("handlers"):
            before = len(self.errors)
            self.apply(handler, path, HANDLER_RULES)
            kind = handler.get("type")
            type_path = path_key(path, "type")
            if "type" not in handler:
                self.error(type_path, "is required (pipe, tcp, udp, transport, set or an extension type)")
            elif kind == "extension":
                self.error(type_path, extension_handler_hint(name, self.handler_types), kind)
            elif isinstance(kind, str) and kind not in self.handler_types:
                self.error(type_path, f"unknown handler type (known: {names_hint({}, self.handler_types)})", kind)
            if kind == "set":
                if "handlers" not in handler:
                    self.error(path_key(path, "handlers"), "is required (an array of handler names) for a set")
                elif not isinstance(handler["handlers"], list):
                    self.error(path_key(path, "handlers"), "must be an array of handler names", handler["handlers"])
                else:  # Sensu: "handler set handlers must each be a string"
                    for i, member in enumerate(handler["handlers"]):
                        if not isinstance(member, str) or not member:
                            self.error(path_index(path_key(path, "handlers"), i), "must be a handler name", member)
                self.handler_refs({"handlers": handler.get("handlers")}, path)
            if isinstance(handler.get("mutator"), str):
                self.mutator_ref(handler["mutator"], path_key(path, "mutator"))
            if isinstance(handler.get("filter"), str):
                self.filter_ref(handler["filter"], path_key(path, "filter"))
            if isinstance(handler.get("filters"), list):
                for i, filter_name in enumerate(handler["filters"]):
                    if isinstance(filter_name, str) and filter_name:
                        self.filter_ref(filter_name, path_index(path_key(path, "filters"), i))
            if isinstance(handler.get("severities"), list):
                for i, severity in enumerate(handler["severities"]):
                    if isinstance(severity, str) and severity not in SEVERITY_NAMES:
                        self.error(path_index(path_key(path, "severities"), i),
                                   "must be one of ok, warning, critical, unknown", severity)
            if "subdue" in handler:
                self.error(path_key(path, "subdue"), HANDLER_SUBDUE_REMOVED, handler["subdue"])
            if isinstance(kind, str) and kind in self.handler_types and kind != "set":
                self.build(self.registry.get("handlers", kind), name, handler, path, f"a {kind} handler", before,
                           Handler.common_keys)
        self.set_cycles()

    def set_cycles(self) -> None:
        """Report each loop of sets once, at the member that closes it in name order."""
        members = {
            name: [n for n in h["handlers"] if isinstance(n, str)]
            for name, h in self.handlers.items()
            if isinstance(h, dict) and h.get("type") == "set" and isinstance(h.get("handlers"), list)
        }
        seen: set[tuple[str, ...]] = set()

        def walk(name: str, trail: list[str]) -> None:
            for child in members.get(name, ()):
                if child in trail:
                    loop = trail[trail.index(child):]
                    start = loop.index(min(loop))
                    canonical = tuple(loop[start:] + loop[:start])
                    if canonical not in seen:
                        seen.add(canonical)
                        first, second = canonical[0], (canonical + canonical)[1]
                        index = self.handlers[first]["handlers"].index(second)
                        chain = " -> ".join(canonical + (canonical[0],))
                        self.error(path_index(path_key(path_key("handlers", first), "handlers"), index),
                                   f"handler set loops: {chain}", second)
                elif child in members:
                    walk(child, trail + [child])

        for name in sorted(members):
            walk(name, [name])

    # -- filters and mutators -----------------------------------------------------------------

    def filter_definitions(self) -> None:
        for name, definition, path in self.objects("filters"):
            before = len(self.errors)
            attributes = definition.get("attributes")
            if not isinstance(attributes, dict):
                self.error(path_key(path, "attributes"), "is required (an object matched against the event)",
                           *(() if attributes is None else (attributes,)))
            else:
                self.expressions(attributes, path_key(path, "attributes"))
            self.apply(definition, path, {"negate": BOOL})
            if "when" in definition:
                self.window(definition["when"], path_key(path, "when"))
            self.build(AttributeFilter, name, definition, path, "a filter", before)

    def expressions(self, attributes: dict[str, Any], path: str) -> None:
        """Compile each `eval:` value as AttributeFilter does: a string value of an object,
        at any depth; a string inside an array is a plain value there, so it is not compiled."""
        for key, expected in attributes.items():
            where = path_key(path, key)
            if isinstance(expected, dict):
                self.expressions(expected, where)
            elif isinstance(expected, str) and (prefix := EVAL_PREFIX.match(expected)):
                try:
                    compile_expression(expected[prefix.end():])
                except ExpressionError as exc:
                    self.error(where, f"bad eval expression: {exc.message}", expected)
                except Exception as exc:  # a checker bug must not hide the rest of the report
                    self.error(where, f"expression could not be checked: {type(exc).__name__}: {exc}", expected)

    def mutator_definitions(self) -> None:
        for name, definition, path in self.objects("mutators"):
            before = len(self.errors)
            if "command" not in definition:
                self.error(path_key(path, "command"), "is required (a string)")
            self.apply(definition, path, {"command": STR, "timeout": POS_NUM})
            if "pipe" in self.mutator_types:
                self.build(self.registry.get("mutators", "pipe"), name, definition, path, "a command mutator", before)


def join_path(base: str, relative: str) -> str:
    """A definition-relative DefinitionError path (`socket.port`, `[0]`) under `base`."""
    if not relative:
        return base
    return f"{base}{relative}" if relative.startswith("[") else f"{base}.{relative}"
