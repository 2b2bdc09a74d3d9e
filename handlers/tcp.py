"""The `tcp` handler: write the payload to `socket.host:socket.port`.

Sensu 1.x connects, writes and closes for every event, with a 10 s timeout, and skips an
empty payload; that is the default here. ogi adds `"keepalive": true`: one connection kept
open between events (opened on first use, shared by concurrent events without mixing their
bytes, reopened when found closed, dropped when the peer stops reading, closed at shutdown),
because a connection per event costs more than the whole budget of a busy metrics pipeline.
With keepalive on, each payload is made to end with a newline, so that Carbon plaintext
lines from consecutive events cannot run into each other.
"""

from __future__ import annotations

import asyncio
import contextlib
from typing import ClassVar, cast

from pipeline.agent.process.execute import parse_timeout
from pipeline.extension import Context, DefinitionError, Handler
from pipeline.model import JSON, Event

#: Sensu 1.x's timeout for socket handlers, in seconds.
DEFAULT_TIMEOUT = 10.0
#: Bytes a kept connection buffers before events wait for the peer (backpressure).
HIGH_WATER = 4 << 20


def parse_socket(definition: JSON) -> tuple[str, int]:
    """`socket.host` and `socket.port` of a definition, validated."""
    sock = definition.get("socket")
    if sock is None:
        raise DefinitionError("socket", "is required (an object with host and port)")
    if not isinstance(sock, dict):
        raise DefinitionError("socket", "must be an object with host and port", sock)
    host = sock.get("host")
    if host is None:
        raise DefinitionError("socket.host", "is required")
    if not isinstance(host, str) or not host.strip():
        raise DefinitionError("socket.host", "must be a non-empty string", host)
    port = sock.get("port")
    if port is None:
        raise DefinitionError("socket.port", "is required")
    if isinstance(port, bool) or not isinstance(port, int) or not 0 < port < 65536:
        raise DefinitionError("socket.port", "must be an integer from 1 to 65535", port)
    unknown = sorted(set(sock) - {"host", "port"})
    if unknown:
        raise DefinitionError(f"socket.{unknown[0]}", "unknown key (socket takes host and port)", sock[unknown[0]])
    return host, port


class _Connection(asyncio.Protocol):
    """A write-only TCP connection: whatever the peer sends is ignored; EOF means closed."""

    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        self.transport: asyncio.Transport | None = None
        self.lost = False
        self.error: Exception | None = None
        self.closed: asyncio.Future[None] = loop.create_future()
        #: Set while the write buffer is under the high-water mark (or the connection is gone).
        self.room = asyncio.Event()
        self.room.set()
        self._loop = loop
        # Payloads written during one turn of the event loop go out in one send() call:
        # a system call per event would cost more than the rest of a metric's handling.
        self._pending: list[bytes] = []
        self._pending_size = 0
        self._flush_scheduled = False

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = cast(asyncio.Transport, transport)
        self.transport.set_write_buffer_limits(high=HIGH_WATER)

    def data_received(self, data: bytes) -> None:
        pass  # Carbon and the like say nothing; anything else a peer says is not ours to read

    def eof_received(self) -> bool:
        self.lost = True
        return False  # close our side too

    def connection_lost(self, exc: Exception | None) -> None:
        self.lost = True
        self.error = exc
        if not self.closed.done():
            self.closed.set_result(None)
        self.room.set()

    def pause_writing(self) -> None:
        self.room.clear()

    def resume_writing(self) -> None:
        self.room.set()

    @property
    def writable(self) -> bool:
        """Open, and the buffer under the high-water mark: a write needs no waiting."""
        return not self.lost and self.room.is_set() and self.transport is not None

    def write(self, data: bytes) -> None:
        """Queue `data` whole for this loop turn's send (concurrent payloads never mix)."""
        if self.lost or self.transport is None or self.transport.is_closing():
            raise ConnectionResetError("connection closed by the peer")
        self._pending.append(data)
        self._pending_size += len(data)
        if self._pending_size >= HIGH_WATER:
            self.flush()  # a caller that never yields still cannot pile up memory here
        elif not self._flush_scheduled:
            self._flush_scheduled = True
            self._loop.call_soon(self.flush)

    def flush(self) -> None:
        self._flush_scheduled = False
        if not self._pending:
            return
        data = b"".join(self._pending)
        self._pending.clear()
        self._pending_size = 0
        if not self.lost and self.transport is not None and not self.transport.is_closing():
            self.transport.write(data)

    async def finish(self) -> None:
        """Close after the buffer is flushed; raise if the flush failed."""
        self.flush()
        if self.transport is not None:
            self.transport.close()
        await self.closed
        if self.error is not None:
            raise self.error

    def abort(self) -> None:
        if self.transport is not None and not self.closed.done():
            self.transport.abort()


