"""What the `ogi-metrics-*` plugins print that is a counter (a total since boot, only ever rising).

Graphite lines carry no type, and a comment line in the output would reach carbon as an invalid
line, so the plugins declare their counters here, by the path they print under their default
scheme less the client's node (`cpu.total.user`, `interface.lo.rx_bytes`). The `prometheus`
handler exports a series whose path matches as a counter (`cpu_total_user_total`); everything
else the plugins print is a gauge. A path printed under another `--scheme` matches nothing: a
mapping rule's `type` says what it is.
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
