"""The tokenizer of the `eval:` language: numbers, strings (with Ruby's escapes and
`:::path|default:::` tokens inside), regex literals, names, keywords and operators.

A `/` after an operand divides and anywhere else opens a regex, as in Ruby. The parser that
reads these tokens is expression.py.
"""

from __future__ import annotations

import re
from typing import Any, NamedTuple

from pipeline.expr.values import ExpressionRuntimeError, Token, compile_regex


class ExpressionError(ValueError):
    """A malformed expression; the message says what and at which column (1-based)."""

    def __init__(self, message: str, column: int | None = None) -> None:
        text = f"{message} at column {column}" if column is not None else message
        super().__init__(text)
        self.message = text
        self.column = column




class Tok(NamedTuple):
    """One token: its kind, its source text, its value (a number, string, Token...) and column."""

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


def tokenize(src: str) -> list[Tok]:
    """The tokens of `src`, ending with an EOF token; ExpressionError at the first bad character."""
    toks: list[Tok] = []
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
            toks.append(Tok("TOKEN", src[i:end + 3], _token(src[i + 3:end], col), col))
            i = end + 3
        elif "0" <= c <= "9":
            m = _NUMBER_RE.match(src, i)
            assert m is not None
            i = m.end()
            if i < n and (src[i].isalnum() or src[i] == "_"):
                raise ExpressionError(f"bad number {src[col - 1:i + 1]!r}", col)
            text = m.group()
            toks.append(Tok("NUM", text, float(text) if m.group(1) or m.group(2) else int(text), col))
        elif c in "'\"":
            text, i = _string(src, i)
            toks.append(Tok("STR", src[col - 1:i], _template(text, col), col))
        elif c == "/" and (not toks or toks[-1].kind not in _ENDS_OPERAND):
            pattern, flags, i = _regex(src, i)
            parts = _template(pattern, col)
            try:
                compile_regex(parts, flags, None)
            except ExpressionRuntimeError as exc:
                raise ExpressionError(f"bad regex: {exc}", col) from None
            toks.append(Tok("REGEX", src[col - 1:i], (parts, flags), col))
        elif c.isascii() and (c.isalpha() or c == "_"):
            m = _WORD_RE.match(src, i)
            assert m is not None
            word, i = m.group(), m.end()
            if src.startswith("?", i):
                word, i = word + "?", i + 1
                toks.append(Tok("NAME", word, None, col))
            elif word in _KEYWORDS:
                toks.append(Tok(word, word, None, col))
            elif word in _CONSTS:
                toks.append(Tok("CONST", word, _CONSTS[word], col))
            else:
                toks.append(Tok("NAME", word, None, col))
        else:
            op = next((o for o in _OPERATORS if src.startswith(o, i)), None)
            if op is None:
                hint = "; assignment is not allowed, did you mean '=='?" if c == "=" else ""
                raise ExpressionError(f"unexpected character {c!r}{hint}", col)
            if src.startswith("==", i) and src.startswith("=", i + 2):
                raise ExpressionError("unexpected '==='", col)
            toks.append(Tok(op, op, None, col))
            i += len(op)
    toks.append(Tok("EOF", "end of input", None, n + 1))
    return toks
