"""The graphite handler's machinery: line formatting, a bounded queue of lines and a sender
thread that ships batches through graphyte.

The event loop turns each event's points into Carbon plaintext lines (`LineFormatter`; for
Graphite plaintext output in one pass over the text, without building points) and appends the
list to `PointQueue` (one lock). The `Shipper` thread takes up to `batch_size` lines at a time,
joins them and hands the bytes to graphyte's `Sender.send_socket`, which opens one TCP
connection per batch, so a carbon restart costs at most the batch in flight. Formatting on the
loop costs no more CPU than on the thread (both hold the GIL), and formatting while parsing
saves a second pass and a tuple per point. graphyte's own background mode is not used: it
bounds its queue in messages, drops with a log line only, and its `stop()` neither flushes
within a deadline nor survives a full queue.
"""

from __future__ import annotations

import logging
import math
import re
import threading
import time
from collections import deque
from collections.abc import Callable, Iterable
from typing import Generic, TypeVar

import graphyte

from pipeline.model import Point

log = logging.getLogger("ogi")

T = TypeVar("T")

#: Characters a Graphite path keeps; anything else becomes `_`.
_UNSAFE = re.compile(r"[^A-Za-z0-9_:.\-]")
#: Largest UDP datagram sent: under a 1500-byte MTU, and far under Twisted's 8 KiB read size.
UDP_DATAGRAM = 1400
#: Sanitised paths remembered; series names repeat every interval, so most lookups hit.
_PATH_CACHE_SIZE = 200_000


def sanitize(text: str) -> str:
    """`text` with every character outside `[A-Za-z0-9_:.-]` replaced by `_` (dots are kept)."""
    return _UNSAFE.sub("_", text)


class LineFormatter:
    """Turns points into Carbon plaintext: `prefix.path[;k=v...] value timestamp\\n`."""

    def __init__(self, prefix: str | None = None, tags: bool = False) -> None:
        self.prefix = f"{prefix}." if prefix else ""
        self.tags = tags
        self._paths: dict[str, str] = {}

    def path(self, name: str) -> str:
        path = self._paths.get(name)
        if path is None:
            if len(self._paths) >= _PATH_CACHE_SIZE:
                self._paths.clear()
            path = self._paths[name] = self.prefix + sanitize(name)
        return path

    def tag_suffix(self, tags: Iterable[tuple[str, str]]) -> str:
        # Graphite 1.1 tags: `;name=value`; names and values are sanitised like paths (which also
        # rules out `;`, `=`, `~`, `!` and `^`), and a tag with an empty value is left out.
        return "".join(f";{sanitize(k)}={sanitize(v)}" for k, v in sorted(tags) if k and v)

    def lines(self, points: Iterable[Point]) -> tuple[list[str], int]:
        """One line per point, and how many points were left out (values that are not finite)."""
        lines: list[str] = []
        append = lines.append
        paths = self._paths
        with_tags = self.tags
        isfinite = math.isfinite
        left_out = 0
        for name, value, timestamp, tags in points:
            if not isfinite(value):
                left_out += 1  # carbon drops nan and would store inf
                continue
            path = paths.get(name) or self.path(name)
            if with_tags and tags:
                path += self.tag_suffix(tags)
            append(f"{path} {value!r} {round(timestamp)}\n")
        return lines, left_out

    def plaintext(self, output: str, default_timestamp: float, suffix: str = "") -> tuple[list[str], int]:
        """Graphite plaintext output straight to lines, and the count of lines that did not parse.

        The same as `lines(pipeline.metrics.formats.graphite.parse(output, ...))` with `suffix`
        (the event's tags, formatted) after every path, in one pass and without a tuple per
        point: this is the path of every Sensu metric check. The parsing rules are
        `metric_formats/graphite.py`'s, kept equal by a property test.
        """
        lines: list[str] = []
        append = lines.append
        paths = self._paths
        skipped = 0
        default_tail = f" {round(default_timestamp)}\n"
        # the lines of one output nearly always share their timestamp: convert it once
        seen: str | None = None
        seen_tail = default_tail
        for line in output.split("\n"):
            fields = line.split()
            count = len(fields)
            if count == 3:
                try:
                    value = float(fields[1])
                    text = fields[2]
                    if text != seen:
                        stamp = float(text)
                        if stamp == -1.0:
                            seen_tail = default_tail
                        elif stamp - stamp == 0.0:
                            seen_tail = f" {round(stamp)}\n"
                        else:
                            skipped += 1
                            continue
                        seen = text
                except ValueError:
                    skipped += 1
                    continue
                tail = seen_tail
            elif count == 2:
                try:
                    value = float(fields[1])
                except ValueError:
                    skipped += 1
                    continue
                tail = default_tail
            elif count == 0:
                continue
            else:
                skipped += 1
                continue
            if value - value == 0.0:  # finite: nan and inf give nan
                name = fields[0]
                append(f"{paths.get(name) or self.path(name)}{suffix} {value!r}{tail}")
        return lines, skipped


class BatchSender(graphyte.Sender):
    """graphyte's Sender used synchronously for whole batches of pre-formatted lines.

    graphyte opens a new TCP connection per `send_socket` call and closes it after the write;
    errors are raised to the caller (`raise_send_errors`) so that the loss can be counted.
    """

    def __init__(self, host: str, port: int, protocol: str, timeout: float) -> None:
        super().__init__(host, port=port, timeout=timeout, protocol=protocol, raise_send_errors=True)

    def send_batch(self, data: bytes) -> None:
        if self.protocol != "udp" or len(data) <= UDP_DATAGRAM:
            self.send_socket(data)
            return
        for chunk in split_datagrams(data, UDP_DATAGRAM):
            self.send_socket(chunk)


