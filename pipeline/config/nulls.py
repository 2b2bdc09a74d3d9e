"""Sensu 1.9's rule for optional keys in definitions: `null` counts as not set.

sensu-settings checks an optional key with `must_be_..._if_set` or `if definition[:key]`, so a
definition written with `"timeout": null` (generated configs, templating that fills in `null`
for "none") passes and means the default. ogi drops those nulls before the validation pass, so
`check-config`, the typed settings and every daemon see the key as absent, as Sensu did.
Custom keys keep their nulls: they pass through to events as written.
"""

from __future__ import annotations

from typing import Any

from pipeline.optional_keys import OPTIONAL_CHECK_KEYS

#: Per definition section, the keys sensu-settings validates only when set.
OPTIONAL_KEYS: dict[str, frozenset[str]] = {
    "checks": OPTIONAL_CHECK_KEYS,
    "handlers": frozenset({"timeout", "mutator", "filters", "filter", "severities", "handle_flapping",
                           "handle_silenced", "subdue"}),
    "filters": frozenset({"negate", "when"}),
    "mutators": frozenset({"timeout"}),
}
#: Top-level sections whose own null keys mean "not set" (and which may themselves be null).
OPTIONAL_SECTION_KEYS: dict[str, frozenset[str]] = {
    "api": frozenset({"port", "bind", "user", "password"}),
    "transport": frozenset({"name"}),
}


def _without(definition: Any, keys: frozenset[str]) -> Any:
    if not isinstance(definition, dict) or not any(definition.get(key, 0) is None for key in keys):
        return definition
    return {key: value for key, value in definition.items() if value is not None or key not in keys}


def without_null_settings(settings: dict[str, Any]) -> dict[str, Any]:
    """`settings` without the optional keys set to null (the same dict when there are none)."""
    out = dict(settings)
    for section, keys in OPTIONAL_KEYS.items():
        definitions = settings.get(section)
        if isinstance(definitions, dict):
            kept = {}
            for name, definition in definitions.items():
                kept[name] = _without(definition, keys)
                if section == "handlers":
                    kept[name] = _without_pipe_options(kept[name])
            if any(kept[name] is not definitions[name] for name in definitions):
                out[section] = kept
    for section, keys in OPTIONAL_SECTION_KEYS.items():
        if section in settings and settings[section] is None:
            del out[section]
        elif section in settings:
            out[section] = _without(settings[section], keys)
    if len(out) == len(settings) and all(out[key] is settings[key] for key in settings):
        return settings
    return out


def _without_pipe_options(handler: Any) -> Any:
    pipe = handler.get("pipe") if isinstance(handler, dict) else None
    if isinstance(pipe, dict) and "options" in pipe and pipe["options"] is None:
        return {**handler, "pipe": {key: value for key, value in pipe.items() if key != "options"}}
    return handler
