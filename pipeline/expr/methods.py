"""The methods an `eval:` expression may call (`value.start_with?("web")`, `.to_i`, `.size`, ...).

Each behaves as Ruby's does where users could notice (`"12ab".to_i` is 12, `nil.to_s` is "")
and raises `ExpressionRuntimeError` where Ruby would raise NoMethodError: a method the
receiver's type lacks, or an argument of the wrong type. The operators are in values.py.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable
from typing import Any

from pipeline.expr.values import (
    BINARY,
    ExpressionRuntimeError,
    bounded_subject,
    compile_regex,
    contains,
    is_number,
    regex_match,
    ruby_type,
    to_s,
)


def _no_method(name: str, recv: Any) -> ExpressionRuntimeError:
    return ExpressionRuntimeError(f"undefined method {name!r} for {ruby_type(recv)}")


def _str_method(fn: Callable[..., Any]) -> Callable[..., Any]:
    def call(name: str, recv: Any, *args: Any) -> Any:
        if not isinstance(recv, str):
            raise _no_method(name, recv)
        return fn(recv, *args)

    return call


def _start_with(name: str, recv: Any, *args: Any) -> bool:
    if not isinstance(recv, str):
        raise _no_method(name, recv)
    for arg in args:
        if isinstance(arg, re.Pattern):
            if arg.match(bounded_subject(arg, recv)):
                return True
        elif isinstance(arg, str):
            if recv.startswith(arg):
                return True
        else:
            raise ExpressionRuntimeError(f"{name}: expected a string or regex, got {ruby_type(arg)}")
    return False


def _end_with(name: str, recv: Any, *args: Any) -> bool:
    if not isinstance(recv, str):
        raise _no_method(name, recv)
    for arg in args:
        if not isinstance(arg, str):
            raise ExpressionRuntimeError(f"{name}: expected a string, got {ruby_type(arg)}")
        if recv.endswith(arg):
            return True
    return False


def _include(name: str, recv: Any, item: Any) -> bool:
    if isinstance(recv, str):
        if not isinstance(item, str):
            raise ExpressionRuntimeError(f"{name}: expected a string, got {ruby_type(item)}")
        return item in recv
    if isinstance(recv, list | dict):
        return contains(item, recv)
    raise _no_method(name, recv)


def _size(name: str, recv: Any) -> int:
    if isinstance(recv, str | list | dict):
        return len(recv)
    raise _no_method(name, recv)


_INT_PREFIX = re.compile(r"\s*[+-]?[0-9]+(?:_[0-9]+)*")
_FLOAT_PREFIX = re.compile(r"\s*[+-]?(?:[0-9]+(?:_[0-9]+)*(?:\.[0-9]+)?|\.[0-9]+)(?:[eE][+-]?[0-9]+)?")


def _to_i(name: str, recv: Any) -> int:
    if recv is None:
        return 0
    if isinstance(recv, str):
        m = _INT_PREFIX.match(recv)
        return int(m.group()) if m else 0
    if is_number(recv):
        if isinstance(recv, float) and not math.isfinite(recv):
            raise ExpressionRuntimeError(f"{to_s(recv)} has no integer value")
        return int(recv)
    raise _no_method(name, recv)


def _to_f(name: str, recv: Any) -> float:
    if recv is None:
        return 0.0
    if isinstance(recv, str):
        m = _FLOAT_PREFIX.match(recv)
        return float(m.group()) if m else 0.0
    if is_number(recv):
        return float(recv)
    raise _no_method(name, recv)


def _match_p(name: str, recv: Any, pattern: Any) -> bool:
    if isinstance(pattern, str):
        pattern = compile_regex((pattern,), 0, None)
    if recv is None:
        return False
    return regex_match(recv, pattern) is not None


def _empty(name: str, recv: Any) -> bool:
    if isinstance(recv, str | list | dict):
        return not recv
    raise _no_method(name, recv)


def _num_method(fn: Callable[[Any], Any], integral: bool = False) -> Callable[..., Any]:
    def call(name: str, recv: Any) -> Any:
        if not is_number(recv):
            raise _no_method(name, recv)
        if integral and isinstance(recv, float) and not math.isfinite(recv):
            raise ExpressionRuntimeError(f"{to_s(recv)} has no integer value")
        return fn(recv)

    return call


def _round(x: float) -> int:
    if isinstance(x, int):
        return x
    # Ruby rounds halves away from zero, Python to even.
    return int(math.copysign(math.floor(abs(x) + 0.5), x))


def _ends(which: int) -> Callable[..., Any]:
    def call(name: str, recv: Any) -> Any:
        if not isinstance(recv, list):
            raise _no_method(name, recv)
        return recv[which] if recv else None

    return call


def _split(name: str, recv: Any, sep: Any = None) -> list[str]:
    if not isinstance(recv, str):
        raise _no_method(name, recv)
    if sep is None or sep == " ":
        return recv.split()
    if isinstance(sep, re.Pattern):
        return sep.split(bounded_subject(sep, recv))
    if isinstance(sep, str):
        return recv.split(sep) if sep else list(recv)
    raise ExpressionRuntimeError(f"split: expected a string or regex, got {ruby_type(sep)}")


def _between(name: str, recv: Any, low: Any, high: Any) -> bool:
    return bool(BINARY[">="](recv, low) and BINARY["<="](recv, high))


def _has_key(name: str, recv: Any, key: Any) -> bool:
    if not isinstance(recv, dict):
        raise _no_method(name, recv)
    return isinstance(key, str) and key in recv


_lower, _upper = _str_method(str.lower), _str_method(str.upper)

#: name -> (fewest arguments, most arguments, implementation(name, receiver, *arguments)).
METHODS: dict[str, tuple[int, int, Callable[..., Any]]] = {
    "start_with?": (1, 8, _start_with), "startswith": (1, 8, _start_with),
    "end_with?": (1, 8, _end_with), "endswith": (1, 8, _end_with),
    "include?": (1, 1, _include),
    "downcase": (0, 0, _lower), "lower": (0, 0, _lower),
    "upcase": (0, 0, _upper), "upper": (0, 0, _upper),
    "strip": (0, 0, _str_method(str.strip)),
    "length": (0, 0, _size), "size": (0, 0, _size),
    "to_i": (0, 0, _to_i), "to_f": (0, 0, _to_f), "to_s": (0, 0, lambda name, recv: to_s(recv)),
    "match?": (1, 1, _match_p),
    "empty?": (0, 0, _empty),
    "nil?": (0, 0, lambda name, recv: recv is None),
    "zero?": (0, 0, _num_method(lambda x: x == 0)),
    "abs": (0, 0, _num_method(abs)),
    "round": (0, 0, _num_method(_round, integral=True)),
    "floor": (0, 0, _num_method(math.floor, integral=True)),
    "ceil": (0, 0, _num_method(math.ceil, integral=True)),
    "first": (0, 0, _ends(0)), "last": (0, 0, _ends(-1)),
    "split": (0, 1, _split),
    "between?": (2, 2, _between),
    "key?": (1, 1, _has_key), "has_key?": (1, 1, _has_key),
}
