"""Start-up validation of merged settings: every error at once, each naming its JSON path and value.

The rules follow Sensu 1.x's settings validators (reference §2, §5), with one addition ogi
users asked for: a handler, filter or mutator name that nothing defines is an error at
start-up instead of a log line at the first event. Custom attributes on checks and clients
pass untouched; type-specific handler keys are checked by the handler classes themselves.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

from pipeline.config import path_index, path_key
from pipeline.errors import ConfigError
from pipeline.model import SEVERITY_NAMES, valid_name
from pipeline.registry import Registry

KNOWN_TOP_LEVEL = (
    "client", "checks", "handlers", "filters", "mutators", "transport", "store", "rabbitmq", "redis",
    "api", "metrics", "sensu", "extensions",
)
#: Sensu 1.x built-ins that real configs name, known even before their module exists.
BUILTIN_MUTATORS = frozenset({"json", "ruby_hash", "only_check_output"})
BUILTIN_FILTERS = frozenset({"occurrences", "check_dependencies", "is_incident", "has_metrics", "not_silenced"})
BUILTIN_HANDLER_TYPES = frozenset({"pipe", "tcp", "udp", "transport", "set"})

DAYS = frozenset({"all", "monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday"})
_AGGREGATE_RE = re.compile(r"^[\w.:|-]+\Z")
_TOKEN_RE = re.compile(r":::.*?:::")
_TIME_RE = re.compile(r"^\s*\d{1,2}(:\d{2}){0,2}\s*([aApP]\.?[mM]\.?)?(\s*[A-Za-z]{1,5}|\s*[+-]\d{2}:?\d{2})?\s*$")


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

CHECK_RULES: dict[str, Rule | str] = {
    "command": STR, "extension": STR, "interval": POS_INT, "timeout": POS_NUM, "ttl": POS_INT,
    "ttl_status": INT, "occurrences": OCCURRENCES, "refresh": POS_INT, "low_flap_threshold": INT,
    "high_flap_threshold": INT, "standalone": BOOL, "publish": BOOL, "handle": BOOL, "auto_resolve": BOOL,
    "force_resolve": BOOL, "stdin": BOOL, "truncate_output": BOOL, "truncate_output_length": POS_INT,
    "cron": STR, "handler": STR, "handlers": STR_LIST, "subscribers": STR_LIST, "dependencies": STR_LIST,
    "source": STR, "hooks": OBJ, "proxy_requests": OBJ,
}
HANDLER_RULES: dict[str, Rule | str] = {
    "type": STR, "mutator": STR, "filter": STR, "filters": STR_LIST, "severities": STR_LIST,
    "handle_flapping": BOOL, "handle_silenced": BOOL, "timeout": POS_NUM,
}
CLIENT_RULES: dict[str, Rule | str] = {
    "address": STR, "subscriptions": STR_LIST, "keepalives": BOOL, "keepalive": OBJ, "safe_mode": BOOL,
    "socket": OBJ, "http_socket": OBJ, "redact": STR_LIST, "signature": STR, "deregister": BOOL,
    "registration": OBJ, "deregistration": OBJ,
}
SOCKET_RULES: dict[str, Rule | str] = {"enabled": BOOL, "bind": STR, "port": PORT}


class _Validator:
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

    def windows(self, value: Any, path: str) -> None:
        """Sensu time windows: `{days: {all|monday..sunday: [{begin, end}]}}`."""
        if not isinstance(value, dict):
            self.error(path, "must be an object with \"days\"", value)
            return
        days, days_path = value.get("days"), path_key(path, "days")
        if not isinstance(days, dict) or not days:
            self.error(days_path, "must be an object naming at least one day of the week or \"all\"", days)
            return
        for day, conditions in days.items():
            day_path = path_key(days_path, day)
            if day not in DAYS:
                self.error(day_path, "is not a day of the week or \"all\"", day)
            if not isinstance(conditions, list):
                self.error(day_path, "must be an array of {begin, end} windows", conditions)
                continue
            for i, window in enumerate(conditions):
                where = path_index(day_path, i)
                if not isinstance(window, dict):
                    self.error(where, "must be an object with \"begin\" and \"end\"", window)
                    continue
                for edge in ("begin", "end"):
                    time = window.get(edge)
                    if not isinstance(time, str) or not _TIME_RE.match(time):
                        self.error(path_key(where, edge), "must be a time of day such as \"17:00\" or \"5:00 PM\"", time)

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

    # -- sections -----------------------------------------------------------------------------

    def top_level(self) -> None:
        for key in KNOWN_TOP_LEVEL:
            if key not in self.settings:
                continue
            value = self.settings[key]
            if key == "rabbitmq" and isinstance(value, list):
                for i, broker in enumerate(value):
                    self.broker(broker, path_index(key, i))
            elif not isinstance(value, dict):
                self.error(key, "must be an object" + (" or an array of brokers" if key == "rabbitmq" else ""), value)
            elif key in ("rabbitmq", "redis"):
                self.broker(value, key)
        if isinstance(self.settings.get("transport"), dict):
            self.apply(self.settings["transport"], "transport", {"name": STR, "reconnect_on_error": BOOL})
        api = self.settings.get("api")
        if isinstance(api, dict):
            self.apply(api, "api", {"port": PORT, "bind": STR, "host": STR, "user": STR, "password": STR})
        sensu = self.settings.get("sensu")
        if isinstance(sensu, dict):
            spawn = sensu.get("spawn")
            if "spawn" in sensu and not isinstance(spawn, dict):
                self.error("sensu.spawn", "must be an object", spawn)
            elif isinstance(spawn, dict):
                self.apply(spawn, "sensu.spawn", {"limit": POS_INT})
            if isinstance(sensu.get("keepalives"), dict):
                self.handler_refs(sensu["keepalives"], "sensu.keepalives")

    def broker(self, value: Any, path: str) -> None:
        if not isinstance(value, dict):
            self.error(path, "must be an object", value)
            return
        self.apply(value, path, {"host": STR, "port": PORT, "url": STR, "vhost": STR, "user": STR,
                                 "password": STR, "db": INT})

    def checks(self) -> None:
        defaulted: list[str] = []
        for name, check, path in self.objects("checks"):
            self.check(name, check, path)
            if "handler" not in check and "handlers" not in check:
                defaulted.append(name)
        if defaulted and "default" not in self.handlers and "default" not in self.handler_types:
            shown = ", ".join(defaulted[:10]) + (f" and {len(defaulted) - 10} more" if len(defaulted) > 10 else "")
            self.warnings.append(
                f"checks {shown} name no handler, so they use \"default\", which is not defined: "
                "their events go to no handler"
            )

    def check(self, name: str, check: dict[str, Any], path: str) -> None:
        if not valid_name(name):
            self.error(path, "check name must contain only letters, digits, '_', '.' and '-'", name)
        self.apply(check, path, CHECK_RULES)
        has_command, has_extension = "command" in check, "extension" in check
        if has_command and has_extension:
            self.error(path_key(path, "extension"), "a check has either \"command\" or \"extension\", not both",
                       check["extension"])
        elif not has_command and not has_extension:
            self.error(path_key(path, "command"), "is required (a string), unless \"extension\" is set")
        if check.get("publish") is not False and "cron" not in check and "interval" not in check:
            self.error(path_key(path, "interval"), "is required (an integer greater than 0) unless "
                       "\"cron\" is set or \"publish\" is false")
        if check.get("standalone") is not True and "subscribers" not in check:
            self.error(path_key(path, "subscribers"), "is required (an array of strings) unless \"standalone\" is true")
        if ("low_flap_threshold" in check) != ("high_flap_threshold" in check):
            missing = "high_flap_threshold" if "low_flap_threshold" in check else "low_flap_threshold"
            self.error(path_key(path, missing), "flap thresholds come in pairs: set both or neither")
        if "type" in check and check["type"] not in ("standard", "metric"):
            self.error(path_key(path, "type"), "must be \"standard\" or \"metric\"", check["type"])
        if "aggregate" in check:
            aggregate = check["aggregate"]
            if not isinstance(aggregate, bool) and not (isinstance(aggregate, str) and _AGGREGATE_RE.match(aggregate)):
                self.error(path_key(path, "aggregate"), "must be true, false or a name without spaces", aggregate)
        if "aggregates" in check:
            self.str_list(check["aggregates"], path_key(path, "aggregates"), _AGGREGATE_RE)
        source = check.get("source")
        if isinstance(source, str) and not valid_name(_TOKEN_RE.sub("x", source)):
            self.error(path_key(path, "source"), "must be a client name (letters, digits, '_', '.', '-', "
                       "or :::tokens:::)", source)
        if "subdue" in check:
            self.windows(check["subdue"], path_key(path, "subdue"))
        if isinstance(check.get("hooks"), dict):
            for key, hook in check["hooks"].items():
                hook_path = path_key(path_key(path, "hooks"), key)
                if not isinstance(hook, dict):
                    self.error(hook_path, "must be an object with \"command\"", hook)
                    continue
                if "command" not in hook:
                    self.error(path_key(hook_path, "command"), "is required (a string)")
                self.apply(hook, hook_path, {"command": STR, "timeout": POS_NUM, "stdin": BOOL})
        proxy = check.get("proxy_requests")
        if isinstance(proxy, dict):
            self.apply(proxy, path_key(path, "proxy_requests"), {"client_attributes": OBJ, "splay": BOOL,
                                                                 "splay_coverage": INT})
        self.handler_refs(check, path)

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
                self.windows(handler["subdue"], path_key(path, "subdue"))
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

    def filter_definitions(self) -> None:
        compile_expression, expression_error = _expression_compiler()
        for _name, definition, path in self.objects("filters"):
            attributes = definition.get("attributes")
            if not isinstance(attributes, dict):
                self.error(path_key(path, "attributes"), "is required (an object matched against the event)",
                           *(() if attributes is None else (attributes,)))
            elif compile_expression is not None:
                self.expressions(attributes, path_key(path, "attributes"), compile_expression, expression_error)
            self.apply(definition, path, {"negate": BOOL})
            if "when" in definition:
                self.windows(definition["when"], path_key(path, "when"))

    def expressions(self, value: Any, path: str, compile_expression: Callable[[str], Any], error: type[Exception]) -> None:
        if isinstance(value, dict):
            for key, sub in value.items():
                self.expressions(sub, path_key(path, key), compile_expression, error)
        elif isinstance(value, list):
            for i, sub in enumerate(value):
                self.expressions(sub, path_index(path, i), compile_expression, error)
        elif isinstance(value, str) and value.startswith("eval:"):
            try:
                compile_expression(value[len("eval:"):].strip())
            except error as exc:
                self.error(path, f"invalid expression: {exc}", value)
            except Exception as exc:  # a checker bug must not hide the rest of the report
                self.error(path, f"expression could not be checked: {type(exc).__name__}: {exc}", value)

    def mutator_definitions(self) -> None:
        for _name, definition, path in self.objects("mutators"):
            if "command" not in definition:
                self.error(path_key(path, "command"), "is required (a string)")
            self.apply(definition, path, {"command": STR, "timeout": POS_NUM})

    def client(self) -> None:
        client = self.settings.get("client")
        if not isinstance(client, dict):
            return
        if "name" in client and not valid_name(client["name"]):
            self.error("client.name", "must contain only letters, digits, '_', '.' and '-'", client["name"])
        self.apply(client, "client", CLIENT_RULES)
        for key in ("socket", "http_socket"):
            if isinstance(client.get(key), dict):
                self.apply(client[key], f"client.{key}", SOCKET_RULES)
        keepalive = client.get("keepalive")
        if isinstance(keepalive, dict):
            self.apply(keepalive, "client.keepalive", {"handler": STR, "handlers": STR_LIST, "thresholds": OBJ})
            if isinstance(keepalive.get("thresholds"), dict):
                self.apply(keepalive["thresholds"], "client.keepalive.thresholds", {"warning": INT, "critical": INT})
            self.handler_refs(keepalive, "client.keepalive")
        for key in ("registration", "deregistration"):
            if isinstance(client.get(key), dict):
                self.apply(client[key], f"client.{key}", {"handler": STR, "handlers": STR_LIST, "status": INT})
                self.handler_refs(client[key], f"client.{key}")


def _names(defined: dict[str, Any], builtin: frozenset[str] | set[str], limit: int = 15) -> str:
    names = sorted(set(defined) | set(builtin))
    return ", ".join(names[:limit]) + (f", ... {len(names) - limit} more" if len(names) > limit else "")


def _expression_compiler() -> tuple[Callable[[str], Any] | None, type[Exception]]:
    """pipeline.expr's compiler when it exists (it is written separately and may be absent)."""
    try:
        from pipeline.expr import ExpressionError, compile_expression
    except ImportError:
        return None, Exception
    return compile_expression, ExpressionError


def validate(settings: dict[str, Any], registry: Registry) -> tuple[list[ConfigError], list[str]]:
    """Every error and warning in merged settings; never stops at the first."""
    v = _Validator(settings, registry)
    v.top_level()
    v.checks()
    v.handler_definitions()
    v.filter_definitions()
    v.mutator_definitions()
    v.client()
    return v.errors, v.warnings
