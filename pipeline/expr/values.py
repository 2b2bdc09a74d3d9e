"""Ruby-flavoured values and operators for `pipeline/expr/expression.py` and attribute filters.

Sensu's configs were written against Ruby semantics, so the operators and methods here
behave as Ruby's do where users could notice: only `nil` and `false` are false, `1 == true`
is false, integer division floors, `to_s` of `nil` is "" and of `true` is "true", `"12ab".to_i`
is 12. Anything Ruby would raise on (comparing a string with a number, a method a type lacks,
division by zero) raises `ExpressionRuntimeError`. The methods are in methods.py.
"""

from __future__ import annotations

import json
import math
import operator
import re
import warnings
from collections.abc import Callable
from typing import Any, NamedTuple

from pipeline.expr.regex_guard import MAX_SUBJECT, check_pattern
from pipeline.model import dig, is_number


class ExpressionRuntimeError(Exception):
    """An expression failed while evaluating (a type mismatch, division by zero, ...)."""


def ruby_type(v: Any) -> str:
    if v is None:
        return "nil"
    if isinstance(v, bool):
        return "boolean"
    if is_number(v):
        return "number"
    if isinstance(v, str):
        return "string"
    if isinstance(v, list):
        return "array"
    if isinstance(v, dict):
        return "object"
    if isinstance(v, re.Pattern):
        return "regex"
    return type(v).__name__


def ruby_eq(a: Any, b: Any) -> bool:
    """Ruby's `==` on JSON values: like Python's, except that booleans never equal numbers."""
    if isinstance(a, bool) or isinstance(b, bool):
        return a is b
    if isinstance(a, list):
        return isinstance(b, list) and len(a) == len(b) and all(map(ruby_eq, a, b))
    if isinstance(a, dict):
        return isinstance(b, dict) and a.keys() == b.keys() and all(ruby_eq(a[k], b[k]) for k in a)
    if isinstance(b, list | dict):
        return False
    if is_number(a) or is_number(b):
        return is_number(a) and is_number(b) and a == b
    return bool(a == b)


def _float_to_s(f: float) -> str:
    if math.isnan(f):
        return "NaN"
    if math.isinf(f):
        return "Infinity" if f > 0 else "-Infinity"
    text = repr(f)  # the shortest round-trip form, as Ruby prints
    mantissa, e, exponent = text.partition("e")
    if e and "." not in mantissa:
        return f"{mantissa}.0e{exponent}"
    return text


def inspect(v: Any) -> str:
    if v is None:
        return "nil"
    if isinstance(v, str):
        return json.dumps(v, ensure_ascii=False)
    return to_s(v)


def to_s(v: Any) -> str:
    """Ruby's `to_s`: "" for nil, "true"/"false", 1.0e+16 style floats, inspect for containers."""
    t = type(v)
    if t is str:
        return v
    if v is None:
        return ""
    if t is bool:
        return "true" if v else "false"
    if t is int:
        return str(v)
    if t is float:
        return _float_to_s(v)
    if isinstance(v, list):
        return "[" + ", ".join(inspect(x) for x in v) + "]"
    if isinstance(v, dict):
        return "{" + ", ".join(f":{k}=>{inspect(x)}" for k, x in v.items()) + "}"
    if isinstance(v, re.Pattern):
        return f"/{v.pattern}/"
    return str(v)


_NUMBER_TEXT = re.compile(r"[+-]?[0-9]+(?:(\.[0-9]+)?([eE][+-]?[0-9]+)?)")


def number_or_text(s: str) -> Any:
    """A token's text as a literal: a number if it reads as one, else the string."""
    m = _NUMBER_TEXT.fullmatch(s)
    if m is None:
        return s
    return float(s) if m.group(1) or m.group(2) else int(s)


class Token(NamedTuple):
    """A `:::path|default:::` reference into the event."""

    path: tuple[str, ...]
    default: str | None
    source: str

    def resolve(self, event: Any) -> Any:
        found = dig(event, list(self.path))
        if found is not None:
            return found
        if self.default is None:
            raise ExpressionRuntimeError(f"unmatched token {self.source}")
        return self.default

    def literal(self, event: Any) -> Any:
        found = self.resolve(event)
        return number_or_text(found) if isinstance(found, str) else found

    def text(self, event: Any) -> str:
        return to_s(self.resolve(event))


# -- regexes --------------------------------------------------------------------------------------
_RUBY_ONLY = re.compile(r"\\\\|\\z|\\Z|\(\?<(?=[A-Za-z_])")
_RUBY_TO_PY = {"\\\\": "\\\\", "\\z": r"\Z", "\\Z": r"(?=\n?\Z)", "(?<": "(?P<"}
_regex_cache: dict[tuple[str, int], re.Pattern[str]] = {}
_unbounded: set[re.Pattern[str]] = set()  # cached patterns with *, + or {n,}


