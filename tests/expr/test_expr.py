"""The safe `eval:` expression language: what users write, what it refuses, what it cannot do."""

from __future__ import annotations

import contextlib
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from pipeline.expr.expression import (
    MAX_DEPTH,
    MAX_LENGTH,
    ExpressionError,
    ExpressionRuntimeError,
    compile_expression,
)
from pipeline.expr.values import to_s

EVENT = {
    "client": {"name": "web-1", "environment": "prod", "subscriptions": ["web", "client:web-1"]},
    "check": {"name": "disk", "interval": 30, "status": 2, "ratio": "0.5", "fragment": "a(", "custom": {"team": "ops"}},
    "occurrences": 4,
}

# (expression, value, expected result)
CASES: list[tuple[str, Any, Any]] = [
    # literals
    ("42", None, 42),
    ("4.5", None, 4.5),
    ("1e3", None, 1000.0),
    ("'single'", None, "single"),
    ('"double"', None, "double"),
    (r"'it\'s'", None, "it's"),
    (r"'a\nb'", None, "a\\nb"),
    (r'"a\nb"', None, "a\nb"),
    ("true", None, True),
    ("false", None, False),
    ("nil", None, None),
    ("null", None, None),
    ("True", None, True),
    ("None", None, None),
    ("[1, 'a', nil]", None, [1, "a", None]),
    ("[]", None, []),
    ("[1, 2,]", None, [1, 2]),
    ("value", {"a": 1}, {"a": 1}),
    # comparisons
    ("value == 2", 2, True),
    ("value == 2", 2.0, True),
    ("value == 1", True, False),
    ("value == true", True, True),
    ("value == '2'", 2, False),
    ("value != 2", 3, True),
    ("value == nil", None, True),
    ("value < 10", 9, True),
    ("value <= 10", 10, True),
    ("value > 90", 90, False),
    ("value >= 90", 90.0, True),
    ("value > 'abc'", "abd", True),
    ("value == [1, 2]", [1, 2], True),
    # arithmetic: Ruby's integer division floors, float division does not
    ("value + 1", 1, 2),
    ("value - 1.5", 1, -0.5),
    ("value * 3", 2, 6),
    ("value / 2", 7, 3),
    ("value / 2", -7, -4),
    ("value / 2.0", 7, 3.5),
    ("value % 3", 7, 1),
    ("value % 3", -7, 2),
    ("1 + 2 * 3", None, 7),
    ("(1 + 2) * 3", None, 9),
    ("10 - 2 - 3", None, 5),
    ("-value", 5, -5),
    ("--value", 5, 5),
    ("+value", 5, 5),
    ("'a' + 'b'", None, "ab"),
    ("[1] + [2]", None, [1, 2]),
    # logic: Ruby truth (only nil and false are false) and Ruby's precedence
    ("value > 1 and value < 5", 3, True),
    ("value > 1 && value < 5", 9, False),
    ("value == 1 or value == 2", 2, True),
    ("value == 1 || value == 2", 3, False),
    ("not value == 1", 2, True),
    ("!value", None, True),
    ("!value", 0, False),
    ("!!value", "", True),
    ("value && 'yes'", 0, "yes"),
    ("value || 'default'", None, "default"),
    ("value and 'yes'", False, False),
    ("!value == false", 1, True),
    ("true or true and false", None, False),
    ("true || true && false", None, True),
    ("not true and false", None, False),
    # in
    ("value in ['a', 'b']", "a", True),
    ("value in ['a', 'b']", "c", False),
    ("value not in ['a', 'b']", "c", True),
    ("value in [1, 2]", True, False),
    ("value in 'abcdef'", "cde", True),
    ("'team' in value", {"team": "ops"}, True),
    ("not value in [1]", 1, False),
    # methods
    ("value.start_with?('web')", "web-1", True),
    ("value.start_with?('db', 'web')", "web-1", True),
    ("value.startswith('db')", "web-1", False),
    ("value.start_with?(/w.b/)", "web-1", True),
    ("value.end_with?('-1')", "web-1", True),
    ("value.endswith('-2')", "web-1", False),
    ("value.end_with?('x', '1')", "web-1", True),
    ("value.round", 7, 7),
    ("value.zero?", float("inf"), False),
    ("1_000 + 0.000_5", None, 1000.0005),
    (r'"caf\u00e9 \x41"', None, "café A"),
    ("value.include?('eb')", "web-1", True),
    ("value.include?('x')", "web-1", False),
    ("value.include?(2)", [1, 2], True),
    ("value.include?('a')", {"a": 1}, True),
    ("value.downcase", "WeB", "web"),
    ("value.lower()", "WeB", "web"),
    ("value.upcase", "WeB", "WEB"),
    ("value.upper", "WeB", "WEB"),
    ("value.strip", "  x ", "x"),
    ("value.length", "abc", 3),
    ("value.size", [1, 2], 2),
    ("value.length", {"a": 1}, 1),
    ("value.to_i", "12abc", 12),
    ("value.to_i", "  -3", -3),
    ("value.to_i", "abc", 0),
    ("value.to_i", "1_000", 1000),
    ("value.to_i", 3.9, 3),
    ("value.to_i", None, 0),
    ("value.to_f", "1.5e2 ms", 150.0),
    ("value.to_f", ".5", 0.5),
    ("value.to_f", "x", 0.0),
    ("value.to_f", 2, 2.0),
    ("value.to_s", None, ""),
    ("value.to_s", True, "true"),
    ("value.to_s", 2, "2"),
    ("value.to_s", 2.0, "2.0"),
    ("value.to_s", 1e16, "1.0e+16"),
    ("value.to_s", [1, "a", None], '[1, "a", nil]'),
    ("value.to_s + '%'", 50, "50%"),
    ("value.match?(/^db-[0-9]+$/)", "db-12", True),
    ("value.match?('b.1')", "web-1", True),
    ("value.match?(/x/)", None, False),
    ("value.empty?", "", True),
    ("value.empty?", [0], False),
    ("value.nil?", None, True),
    ("value.zero?", 0.0, True),
    ("value.abs", -3, 3),
    ("value.round", 2.5, 3),
    ("value.round", -2.5, -3),
    ("value.floor", 2.7, 2),
    ("value.ceil", 2.1, 3),
    ("value.first", [1, 2], 1),
    ("value.last", [1, 2], 2),
    ("value.first", [], None),
    ("value.split(',')", "a,b", ["a", "b"]),
    ("value.split", " a  b ", ["a", "b"]),
    ("value.split(',').include?('b')", "a,b", True),
    ("value.between?(1, 5)", 5, True),
    ("value.key?('a')", {"a": None}, True),
    ("value.has_key?('b')", {"a": None}, False),
    ("value.downcase.start_with?('we')", "WEB", True),
    ("1.to_s", None, "1"),
    ("(value + 1).to_s", 1, "2"),
    # indexing
    ("value['a']", {"a": 5}, 5),
    ("value['b']", {"a": 5}, None),
    ("value[0]", [7, 8], 7),
    ("value[-1]", [7, 8], 8),
    ("value[5]", [7, 8], None),
    ("value['a']['b']", {"a": {"b": 1}}, 1),
    # regexes, Ruby style: =~ gives the index of the match or nil
    ("value =~ /eb/", "web-1", 1),
    ("value =~ /^w/", "web-1", 0),
    ("value =~ /x/", "web-1", None),
    ("value !~ /x/", "web-1", True),
    ("value !~ /w/", "web-1", False),
    ("value =~ /WEB/i", "web", 0),
    ("value =~ /a.b/m", "a\nb", 0),
    ("value =~ /a b/x", "ab", 0),
    ("value =~ /^b/", "a\nb", 2),
    ("value =~ /a\\z/", "a", 0),
    ("value =~ /a\\/b/", "a/b", 0),
    ("/b/ =~ value", "ab", 1),
    ("value =~ /(?<word>\\w+)/", "hi", 0),
    ("value =~ /x/", None, None),
    ("value / 2 > 1", 4, True),
    # :::event.path|default::: tokens
    ("value > :::check.interval:::", 40, True),
    ("value > :::check.missing|60:::", 40, False),
    ("value == :::check.ratio:::", 0.5, True),
    ("value == :::client.name:::", "web-1", True),
    ("value == :::check.missing|abc:::", "abc", True),
    ("value == :::check.missing|:::", "", True),
    ("value == ':::client.environment:::'", "prod", True),
    ("value == \":::client.name:::-:::check.name:::\"", "web-1-disk", True),
    ("value == ':::check.interval:::'", "30", True),
    ("value >= :::occurrences:::", 4, True),
    ("value in :::client.subscriptions:::", "web", True),
    ("value.start_with?(':::check.custom.team|x:::')", "ops-1", True),
    ("value =~ /^:::client.name:::$/", "web-1", 0),
]


