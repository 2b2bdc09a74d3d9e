"""The shapes ogi passes around.

Events, checks and clients stay plain JSON dicts in Sensu 1.x's shape: handlers receive them
as JSON, custom attributes pass through untouched, and copying them into classes would cost
time on every result. This module names those shapes and holds the small value types.
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable
from enum import IntEnum, StrEnum
from typing import Any, NamedTuple, TypeGuard

JSON = dict[str, Any]
Event = JSON
Check = JSON
Client = JSON

#: An injected clock: seconds since the epoch, as float.
Clock = Callable[[], float]

system_clock: Clock = time.time

#: Sensu 1.x's check and client name rule (`/\A[\w.-]+\z/`).
NAME_RE = re.compile(r"^[\w.-]+\Z", re.ASCII)

HISTORY_LENGTH = 21
MAX_MESSAGE_SIZE = 2 * 1024 * 1024
#: Child processes running at once, across checks, pipe handlers and command mutators (Sensu's default).
DEFAULT_SPAWN_LIMIT = 12
#: The agent's check slots when `sensu.spawn.limit` is not set: a check is mostly waiting for a
#: plugin to exit, and at 12 slots checks past ~800/s queued for seconds (issue 17).
DEFAULT_AGENT_SPAWN_LIMIT = 32
#: Distinct check names one client may have results for (`sensu.limits.checks_per_client`).
DEFAULT_CHECKS_PER_CLIENT = 10_000


class Status(IntEnum):
    """Nagios exit codes, as Sensu reads them."""

    OK = 0
    WARNING = 1
    CRITICAL = 2
    UNKNOWN = 3


class Action(StrEnum):
    CREATE = "create"
    RESOLVE = "resolve"
    FLAPPING = "flapping"


SEVERITY_NAMES = ("ok", "warning", "critical", "unknown")


def severity_name(status: int | str) -> str:
    """Sensu's severity name of a status: 0-3 by name, anything else `unknown`."""
    try:
        code = int(status)
    except (TypeError, ValueError):
        return "unknown"
    return SEVERITY_NAMES[code] if 0 <= code <= 3 else "unknown"


def valid_name(name: object) -> bool:
    """Sensu's `[\\w.-]+`, less `.` and `..`, which no API path can reach."""
    return isinstance(name, str) and bool(NAME_RE.match(name)) and name not in (".", "..")


class Point(NamedTuple):
    """One metric sample parsed from check output."""

    name: str
    value: float
    timestamp: float
    tags: tuple[tuple[str, str], ...] = ()


def is_int(value: Any) -> TypeGuard[int]:
    """An integer in JSON's sense: `true` is not 1."""
    return isinstance(value, int) and not isinstance(value, bool)


def is_number(value: Any) -> TypeGuard[int | float]:
    """An integer or a float, never a boolean."""
    return isinstance(value, int | float) and not isinstance(value, bool)


def truthy(value: Any) -> bool:
    """Ruby truthiness, as Sensu tests its flags and `eval:` its values: only nil and false are false."""
    return value is not None and value is not False


def dig(data: Any, path: str | list[str], default: Any = None) -> Any:
    """Value at a dot path in nested dicts, or `default`."""
    parts = path.split(".") if isinstance(path, str) else path
    for part in parts:
        if isinstance(data, dict) and part in data:
            data = data[part]
        else:
            return default
    return data