def compile_regex(parts: tuple[Any, ...], flags: int, event: Any) -> re.Pattern[str]:
    """Compile a regex literal, its tokens substituted from `event` (None, at parse time: "").

    Ruby's `^`/`$` always match at line breaks and `\\z` is Python's `\\Z`, so the source is
    translated and MULTILINE is always on.
    """
    # A token's value is data, never regex syntax: `"service": "(a+)+"` must match itself, not backtrack.
    source = "".join(p if isinstance(p, str) else ("" if event is None else re.escape(p.text(event))) for p in parts)
    key = (source, flags)
    pattern = _regex_cache.get(key)
    if pattern is None:
        translated = _RUBY_ONLY.sub(lambda m: _RUBY_TO_PY[m.group()], source)
        try:
            unbounded = check_pattern(translated)
            with warnings.catch_warnings():
                # "possible nested set" hints at Ruby/Python differences nobody can act on at run time
                warnings.simplefilter("ignore", FutureWarning)
                pattern = re.compile(translated, flags | re.MULTILINE)
        except (re.error, RecursionError, OverflowError, ValueError) as exc:
            raise ExpressionRuntimeError(str(exc)) from None
        if len(_regex_cache) > 256:
            _regex_cache.clear()
            _unbounded.clear()
        _regex_cache[key] = pattern
        if unbounded:
            _unbounded.add(pattern)
    return pattern


def bounded_subject(pattern: re.Pattern[str], text: str) -> str:
    """`text`, if `pattern` may be matched against it in bounded time (see regex_guard)."""
    if len(text) > MAX_SUBJECT and pattern in _unbounded:
        raise ExpressionRuntimeError(
            f"a regex with an unbounded repeat is matched only against strings up to {MAX_SUBJECT} characters"
            f" (this one has {len(text)})"
        )
    return text


# -- operators ------------------------------------------------------------------------------------
def _type_error(op: str, a: Any, b: Any) -> ExpressionRuntimeError:
    return ExpressionRuntimeError(f"cannot apply {op!r} to {ruby_type(a)} and {ruby_type(b)}")


def _add(a: Any, b: Any) -> Any:
    if is_number(a) and is_number(b):
        return a + b
    if isinstance(a, str) and isinstance(b, str):
        return a + b
    if isinstance(a, list) and isinstance(b, list):
        return a + b
    raise _type_error("+", a, b)


def _arith(op: str, fn: Callable[[Any, Any], Any]) -> Callable[[Any, Any], Any]:
    def apply(a: Any, b: Any) -> Any:
        if not (is_number(a) and is_number(b)):
            raise _type_error(op, a, b)
        if op in "/%" and b == 0:
            raise ExpressionRuntimeError("division by zero")
        return fn(a, b)

    return apply


def _div(a: Any, b: Any) -> Any:
    return a // b if isinstance(a, int) and isinstance(b, int) else a / b


def _order(op: str, fn: Callable[[Any, Any], bool]) -> Callable[[Any, Any], bool]:
    def compare(a: Any, b: Any) -> bool:
        if (is_number(a) and is_number(b)) or (isinstance(a, str) and isinstance(b, str)):
            return fn(a, b)
        raise _type_error(op, a, b)

    return compare


def regex_match(a: Any, b: Any) -> int | None:
    """Ruby's `=~`: the index of the first match, or nil."""
    if isinstance(a, re.Pattern):
        a, b = b, a
    if not isinstance(b, re.Pattern):
        raise _type_error("=~", a, b)
    if a is None:
        return None
    if not isinstance(a, str):
        raise _type_error("=~", a, b)
    m = b.search(bounded_subject(b, a))
    return m.start() if m else None


def contains(a: Any, b: Any) -> bool:
    if isinstance(b, list):
        return any(ruby_eq(a, x) for x in b)
    if isinstance(b, str) and isinstance(a, str):
        return a in b
    if isinstance(b, dict):
        return isinstance(a, str) and a in b
    raise _type_error("in", a, b)


def _index(a: Any, i: Any) -> Any:
    if isinstance(a, dict):
        return a.get(i) if isinstance(i, str) else None
    if isinstance(a, list | str) and isinstance(i, int) and not isinstance(i, bool):
        return a[i] if -len(a) <= i < len(a) else None
    raise _type_error("[]", a, i)


BINARY: dict[str, Callable[[Any, Any], Any]] = {
    "==": lambda a, b: ruby_eq(a, b),
    "!=": lambda a, b: not ruby_eq(a, b),
    "=~": regex_match,
    "!~": lambda a, b: regex_match(a, b) is None,
    "in": contains,
    "not in": lambda a, b: not contains(a, b),
    "<": _order("<", operator.lt),
    "<=": _order("<=", operator.le),
    ">": _order(">", operator.gt),
    ">=": _order(">=", operator.ge),
    "+": _add,
    "-": _arith("-", operator.sub),
    "*": _arith("*", operator.mul),
    "/": _arith("/", _div),
    "%": _arith("%", operator.mod),
    "[]": _index,
}


def negate(v: Any) -> Any:
    if not is_number(v):
        raise ExpressionRuntimeError(f"cannot negate {ruby_type(v)}")
    return -v


def plus(v: Any) -> Any:
    if not is_number(v):
        raise ExpressionRuntimeError(f"cannot apply unary '+' to {ruby_type(v)}")
    return v
