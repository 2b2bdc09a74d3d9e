"""Types by name: built-ins in one explicit table, third parties through entry points.

`"type": "graphite"` is `handlers.graphite:GraphiteHandler`, the filter `occurrences` is
`filters.occurrences:OccurrencesFilter`: the file is named like the type string and the class
like the file (`tests/builtins/test_registry.py` holds the table and the folders to that).
Built-ins are imported on first use, always from the `handlers/`, `mutators/` and `filters/`
folders installed beside `pipeline/`, so a folder of the same name in the working directory
(first on `sys.path` under `python -m` or `python -c`) never replaces one.

Other packages add types through the entry-point groups `ogi.handlers`, `ogi.mutators` and
`ogi.filters`. An entry point that names a built-in, or two that share a name, is a start-up
error (`Registry.errors()`, reported by `ogi check-config` and refused by every daemon): a
silent winner would make the configuration mean something else on another host.
"""

from __future__ import annotations

import importlib
import importlib.util
import sys
from dataclasses import dataclass
from importlib.metadata import entry_points
from pathlib import Path
from typing import Literal

from pipeline.errors import ConfigError
from pipeline.extension import Extension

Kind = Literal["handlers", "mutators", "filters"]
KINDS: tuple[Kind, ...] = ("handlers", "mutators", "filters")

#: Every built-in type: name -> "module:Class". A new built-in is one file plus one line here.
BUILTINS: dict[Kind, dict[str, str]] = {
    "handlers": {
        "debug": "handlers.debug:DebugHandler",
        "graphite": "handlers.graphite:GraphiteHandler",
        "mail": "handlers.mail:MailHandler",
        "pipe": "handlers.pipe:PipeHandler",
        "prometheus": "handlers.prometheus:PrometheusHandler",
        "tcp": "handlers.tcp:TcpHandler",
        "transport": "handlers.transport:TransportHandler",
        "udp": "handlers.udp:UdpHandler",
        "webhook": "handlers.webhook:WebhookHandler",
    },
    "mutators": {
        "json": "mutators.json:JsonMutator",
        "only_check_output": "mutators.only_check_output:OnlyCheckOutputMutator",
        "pipe": "mutators.pipe:PipeMutator",
        "ruby_hash": "mutators.ruby_hash:RubyHashMutator",
    },
    "filters": {
        "check_dependencies": "filters.check_dependencies:CheckDependenciesFilter",
        "has_metrics": "filters.has_metrics:HasMetricsFilter",
        "is_incident": "filters.is_incident:IsIncidentFilter",
        "not_silenced": "filters.not_silenced:NotSilencedFilter",
        "occurrences": "filters.occurrences:OccurrencesFilter",
    },
}

#: The folder holding `pipeline/` and the built-in packages beside it (the checkout or site-packages).
HOME = Path(__file__).resolve().parent.parent


class UnknownType(LookupError):
    """Raised for a name no built-in or entry point provides; lists the known names."""

    def __init__(self, kind: Kind, name: str, known: list[str]) -> None:
        singular = kind[:-1]
        super().__init__(f"unknown {singular} type {name!r} (known: {', '.join(known) or 'none'})")
        self.kind = kind
        self.name = name
        self.known = known


class AmbiguousType(LookupError):
    """Raised for a name two installed distributions both register as an entry point."""


@dataclass(frozen=True)
class EntryPointType:
    """One third-party type: its name, its "module:Class" target, and the distribution declaring it."""

    kind: Kind
    name: str
    target: str
    dist: str

    def describe(self) -> str:
        return f"{self.target} (from {self.dist})"


def class_name(kind: Kind, name: str) -> str:
    """The class a built-in type's file holds: `only_check_output` -> `OnlyCheckOutputMutator`."""
    return "".join(part.capitalize() for part in name.split("_")) + {
        "handlers": "Handler", "mutators": "Mutator", "filters": "Filter"}[kind]


def import_builtin(module_name: str) -> object:
    """Import a built-in module from ogi's own folder, whatever `sys.path` puts first.

    The top-level package (`handlers`, ...) is bound to ogi's folder before the submodule
    is imported; submodules are then found through that package's own `__path__`.
    """
    top = module_name.partition(".")[0]
    home = HOME / top
    package = sys.modules.get(top)
    if package is None:
        spec = importlib.util.spec_from_file_location(top, home / "__init__.py",
                                                      submodule_search_locations=[str(home)])
        if spec is None or spec.loader is None:
            raise ImportError(f"ogi's built-in package {top!r} is missing from {home}")
        package = importlib.util.module_from_spec(spec)
        sys.modules[top] = package
        try:
            spec.loader.exec_module(package)
        except BaseException:
            del sys.modules[top]
            raise
    elif not any(Path(p).resolve() == home for p in getattr(package, "__path__", [])):
        raise ImportError(f"{top!r} was already imported from {getattr(package, '__file__', '?')}, "
                          f"not from ogi's built-ins in {home}")
    return importlib.import_module(module_name)


