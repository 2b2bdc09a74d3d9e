"""Reading the keys of a notification handler's definition, each error naming its key."""

from __future__ import annotations

from typing import Any

from pipeline.extension import DefinitionError
from pipeline.model import JSON
from pipeline.notify.template import Template, TemplateError, parse_tree


def text(definition: JSON, key: str, default: str | None = None, path: str | None = None) -> str:
    value = definition.get(key, default)
    where = path or key
    if value is None:
        raise DefinitionError(where, "is required")
    if not isinstance(value, str) or not value:
        raise DefinitionError(where, "must be a non-empty string", value)
    return value


def number(definition: JSON, key: str, default: float, path: str | None = None, minimum: float = 0.0) -> float:
    value = definition.get(key, default)
    if isinstance(value, bool) or not isinstance(value, int | float) or value < minimum:
        raise DefinitionError(path or key, f"must be a number of at least {minimum:g}", value)
    return float(value)


def integer(definition: JSON, key: str, default: int, path: str | None = None, minimum: int = 0) -> int:
    value = definition.get(key, default)
    if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
        raise DefinitionError(path or key, f"must be an integer of at least {minimum}", value)
    return value


def flag(definition: JSON, key: str, default: bool, path: str | None = None) -> bool:
    value = definition.get(key, default)
    if not isinstance(value, bool):
        raise DefinitionError(path or key, "must be true or false", value)
    return value


def template(definition: JSON, key: str, default: str) -> Template:
    value = definition.get(key, default)
    if not isinstance(value, str):
        raise DefinitionError(key, "must be a template string (like \"{check.name} is {severity}\")", value)
    try:
        return Template(value)
    except TemplateError as err:
        raise DefinitionError(key, str(err), value) from err


def template_tree(definition: JSON, key: str) -> Any:
    """A JSON value whose strings are templates (the webhook's `body`), or None when absent."""
    if key not in definition:
        return None
    try:
        return parse_tree(definition[key])
    except TemplateError as err:
        raise DefinitionError(key, str(err), definition[key]) from err


def section(definition: JSON, key: str, allowed: frozenset[str], required: bool = False) -> JSON:
    value = definition.get(key)
    if value is None:
        if required:
            raise DefinitionError(key, "is required (an object)")
        return {}
    if not isinstance(value, dict):
        raise DefinitionError(key, "must be an object", value)
    unknown = sorted(set(value) - allowed)
    if unknown:
        raise DefinitionError(f"{key}.{unknown[0]}", f"unknown key ({key} takes {', '.join(sorted(allowed))})",
                              value[unknown[0]])
    return value
