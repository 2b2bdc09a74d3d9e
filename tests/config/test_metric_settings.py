"""A check's metric keys in the one validation pass: what `ogi check-config` refuses or warns about."""

from __future__ import annotations

from typing import Any

from pipeline.config.validate import check
from pipeline.registry import Registry

REGISTRY = Registry(use_entry_points=False)
HANDLERS = {"mail": {"type": "pipe", "command": "mail ops@example.com"}, "graphite": {"type": "graphite"}}


def settings(**load: Any) -> dict[str, Any]:
    definition = {"command": "check_load", "interval": 60, "subscribers": ["linux"], "handlers": ["mail"],
                  "output_metric_format": "nagios_perfdata", **load}
    return {"checks": {"load": definition}, "handlers": dict(HANDLERS)}


def problems(raw: dict[str, Any]) -> tuple[list[tuple[str, str]], list[str]]:
    _typed, errors, warnings = check(raw, REGISTRY)
    return [(e.path, e.message) for e in errors], warnings


def test_output_metric_handlers_become_a_typed_field_and_their_routes_are_built() -> None:
    typed, errors, warnings = check(settings(output_metric_handlers=["graphite"]), REGISTRY)
    assert errors == [] and warnings == []
    assert typed is not None
    assert typed.checks["load"].output_metric_handlers == ("graphite",)
    assert typed.checks["load"].output_metric_format == "nagios_perfdata"


def test_an_undefined_metric_handler_is_an_error_at_its_path() -> None:
    errors, _ = problems(settings(output_metric_handlers=["graphite", "carbon"]))
    assert [path for path, _ in errors] == ["checks.load.output_metric_handlers[1]"]
    assert "no handler has this name" in errors[0][1]


def test_output_metric_handlers_must_be_a_list_of_names() -> None:
    errors, _ = problems(settings(output_metric_handlers="graphite"))
    assert errors == [("checks.load.output_metric_handlers", "must be an array of strings")]


def test_an_unknown_metric_format_is_an_error_listing_the_known_ones() -> None:
    errors, _ = problems(settings(output_metric_format="nagios"))
    assert len(errors) == 1 and errors[0][0] == "checks.load.output_metric_format"
    assert "nagios_perfdata" in errors[0][1]


def test_bad_output_metric_tags_are_errors() -> None:
    errors, _ = problems(settings(output_metric_tags=[{"value": "x"}]))
    assert [path for path, _ in errors] == ["checks.load.output_metric_tags[0]"]


def test_points_sent_through_handlers_of_a_standard_check_are_warned_about() -> None:
    errors, warnings = problems(settings(handlers=["mail", "graphite"]))
    assert errors == []
    assert len(warnings) == 1 and "output_metric_handlers" in warnings[0] and "graphite" in warnings[0]
    _, none = problems(settings(handlers=["mail", "graphite"], type="metric"))
    assert none == [], "a metric check is handled on every run"
