"""Which handlers an event goes to: status handlers by Sensu 1.x's rules, metric handlers every run.

A check's `handlers` (else `handler`, else `default`) receive status events: the server hands
them over only when Sensu 1.x would (`pipeline/server/events.py` `decide`). Its
`output_metric_handlers` (Sensu Go's field) receive the event of every result that carries
metrics (`pipeline/metrics/extract.py` `metric_format`), whatever its status, so the points of a
standard Nagios check reach Graphite on every run while its mail handler hears only of changes.
docs/metrics.md "Where points go" is the user's side.
"""

from __future__ import annotations

from typing import Any

from pipeline.chain.routes import handler_names
from pipeline.metrics.extract import metric_format

__all__ = ["EventNames", "event_names", "metric_handler_names"]

#: (status handler names, metric handler names) of one event.
EventNames = tuple[tuple[str, ...], tuple[str, ...]]
_NONE: tuple[str, ...] = ()


def metric_handler_names(check: dict[str, Any]) -> tuple[str, ...]:
    """The check's `output_metric_handlers` when it carries metrics, else none."""
    names = check.get("output_metric_handlers")
    if not names or not isinstance(names, list | tuple) or metric_format(check) is None:
        return _NONE
    return tuple(name for name in names if isinstance(name, str) and name)


def event_names(check: dict[str, Any], status: bool) -> EventNames:
    """The status handlers (none when `status` is false) and the metric handlers of an event."""
    metric = metric_handler_names(check)
    return (handler_names(check) if status else _NONE), metric