@pytest.mark.parametrize(("source", "value", "expected"), CASES, ids=[c[0] for c in CASES])
def test_each_supported_form_evaluates_as_ruby_would(source: str, value: Any, expected: Any) -> None:
    result = compile_expression(source).evaluate(value, EVENT)
    assert result == expected
    assert type(result) is type(expected)


# (expression, what the message must say, column)
MALFORMED = [
    ("", "empty expression", 1),
    ("   ", "empty expression", 1),
    ("value >", "expected a value but found end of input", 8),
    ("value > > 1", "expected a value but found '>'", 9),
    ("value = 1", "assignment is not allowed", 7),
    ("value === 1", "unexpected '==='", 7),
    ("1 < value < 3", "comparisons do not chain", 11),
    ("value == 1 == true", "comparisons do not chain", 12),
    ("foo > 1", "unknown name 'foo'", 1),
    ("system('rm -rf /')", "unknown name 'system'", 1),
    ("value.send('exit')", "unknown method 'send'", 7),
    ("value.__class__", "unknown method '__class__'", 7),
    ("value.instance_eval('1')", "unknown method 'instance_eval'", 7),
    ("`ls`", "unexpected character '`'", 1),
    ("'abc", "unterminated string", 1),
    ('"abc', "unterminated string", 1),
    ('"#{1}"', "string interpolation", 2),
    ("/abc", "unterminated regex", 1),
    ("value =~ /[a/", "bad regex", 10),
    ("value =~ /a/q", "unknown regex flag 'q'", 13),
    ("value =~ /(?<=a+)b/", "bad regex", 10),
    ("(1 + 2", "expected ')' but found end of input", 7),
    ("1 + 2)", "unexpected ')'", 6),
    ("[1, 2", "expected ',' or ']'", 6),
    ("[1 2]", "expected ',' or ']'", 4),
    ("value.start_with?()", "takes 1 to 8 argument(s), got 0", 7),
    ("value.length(1)", "takes 0 argument(s), got 1", 7),
    ("value.include?('a', 'b')", "takes 1 argument(s), got 2", 7),
    ("value.", "expected a method name but found end of input", 7),
    ("value.(1)", "expected a method name but found '('", 7),
    ("3abc", "bad number", 1),
    ("value ? 1 : 2", "unexpected character '?'", 7),
    ("value & 1", "unexpected character '&'", 7),
    ("value | 1", "unexpected character '|'", 7),
    ("value > :::check.interval", "unterminated :::token:::", 9),
    ("value > :::a..b:::", "bad event path", 9),
    ("value value", "unexpected 'value'", 7),
    ("value not 1", "unexpected 'not'", 7),
    ("value.to_s(", "expected a value but found end of input", 12),
    ("value.to_s(1", "expected ',' or ')' but found end of input", 13),
    ("é", "unexpected character 'é'", 1),
]


