"""Configuration errors that name where they are: file, JSON path, offending value."""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from typing import Any

_UNSET: Any = object()
_PLAIN_KEY = re.compile(r"^[A-Za-z_][\w-]*\Z")


def path_key(base: str, key: str) -> str:
    """`base.key`, or `base["key"]` when the key holds dots or other punctuation."""
    if _PLAIN_KEY.match(key):
        return f"{base}.{key}" if base else key
    return f"{base}[{json.dumps(key)}]"


def path_index(base: str, index: int) -> str:
    return f"{base}[{index}]"


@dataclass
class ConfigError:
    """One problem in the configuration; `str()` gives the one-line form printed at start-up."""

    path: str
    message: str
    value: Any = _UNSET
    file: str | None = None

    def __str__(self) -> str:
        # A file-level problem (unreadable, not JSON) has no path: the file alone says where.
        parts = [part for part in (self.file, self.path) if part] or ["<root>"]
        line = ": ".join([*parts, self.message])
        if self.value is not _UNSET:
            shown = json.dumps(self.value, default=str)
            if len(shown) > 80:
                shown = shown[:77] + "..."
            line += f" (got {shown})"
        return line


class ConfigErrors(Exception):
    """Raised with every error found, never just the first."""

    def __init__(self, errors: list[ConfigError]) -> None:
        super().__init__("\n".join(str(e) for e in errors))
        self.errors = errors
