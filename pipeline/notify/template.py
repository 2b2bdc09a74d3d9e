"""Templates over an event's fields: `"{client.name}/{check.name} is {severity}"`.

A placeholder is a dot path into the event (`{check.output}`, `{client.address}`,
`{check.custom_field}`) or one of the derived names in `derived()` (`{severity}`,
`{status_word}`, `{time}`, `{dedup_key}`). `{{` and `}}` stand for literal braces. A path
the event does not have fails the render with `TemplateError` naming the path, so a handler
fails that event with a clear log line instead of sending a message with a hole in it.
Templates are parsed once, when the handler is built, so a syntax error is a configuration
error.
"""

from __future__ import annotations

import json
import re
import time
from typing import Any

from pipeline.model import Event, dig, severity_name

_TOKEN = re.compile(r"\{\{|\}\}|\{([^{}]*)\}|[{}]")
_PATH = re.compile(r"^[A-Za-z_][\w-]*(\.[\w-]+)*$")


class TemplateError(ValueError):
    """A template that does not parse, or a field an event lacks."""


def dedup_key(event: Event) -> str:
    """One key per client and check: the same for a check's create and its resolve."""
    return f"{dig(event, 'client.name', '')}/{dig(event, 'check.name', '')}"


def derived(event: Event) -> dict[str, Any]:
    """Names every template may use besides the event's own fields."""
    status = dig(event, "check.status", 3)
    when = dig(event, "check.executed") or event.get("timestamp") or time.time()
    try:
        stamp = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(float(when)))
    except (TypeError, ValueError, OverflowError):
        stamp = str(when)
    severity = severity_name(status)
    return {
        "severity": severity,
        "status_word": "RESOLVED" if event.get("action") == "resolve" else severity.upper(),
        "time": stamp,
        "dedup_key": dedup_key(event),
    }


class Template:
    """A parsed template; `render(event)` fills it in."""

    def __init__(self, text: str) -> None:
        self.text = text
        self._parts: list[tuple[bool, str]] = []  # (is_field, literal or path)
        pos = 0
        for match in _TOKEN.finditer(text):
            self._literal(text[pos:match.start()])
            token = match.group(0)
            if token in ("{{", "}}"):
                self._literal(token[0])
            elif token in ("{", "}"):
                raise TemplateError(f"unmatched {token!r} at character {match.start()} (write {token * 2} for a brace)")
            else:
                path = match.group(1).strip()
                if not _PATH.match(path):
                    raise TemplateError(f"{{{match.group(1)}}} is not a field path (like check.output)")
                self._parts.append((True, path))
            pos = match.end()
        self._literal(text[pos:])

    def _literal(self, text: str) -> None:
        if text:
            self._parts.append((False, text))

    @property
    def fields(self) -> list[str]:
        return [value for is_field, value in self._parts if is_field]

    def render(self, event: Event, extra: dict[str, Any] | None = None) -> str:
        names = derived(event)
        if extra:
            names.update(extra)
        out: list[str] = []
        for is_field, value in self._parts:
            if not is_field:
                out.append(value)
                continue
            found = names[value] if value in names else dig(event, value, _MISSING)
            if found is _MISSING:
                raise TemplateError(f"the event has no field {value!r}")
            out.append(found if isinstance(found, str) else _text(found))
        return "".join(out)


_MISSING: Any = object()


def _text(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, list | dict):
        return json.dumps(value, default=str)
    return str(value)


def render_tree(tree: Any, event: Event, extra: dict[str, Any] | None = None) -> Any:
    """A JSON value whose strings are templates, rendered: each string stays a JSON string."""
    if isinstance(tree, Template):
        return tree.render(event, extra)
    if isinstance(tree, dict):
        return {key: render_tree(value, event, extra) for key, value in tree.items()}
    if isinstance(tree, list):
        return [render_tree(value, event, extra) for value in tree]
    return tree


def parse_tree(tree: Any) -> Any:
    """Parse every string of a JSON value as a template (TemplateError names the first bad one)."""
    if isinstance(tree, str):
        return Template(tree)
    if isinstance(tree, dict):
        return {key: parse_tree(value) for key, value in tree.items()}
    if isinstance(tree, list):
        return [parse_tree(value) for value in tree]
    return tree