def split_datagrams(data: bytes, size: int) -> list[bytes]:
    """`data` cut at line ends into pieces of at most `size` bytes (a longer line goes alone)."""
    pieces: list[bytes] = []
    start = 0
    end = len(data)
    while start < end:
        stop = start + size
        if stop >= end:
            pieces.append(data[start:])
            break
        cut = data.rfind(b"\n", start, stop)
        if cut < start:
            cut = data.find(b"\n", stop)
            if cut < 0:
                cut = end - 1
        pieces.append(data[start : cut + 1])
        start = cut + 1
    return pieces


class PointQueue(Generic[T]):
    """A FIFO of lists of points (or of their lines) bounded by the total count, shared with one consumer thread."""

    def __init__(self, capacity: int, batch_size: int) -> None:
        self.capacity = capacity
        self.batch_size = batch_size
        self._lists: deque[list[T]] = deque()
        self._size = 0
        # `with self._lock` is the plain C lock: `with` on the Condition costs Python calls per put
        self._lock = threading.Lock()
        self._ready = threading.Condition(self._lock)
        self._flushing = False

    def __len__(self) -> int:
        return self._size

    def put(self, points: list[T]) -> int:
        """Queue as many of `points` as there is room for, without blocking; returns that number."""
        with self._lock:
            room = self.capacity - self._size
            if room <= 0:
                return 0
            if len(points) > room:
                points = points[:room]
            before = self._size
            self._lists.append(points)
            self._size = before + len(points)
            # wake the consumer only when a full batch is there: a notify per event costs more
            # than the event's queueing
            if before < self.batch_size <= self._size:
                self._ready.notify()
            return len(points)

    def flush(self) -> None:
        """From now on, hand out partial batches at once (shutdown)."""
        with self._ready:
            self._flushing = True
            self._ready.notify()

    def take(self, wait: float) -> list[T]:
        """Up to `batch_size` points; waits up to `wait` s for a full batch, then takes what is there."""
        with self._ready:
            if self._size < self.batch_size and not self._flushing:
                self._ready.wait(wait)
            taken: list[T] = []
            want = self.batch_size
            lists = self._lists
            while lists and len(taken) < want:
                head = lists.popleft()
                room = want - len(taken)
                if len(head) > room:
                    lists.appendleft(head[room:])
                    head = head[:room]
                taken += head
            self._size -= len(taken)
            return taken

    def clear(self) -> int:
        """Empty the queue; returns how many points were in it."""
        with self._ready:
            count = self._size
            self._lists.clear()
            self._size = 0
            return count


#: The start of the `on_dropped` reason when carbon did not take a batch.
SEND_FAILED = "send failed"


class Shipper(threading.Thread):
    """Takes batches of lines from a `PointQueue` and sends them until stopped.

    `on_sent(n)` and `on_dropped(n, reason)` are called from this thread after each batch, and
    `on_taken()` each time a batch left the queue (there is room again). `healthy` is False
    while the last send failed.
    """

    def __init__(
        self,
        name: str,
        queue: PointQueue[str],
        sender: BatchSender,
        interval: float,
        on_sent: Callable[[int], None],
        on_dropped: Callable[[int, str], None],
        on_taken: Callable[[], None] = lambda: None,
    ) -> None:
        super().__init__(name=name, daemon=True)
        self.queue = queue
        self.sender = sender
        self.interval = interval
        self.on_sent = on_sent
        self.on_dropped = on_dropped
        self.on_taken = on_taken
        self.healthy = True
        self._stopping = False
        self._abandon = False

    def stop(self) -> None:
        """Send what is queued, then end."""
        self._stopping = True
        self.queue.flush()

    def abandon(self) -> None:
        """End after the batch in flight; whatever is still queued counts as dropped."""
        self._abandon = True
        self.stop()

    def run(self) -> None:
        while True:
            if self._abandon:
                break
            lines = self.queue.take(self.interval)
            if not lines:
                if self._stopping:
                    break
                continue
            self.on_taken()
            self.ship(lines)
        left = self.queue.clear()
        if left:
            self.on_dropped(left, "shutdown deadline passed")

    def ship(self, lines: list[str]) -> None:
        data = "".join(lines).encode()
        count = len(lines)
        try:
            self.sender.send_batch(data)
        except Exception as err:
            self.healthy = False
            self.on_dropped(count, f"{SEND_FAILED}: {err}")
        else:
            self.healthy = True
            self.on_sent(count)


class RateLimitedLog:
    """Logs at most one line per `period` seconds, with the count of what it left out meanwhile."""

    def __init__(self, period: float = 10.0, clock: Callable[[], float] = time.monotonic) -> None:
        self.period = period
        self.clock = clock
        self._last = -math.inf
        self._pending = 0
        self._lock = threading.Lock()

    def __call__(self, message: str, count: int, fields: dict[str, object]) -> None:
        with self._lock:
            self._pending += count
            now = self.clock()
            if now - self._last < self.period:
                return
            self._last = now
            total, self._pending = self._pending, 0
        log.warning(message, extra={"fields": {**fields, "count": total}})
