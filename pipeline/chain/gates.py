"""Gates and settings filters: what decides whether a handler sees an event.

`gate` applies Sensu 1.x's fixed checks in order (handle, flapping, severities, silenced).
`AttributeFilter` is a named filter from the `filters` settings: `attributes` deep-matched
against the event, `negate`, and an optional `when` window. Its attribute tree is flattened
at construction into (path, matcher) pairs, every `eval:` expression compiled, so matching
an event is a few dict lookups and calls.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, ClassVar

from pipeline.expr.expression import EVAL_PREFIX, ExpressionError, ExpressionRuntimeError, compile_expression
from pipeline.expr.values import ruby_eq, to_s
from pipeline.expr.when import WhenError, Window, compile_when
from pipeline.extension import Context, DefinitionError, Filter
from pipeline.model import JSON, Event, severity_name, truthy

__all__ = ["AttributeFilter", "gate"]

def gate(handler: JSON, event: Event) -> str | None:
    """The first of Sensu's gates that stops `event` for `handler`, or None when it may go on.

    "handle": `check.handle` is false; "flapping": a flapping event and no `handle_flapping`;
    "severities": the status's severity is not listed (for a resolve, any status in the
    history may match, the resolving OK included); "silenced": silenced and no
    `handle_silenced`.
    """
    check = event["check"]
    if check.get("handle") is False:
        return "handle"
    action = event.get("action")
    if action == "flapping" and not handler.get("handle_flapping"):
        return "flapping"
    severities = handler.get("severities")
    if severities is not None:
        history = check.get("history") if action == "resolve" else None
        if history:
            if not any(severity_name(status) in severities for status in history):
                return "severities"
        elif severity_name(check.get("status", 3)) not in severities:
            return "severities"
    if event.get("silenced") and not handler.get("handle_silenced"):
        return "silenced"
    return None


# -- attribute matching ----------------------------------------------------------------------------
#: Stands for "a parent on the path is not an object": nothing matches it, not even nil.
_ABSENT: Any = object()

Matcher = Callable[[Any, Event], bool]


def _lookup(event: Event, path: tuple[str, ...]) -> Any:
    data: Any = event
    for key in path:
        if not isinstance(data, dict):
            return _ABSENT
        data = data.get(key)
    return data


def _plain_matcher(expected: Any) -> Matcher:
    """Equality, or Ruby `to_s` equality (so 2 matches "2", true "true", nil "")."""
    text = to_s(expected)
    if isinstance(expected, str):
        def match_text(actual: Any, event: Event) -> bool:
            if type(actual) is str:
                return actual == expected
            return actual is not _ABSENT and to_s(actual) == text

        return match_text

    def match(actual: Any, event: Event) -> bool:
        if actual is _ABSENT:
            return False
        return ruby_eq(expected, actual) or to_s(actual) == text

    return match


def _eval_matcher(source: str, expected: str) -> Matcher:
    expression = compile_expression(source)
    evaluate = expression.evaluate

    def match(actual: Any, event: Event) -> bool:
        if actual is _ABSENT:
            return False
        return actual == expected or truthy(evaluate(actual, event))

    return match


def _is_object(actual: Any, event: Event) -> bool:
    return isinstance(actual, dict)


def compile_attributes(attributes: JSON, prefix: tuple[str, ...] = ()) -> list[tuple[tuple[str, ...], Matcher]]:
    """Flatten an attribute tree into (path, matcher) pairs; raise ExpressionError with the
    path prepended for a malformed `eval:`."""
    out: list[tuple[tuple[str, ...], Matcher]] = []
    for key, expected in attributes.items():
        path = (*prefix, str(key))
        if isinstance(expected, dict):
            # An object matches an object holding at least its keys; `{}` any object.
            out.extend(compile_attributes(expected, path) if expected else [(path, _is_object)])
        elif isinstance(expected, str) and (m := EVAL_PREFIX.match(expected)):
            try:
                out.append((path, _eval_matcher(expected[m.end():], expected)))
            except ExpressionError as exc:
                raise _PathError(".".join(path), exc) from None
        else:
            out.append((path, _plain_matcher(expected)))
    return out


class _PathError(Exception):
    def __init__(self, path: str, error: ExpressionError) -> None:
        super().__init__(path)
        self.path = path
        self.error = error


class AttributeFilter(Filter):
    """A settings filter: `{attributes, negate (false), when}`; True keeps the event."""

    allowed_keys: ClassVar[frozenset[str] | None] = frozenset({"attributes", "negate", "when"})

    def __init__(self, name: str, definition: JSON, context: Context) -> None:
        super().__init__(name, definition, context)
        if not isinstance(definition, dict):
            raise DefinitionError("", "a filter definition must be an object", definition)
        attributes = definition.get("attributes")
        if not isinstance(attributes, dict):
            raise DefinitionError("attributes", "must be an object of event attributes", attributes)
        negate = definition.get("negate", False)
        if not isinstance(negate, bool):
            raise DefinitionError("negate", "must be true or false", negate)
        self.negate = negate
        try:
            self._matchers = compile_attributes(attributes)
        except _PathError as exc:
            value = _dig_raw(attributes, exc.path.split("."))
            raise DefinitionError(
                f"attributes.{exc.path}", f"bad eval expression: {exc.error.message}", value
            ) from None
        self.window: Window | None = None
        if "when" in definition:
            try:
                self.window = compile_when(definition["when"])
            except WhenError as exc:
                path = f"when.{exc.path}" if exc.path else "when"
                raise DefinitionError(path, exc.message, exc.value) from None
        self._reported = False

    def matches(self, event: Event) -> bool:
        """Whether every attribute matches; an expression that fails counts as no match."""
        for path, matcher in self._matchers:
            try:
                if not matcher(_lookup(event, path), event):
                    return False
            except ExpressionRuntimeError as exc:
                self._report(path, exc)
                return False
        return True

    def check(self, event: Event) -> bool:
        """`allows` without the coroutine, for callers on a hot path. Outside its `when`
        window the filter does not apply, so the event passes."""
        if self.window is not None and not self.window.contains(self.context.clock()):
            return True
        return self.matches(event) is not self.negate

    async def allows(self, event: Event) -> bool:
        return self.check(event)

    def _report(self, path: tuple[str, ...], exc: ExpressionRuntimeError) -> None:
        if self._reported:
            return
        self._reported = True
        self.context.log.error(
            "filter eval error (counted as no match; further errors of this filter are not logged)",
            extra={"fields": {"filter": self.name, "attribute": ".".join(path), "error": str(exc)}},
        )


def _dig_raw(data: Any, parts: list[str]) -> Any:
    for part in parts:
        data = data.get(part) if isinstance(data, dict) else None
    return data
