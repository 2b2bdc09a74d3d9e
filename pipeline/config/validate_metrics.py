"""The metric keys of a check, checked in the one validation pass (`validate.py` calls `check_metrics`).

`output_metric_format` must be a format ogi reads, `output_metric_handlers` must name handlers
as `handlers` does, and `output_metric_tags` must be Sensu Go's list of `{name, value}` or an
object. A check that sends its points through `handlers` alone gets a warning: since
`output_metric_handlers` exists, a standard check's OK results no longer go to `handlers`.
"""

from __future__ import annotations

from typing import Any

from pipeline.config.validate_chain import ChainValidator as _Validator
from pipeline.errors import path_index, path_key
from pipeline.metrics.extract import FORMATS
from pipeline.metrics.thresholds import threshold_number
from pipeline.model import is_int

#: Handler types whose job is points, not notifications.
METRIC_TYPES = frozenset({"graphite", "prometheus"})


def check_metrics(v: _Validator, check: dict[str, Any], path: str) -> None:
    """Report every wrong metric key of one check definition."""
    fmt = check.get("output_metric_format")
    if fmt is not None and fmt != "" and fmt not in FORMATS:
        v.error(path_key(path, "output_metric_format"), f"must be one of {', '.join(FORMATS)}", fmt)
    if "output_metric_handlers" in check:
        where = path_key(path, "output_metric_handlers")
        value = check["output_metric_handlers"]
        for i, name in enumerate(value if isinstance(value, list) else []):
            if isinstance(name, str) and name:
                v.handler_ref(name, path_index(where, i))
        v.str_list(value, where)
    _tags(v, check.get("output_metric_tags"), path_key(path, "output_metric_tags"))
    if "output_metric_thresholds" in check:
        _thresholds(v, check["output_metric_thresholds"], path_key(path, "output_metric_thresholds"))
    _points_through_handlers(v, check, path)


def _tags(v: _Validator, tags: Any, path: str) -> None:
    if tags is None or isinstance(tags, dict):
        return
    if not isinstance(tags, list):
        v.error(path, "must be a list of {\"name\", \"value\"} objects or an object", tags)
        return
    for i, tag in enumerate(tags):
        if not isinstance(tag, dict) or not isinstance(tag.get("name"), str) or not tag["name"]:
            v.error(path_index(path, i), "must be an object with a non-empty \"name\" and a \"value\"", tag)


def _thresholds(v: _Validator, rules: Any, path: str) -> None:
    """Sensu Go's shape (pipeline/metrics/thresholds.py): each rule a name, thresholds, statuses."""
    if not isinstance(rules, list):
        v.error(path, "must be a list of {\"name\", \"thresholds\"} objects", rules)
        return
    for i, rule in enumerate(rules):
        where = path_index(path, i)
        if not isinstance(rule, dict):
            v.error(where, "must be an object", rule)
            continue
        if not isinstance(rule.get("name"), str) or not rule["name"]:
            v.error(path_key(where, "name"), "is required (the metric's name)", rule.get("name"))
        if "null_status" in rule and not is_int(rule["null_status"]):
            v.error(path_key(where, "null_status"), "must be an integer", rule["null_status"])
        if "tags" in rule:
            _tags(v, rule["tags"], path_key(where, "tags"))
        thresholds = rule.get("thresholds", [])
        if not isinstance(thresholds, list):
            v.error(path_key(where, "thresholds"), "must be a list of {\"min\", \"max\", \"status\"} objects",
                    thresholds)
            continue
        for j, threshold in enumerate(thresholds):
            at = path_index(path_key(where, "thresholds"), j)
            if not isinstance(threshold, dict):
                v.error(at, "must be an object", threshold)
                continue
            if not is_int(threshold.get("status")):
                v.error(path_key(at, "status"), "is required (an integer)", threshold.get("status"))
            bounds = [k for k in ("min", "max") if threshold.get(k) not in (None, "")]
            if not bounds:
                v.error(at, "needs \"min\" or \"max\"", threshold)
            for key in bounds:
                if threshold_number(threshold[key]) is None:
                    v.error(path_key(at, key), "must be a number (or a numeric string)", threshold[key])


def _points_through_handlers(v: _Validator, check: dict[str, Any], path: str) -> None:
    """Warn when a standard check's points would reach a metric handler only on status changes."""
    if check.get("type") == "metric" or not check.get("output_metric_format") or check.get("output_metric_handlers"):
        return
    names = check.get("handlers")
    if not isinstance(names, list):
        names = [check["handler"]] if isinstance(check.get("handler"), str) else []
    metric = [n for n in names if isinstance(n, str) and isinstance(v.handlers.get(n), dict)
              and v.handlers[n].get("type") in METRIC_TYPES]
    if metric:
        v.warnings.append(
            f"{path_key(path, 'handlers')}: {', '.join(metric)} get this check's points only when its status "
            "changes; name them in \"output_metric_handlers\" to send points on every run (docs/metrics.md)")
