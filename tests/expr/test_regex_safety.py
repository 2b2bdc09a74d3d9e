"""No event can make one `eval:` regex hold the loop: token values are matched literally,
nested repeats are refused where the configuration is checked, long strings are bounded."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from pipeline.chain.gates import AttributeFilter
from pipeline.config.load import load_settings
from pipeline.errors import ConfigErrors
from pipeline.expr.expression import ExpressionRuntimeError, compile_expression
from pipeline.expr.regex_guard import MAX_SUBJECT
from pipeline.extension import Context

SERVICE_FILTER = {"attributes": {"check": {"output": "eval: value =~ /^:::check.service::: is down/"}}}


def event(service: str, output: str) -> dict[str, Any]:
    return {"client": {"name": "web-1"}, "check": {"name": "svc", "service": service, "output": output}}


def test_a_token_value_inside_a_regex_is_matched_literally() -> None:
    match = AttributeFilter("svc", SERVICE_FILTER, Context()).matches
    assert match(event("a.c", "a.c is down"))
    assert not match(event("a.c", "abc is down"))  # the dot is the service's, not "any character"
    assert match(event("(a+)+", "(a+)+ is down"))


def test_a_pushed_service_name_shaped_like_a_catastrophic_regex_is_answered_at_once() -> None:
    # Before, `(a+)+` was pasted into the regex: this event held the loop for about 19 s.
    assert not AttributeFilter("svc", SERVICE_FILTER, Context()).matches(event("(a+)+", "a" * 29 + "!"))


@pytest.mark.parametrize("regex", ["/(a+)+$/", r"/(\w+\s?)*$/", "/(?:a*)*b/", "/((ab)*c)+/"])
def test_check_config_refuses_a_repeated_group_holding_a_repeat(tmp_path: Path, regex: str) -> None:
    config = {"filters": {"slow": {"attributes": {"check": {"output": f"eval: value =~ {regex}"}}}}}
    (tmp_path / "config.json").write_text(json.dumps(config))
    with pytest.raises(ConfigErrors) as raised:
        load_settings([str(tmp_path / "config.json")], [], env={})
    error = raised.value.errors[0]
    assert error.path.startswith("filters.slow") and "exponential time" in str(error)


@pytest.mark.parametrize("regex", ["/(?>a+)+$/", "/(a++)+$/", r"/^web-\d+$/", "/(web|db)+/", "/a{2,5}b/"])
def test_regexes_without_nested_backtracking_are_accepted(regex: str) -> None:
    assert compile_expression(f"value =~ {regex}") is not None


def test_a_regex_with_an_unbounded_repeat_refuses_a_string_past_the_bound() -> None:
    expression = compile_expression("value =~ /.*x.*y/")
    assert expression.matches("a" * 10 + "x" + "y", {})
    with pytest.raises(ExpressionRuntimeError, match="up to 16384 characters"):
        expression.evaluate("a" * (MAX_SUBJECT + 1), {})


def test_a_plain_regex_still_matches_a_long_string() -> None:
    assert compile_expression("value =~ /CRITICAL/").matches("x" * (MAX_SUBJECT * 4) + "CRITICAL", {})
