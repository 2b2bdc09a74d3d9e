"""What the `ogi-metrics-*` plugins print that is a counter (a total since boot, only ever rising).

Graphite lines carry no type, and a comment line in the output would reach carbon as an invalid
line, so the plugins declare their counters here, by the path they print under their default
scheme less the client's node (`cpu.total.user`, `interface.lo.rx_bytes`). The `prometheus`
handler exports a series whose path matches as a counter (`cpu_total_user_total`), counters in
milliseconds in seconds (`disk_io_sda_read_time_seconds_total`), and renames the gauges whose name
would end in `_total` (`memory_total` is `memory_size`), so `promtool check metrics` is satisfied;
everything else is a gauge under its own name. A path printed under another `--scheme` matches
nothing: a mapping rule's `type` says what it is.
"""

from __future__ import annotations

#: plugin node -> the paths below it that are counters; `*` is one whole node
COUNTERS: dict[str, tuple[str, ...]] = {
    "cpu": ("*.*",),
    "interface": ("*.*",),
    "disk_io": tuple(f"*.{leaf}" for leaf in (
        "reads", "reads_merged", "read_sectors", "read_bytes", "read_time_ms", "writes", "writes_merged",
        "write_sectors", "write_bytes", "write_time_ms", "io_time_ms", "weighted_io_time_ms")),
    "vmstat": ("*",),
    "processes": ("forks",),
    "swap": ("in", "out"),
}

_SPLIT = {plugin: tuple(tuple(p.split(".")) for p in patterns) for plugin, patterns in COUNTERS.items()}

#: Gauges whose last node would end their Prometheus name in `_total` (which Prometheus keeps for
#: counters): plugin -> {leaf: the leaf on /metrics}
GAUGE_LEAVES: dict[str, dict[str, str]] = {
    "memory": {"total": "size"},
    "swap": {"total": "size"},
    "disk_usage": {"total": "size", "inodes_total": "inodes"},
    "processes": {"total": "all"},
    "tcp": {"total": "all"},
}
#: Counters in milliseconds, exported in seconds (Prometheus' base unit): the leaf's `_ms` suffix
MS_SUFFIX = "_ms"


def prometheus_path(path: str) -> tuple[str, str, float] | None:
    """How a plugin's path is exported: (type, path to name the series by, factor for the value);
    None for a path no plugin declares (a gauge under its own name)."""
    plugin, _, rest = path.partition(".")
    head, _, leaf = path.rpartition(".")
    if is_counter(path):
        if leaf.endswith(MS_SUFFIX):
            return "counter", f"{head}.{leaf[:-len(MS_SUFFIX)]}_seconds", 0.001
        return "counter", path, 1.0
    renamed = GAUGE_LEAVES.get(plugin, {}).get(leaf) if rest else None
    return ("gauge", f"{head}.{renamed}", 1.0) if renamed else None


def is_counter(path: str) -> bool:
    """True when `path` (`<plugin>.<rest>`, the client's node already gone) is a declared counter."""
    plugin, _, rest = path.partition(".")
    patterns = _SPLIT.get(plugin)
    if not patterns or not rest:
        return False
    nodes = rest.split(".")
    for pattern in patterns:
        if len(pattern) == len(nodes) and all(p == "*" or p == n for p, n in zip(pattern, nodes, strict=True)):
            return True
    return False
