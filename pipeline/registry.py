"""Types by name: built-ins found by naming convention, third parties through entry points.

`"type": "graphite"` lives in `handlers/graphite.py` as `GraphiteHandler`; the built-in
filter `occurrences` in `filters/occurrences.py` as `OccurrencesFilter`; the mutator
`only_check_output` in `mutators/only_check_output.py` as `OnlyCheckOutputMutator`. Other
packages add types through the entry-point groups `ogi.handlers`, `ogi.mutators`,
`ogi.filters`. The engine asks this registry and imports nothing concrete itself.
"""

from __future__ import annotations

import importlib
import importlib.util
import pkgutil
from importlib.metadata import entry_points
from typing import Literal

from pipeline.extension import Extension

Kind = Literal["handlers", "mutators", "filters"]
KINDS: tuple[Kind, ...] = ("handlers", "mutators", "filters")
_SUFFIX = {"handlers": "Handler", "mutators": "Mutator", "filters": "Filter"}


class UnknownType(LookupError):
    """Raised for a name no built-in or entry point provides; lists the known names."""

    def __init__(self, kind: Kind, name: str, known: list[str]) -> None:
        singular = kind[:-1]
        super().__init__(f"unknown {singular} type {name!r} (known: {', '.join(known) or 'none'})")
        self.kind = kind
        self.name = name
        self.known = known


def class_name(kind: Kind, name: str) -> str:
    return "".join(part.capitalize() for part in name.split("_")) + _SUFFIX[kind]


class Registry:
    """Maps (kind, name) to an Extension class."""

    def __init__(self, use_entry_points: bool = True) -> None:
        self._explicit: dict[Kind, dict[str, type[Extension]]] = {k: {} for k in KINDS}
        self._use_entry_points = use_entry_points
        self._cache: dict[tuple[Kind, str], type[Extension]] = {}

    def register(self, kind: Kind, name: str, cls: type[Extension]) -> None:
        self._explicit[kind][name] = cls
        self._cache.pop((kind, name), None)

    def _builtin_names(self, kind: Kind) -> list[str]:
        spec = importlib.util.find_spec(kind)
        if spec is None or not spec.submodule_search_locations:
            return []
        return [m.name for m in pkgutil.iter_modules(spec.submodule_search_locations) if not m.name.startswith("_")]

    def _entry_points(self, kind: Kind) -> dict[str, str]:
        if not self._use_entry_points:
            return {}
        return {ep.name: ep.value for ep in entry_points(group=f"ogi.{kind}")}

    def known(self, kind: Kind) -> list[str]:
        names = set(self._explicit[kind]) | set(self._builtin_names(kind)) | set(self._entry_points(kind))
        return sorted(names)

    def has(self, kind: Kind, name: str) -> bool:
        return name in self.known(kind)

    def get(self, kind: Kind, name: str) -> type[Extension]:
        key = (kind, name)
        if key in self._cache:
            return self._cache[key]
        cls = self._explicit[kind].get(name) or self._load(kind, name)
        if cls is None:
            raise UnknownType(kind, name, self.known(kind))
        self._cache[key] = cls
        return cls

    def _load(self, kind: Kind, name: str) -> type[Extension] | None:
        target = self._entry_points(kind).get(name)
        if target is None and name in self._builtin_names(kind):
            target = f"{kind}.{name}:{class_name(kind, name)}"
        if target is None:
            return None
        module_name, _, attr = target.partition(":")
        module = importlib.import_module(module_name)
        cls = getattr(module, attr)
        if not (isinstance(cls, type) and issubclass(cls, Extension)):
            raise TypeError(f"{target} is not an ogi Extension class")
        return cls


default_registry = Registry()
