"""Safe `eval:` expressions for filter attributes.

Sensu 1.x passed `"eval: value > 90"` to Ruby's `eval`, so whoever could write a filter could
run code on the server. ogi reads the same expressions with its own tokenizer and Pratt
parser into a tree of a few node kinds, then turns that tree into closures: nothing in it
can reach Python's `eval`, attributes, imports or I/O. The semantics follow Ruby, since
that is what existing configs were written for: only `nil` and `false` are false, integer
division floors, `and`/`or` share one precedence, `!` binds tighter than comparisons.

The Ruby-flavoured value helpers (`ruby_eq`, `to_s`; `truthy` is `pipeline.model`'s) and the method table live in
`pipeline/expr/values.py`; this module is the language.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, NamedTuple

from pipeline.expr.values import (
    BINARY,
    METHODS,
    ExpressionRuntimeError,
    Token,
    compile_regex,
    negate,
    plus,
)
from pipeline.model import truthy

__all__ = ["Expression", "ExpressionError", "ExpressionRuntimeError", "compile_expression", "MAX_LENGTH"]

MAX_LENGTH = 1000
#: Deepest tree (and parser recursion) accepted; real filters nest a handful of levels.
MAX_DEPTH = 64

Fn = Callable[[Any, dict], Any]


class ExpressionError(ValueError):
    """A malformed expression; the message says what and at which column (1-based)."""

    def __init__(self, message: str, column: int | None = None) -> None:
        text = f"{message} at column {column}" if column is not None else message
        super().__init__(text)
        self.message = text
        self.column = column


# -- tokens -------------------------------------------------------------------------------------
class _Tok(NamedTuple):
    kind: str  # NUM STR REGEX TOKEN NAME CONST EOF, a keyword, or the operator text
    text: str
    value: Any
    col: int


_KEYWORDS = frozenset({"and", "or", "not", "in"})
_CONSTS: dict[str, Any] = {
    "true": True, "false": False, "nil": None, "null": None, "True": True, "False": False, "None": None,
}
_OPERATORS = ("==", "!=", "=~", "!~", "<=", ">=", "&&", "||", "<", ">", "!", "+", "-", "*", "/", "%",
              "(", ")", "[", "]", ",", ".")
#: After these a `/` divides; anywhere else it opens a regex, as in Ruby.
_ENDS_OPERAND = frozenset({"NUM", "STR", "REGEX", "TOKEN", "NAME", "CONST", ")", "]"})
_NUMBER_RE = re.compile(r"[0-9]+(?:_[0-9]+)*(\.[0-9]+(?:_[0-9]+)*)?([eE][+-]?[0-9]+)?")
_WORD_RE = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
_TEMPLATE_RE = re.compile(r":::([^:].*?):::")
_DQ_ESCAPES = {"n": "\n", "t": "\t", "r": "\r", "0": "\0", "s": " ", "e": "\x1b", "a": "\a", "b": "\b",
               "f": "\f", "v": "\v"}
_HEX_ESCAPE = {"u": re.compile(r"[0-9a-fA-F]{4}"), "x": re.compile(r"[0-9a-fA-F]{1,2}")}
_REGEX_FLAGS = {"i": re.IGNORECASE, "m": re.DOTALL, "x": re.VERBOSE, "o": 0}


def _token(content: str, col: int) -> Token:
    path, sep, default = content.partition("|")
    parts = tuple(path.split("."))
    if not all(parts):
        raise ExpressionError(f"bad event path in :::{content}:::", col)
    return Token(parts, default if sep else None, f":::{content}:::")


def _template(text: str, col: int) -> tuple[str | Token, ...]:
    """Split a string or regex source at its `:::path|default:::` tokens."""
    out: list[str | Token] = []
    pos = 0
    for m in _TEMPLATE_RE.finditer(text):
        if m.start() > pos:
            out.append(text[pos:m.start()])
        out.append(_token(m.group(1), col))
        pos = m.end()
    if pos < len(text) or not out:
        out.append(text[pos:])
    return tuple(out)


def _string(src: str, i: int) -> tuple[str, int]:
    quote, j, buf = src[i], i + 1, list[str]()
    while j < len(src):
        c = src[j]
        if c == quote:
            return "".join(buf), j + 1
        if c == "\\" and j + 1 < len(src):
            nxt = src[j + 1]
            j += 2
            if quote == "'":
                buf.append(nxt if nxt in "\\'" else c + nxt)
            elif nxt in "ux" and (m := _HEX_ESCAPE[nxt].match(src, j)):
                buf.append(chr(int(m.group(), 16)))
                j = m.end()
            else:
                buf.append(_DQ_ESCAPES.get(nxt, nxt))
            continue
        if c == "#" and quote == '"' and src.startswith("{", j + 1):
            raise ExpressionError("string interpolation #{...} is not supported", j + 1)
        buf.append(c)
        j += 1
    raise ExpressionError("unterminated string", i + 1)


def _regex(src: str, i: int) -> tuple[str, int, int]:
    j, buf = i + 1, list[str]()
    while j < len(src) and src[j] != "/":
        if src[j] == "\\" and j + 1 < len(src):
            buf.append("/" if src[j + 1] == "/" else src[j:j + 2])
            j += 2
        else:
            buf.append(src[j])
            j += 1
    if j >= len(src):
        raise ExpressionError("unterminated regex", i + 1)
    j += 1
    flags = 0
    while j < len(src) and (src[j].isalnum() or src[j] == "_"):
        if src[j] not in _REGEX_FLAGS:
            raise ExpressionError(f"unknown regex flag {src[j]!r}", j + 1)
        flags |= _REGEX_FLAGS[src[j]]
        j += 1
    return "".join(buf), flags, j


def _tokenize(src: str) -> list[_Tok]:
    toks: list[_Tok] = []
    i, n = 0, len(src)
    while i < n:
        c, col = src[i], i + 1
        if c in " \t\r\n":
            i += 1
            continue
        if src.startswith(":::", i):
            end = src.find(":::", i + 4)
            if src.startswith(":", i + 3) or end < 0:
                raise ExpressionError("unterminated :::token:::", col)
            toks.append(_Tok("TOKEN", src[i:end + 3], _token(src[i + 3:end], col), col))
            i = end + 3
        elif "0" <= c <= "9":
            m = _NUMBER_RE.match(src, i)
            assert m is not None
            i = m.end()
            if i < n and (src[i].isalnum() or src[i] == "_"):
                raise ExpressionError(f"bad number {src[col - 1:i + 1]!r}", col)
            text = m.group()
            toks.append(_Tok("NUM", text, float(text) if m.group(1) or m.group(2) else int(text), col))
        elif c in "'\"":
            text, i = _string(src, i)
            toks.append(_Tok("STR", src[col - 1:i], _template(text, col), col))
        elif c == "/" and (not toks or toks[-1].kind not in _ENDS_OPERAND):
            pattern, flags, i = _regex(src, i)
            parts = _template(pattern, col)
            try:
                compile_regex(parts, flags, None)
            except ExpressionRuntimeError as exc:
                raise ExpressionError(f"bad regex: {exc}", col) from None
            toks.append(_Tok("REGEX", src[col - 1:i], (parts, flags), col))
        elif c.isascii() and (c.isalpha() or c == "_"):
            m = _WORD_RE.match(src, i)
            assert m is not None
            word, i = m.group(), m.end()
            if src.startswith("?", i):
                word, i = word + "?", i + 1
                toks.append(_Tok("NAME", word, None, col))
            elif word in _KEYWORDS:
                toks.append(_Tok(word, word, None, col))
            elif word in _CONSTS:
                toks.append(_Tok("CONST", word, _CONSTS[word], col))
            else:
                toks.append(_Tok("NAME", word, None, col))
        else:
            op = next((o for o in _OPERATORS if src.startswith(o, i)), None)
            if op is None:
                hint = "; assignment is not allowed, did you mean '=='?" if c == "=" else ""
                raise ExpressionError(f"unexpected character {c!r}{hint}", col)
            if src.startswith("==", i) and src.startswith("=", i + 2):
                raise ExpressionError("unexpected '==='", col)
            toks.append(_Tok(op, op, None, col))
            i += len(op)
    toks.append(_Tok("EOF", "end of input", None, n + 1))
    return toks


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
    def __init__(self, toks: list[_Tok]) -> None:
        self.toks = toks
        self.pos = 0

    def peek(self) -> _Tok:
        return self.toks[self.pos]

    def take(self, kind: str, what: str) -> _Tok:
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


def _describe(tok: _Tok) -> str:
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
    return Expression(src, _Parser(_tokenize(src)).parse())
