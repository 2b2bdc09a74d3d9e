"""`output_metric_thresholds` (Sensu Go's shape): a check's status and output set from its points.

    "output_metric_thresholds": [
      {"name": "load1", "tags": [{"name": "cpu", "value": "all"}], "null_status": 1,
       "thresholds": [{"max": 10, "status": 2}, {"max": 5, "status": 1}, {"min": 0.01, "status": 1}]}
    ]

Each rule takes the points named `name` whose tags include every tag listed. A point outside a
threshold's `min`/`max` (both optional, numbers or numeric strings as Sensu Go writes them) gets
that threshold's `status`; a rule that matches no point gets `null_status` (0 unless set). The
check's status becomes the highest of its own and every rule's, and a line per breach is added
to the output, so a metric check can alert. The server applies this before the event is built
(`pipeline/server/results.py`); parsing follows the check's `output_metric_format`.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from pipeline.metrics.extract import extract_points
from pipeline.model import Check, Point, is_int, is_number

__all__ = ["apply_thresholds", "threshold_number"]


def threshold_number(value: Any) -> float | None:
    """A `min`/`max` as a number: a JSON number or a numeric string; None when absent or empty."""
    if is_number(value):
        return float(value)
    if isinstance(value, str) and value.strip():
        try:
            return float(value)
        except ValueError:
            return None
    return None


@dataclass(frozen=True)
class _Breach:
    status: int
    text: str


def _tags_match(point: Point, wanted: list[tuple[str, str]]) -> bool:
    have = dict(point.tags)
    return all(have.get(name) == value for name, value in wanted)


def _wanted_tags(raw: Any) -> list[tuple[str, str]]:
    if isinstance(raw, dict):
        return [(str(k), str(v)) for k, v in raw.items()]
    if isinstance(raw, list):
        return [(str(t.get("name")), str(t.get("value"))) for t in raw if isinstance(t, dict)]
    return []


def _rule_breaches(rule: dict[str, Any], points: list[Point]) -> list[_Breach]:
    name = rule.get("name")
    wanted = _wanted_tags(rule.get("tags"))
    matched = [p for p in points if p.name == name and _tags_match(p, wanted)]
    if not matched:
        null_status = rule.get("null_status", 0)
        if is_int(null_status) and null_status:
            return [_Breach(null_status, f"{name}: no point (null_status {null_status})")]
        return []
    breaches: list[_Breach] = []
    thresholds = rule.get("thresholds")
    for point in matched:
        for threshold in thresholds if isinstance(thresholds, list) else []:
            if not isinstance(threshold, dict) or not is_int(threshold.get("status")):
                continue
            low, high = threshold_number(threshold.get("min")), threshold_number(threshold.get("max"))
            if high is not None and point.value > high:
                breaches.append(_Breach(threshold["status"], f"{name} = {point.value:g} > max {high:g}"))
                break  # the first threshold a point breaks is its status (list the worst first)
            if low is not None and point.value < low:
                breaches.append(_Breach(threshold["status"], f"{name} = {point.value:g} < min {low:g}"))
                break
    return breaches


def apply_thresholds(check: Check) -> Check:
    """The check with status and output set from its `output_metric_thresholds` (unchanged without)."""
    rules = check.get("output_metric_thresholds")
    if not isinstance(rules, list) or not rules:
        return check
    points = extract_points(check).points
    breaches = [b for rule in rules if isinstance(rule, dict) for b in _rule_breaches(rule, points)]
    if not breaches:
        return check
    own = check.get("status")
    status = max([b.status for b in breaches] + ([own] if is_int(own) else []))
    output = check.get("output")
    text = output if isinstance(output, str) else ""
    if text and not text.endswith("\n"):
        text += "\n"
    text += "".join(f"THRESHOLD {b.text} (status {b.status})\n" for b in breaches)
    return {**check, "status": status, "output": text}
