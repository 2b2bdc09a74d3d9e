"""Bounds for ogi's listeners: a connection cap, a whole-message deadline, linear-time framing of
one JSON message and a rate-limited log of refusals counted by reason.

Shared by the client's 3030 socket and any other raw listener (an HTTP socket reuses the cap and
the deadline), so each listener's limits mean the same thing. Defaults are in `ListenerLimits`.
"""

from __future__ import annotations

import logging
import re
import time
from collections import Counter
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

#: Connections one listener holds open at once; past this a new one is told so and closed.
DEFAULT_MAX_CONNECTIONS = 256
#: Seconds one whole message may take to arrive, however steadily its bytes trickle in.
DEFAULT_MESSAGE_DEADLINE = 5.0
#: Seconds a refusal reason is logged at most once (the counts keep every one).
LOG_INTERVAL = 10.0


@dataclass(frozen=True)
class ListenerLimits:
    """The limits of one listener: open connections, the whole-message deadline and the idle gap."""

    max_connections: int = DEFAULT_MAX_CONNECTIONS
    message_deadline: float = DEFAULT_MESSAGE_DEADLINE
    idle_timeout: float = 0.5


def listener_limits(options: Mapping[str, Any]) -> ListenerLimits:
    """The limits set in a listener's options (`max_connections`, `message_deadline`), checked
    beforehand by the validation pass; the defaults for the rest."""
    return ListenerLimits(
        max_connections=int(options.get("max_connections", DEFAULT_MAX_CONNECTIONS)),
        message_deadline=float(options.get("message_deadline", DEFAULT_MESSAGE_DEADLINE)),
    )


class ConnectionCap:
    """Open connections of one listener; `enter` is False once `limit` are open."""

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self.open = 0

    def enter(self) -> bool:
        if self.open >= self.limit:
            return False
        self.open += 1
        return True

    def leave(self) -> None:
        self.open = max(0, self.open - 1)


class Refusals:
    """Refused messages counted by reason; each reason logged at most once per `interval` seconds,
    with how many went unlogged since, so a cron job sending garbage is visible but cannot flood."""

    def __init__(
        self, log: logging.Logger, interval: float = LOG_INTERVAL, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self.log = log
        self.interval = interval
        self.clock = clock
        self.counts: Counter[str] = Counter()
        self._last: dict[str, float] = {}
        self._unlogged: Counter[str] = Counter()

    def refuse(self, reason: str, message: str, **fields: object) -> None:
        self.counts[reason] += 1
        now = self.clock()
        last = self._last.get(reason)
        if last is not None and now - last < self.interval:
            self._unlogged[reason] += 1
            return
        self._last[reason] = now
        suppressed = self._unlogged.pop(reason, 0)
        extra = {"reason": reason, **fields}
        if suppressed:
            extra["not_logged_since_last"] = suppressed
        self.log.warning(message, extra={"fields": extra})


# Inside a string only a quote or a backslash matters; outside it, brackets and quotes.
_IN_STRING = re.compile(rb'["\\]')
_OUTSIDE = re.compile(rb'[\[\]{}"]')


class JsonFramer:
    """Finds where the first top-level JSON object or array ends, scanning each byte once.

    Re-parsing the whole buffer on every chunk is quadratic in the message size; this keeps the
    scan state between chunks and parses once, when the brackets balance. A message that does not
    start with `{` or `[` has no end to find: it is complete when the sender closes.
    """

    def __init__(self) -> None:
        self.buffer = bytearray()
        self._pos = 0
        self._depth = 0
        self._in_string = False
        self._escaped = False
        self._started: bool | None = None  # None: only whitespace so far

    @property
    def scalar(self) -> bool:
        """Whether the message started with something other than an object or array."""
        return self._started is False

    def feed(self, chunk: bytes) -> int | None:
        """Append `chunk`; the end offset of the complete message, or None while it is incomplete."""
        self.buffer += chunk
        buf = self.buffer
        if self._started is None:
            stripped = buf.lstrip()
            if not stripped:
                return None
            self._started = stripped[:1] in (b"{", b"[")
            self._pos = len(buf) - len(stripped)
        if not self._started:
            return None
        pos, end = self._pos, len(buf)
        while pos < end:
            if self._escaped:
                self._escaped = False
                pos += 1
                continue
            pattern = _IN_STRING if self._in_string else _OUTSIDE
            found = pattern.search(buf, pos)
            if found is None:
                pos = end
                break
            char = buf[found.start()]
            pos = found.start() + 1
            if self._in_string:
                if char == 0x5C:  # backslash: the next byte is escaped
                    self._escaped = True
                else:
                    self._in_string = False
            elif char == 0x22:
                self._in_string = True
            elif char in (0x7B, 0x5B):
                self._depth += 1
            else:
                self._depth -= 1
                if self._depth <= 0:
                    self._pos = pos
                    return pos
        self._pos = pos
        return None
