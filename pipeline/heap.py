"""The garbage-collector policy of ogi's long-running processes.

What a daemon holds once it has started (modules, settings, the registry, connections) lives as
long as the process. Python's full collections walk all of it nonetheless: in `ogi server`, a
full collection over the ~67,000 objects of start-up paused result processing for up to 49 ms
every few seconds, which alone made the p99 of publish-to-handler latency. `settle()` moves
those objects out of the collector's sight (`gc.freeze`), so full collections only walk what
was made since; with it the longest pause in the same run was under 4 ms.
"""

from __future__ import annotations

import gc


def settle() -> None:
    """Call once after start-up: collect, then freeze what survived (it is never walked again)."""
    gc.collect()
    gc.freeze()
