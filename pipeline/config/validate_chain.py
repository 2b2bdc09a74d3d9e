"""Validation of the handler chain: handler, filter and mutator definitions, the names that
refer to them, set loops, `eval:` expressions and time windows.

`pipeline.config.validate.validate` is the entry point; this module holds the part of it about the
chain and the shape helpers both parts use. Where the engine compiles something (an `eval:`
expression, a `when` window), the check here calls the same compiler, so what
`ogi check-config` accepts is exactly what runs.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

from pipeline.errors import ConfigError, path_index, path_key
from pipeline.expr.expression import EVAL_PREFIX, ExpressionError, compile_expression
from pipeline.expr.when import WhenError, compile_when
from pipeline.model import SEVERITY_NAMES
from pipeline.registry import Registry

#: Sensu 1.x built-ins that real configs name, known even before their module exists.
BUILTIN_MUTATORS = frozenset({"json", "ruby_hash", "only_check_output"})
BUILTIN_FILTERS = frozenset({"occurrences", "check_dependencies", "is_incident", "has_metrics", "not_silenced"})
BUILTIN_HANDLER_TYPES = frozenset({"pipe", "tcp", "udp", "transport", "set"})

HANDLER_SUBDUE_REMOVED = "handler subdue was removed in Sensu 0.26; use a filter with `when`"


def _is_int(v: Any) -> bool:
    return isinstance(v, int) and not isinstance(v, bool)


def _is_num(v: Any) -> bool:
    return isinstance(v, int | float) and not isinstance(v, bool)


Rule = tuple[Callable[[Any], bool], str]
BOOL: Rule = (lambda v: isinstance(v, bool), "must be true or false")
STR: Rule = (lambda v: isinstance(v, str), "must be a string")
OBJ: Rule = (lambda v: isinstance(v, dict), "must be an object")
INT: Rule = (_is_int, "must be an integer")
POS_INT: Rule = (lambda v: _is_int(v) and v > 0, "must be an integer greater than 0")
POS_NUM: Rule = (lambda v: _is_num(v) and v > 0, "must be a number greater than 0")
PORT: Rule = (lambda v: _is_int(v) and 1 <= v <= 65535, "must be an integer port number (1-65535)")
OCCURRENCES: Rule = (lambda v: _is_int(v) and v >= 1, "must be an integer of at least 1")
STR_LIST = "string list"  # checked element by element so each bad entry has its own path

HANDLER_RULES: dict[str, Rule | str] = {
    "type": STR, "mutator": STR, "filter": STR, "filters": STR_LIST, "severities": STR_LIST,
    "handle_flapping": BOOL, "handle_silenced": BOOL, "timeout": POS_NUM,
}


class ChainValidator:
    """Collects errors and warnings; the shape helpers and the chain's sections."""

    def __init__(self, settings: dict[str, Any], registry: Registry) -> None:
        self.settings = settings
        self.errors: list[ConfigError] = []
        self.warnings: list[str] = []
        self.handlers = self._section("handlers")
        self.filters = self._section("filters")
        self.mutators = self._section("mutators")
        self.handler_types = BUILTIN_HANDLER_TYPES | set(registry.known("handlers"))
        self.builtin_filters = BUILTIN_FILTERS | set(registry.known("filters"))
        self.builtin_mutators = BUILTIN_MUTATORS | set(registry.known("mutators"))

    def _section(self, key: str) -> dict[str, Any]:
        value = self.settings.get(key)
        return value if isinstance(value, dict) else {}

    def error(self, path: str, message: str, *value: Any) -> None:
        self.errors.append(ConfigError(path, message, *value))

    # -- shapes -------------------------------------------------------------------------------

    def apply(self, definition: dict[str, Any], path: str, rules: dict[str, Rule | str]) -> None:
        for key, rule in rules.items():
            if key not in definition:
                continue
            value, where = definition[key], path_key(path, key)
            if rule == STR_LIST:
                self.str_list(value, where)
            elif isinstance(rule, tuple) and not rule[0](value):
                self.error(where, rule[1], value)

    def str_list(self, value: Any, path: str, pattern: re.Pattern[str] | None = None) -> list[str]:
        """Report a non-array or each bad element; return the good strings."""
        if not isinstance(value, list):
            self.error(path, "must be an array of strings", value)
            return []
        good = []
        for i, item in enumerate(value):
            if not isinstance(item, str) or not item:
                self.error(path_index(path, i), "must be a non-empty string", item)
            elif pattern is not None and not pattern.match(item):
                self.error(path_index(path, i), "must not contain spaces or special characters", item)
            else:
                good.append(item)
        return good

    def objects(self, key: str) -> list[tuple[str, dict[str, Any], str]]:
        """(name, definition, path) of each definition in a top-level section; non-objects reported."""
        out = []
        for name, definition in self._section(key).items():
            path = path_key(key, name)
            if isinstance(definition, dict):
                out.append((name, definition, path))
            else:
                self.error(path, "definition must be an object", definition)
        return out

    def window(self, value: Any, path: str) -> None:
        """A `when` or `subdue` object, read by pipeline.expr.when exactly as it will run."""
        if isinstance(value, dict) and "days" not in value:
            # Most often Sensu 0.x's `{"at": ..., "begin": ..., "end": ...}`: point at what 1.x wants.
            self.error(path_key(path, "days"),
                       'is required (an object of "all" or monday..sunday to [{"begin", "end"}] windows)')
            return
        try:
            compiled = compile_when(value)
        except WhenError as exc:
            where = _when_path(path, value, exc.path)
            if exc.message == "is missing":
                self.error(where, "is required (a time of day such as 17:00 or 5PM)")
            else:
                self.error(where, exc.message, exc.value)
            return
        if not any(compiled.days.values()):
            self.warnings.append(f"{path}: has no {{begin, end}} window on any day, so it never applies")

    # -- references ---------------------------------------------------------------------------

    def handler_ref(self, name: str, path: str) -> None:
        # An extension type runs under its own name (Sensu's extension handlers); the core
        # types only mean something with a definition (a command, a socket, members).
        usable = self.handler_types - BUILTIN_HANDLER_TYPES
        if name in self.handlers or name in usable:
            return
        if name in BUILTIN_HANDLER_TYPES:
            self.error(path, f"names a handler type, not a handler: define handlers.{name} first", name)
        else:
            self.error(path, f"no handler has this name (known: {_names(self.handlers, usable)})", name)

    def handler_refs(self, definition: dict[str, Any], path: str) -> None:
        if isinstance(definition.get("handler"), str):
            self.handler_ref(definition["handler"], path_key(path, "handler"))
        if isinstance(definition.get("handlers"), list):
            for i, name in enumerate(definition["handlers"]):
                if isinstance(name, str) and name:
                    self.handler_ref(name, path_index(path_key(path, "handlers"), i))

    def filter_ref(self, name: str, path: str) -> None:
        if name not in self.filters and name not in self.builtin_filters:
            self.error(path, f"no filter has this name (known: {_names(self.filters, self.builtin_filters)})", name)

    def mutator_ref(self, name: str, path: str) -> None:
        if name in self.mutators:
            return
        if name not in self.builtin_mutators:
            self.error(path, f"no mutator has this name (known: {_names(self.mutators, self.builtin_mutators)})", name)
        elif name == "ruby_hash":
            self.warnings.append(f"{path}: ruby_hash is treated as json (ogi has no Ruby hashes)")

    # -- handlers -----------------------------------------------------------------------------

    def handler_definitions(self) -> None:
        for _name, handler, path in self.objects("handlers"):
            self.apply(handler, path, HANDLER_RULES)
            kind = handler.get("type")
            type_path = path_key(path, "type")
            if "type" not in handler:
                self.error(type_path, "is required (pipe, tcp, udp, transport, set or an extension type)")
            elif isinstance(kind, str) and kind not in self.handler_types:
                self.error(type_path, f"unknown handler type (known: {_names({}, self.handler_types)})", kind)
            if kind == "pipe" and "command" not in handler:
                self.error(path_key(path, "command"), "is required (a string) for a pipe handler")
            elif kind == "pipe":
                self.apply(handler, path, {"command": STR})
            elif kind in ("tcp", "udp"):
                self.socket(handler, path_key(path, "socket"))
            elif kind == "transport":
                self.transport_pipe(handler, path_key(path, "pipe"))
            elif kind == "set":
                if "handlers" not in handler:
                    self.error(path_key(path, "handlers"), "is required (an array of handler names) for a set")
                elif not isinstance(handler["handlers"], list):
                    self.error(path_key(path, "handlers"), "must be an array of handler names", handler["handlers"])
                self.handler_refs({"handlers": handler.get("handlers")}, path)
            if isinstance(handler.get("mutator"), str):
                self.mutator_ref(handler["mutator"], path_key(path, "mutator"))
            if isinstance(handler.get("filter"), str):
                self.filter_ref(handler["filter"], path_key(path, "filter"))
            if isinstance(handler.get("filters"), list):
                for i, name in enumerate(handler["filters"]):
                    if isinstance(name, str) and name:
                        self.filter_ref(name, path_index(path_key(path, "filters"), i))
            if isinstance(handler.get("severities"), list):
                for i, severity in enumerate(handler["severities"]):
                    if isinstance(severity, str) and severity not in SEVERITY_NAMES:
                        self.error(path_index(path_key(path, "severities"), i),
                                   "must be one of ok, warning, critical, unknown", severity)
            if "subdue" in handler:
                self.error(path_key(path, "subdue"), HANDLER_SUBDUE_REMOVED, handler["subdue"])
        self.set_cycles()

    def required_object(self, parent: dict[str, Any], key: str, path: str, what: str) -> dict[str, Any] | None:
        if key not in parent:
            self.error(path, f"is required (an object with {what})")
        elif not isinstance(parent[key], dict):
            self.error(path, f"must be an object with {what}", parent[key])
        else:
            return parent[key]
        return None

    def socket(self, handler: dict[str, Any], path: str) -> None:
        socket = self.required_object(handler, "socket", path, "\"host\" and \"port\"")
        if socket is None:
            return
        for key, rule in (("host", STR), ("port", PORT)):
            if key not in socket:
                self.error(path_key(path, key), f"is required ({'a string' if key == 'host' else 'an integer port'})")
            elif not rule[0](socket[key]):
                self.error(path_key(path, key), rule[1], socket[key])

    def transport_pipe(self, handler: dict[str, Any], path: str) -> None:
        pipe = self.required_object(handler, "pipe", path, "\"type\" and \"name\"")
        if pipe is None:
            return
        for key, ok, wanted in (("type", pipe.get("type") in ("direct", "fanout", "topic"),
                                 "\"direct\", \"fanout\" or \"topic\""),
                                ("name", isinstance(pipe.get("name"), str) and pipe.get("name"), "a non-empty string")):
            if key not in pipe:
                self.error(path_key(path, key), f"is required ({wanted})")
            elif not ok:
                self.error(path_key(path, key), f"must be {wanted}", pipe[key])
        self.apply(pipe, path, {"options": OBJ})

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
        for _name, definition, path in self.objects("filters"):
            attributes = definition.get("attributes")
            if not isinstance(attributes, dict):
                self.error(path_key(path, "attributes"), "is required (an object matched against the event)",
                           *(() if attributes is None else (attributes,)))
            else:
                self.expressions(attributes, path_key(path, "attributes"))
            self.apply(definition, path, {"negate": BOOL})
            if "when" in definition:
                self.window(definition["when"], path_key(path, "when"))

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
        for _name, definition, path in self.objects("mutators"):
            if "command" not in definition:
                self.error(path_key(path, "command"), "is required (a string)")
            self.apply(definition, path, {"command": STR, "timeout": POS_NUM})


def _names(defined: dict[str, Any], builtin: frozenset[str] | set[str], limit: int = 15) -> str:
    names = sorted(set(defined) | set(builtin))
    return ", ".join(names[:limit]) + (f", ... {len(names) - limit} more" if len(names) > limit else "")


def _when_path(base: str, when: Any, relative: str) -> str:
    """The full JSON path of a WhenError path (`days.monday[0].begin`), day names quoted as config paths are."""
    if not relative:
        return base
    days = when.get("days") if isinstance(when, dict) else None
    if relative.startswith("days.") and isinstance(days, dict):
        rest = relative[len("days."):]
        matches = [d for d in days if rest == d or rest.startswith(f"{d}[")]
        if matches:
            day = max(matches, key=len)
            return path_key(path_key(base, "days"), day) + rest[len(day):]
    if isinstance(when, dict) and relative in when:
        return path_key(base, relative)
    return f"{base}.{relative}"