def scan_entry_points() -> dict[Kind, list[EntryPointType]]:
    """Every type the installed distributions declare in the `ogi.*` groups."""
    found: dict[Kind, list[EntryPointType]] = {k: [] for k in KINDS}
    for kind in KINDS:
        for ep in entry_points(group=f"ogi.{kind}"):
            dist = ep.dist.name if ep.dist is not None else "?"
            found[kind].append(EntryPointType(kind, ep.name, ep.value, dist))
    return found


class Registry:
    """Maps (kind, name) to an Extension class: explicit registrations, built-ins, entry points.

    `register` is for embedding ogi and for tests: it replaces a built-in of the same name
    on purpose, in code. Installed packages cannot: see `errors`.
    """

    def __init__(self, use_entry_points: bool = True) -> None:
        self._explicit: dict[Kind, dict[str, type[Extension]]] = {k: {} for k in KINDS}
        self._use_entry_points = use_entry_points
        # the installed distributions do not change while ogi runs: scanned once, on first need
        self._scanned: dict[Kind, list[EntryPointType]] | None = None
        self._cache: dict[tuple[Kind, str], type[Extension]] = {}

    def register(self, kind: Kind, name: str, cls: type[Extension]) -> None:
        self._explicit[kind][name] = cls
        self._cache.pop((kind, name), None)

    def entry_points(self, kind: Kind) -> list[EntryPointType]:
        if not self._use_entry_points:
            return []
        if self._scanned is None:
            self._scanned = scan_entry_points()
        return self._scanned[kind]

    def _third_party(self, kind: Kind) -> dict[str, list[EntryPointType]]:
        by_name: dict[str, list[EntryPointType]] = {}
        for ep in self.entry_points(kind):
            by_name.setdefault(ep.name, []).append(ep)
        return by_name

    def errors(self) -> list[ConfigError]:
        """Entry points that name a built-in or share a name: each one a start-up error."""
        found: list[ConfigError] = []
        for kind in KINDS:
            singular = kind[:-1]
            for name, eps in sorted(self._third_party(kind).items()):
                group = f"entry point ogi.{kind}:{name}"
                if name in BUILTINS[kind]:
                    for ep in eps:
                        found.append(ConfigError(
                            group, f"{ep.describe()} names the built-in {singular} type {name!r} "
                            f"({BUILTINS[kind][name]}); a third-party type needs a name of its own"))
                elif len({ep.target for ep in eps}) > 1 or len({ep.dist for ep in eps}) > 1:
                    found.append(ConfigError(
                        group, f"{len(eps)} installed packages declare the {singular} type {name!r}: "
                        + ", ".join(ep.describe() for ep in sorted(eps, key=lambda e: e.dist))
                        + "; uninstall all but one"))
        return found

    def known(self, kind: Kind) -> list[str]:
        return sorted(set(self._explicit[kind]) | set(BUILTINS[kind]) | set(self._third_party(kind)))

    def has(self, kind: Kind, name: str) -> bool:
        return name in self._explicit[kind] or name in BUILTINS[kind] or name in self._third_party(kind)

    def get(self, kind: Kind, name: str) -> type[Extension]:
        key = (kind, name)
        if key in self._cache:
            return self._cache[key]
        cls = self._explicit[kind].get(name) or self._load(kind, name)
        self._cache[key] = cls
        return cls

    def _load(self, kind: Kind, name: str) -> type[Extension]:
        target = BUILTINS[kind].get(name)
        if target is not None:
            module_name, _, attr = target.partition(":")
            return _extension(target, getattr(import_builtin(module_name), attr))
        eps = self._third_party(kind).get(name)
        if not eps:
            raise UnknownType(kind, name, self.known(kind))
        if len({ep.target for ep in eps}) > 1:
            raise AmbiguousType(f"{kind[:-1]} type {name!r} is declared by "
                                + ", ".join(ep.describe() for ep in eps))
        module_name, _, attr = eps[0].target.partition(":")
        return _extension(eps[0].target, getattr(importlib.import_module(module_name), attr))


def _extension(target: str, cls: object) -> type[Extension]:
    if not (isinstance(cls, type) and issubclass(cls, Extension)):
        raise TypeError(f"{target} is not an ogi Extension class")
    return cls


default_registry = Registry()
