"""Keeping one regex match from holding the event loop.

Python's `re` backtracks: `/(a+)+$/` against 30 `a`s and a `b` takes seconds, and each extra
character doubles it. The expression language therefore refuses, when a regex is compiled, a
quantified group that itself holds a quantifier (the shape of every exponential case; an atomic
group `(?>...)` or a possessive quantifier `++` does not backtrack and is allowed), and matches a
regex with an unbounded quantifier (`*`, `+`, `{n,}`) only against strings up to
`MAX_SUBJECT` characters, which bounds the polynomial cases such as `/.*.*x/`.
"""

from __future__ import annotations

#: Longest string a regex with an unbounded quantifier is matched against.
MAX_SUBJECT = 16 * 1024


def _quantifier_at(src: str, i: int) -> tuple[bool, bool, int]:
    """(is a quantifier, is unbounded, index after it) for the text at `src[i]`."""
    if i >= len(src):
        return False, False, i
    char = src[i]
    if char in "*+":
        end = i + 1
        unbounded = True
    elif char == "?":
        return True, False, i + 1
    elif char == "{":
        close = src.find("}", i)
        body = src[i + 1:close] if close > 0 else ""
        low, comma, high = body.partition(",")
        if close < 0 or not (low.isdigit() or (comma and not low)) or (high and not high.isdigit()):
            return False, False, i  # a literal brace
        end = close + 1
        unbounded = bool(comma) and not high
        if high and int(high) > 1:
            unbounded = True  # {2,1000} nested inside another repeat explodes just the same
    else:
        return False, False, i
    if end < len(src) and src[end] == "+":
        return True, False, end + 1  # possessive: never backtracks
    if end < len(src) and src[end] == "?":
        end += 1  # lazy: backtracks all the same
    return True, unbounded, end


def _atom_end(src: str, i: int) -> int:
    """The index after an escape or a character class starting at `src[i]`."""
    if src[i] == "\\":
        return i + 2
    j = i + 1
    if j < len(src) and src[j] == "^":
        j += 1
    if j < len(src) and src[j] == "]":
        j += 1
    while j < len(src) and src[j] != "]":
        j += 2 if src[j] == "\\" else 1
    return j + 1


def check_pattern(src: str) -> bool:
    """Whether `src` has an unbounded quantifier; ValueError if a repeated group holds a repeat."""
    stack: list[list[bool]] = []  # per open group: [holds a repeat, is atomic]
    unbounded_any = False
    i = 0
    while i < len(src):
        char = src[i]
        if char in "\\[":
            i = _atom_end(src, i)
            is_q, unbounded, after = _quantifier_at(src, i)
            if is_q and stack:
                stack[-1][0] = stack[-1][0] or unbounded
            unbounded_any = unbounded_any or unbounded
            i = after
            continue
        if char == "(":
            stack.append([False, src.startswith("(?>", i)])
            i += 1
            continue
        if char == ")" and stack:
            holds, atomic = stack.pop()
            is_q, unbounded, after = _quantifier_at(src, i + 1)
            if is_q and unbounded and holds and not atomic:
                raise ValueError(
                    "a repeated group holding a repeat (such as (a+)+) can take exponential time; "
                    "write it without the nesting, or as an atomic group (?>...)"
                )
            if stack:
                stack[-1][0] = stack[-1][0] or holds or unbounded
            unbounded_any = unbounded_any or unbounded
            i = after
            continue
        is_q, unbounded, after = _quantifier_at(src, i + 1) if char not in "|^$" else (False, False, i + 1)
        if is_q and stack:
            stack[-1][0] = stack[-1][0] or unbounded
        unbounded_any = unbounded_any or unbounded
        i = after if is_q else i + 1
    return unbounded_any