class TcpHandler(Handler):
    """Writes each event's payload to a TCP socket (Carbon plaintext, for one)."""

    type_name: ClassVar[str] = "tcp"
    allowed_keys: ClassVar[frozenset[str] | None] = frozenset({"socket", "keepalive"})

    def __init__(self, name: str, definition: JSON, context: Context) -> None:
        super().__init__(name, definition, context)
        self.host, self.port = parse_socket(definition)
        self.timeout = cast(float, parse_timeout(definition, DEFAULT_TIMEOUT))
        keepalive = definition.get("keepalive", False)
        if not isinstance(keepalive, bool):
            raise DefinitionError("keepalive", "must be true or false", keepalive)
        self.keepalive = keepalive
        self._connection: _Connection | None = None
        self._connecting: asyncio.Future[_Connection] | None = None
        self._closed = False
        #: Connections opened so far (exported for tests and the benchmark's sanity checks).
        self.connections_opened = 0

    @property
    def connected(self) -> bool:
        """True while a kept-alive connection is open (as far as ogi has heard)."""
        return self._connection is not None and not self._connection.lost

    @property
    def target(self) -> str:
        return f"{self.host}:{self.port}"

    async def _connect(self) -> _Connection:
        loop = asyncio.get_running_loop()
        try:
            _, protocol = await loop.create_connection(lambda: _Connection(loop), self.host, self.port)
        except OSError as err:
            raise ConnectionError(f"tcp handler {self.name}: cannot connect to {self.target}: {err}") from err
        self.connections_opened += 1
        return protocol

    async def handle(self, event: Event, payload: bytes) -> None:
        if not payload:
            return
        if self.keepalive:
            if self._closed:
                raise RuntimeError(f"tcp handler {self.name} is closed")
            if not payload.endswith(b"\n"):
                payload += b"\n"
            connection = self._connection
            if connection is not None and connection.writable:
                connection.write(payload)  # the fast path: no lock, no timer
                return
        try:
            async with asyncio.timeout(self.timeout):
                if self.keepalive:
                    await self._send_kept(payload)
                else:
                    await self._send_once(payload)
        except TimeoutError as err:
            if self.keepalive and self._connection is not None and not self._connection.writable:
                self._drop()  # the peer stopped reading: the next event starts on a fresh connection
            raise TimeoutError(
                f"tcp handler {self.name}: no success writing to {self.target} within {self.timeout:g} s"
            ) from err

    async def _send_once(self, payload: bytes) -> None:
        connection = await self._connect()
        try:
            connection.write(payload)
            await connection.finish()
        except BaseException:
            connection.abort()
            raise

    async def _send_kept(self, payload: bytes) -> None:
        reconnected = False
        while True:
            connection = self._connection
            if connection is None or connection.lost:
                if reconnected:
                    raise ConnectionResetError(
                        f"tcp handler {self.name}: connection to {self.target} closed as soon as it opened"
                    )
                await self._reconnect()
                reconnected = True
                continue
            if connection.writable:
                connection.write(payload)
                return
            # The buffer is over the high-water mark: wait for room (backpressure). Every
            # waiting event wakes at once and writes as soon as the peer catches up.
            await connection.room.wait()

    async def _reconnect(self) -> None:
        """Open a new connection; events arriving meanwhile wait for the same attempt."""
        if self._connecting is None:
            self._drop()
            self._connecting = asyncio.ensure_future(self._connect())
            self._connecting.add_done_callback(self._connected)
        # shield: one waiter's timeout must not cancel the attempt the others wait for
        await asyncio.shield(self._connecting)

    def _connected(self, attempt: asyncio.Future[_Connection]) -> None:
        self._connecting = None
        if not attempt.cancelled() and attempt.exception() is None:
            if self._closed:
                attempt.result().abort()
            else:
                self._connection = attempt.result()

    def _drop(self) -> None:
        if self._connection is not None:
            self._connection.abort()
            self._connection = None

    async def close(self) -> None:
        self._closed = True
        if self._connecting is not None:
            self._connecting.cancel()
        connection, self._connection = self._connection, None
        if connection is None:
            return
        with contextlib.suppress(Exception):
            async with asyncio.timeout(self.timeout):
                await connection.finish()
        connection.abort()

