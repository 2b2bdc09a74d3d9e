"""Check tokens: `:::dot.path|default:::` filled in from the client definition.

Sensu 1.x substitutes tokens in every string of a check (recursively through objects and
arrays, keys untouched) before running it: `:::disk.warning|80:::` becomes the client's
`disk.warning`, or `80` when the client has none. A token with neither a value nor a default
is *unmatched*; the client then reports status 3 with "Unmatched client token(s): ..." and
`handle: false` instead of running the command.

Sensu pasted the values unquoted into `sh -c`, so a client attribute such as
`"dir": "/tmp; rm -rf /"` ran as a command. ogi refuses a command whose client-supplied
token values hold anything outside a conservative set of characters (letters, digits and
`_ . , : / = @ + % -`) unless the check sets `"unsafe_tokens": true`. Defaults written in the
check itself are the check author's text, like the rest of the command, and are not refused.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from typing import Any

from pipeline.model import JSON

#: A token starts with a character other than ':' and ends at the first ':::' after it.
TOKEN_RE = re.compile(r":::([^:].*?):::", re.DOTALL)
#: Characters a token value may hold in a shell command without `unsafe_tokens`.
SAFE_VALUE_RE = re.compile(r"[\w.,:/=@+%-]*\Z")
_UNSAFE_CHAR_RE = re.compile(r"[^\w.,:/=@+%-]")

UNMATCHED_OUTPUT = "Unmatched client token(s): "


def _lookup(client: Any, path: list[str]) -> Any:
    value = client
    for part in path:
        if not isinstance(value, dict):
            return None
        value = value.get(part)
    return value


def _text(value: Any) -> str:
    """A client value as it appears in the substituted string."""
    if isinstance(value, str):
        return value
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, dict | list):
        return json.dumps(value, separators=(",", ":"), ensure_ascii=False)
    return str(value)


@dataclass
class _Scan:
    unmatched: list[str] = field(default_factory=list)
    #: token -> the value it took from the client definition
    from_client: dict[str, str] = field(default_factory=dict)


def _substitute_string(text: str, client: Any, scan: _Scan) -> str:
    if ":::" not in text:
        return text

    def replace(match: re.Match[str]) -> str:
        token, sep, default = match.group(1).partition("|")
        value = _lookup(client, token.split("."))
        if value is not None:
            rendered = _text(value)
            scan.from_client.setdefault(token, rendered)
            return rendered
        if sep:
            return default
        if token not in scan.unmatched:
            scan.unmatched.append(token)
        return ""

    return TOKEN_RE.sub(replace, text)


def _walk(value: Any, client: Any, scan: _Scan) -> Any:
    if isinstance(value, str):
        return _substitute_string(value, client, scan)
    if isinstance(value, dict):
        return {k: _walk(v, client, scan) for k, v in value.items()}
    if isinstance(value, list):
        return [_walk(v, client, scan) for v in value]
    return value


def _mentions_token(value: Any) -> bool:
    """Whether any string in `value` holds the token marker; builds nothing, unlike _walk."""
    if isinstance(value, str):
        return ":::" in value
    if isinstance(value, dict):
        return any(_mentions_token(v) for v in value.values())
    if isinstance(value, list):
        return any(_mentions_token(v) for v in value)
    return False


def substitute(value: Any, client: JSON) -> tuple[Any, list[str]]:
    """`value` with every token in every string filled in, and the unmatched token names."""
    scan = _Scan()
    return _walk(value, client, scan), scan.unmatched


def unsafe_tokens(command: str, client: JSON) -> dict[str, str]:
    """Tokens of `command` whose client value holds shell metacharacters -> those characters."""
    scan = _Scan()
    _substitute_string(command, client, scan)
    found: dict[str, str] = {}
    for token, value in scan.from_client.items():
        if not SAFE_VALUE_RE.match(value):
            chars = "".join(dict.fromkeys(_UNSAFE_CHAR_RE.findall(value)))
            found[token] = chars
    return found


def _describe(chars: str) -> str:
    named = {" ": "space", "\t": "tab", "\n": "newline", "\r": "carriage return"}
    return " ".join(named.get(c, repr(c)) for c in chars)


def unsafe_message(found: dict[str, str]) -> str:
    """The output of a refused check: names each token and its characters, never the value (it may be a secret)."""
    parts = [f"{token} (contains {_describe(chars)})" for token, chars in found.items()]
    return (
        "Unsafe client token value(s) for a shell command: "
        + ", ".join(parts)
        + '; set "unsafe_tokens": true on the check to allow them'
    )


@dataclass
class Prepared:
    """A check after token substitution: run `check`, or report `status`/`output` instead."""

    check: JSON
    status: int | None = None
    output: str | None = None
    handle: bool | None = None


def prepare_check(check: JSON, client: JSON) -> Prepared:
    """Substitute tokens in a check; refuse unmatched tokens and (without `unsafe_tokens`) unsafe values.

    A refused check comes back unsubstituted, with the status and output to publish.
    """
    # Hooks are filled in when one runs (pipeline/agent/hooks.py), so a token only a hook
    # lacks is reported in that hook's entry, as Sensu does, and the check itself still runs.
    body = {k: v for k, v in check.items() if k != "hooks"} if "hooks" in check else check
    if not _mentions_token(check):
        return Prepared(check)  # the common case: nothing to fill in, and so nothing unsafe
    substituted, unmatched = substitute(body, client)
    if unmatched:
        return Prepared(check, status=3, output=UNMATCHED_OUTPUT + ", ".join(unmatched), handle=False)
    if check.get("unsafe_tokens") is not True:
        found: dict[str, str] = {}
        for command in _commands(check):
            found.update(unsafe_tokens(command, client))
        if found:
            return Prepared(check, status=3, output=unsafe_message(found))
    if "hooks" in check:
        substituted["hooks"] = check["hooks"]
    return Prepared(substituted)


def _commands(check: JSON) -> list[str]:
    """The strings of a check that reach a shell: its command and its hooks' commands."""
    commands = [check["command"]] if isinstance(check.get("command"), str) else []
    hooks = check.get("hooks")
    if isinstance(hooks, dict):
        commands.extend(
            hook["command"] for hook in hooks.values() if isinstance(hook, dict) and isinstance(hook.get("command"), str)
        )
    return commands
