"""The graphite handler's machinery off the event loop: a bounded point queue, line formatting
and a sender thread that ships batches through graphyte.

The event loop only appends each event's list of points to `PointQueue` (one lock, no
formatting); the `Shipper` thread takes up to `batch_size` points at a time, formats them into
Carbon plaintext and hands the bytes to graphyte's `Sender.send_socket`, which opens one TCP
connection per batch, so a carbon restart costs at most the batch in flight. graphyte's own
background mode is not used: it wants one formatted message per point on the event loop (about
3 us each, sharing the GIL with its thread), bounds its queue in messages, drops with a log line
only, and its `stop()` neither flushes within a deadline nor survives a full queue.
"""

from __future__ import annotations

import logging
import math
import re
import threading
import time
from collections import deque
from collections.abc import Callable, Iterable

import graphyte

from pipeline.model import Point

log = logging.getLogger("ogi")

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

    def format(self, points: Iterable[Point]) -> tuple[bytes, int]:
        """The lines of `points` and how many points were left out (values that are not finite)."""
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
        return "".join(lines).encode(), left_out


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


class PointQueue:
    """A FIFO of point lists bounded by the total number of points, shared with one consumer thread."""

    def __init__(self, capacity: int, batch_size: int) -> None:
        self.capacity = capacity
        self.batch_size = batch_size
        self._lists: deque[list[Point]] = deque()
        self._size = 0
        self._ready = threading.Condition(threading.Lock())
        self._flushing = False

    def __len__(self) -> int:
        return self._size

    def put(self, points: list[Point]) -> int:
        """Queue as many of `points` as there is room for, without blocking; returns that number."""
        with self._ready:
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

    def take(self, wait: float) -> list[Point]:
        """Up to `batch_size` points; waits up to `wait` s for a full batch, then takes what is there."""
        with self._ready:
            if self._size < self.batch_size and not self._flushing:
                self._ready.wait(wait)
            taken: list[Point] = []
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


class Shipper(threading.Thread):
    """Takes batches from a `PointQueue`, formats and sends them until stopped.

    `on_sent(n)` and `on_dropped(n, reason)` are called from this thread after each batch, and
    `on_taken()` each time a batch left the queue (there is room again). `healthy` is False
    while the last send failed.
    """

    def __init__(
        self,
        name: str,
        queue: PointQueue,
        formatter: LineFormatter,
        sender: BatchSender,
        interval: float,
        on_sent: Callable[[int], None],
        on_dropped: Callable[[int, str], None],
        on_taken: Callable[[], None] = lambda: None,
    ) -> None:
        super().__init__(name=name, daemon=True)
        self.queue = queue
        self.formatter = formatter
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
            points = self.queue.take(self.interval)
            if not points:
                if self._stopping:
                    break
                continue
            self.on_taken()
            self.ship(points)
        left = self.queue.clear()
        if left:
            self.on_dropped(left, "shutdown deadline passed")

    def ship(self, points: list[Point]) -> None:
        try:
            data, left_out = self.formatter.format(points)
        except Exception as err:  # a point of a shape the formatter cannot take: lose the batch, not the thread
            self.on_dropped(len(points), f"cannot format: {err!r}")
            return
        if left_out:
            self.on_dropped(left_out, "value is not a finite number")
        count = len(points) - left_out
        if not count:
            return
        try:
            self.sender.send_batch(data)
        except Exception as err:
            self.healthy = False
            self.on_dropped(count, f"send failed: {err}")
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
