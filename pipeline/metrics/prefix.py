"""A Graphite `prefix` with Sensu tokens: `"ogi.:::client.name:::"` -> `ogi.web-01` per event.

Perfdata labels (`load1`) carry no host, so the prefix is where a fleet's points get theirs.
Token paths are read from the event's client (`:::name:::`, `:::client.name:::`) and check
(`:::check.name:::`); `:::path|default:::` gives a default. A token value is one node: its dots
become `_` (`web-01.example.org` -> `web-01_example_org`), as ogi's plugins do for host names.
A token that matches nothing and has no default is left out, and so is the empty node it leaves.
"""

from __future__ import annotations

import re
from typing import Any

from pipeline.expr.tokens import TOKEN_RE

__all__ = ["PrefixTemplate"]

_UNSAFE = re.compile(r"[^A-Za-z0-9_:.-]")


def _lookup(scope: dict[str, Any], path: str) -> Any:
    value: Any = scope
    for part in path.split("."):
        if not isinstance(value, dict):
            return None
        value = value.get(part)
    return value


def _node(value: Any) -> str:
    if isinstance(value, bool):
        value = "true" if value else "false"
    return _UNSAFE.sub("_", str(value)).replace(".", "_")


class PrefixTemplate:
    """A prefix as written; `render` gives the prefix of one event's paths (None: no prefix)."""

    def __init__(self, template: str) -> None:
        self.template = template
        self.static = ":::" not in template

    def render(self, check: dict[str, Any], client: dict[str, Any] | None) -> str | None:
        if self.static:
            return _clean(_UNSAFE.sub("_", self.template))
        scope: dict[str, Any] = {**(client or {}), "check": check}
        scope.setdefault("client", client or {})

        def replace(match: re.Match[str]) -> str:
            path, sep, default = match.group(1).partition("|")
            value = _lookup(scope, path)
            if value is None or isinstance(value, dict | list):
                return _node(default) if sep else ""
            return _node(value)

        # the text between tokens is the operator's own: only sanitised, its dots kept
        parts: list[str] = []
        last = 0
        for match in TOKEN_RE.finditer(self.template):
            parts.append(_UNSAFE.sub("_", self.template[last:match.start()]))
            parts.append(replace(match))
            last = match.end()
        parts.append(_UNSAFE.sub("_", self.template[last:]))
        return _clean("".join(parts))


def _clean(prefix: str) -> str | None:
    nodes = [node for node in prefix.split(".") if node]
    return ".".join(nodes) or None