@pytest.mark.parametrize(("source", "message", "column"), MALFORMED, ids=[m[0] or "<empty>" for m in MALFORMED])
def test_a_malformed_expression_is_refused_with_what_and_where(source: str, message: str, column: int) -> None:
    with pytest.raises(ExpressionError) as caught:
        compile_expression(source)
    assert message in str(caught.value)
    assert caught.value.column == column
    assert str(caught.value).endswith(f"at column {column}")


def test_an_expression_longer_than_the_limit_is_refused() -> None:
    with pytest.raises(ExpressionError, match="longer than"):
        compile_expression("1 + " * (MAX_LENGTH // 4) + "1")


@pytest.mark.parametrize(
    "source",
    ["(" * (MAX_DEPTH + 1) + "1" + ")" * (MAX_DEPTH + 1), "-" * (MAX_DEPTH + 1) + "1", "1" + " + 1" * 200,
     "[" * 100 + "]" * 100, "!" * 300 + "value", "value" + ".to_s" * 150],
    ids=["parentheses", "unary minus", "long sum", "lists", "negations", "method chain"],
)
def test_deeply_nested_expressions_are_refused(source: str) -> None:
    with pytest.raises(ExpressionError, match="nests deeper"):
        compile_expression(source)


def test_a_moderately_nested_expression_is_accepted() -> None:
    source = "(" * 20 + "value" + " + 1)" * 20
    assert compile_expression(source).evaluate(0, {}) == 20


# (expression, value, what the run-time error says)
RUNTIME_FAILURES = [
    ("value > 90", "95", "cannot apply '>' to string and number"),
    ("value > 90", None, "cannot apply '>' to nil and number"),
    ("value < true", 1, "cannot apply '<' to number and boolean"),
    ("value + 1", "1", "cannot apply '+' to string and number"),
    ("value * 2", "ab", "cannot apply '*' to string and number"),
    ("value / 0", 1, "division by zero"),
    ("value % 0", 1, "division by zero"),
    ("value / 0.0", 1.5, "division by zero"),
    ("-value", "a", "cannot negate string"),
    ("value.downcase", 5, "undefined method 'downcase' for number"),
    ("value.start_with?(1)", "a", "expected a string or regex"),
    ("value.end_with?(/a/)", "a", "expected a string"),
    ("value.round", float("nan"), "has no integer value"),
    ("value.length", 5, "undefined method 'length' for number"),
    ("value.to_i", True, "undefined method 'to_i' for boolean"),
    ("value.abs", "x", "undefined method 'abs' for string"),
    ("value =~ /x/", 5, "cannot apply '=~' to number and regex"),
    ("value =~ 'x'", "x", "cannot apply '=~'"),
    ("value in 5", 5, "cannot apply 'in' to number and number"),
    ("value[0]", 5, "cannot apply '[]'"),
    ("value > :::check.missing:::", 1, "unmatched token :::check.missing:::"),
    ("value == ':::client.nope:::'", "x", "unmatched token :::client.nope:::"),
    ("value =~ /:::check.nope:::/", "x", "unmatched token"),
]


@pytest.mark.parametrize(("source", "value", "message"), RUNTIME_FAILURES, ids=[r[0] for r in RUNTIME_FAILURES])
def test_a_failure_while_evaluating_raises_a_runtime_error(source: str, value: Any, message: str) -> None:
    expression = compile_expression(source)
    with pytest.raises(ExpressionRuntimeError) as caught:
        expression.evaluate(value, EVENT)
    assert message in str(caught.value)


@pytest.mark.parametrize(
    ("value", "matches"),
    [(0, True), ("", True), ([], True), (None, False), (False, False), (True, True)],
)
def test_matching_follows_ruby_truth_where_only_nil_and_false_are_false(value: Any, matches: bool) -> None:
    assert compile_expression("value").matches(value, {}) is matches


@pytest.mark.parametrize(
    ("value", "text"),
    [(None, ""), (True, "true"), (False, "false"), (3, "3"), (2.5, "2.5"), (100.0, "100.0"), (1e-5, "1.0e-05"),
     (float("inf"), "Infinity"), ("s", "s"), ({"a": [1, None]}, '{:a=>[1, nil]}')],
)
def test_to_s_prints_values_as_ruby_does(value: Any, text: str) -> None:
    assert to_s(value) == text


def test_an_expression_keeps_no_state_between_events() -> None:
    expression = compile_expression("value == :::client.name:::")
    assert expression.matches("a", {"client": {"name": "a"}})
    assert not expression.matches("a", {"client": {"name": "b"}})


# -- properties -------------------------------------------------------------------------------------
FRAGMENTS = [
    "value", " ", "1", "2.5", "'a'", '"b"', "(", ")", "[", "]", ",", ".", "==", "!=", "<", ">=", "+", "-", "*",
    "/", "%", "and", "or", "not", "in", "&&", "||", "!", "=~", "!~", "/x/", "/(/", "nil", "true", ":::check.name:::",
    ":::a|1:::", "to_s", "start_with?", "length", "downcase", "include?", "match?", "?", ":", "'", '"', "\\", "#{",
    "split", "first", "to_i", "round", "between?", "[0]", "['a']", "1e999", "0",
]
VALUES = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=5),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=3), inner, max_size=3),
    max_leaves=6,
)


@settings(max_examples=400, deadline=None)
@given(st.text(max_size=60))
def test_compiling_any_text_raises_nothing_but_expression_error(source: str) -> None:
    with contextlib.suppress(ExpressionError):
        compile_expression(source)


@settings(max_examples=600, deadline=None)
@given(st.lists(st.sampled_from(FRAGMENTS), max_size=14).map("".join), VALUES)
def test_anything_that_compiles_evaluates_or_raises_only_a_runtime_error(source: str, value: Any) -> None:
    try:
        expression = compile_expression(source)
    except ExpressionError:
        return
    with contextlib.suppress(ExpressionRuntimeError):
        expression.evaluate(value, EVENT)
