"""Safe `eval:` expressions for filter attributes.

Sensu 1.x passed `"eval: value > 90"` to Ruby's `eval`, so whoever could write a filter could
run code on the server. ogi reads the same expressions with its own tokenizer and Pratt
parser into a tree of a few node kinds, then turns that tree into closures: nothing in it
can reach Python's `eval`, attributes, imports or I/O. The semantics follow Ruby, since
that is what existing configs were written for: only `nil` and `false` are false, integer
division floors, `and`/`or` share one precedence, `!` binds tighter than comparisons.

The tokenizer is lexer.py, the Ruby-flavoured values and operators (`ruby_eq`, `to_s`;
`truthy` is `pipeline.model`'s) values.py, the callable methods methods.py; this module parses and compiles.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from pipeline.expr.lexer import ExpressionError, Tok, tokenize
from pipeline.expr.methods import METHODS
from pipeline.expr.values import (
    BINARY,
    ExpressionRuntimeError,
    Token,
    compile_regex,
    negate,
    plus,
)
from pipeline.model import truthy

__all__ = ["EVAL_PREFIX", "Expression", "ExpressionError", "ExpressionRuntimeError", "compile_expression", "MAX_LENGTH"]

MAX_LENGTH = 1000
#: Sensu's marker for an expression value in a filter attribute, with the blanks after it.
EVAL_PREFIX = re.compile(r"eval:\s*")
#: Deepest tree (and parser recursion) accepted; real filters nest a handful of levels.
MAX_DEPTH = 64

Fn = Callable[[Any, dict], Any]


# -- tree ---------------------------------------------------------------------------------------
@dataclass(frozen=True, slots=True)
class Node:
    """One node of the parsed tree: `kind` is lit, value, token, str, regex, list, not, neg,
    pos, and, or, binary, call or index; `args` holds the operator or method name and the
    children."""

    kind: str
    args: tuple[Any, ...]
    col: int
    depth: int = 1

    @staticmethod
    def make(kind: str, args: tuple[Any, ...], col: int) -> Node:
        depth = 1 + max((a.depth for a in args if isinstance(a, Node)), default=0)
        for a in args:
            if isinstance(a, tuple):
                depth = max(depth, 1 + max((x.depth for x in a if isinstance(x, Node)), default=0))
        if depth > MAX_DEPTH:
            raise ExpressionError(f"expression nests deeper than {MAX_DEPTH} levels", col)
        return Node(kind, args, col, depth)


# Binding powers; comparisons (5 and 6) do not chain.
_INFIX = {
    "or": 1, "and": 1, "||": 3, "&&": 4,
    "==": 5, "!=": 5, "=~": 5, "!~": 5, "in": 5, "not in": 5,
    "<": 6, "<=": 6, ">": 6, ">=": 6,
    "+": 7, "-": 7, "*": 8, "/": 8, "%": 8,
}
_NON_ASSOC = frozenset({5, 6})


class _Parser:
    def __init__(self, toks: list[Tok]) -> None:
        self.toks = toks
        self.pos = 0

    def peek(self) -> Tok:
        return self.toks[self.pos]

    def take(self, kind: str, what: str) -> Tok:
        tok = self.peek()
        if tok.kind != kind:
            raise ExpressionError(f"expected {what} but found {_describe(tok)}", tok.col)
        self.pos += 1
        return tok

    def infix_op(self) -> str:
        tok = self.peek()
        if tok.kind == "not" and self.toks[self.pos + 1].kind == "in":
            return "not in"
        return tok.kind

    def parse(self) -> Node:
        if self.peek().kind == "EOF":
            raise ExpressionError("empty expression", 1)
        node = self.expr(0, 1)
        tok = self.peek()
        if tok.kind != "EOF":
            raise ExpressionError(f"unexpected {_describe(tok)}", tok.col)
        return node

    def expr(self, min_bp: int, depth: int) -> Node:
        if depth > MAX_DEPTH:
            raise ExpressionError(f"expression nests deeper than {MAX_DEPTH} levels", self.peek().col)
        left = self.prefix(depth)
        while True:
            op = self.infix_op()
            bp = _INFIX.get(op)
            if bp is None or bp < min_bp:
                return left
            tok = self.peek()
            self.pos += 2 if op == "not in" else 1
            right = self.expr(bp + 1, depth + 1)
            kind = op if op in ("and", "or") else {"&&": "and", "||": "or"}.get(op, "binary")
            left = Node.make(kind, (op, left, right), tok.col)
            if bp in _NON_ASSOC and _INFIX.get(self.infix_op()) == bp:
                raise ExpressionError(
                    f"comparisons do not chain: write 'a {op} b and b {self.infix_op()} c'", self.peek().col
                )

    def prefix(self, depth: int) -> Node:
        tok = self.peek()
        self.pos += 1
        k = tok.kind
        if k == "not":
            node = Node.make("not", (self.expr(2, depth + 1),), tok.col)
        elif k == "!":
            node = Node.make("not", (self.expr(10, depth + 1),), tok.col)
        elif k in ("-", "+"):
            node = Node.make("neg" if k == "-" else "pos", (self.expr(9, depth + 1),), tok.col)
        elif k == "(":
            node = self.expr(0, depth + 1)
            self.take(")", "')'")
        elif k == "[":
            items: list[Node] = []
            while self.peek().kind != "]":
                items.append(self.expr(0, depth + 1))
                if self.peek().kind != ",":
                    break
                self.pos += 1
            self.take("]", "',' or ']'")
            node = Node.make("list", (tuple(items),), tok.col)
        elif k in ("NUM", "CONST"):
            node = Node("lit", (tok.value,), tok.col)
        elif k == "STR":
            parts = tok.value
            node = Node("lit", (parts[0],), tok.col) if len(parts) == 1 and isinstance(parts[0], str) \
                else Node("str", (parts,), tok.col)
        elif k == "REGEX":
            node = Node("regex", tok.value, tok.col)
        elif k == "TOKEN":
            node = Node("token", (tok.value,), tok.col)
        elif k == "NAME" and tok.text == "value":
            node = Node("value", (), tok.col)
        elif k == "NAME":
            raise ExpressionError(f"unknown name {tok.text!r} (only 'value' is defined)", tok.col)
        else:
            raise ExpressionError(f"expected a value but found {_describe(tok)}", tok.col)
        return self.postfix(node, depth)

    def postfix(self, node: Node, depth: int) -> Node:
        while True:
            tok = self.peek()
            if tok.kind == ".":
                self.pos += 1
                name = self.take("NAME", "a method name")
                if name.text not in METHODS:
                    raise ExpressionError(f"unknown method {name.text!r}", name.col)
                args: list[Node] = []
                if self.peek().kind == "(":
                    self.pos += 1
                    while self.peek().kind != ")":
                        args.append(self.expr(0, depth + 1))
                        if self.peek().kind != ",":
                            break
                        self.pos += 1
                    self.take(")", "',' or ')'")
                low, high, _ = METHODS[name.text]
                if not low <= len(args) <= high:
                    want = str(low) if low == high else f"{low} to {high}"
                    raise ExpressionError(
                        f"method {name.text!r} takes {want} argument(s), got {len(args)}", name.col
                    )
                node = Node.make("call", (name.text, node, tuple(args)), name.col)
            elif tok.kind == "[":
                self.pos += 1
                index = self.expr(0, depth + 1)
                self.take("]", "']'")
                node = Node.make("index", (node, index), tok.col)
            else:
                return node


def _describe(tok: Tok) -> str:
    return "end of input" if tok.kind == "EOF" else repr(tok.text)


# -- evaluation -----------------------------------------------------------------------------------
def _build(node: Node) -> Fn:  # noqa: C901 - one branch per node kind reads best
    k, a = node.kind, node.args
    if k == "lit":
        const = a[0]
        return lambda v, e: const
    if k == "value":
        return lambda v, e: v
    if k == "token":
        tok: Token = a[0]
        return lambda v, e: tok.literal(e)
    if k == "str":
        parts = a[0]
        return lambda v, e: "".join(p if isinstance(p, str) else p.text(e) for p in parts)
    if k == "regex":
        parts, flags = a
        if len(parts) == 1 and isinstance(parts[0], str):
            pattern = compile_regex(parts, flags, None)
            return lambda v, e: pattern
        return lambda v, e: compile_regex(parts, flags, e)
    if k == "list":
        fns = [_build(x) for x in a[0]]
        return lambda v, e: [f(v, e) for f in fns]
    if k == "not":
        f = _build(a[0])
        return lambda v, e: not truthy(f(v, e))
    if k in ("neg", "pos"):
        f, unary = _build(a[0]), negate if k == "neg" else plus
        return lambda v, e: unary(f(v, e))
    if k in ("and", "or"):
        left, right = _build(a[1]), _build(a[2])
        if k == "and":
            return lambda v, e: right(v, e) if truthy(r := left(v, e)) else r
        return lambda v, e: r if truthy(r := left(v, e)) else right(v, e)
    if k == "binary":
        op, left, right = BINARY[a[0]], _build(a[1]), _build(a[2])
        return lambda v, e: op(left(v, e), right(v, e))
    if k == "call":
        impl, recv, args = METHODS[a[0]][2], _build(a[1]), [_build(x) for x in a[2]]
        name = a[0]
        return lambda v, e: impl(name, recv(v, e), *[f(v, e) for f in args])
    if k == "index":
        op, left, right = BINARY["[]"], _build(a[0]), _build(a[1])
        return lambda v, e: op(left(v, e), right(v, e))
    raise AssertionError(f"unknown node kind {k}")


class Expression:
    """A compiled expression: `evaluate(value, event)` gives its result, `matches` its truth."""

    __slots__ = ("source", "tree", "_fn")

    def __init__(self, source: str, tree: Node) -> None:
        self.source = source
        self.tree = tree
        self._fn = _build(tree)

    def evaluate(self, value: Any, event: dict) -> Any:
        try:
            return self._fn(value, event)
        except ExpressionRuntimeError:
            raise
        except Exception as exc:  # noqa: BLE001 - user input must never escape as another type
            raise ExpressionRuntimeError(f"{type(exc).__name__}: {exc}") from exc

    def matches(self, value: Any, event: dict) -> bool:
        """The result by Ruby's truth: everything but `nil` and `false` matches."""
        return truthy(self.evaluate(value, event))

    def __repr__(self) -> str:
        return f"Expression({self.source!r})"


def compile_expression(src: str) -> Expression:
    """Parse `src` (without the `eval:` prefix); raise ExpressionError when it is malformed."""
    if not isinstance(src, str):
        raise ExpressionError("an expression must be a string")
    if len(src) > MAX_LENGTH:
        raise ExpressionError(f"expression is longer than {MAX_LENGTH} characters")
    return Expression(src, _Parser(tokenize(src)).parse())
