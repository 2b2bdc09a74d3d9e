"""The shape rules of settings and the collector every validation step reports into.

A rule is a predicate and the message shown when a value fails it; `Collector.apply` runs a
table of rules over one definition, so each bad key is reported with its own JSON path and
value and validation never stops at the first mistake.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

from pipeline.errors import ConfigError, path_index, path_key
from pipeline.expr.when import WhenError, compile_when
from pipeline.model import is_int, is_number

Rule = tuple[Callable[[Any], bool], str]
BOOL: Rule = (lambda v: isinstance(v, bool), "must be true or false")
STR: Rule = (lambda v: isinstance(v, str), "must be a string")
OBJ: Rule = (lambda v: isinstance(v, dict), "must be an object")
INT: Rule = (is_int, "must be an integer")
POS_INT: Rule = (lambda v: is_int(v) and v > 0, "must be an integer greater than 0")
POS_NUM: Rule = (lambda v: is_number(v) and v > 0, "must be a number greater than 0")
PORT: Rule = (lambda v: is_int(v) and 1 <= v <= 65535, "must be an integer port number (1-65535)")
OCCURRENCES: Rule = (lambda v: is_int(v) and v >= 1, "must be an integer of at least 1")
STR_LIST = "string list"  # checked element by element so each bad entry has its own path


class Collector:
    """Collects errors and warnings over one configuration; the shape helpers."""

    def __init__(self, settings: dict[str, Any]) -> None:
        self.settings = settings
        self.errors: list[ConfigError] = []
        self.warnings: list[str] = []

    def section(self, key: str) -> dict[str, Any]:
        value = self.settings.get(key)
        return value if isinstance(value, dict) else {}

    def error(self, path: str, message: str, *value: Any) -> None:
        self.errors.append(ConfigError(path, message, *value))

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
        for name, definition in self.section(key).items():
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


def names_hint(defined: Any, builtin: Any, limit: int = 15) -> str:
    """Up to `limit` known names, sorted, for an error message."""
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


CHECK_RULES: dict[str, Rule | str] = {
    "command": STR, "extension": STR, "interval": POS_INT, "timeout": POS_NUM, "ttl": POS_INT,
    "ttl_status": INT, "occurrences": OCCURRENCES, "refresh": POS_INT, "low_flap_threshold": INT,
    "high_flap_threshold": INT, "standalone": BOOL, "publish": BOOL, "handle": BOOL, "auto_resolve": BOOL,
    "force_resolve": BOOL, "stdin": BOOL, "unsafe_tokens": BOOL, "truncate_output": BOOL, "truncate_output_length": POS_INT,
    "cron": STR, "handler": STR, "handlers": STR_LIST, "subscribers": STR_LIST, "dependencies": STR_LIST,
    "source": STR, "hooks": OBJ, "proxy_requests": OBJ,
}
CLIENT_RULES: dict[str, Rule | str] = {
    "address": STR, "subscriptions": STR_LIST, "keepalives": BOOL, "keepalive": OBJ, "safe_mode": BOOL,
    "socket": OBJ, "http_socket": OBJ, "redact": STR_LIST, "signature": STR, "deregister": BOOL,
    "registration": OBJ, "deregistration": OBJ,
}
SOCKET_RULES: dict[str, Rule | str] = {
    "enabled": BOOL, "bind": STR, "port": PORT, "max_connections": POS_INT, "message_deadline": POS_NUM,
}
