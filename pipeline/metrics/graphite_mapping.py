"""Graphite paths to Prometheus series: mapping rules, name sanitising and series ids.

Rules follow Prometheus' graphite_exporter: a glob on the whole dotted path, `*` standing
for one node (or the part of one node where it appears), the first rule that matches wins,
and `${N}` in the name or a label value is the text the N-th `*` matched. A rule with
`"action": "drop"` drops the paths it matches. A path no rule matches is sanitised to a
metric name, with a leading node equal to the client's name (dots as `_`) dropped.

A series id is the canonical exposition prefix `name{a="1",b="2"}`: label names sorted,
values escaped as in the 0.0.4 text format. The exporter writes it out as it is, so a scrape
costs no label formatting, and `parse_series_id` reads it back.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from pipeline.extension import DefinitionError

#: Prometheus' rule for metric names and for label names.
METRIC_NAME_RE = re.compile(r"^[a-zA-Z_:][a-zA-Z0-9_:]*\Z")
LABEL_NAME_RE = re.compile(r"^[a-zA-Z_][a-zA-Z0-9_]*\Z")
_BAD_METRIC_CHARS = re.compile(r"[^a-zA-Z0-9_:]")
_BAD_LABEL_CHARS = re.compile(r"[^a-zA-Z0-9_]")
_REFERENCE = re.compile(r"\$\{(\d+)\}")
#: Labels ogi sets on every series itself.
FIXED_LABELS = ("client", "check")

Labels = tuple[tuple[str, str], ...]
Declared = Callable[[str], "tuple[str, str, float] | None"]
#: A mapped series: its id (None unnameable, DROPPED), its type (None: not declared), the value's factor
Mapped = tuple["str | None", "str | None", float]


def sanitize_metric_name(text: str) -> str | None:
    """`text` as a Prometheus metric name: bad characters to `_`, a leading digit prefixed; None if empty."""
    name = _BAD_METRIC_CHARS.sub("_", text)
    if not name:
        return None
    if name[0].isdigit():
        name = "_" + name
    return name


def sanitize_label_name(text: str) -> str | None:
    """`text` as a label name; None when nothing usable is left or it is reserved (`__` prefix)."""
    name = _BAD_LABEL_CHARS.sub("_", text)
    if not name:
        return None
    if name[0].isdigit():
        name = "_" + name
    return None if name.startswith("__") else name


def escape_label_value(value: str) -> str:
    """The 0.0.4 escaping of a label value: backslash, double quote and newline."""
    if "\\" in value or '"' in value or "\n" in value:
        return value.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")
    return value


def series_id(name: str, labels: dict[str, str]) -> str:
    """The canonical id of a series, which is also its exposition line up to the value."""
    inner = ",".join(f'{key}="{escape_label_value(labels[key])}"' for key in sorted(labels))
    return f"{name}{{{inner}}}"


_UNESCAPE = {"\\": "\\", '"': '"', "n": "\n"}


def parse_series_id(sid: str) -> tuple[str, dict[str, str]]:
    """The name and labels of a series id made by `series_id`."""
    name, brace, rest = sid.partition("{")
    labels: dict[str, str] = {}
    if not brace:
        return name, labels
    i, end = 0, len(rest) - 1  # rest ends with "}"
    while i < end:
        eq = rest.index('="', i)
        key = rest[i:eq]
        i = eq + 2
        chars: list[str] = []
        while rest[i] != '"':
            if rest[i] == "\\":
                chars.append(_UNESCAPE.get(rest[i + 1], rest[i + 1]))
                i += 2
            else:
                chars.append(rest[i])
                i += 1
        labels[key] = "".join(chars)
        i += 2 if rest[i + 1 : i + 2] == "," else 1
    return name, labels


@dataclass(frozen=True)
class Rule:
    """One compiled mapping rule."""

    match: str
    pattern: re.Pattern[str]
    name: str | None  # None: drop
    labels: tuple[tuple[str, str], ...]
    kind: str | None = None  # "counter" or "gauge"; None: the output's or the plugin's type

    def apply(self, path: str) -> tuple[str | None, dict[str, str]] | None:
        """None if the rule does not match; else (name or None to drop, labels)."""
        found = self.pattern.match(path)
        if found is None:
            return None
        if self.name is None:
            return None, {}
        groups = found.groups()

        def expand(template: str) -> str:
            return _REFERENCE.sub(lambda m: groups[int(m.group(1)) - 1], template)

        return expand(self.name), {key: expand(value) for key, value in self.labels}


def _glob(match: str) -> re.Pattern[str]:
    parts = [re.escape(part) for part in match.split("*")]
    return re.compile("^" + "([^.]+)".join(parts) + r"\Z")


def _check_references(template: str, stars: int, path: str) -> None:
    for ref in _REFERENCE.findall(template):
        if not 1 <= int(ref) <= stars:
            raise DefinitionError(path, f"refers to ${{{ref}}} but the match has {stars} '*'", template)


def compile_rule(raw: Any, path: str) -> Rule:
    """Validate and compile one rule; errors name `path` and the key."""
    if not isinstance(raw, dict):
        raise DefinitionError(path, "must be an object with match, name and labels", raw)
    unknown = sorted(set(raw) - {"match", "name", "labels", "action", "type"})
    if unknown:
        raise DefinitionError(f"{path}.{unknown[0]}", "unknown key (a mapping takes match, name, labels, action, type)")
    match = raw.get("match")
    if not isinstance(match, str) or not match or any(not node for node in match.split(".")):
        raise DefinitionError(f"{path}.match", "must be a Graphite path glob such as \"*.cpu.*.user\"", match)
    stars = match.count("*")
    action = raw.get("action", "map")
    if action not in ("map", "drop"):
        raise DefinitionError(f"{path}.action", 'must be "map" or "drop"', action)
    if action == "drop":
        if "name" in raw or "labels" in raw or "type" in raw:
            raise DefinitionError(f"{path}.action", "a drop rule takes no name, labels or type", action)
        return Rule(match, _glob(match), None, ())
    name = raw.get("name")
    if not isinstance(name, str) or not name:
        raise DefinitionError(f"{path}.name", "is required (the metric name, may use ${1}, ${2}, ...)", name)
    _check_references(name, stars, f"{path}.name")
    if not METRIC_NAME_RE.match(_REFERENCE.sub("x", name)):
        raise DefinitionError(f"{path}.name", "is not a Prometheus metric name ([a-zA-Z_:][a-zA-Z0-9_:]*)", name)
    labels = raw.get("labels", {})
    if not isinstance(labels, dict):
        raise DefinitionError(f"{path}.labels", "must be an object of label name to value", labels)
    for key, value in labels.items():
        where = f"{path}.labels.{key}"
        if not LABEL_NAME_RE.match(key) or key.startswith("__"):
            raise DefinitionError(where, "is not a Prometheus label name ([a-zA-Z_][a-zA-Z0-9_]*, no __ prefix)")
        if key in FIXED_LABELS:
            raise DefinitionError(where, "is set by ogi on every series (client and check)")
        if not isinstance(value, str):
            raise DefinitionError(where, "must be a string (may use ${1}, ${2}, ...)", value)
        _check_references(value, stars, where)
    kind = raw.get("type")
    if kind is not None and kind not in KINDS:
        raise DefinitionError(f"{path}.type", 'must be "counter" or "gauge"', kind)
    return Rule(match, _glob(match), name, tuple(labels.items()), kind)


KINDS = ("counter", "gauge")


def exported_name(name: str, kind: str | None) -> str:
    """The name a series has on `/metrics`: a counter's ends in `_total` (Prometheus' convention)."""
    return name if kind != "counter" or name.endswith("_total") else name + "_total"


def compile_rules(raw: Any, path: str = "mappings") -> list[Rule]:
    """The `mappings` list of a handler definition, compiled in order.

    Two rules whose names, as exported, are the same but whose types differ would put a counter
    and a gauge in one family: refused, naming the second rule."""
    if raw is None:
        return []
    if not isinstance(raw, list):
        raise DefinitionError(path, "must be a list of mapping rules", raw)
    rules = [compile_rule(item, f"{path}[{index}]") for index, item in enumerate(raw)]
    typed: dict[str, tuple[str, int]] = {}
    for index, rule in enumerate(rules):
        if rule.name is None or _REFERENCE.search(rule.name):
            continue  # a name made from the path is known only per point
        kind = rule.kind or "gauge"
        exported = exported_name(rule.name, kind)
        seen = typed.setdefault(exported, (kind, index))
        if seen[0] != kind:
            raise DefinitionError(
                f"{path}[{index}].type",
                f"makes {exported} a {kind}, but {path}[{seen[1]}] makes it a {seen[0]}: one name, one type", kind)
    return rules


#: What `Mapper.series_id` returns for a path a drop rule matched.
DROPPED = ""


class Mapper:
    """Graphite path + client + check + tags -> series id; DROPPED for a drop rule, None when unnameable."""

    #: Distinct (client, check, path, tags) remembered; bounded because plugins choose paths.
    CACHE_SIZE = 200_000

    def __init__(self, rules: list[Rule], declared: Declared | None = None) -> None:
        """`declared(path)`: (type, path to name by, value factor) the plugins declare for a path less the
        client's node; a path no rule matches takes all three, a rule without `type` the type."""
        self.rules = rules
        self.declared = declared
        self._cache: dict[tuple[str, str, str, Labels, str], Mapped] = {}

    def series_id(self, client: str, check: str, path: str, tags: Labels = (), host: str = "") -> str | None:
        """`host`: the client's `hostname` attribute, a leading node the default naming strips too."""
        return self.series(client, check, path, tags, host)[0]

    def series(self, client: str, check: str, path: str, tags: Labels = (), host: str = "") -> Mapped:
        """The series id, its declared type and the factor for its values."""
        key = (client, check, path, tags, host)
        cache = self._cache
        try:
            return cache[key]
        except KeyError:
            pass
        found = self._map(client, check, path, tags, host)
        if len(cache) >= self.CACHE_SIZE:
            cache.clear()
        cache[key] = found
        return found

    def _map(self, client: str, check: str, path: str, tags: Labels, host: str = "") -> Mapped:
        labels: dict[str, str] = {}
        for key, value in tags:
            label = sanitize_label_name(key)
            if label is not None:
                labels[label] = value
        for rule in self.rules:
            applied = rule.apply(path)
            if applied is None:
                continue
            name, mapped = applied
            if name is None:
                return DROPPED, None, 1.0
            labels.update(mapped)
            metric = sanitize_metric_name(name)
            kind = rule.kind
            if kind is None and self.declared is not None:
                found = self.declared(default_name_path(path, client, host))
                kind = found[0] if found else None
            factor = 1.0
            break
        else:
            named = default_name_path(path, client, host)
            found = self.declared(named) if self.declared is not None else None
            kind, named, factor = found if found else (None, named, 1.0)
            metric = sanitize_metric_name(named)
        if metric is None:
            return None, None, 1.0
        labels["client"] = client
        labels["check"] = check
        return series_id(metric, labels), kind, factor


def default_name_path(path: str, client: str, host: str = "") -> str:
    """The path without a leading node equal to the client's name or `host` (dots as `_`, or kept,
    as Sensu's Ruby plugins print `Socket.gethostname`)."""
    for name in (client, host):
        if not name:
            continue
        for lead in (name.replace(".", "_") + ".", name + "."):
            if path.startswith(lead) and len(path) > len(lead):
                return path[len(lead):]
    return path
