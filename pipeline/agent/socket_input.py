"""The client's local input socket (TCP and UDP, 127.0.0.1:3030): results pushed by applications.

A sender writes one JSON check result, or an array of them, and gets `ok` back, or
`invalid: <reason>`, after which the connection closes. `ping` gets `pong`. Each result is
validated as Sensu's client validated it (`name` and `source` matching `[\\w.-]+`, `output` a
string, `status` an integer 0-255 defaulting to 0, `executed` defaulting to now) and goes to
the `results` pipe as the client's own; every other attribute (`handlers`, `type`, thresholds,
custom keys) travels with it. An array is accepted or refused as a whole.

TCP has no framing: the first complete JSON object or array is the message, found by a scan
that reads each byte once (`pipeline.netlimits.JsonFramer`). A sender that stalls for 0.5 s with
an incomplete message is told `invalid` and cut off (Sensu's watchdog), and so is one whose whole
message has not arrived within `message_deadline` (default 5 s) however steadily it trickles;
past `max_connections` (default 256) open connections a new one is told `invalid: too many
connections` and closed, so slow senders cannot take the client's file descriptors. Every refused
message is counted by reason (`refusals`) and logged, at most once per reason every 10 s. Over
UDP each datagram is one message and nothing is replied.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable
from typing import Any

from pipeline import jsoncodec
from pipeline.model import JSON, MAX_MESSAGE_SIZE, Clock, is_int, system_clock, valid_name
from pipeline.netlimits import ConnectionCap, JsonFramer, ListenerLimits, Refusals
from pipeline.optional_keys import without_null_options

log = logging.getLogger("ogi.client.socket")

#: Sensu's watchdog: how long a TCP sender may go quiet in the middle of a message.
WATCHDOG_DELAY = 0.5
DEFAULT_BIND = "127.0.0.1"
DEFAULT_PORT = 3030

Publish = Callable[[JSON], Awaitable[None]]


#: A message that is not an object or array is re-parsed on arrival only while this short.
SCALAR_PARSE_LIMIT = 1024


def _parses(buffer: bytearray) -> bool:
    try:
        jsoncodec.loads(bytes(buffer))
    except jsoncodec.JSONDecodeError:
        return False
    return True


class Invalid(ValueError):
    """A pushed result that cannot be published; the message is the reason sent back."""


def pushed_check(check: Any, now: float) -> JSON:
    """One pushed result with Sensu's defaults applied, or Invalid naming what is wrong."""
    if not isinstance(check, dict):
        raise Invalid("a check result must be a JSON object")
    result = dict(without_null_options(check))
    result.setdefault("status", 0)
    result.setdefault("executed", int(now))
    name = result.get("name")
    if not isinstance(name, str):
        raise Invalid("check name must be a string")
    if not valid_name(name):
        raise Invalid("check name cannot contain spaces or special characters")
    if "source" in result and not valid_name(result["source"]):
        raise Invalid("check source must be a string without spaces or special characters")
    if not isinstance(result.get("output"), str):
        raise Invalid("check output must be a string")
    status = result["status"]
    if not is_int(status) or not 0 <= status <= 255:
        raise Invalid("check status must be an integer from 0 to 255")
    if not is_int(result["executed"]):
        raise Invalid("check executed timestamp must be an integer")
    if "handler" in result and not isinstance(result["handler"], str):
        raise Invalid("check handler must be a string")
    handlers = result.get("handlers")
    if "handlers" in result and not (isinstance(handlers, list) and all(isinstance(h, str) for h in handlers)):
        raise Invalid("check handlers must be an array of strings")
    if "ttl" in result and not (is_int(result["ttl"]) and result["ttl"] > 0):
        raise Invalid("check ttl must be an integer greater than 0")
    return result


def parse_results(data: Any, now: float) -> list[JSON]:
    """The validated results of one message (an object or an array); Invalid if any is wrong."""
    if isinstance(data, list):
        results = []
        for index, item in enumerate(data):
            try:
                results.append(pushed_check(item, now))
            except Invalid as exc:
                raise Invalid(f"result [{index}]: {exc}") from None
        return results
    return [pushed_check(data, now)]


class SocketInput:
    """TCP and UDP listeners on one port; each accepted result is handed to `publish`."""

    def __init__(
        self,
        publish: Publish,
        bind: str = DEFAULT_BIND,
        port: int = DEFAULT_PORT,
        clock: Clock = system_clock,
        watchdog: float = WATCHDOG_DELAY,
        limits: ListenerLimits | None = None,
    ) -> None:
        self.publish = publish
        self.bind = bind
        self.port = port
        self.clock = clock
        self.watchdog = watchdog
        self.limits = limits or ListenerLimits(idle_timeout=watchdog)
        self.cap = ConnectionCap(self.limits.max_connections)
        self.refusals = Refusals(log)
        self.counts = {"accepted": 0, "invalid": 0}
        self._server: asyncio.Server | None = None
        self._udp: asyncio.DatagramTransport | None = None
        self._connections: set[asyncio.Task[None]] = set()

    @property
    def tcp_port(self) -> int | None:
        if self._server is None or not self._server.sockets:
            return None
        return int(self._server.sockets[0].getsockname()[1])

    @property
    def udp_port(self) -> int | None:
        return None if self._udp is None else int(self._udp.get_extra_info("sockname")[1])

    async def start(self) -> None:
        """Listen on TCP, then UDP on the same port (port 0: the one TCP was given)."""
        self._server = await asyncio.start_server(self._accept, self.bind, self.port, limit=MAX_MESSAGE_SIZE)
        port = self.tcp_port or self.port
        loop = asyncio.get_running_loop()
        try:
            self._udp, _ = await loop.create_datagram_endpoint(lambda: _Datagrams(self), local_addr=(self.bind, port))
        except BaseException:
            await self.stop()
            raise
        log.info("listening for check results", extra={"fields": {"bind": self.bind, "port": self.tcp_port}})

    async def stop(self) -> None:
        if self._server is not None:
            self._server.close()
        if self._udp is not None:
            self._udp.close()
        for task in list(self._connections):
            task.cancel()
        await asyncio.gather(*self._connections, return_exceptions=True)
        if self._server is not None:
            with contextlib.suppress(Exception):
                await asyncio.wait_for(self._server.wait_closed(), 1.0)
        self._server = self._udp = None

    async def _accept(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        if not self.cap.enter():
            self._refuse("connections", "refusing a connection: too many open", open=self.cap.open)
            writer.transport.abort()  # no reply: a full listener must not wait on a slow reader
            return
        task = asyncio.current_task()
        if task is not None:
            self._connections.add(task)
        try:
            reply = await self._converse(reader)
            writer.write(reply.encode())
            await asyncio.wait_for(writer.drain(), self.watchdog * 4)
            if writer.can_write_eof():
                writer.write_eof()
            await self._discard(reader)
        except OSError:
            # The sender went away: a reset, or ENOTCONN (107) at write_eof when it closed
            # before reading `ok` (pysensu-yelp does); nothing to tell it.
            pass
        finally:
            writer.close()
            with contextlib.suppress(Exception):
                await asyncio.wait_for(writer.wait_closed(), self.watchdog)
            if task is not None:
                self._connections.discard(task)
            self.cap.leave()

    def _refuse(self, reason: str, message: str, **fields: object) -> None:
        self.counts["invalid"] += 1
        self.refusals.refuse(reason, message, **fields)

    async def _discard(self, reader: asyncio.StreamReader) -> None:
        """Read what the sender still sends, briefly: closing with unread data would reset the
        connection, and the sender could lose the reply."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self.watchdog
        while (remaining := deadline - loop.time()) > 0:
            if not await asyncio.wait_for(reader.read(65536), remaining):
                return

    async def _converse(self, reader: asyncio.StreamReader) -> str:
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self.limits.message_deadline
        framer = JsonFramer()
        while True:
            remaining = deadline - loop.time()
            wait = min(self.watchdog, remaining)
            try:
                if wait <= 0:
                    raise TimeoutError
                chunk = await asyncio.wait_for(reader.read(65536), wait)
            except TimeoutError:
                size = len(framer.buffer)
                if remaining <= self.watchdog:
                    limit = self.limits.message_deadline
                    self._refuse("deadline", "cutting off a sender whose message took too long", bytes=size)
                    return f"invalid: message not complete within {limit:g} s"
                self._refuse("stalled", "discarding data from a sender that stalled mid-message", bytes=size)
                return f"invalid: incomplete message after {self.watchdog:g} s without data"
            final = not chunk  # the sender closed its side: what it sent is all there is
            end = framer.feed(chunk)
            buffer = framer.buffer
            if len(buffer) > MAX_MESSAGE_SIZE and (end is None or end > MAX_MESSAGE_SIZE):
                self._refuse("too_large", "refusing a message that is too large", bytes=len(buffer))
                return f"invalid: message larger than {MAX_MESSAGE_SIZE} bytes"
            if end is None and not final:
                if buffer.strip() == b"ping":
                    return "pong"
                if framer.scalar and len(buffer) <= SCALAR_PARSE_LIMIT and _parses(buffer):
                    end = len(buffer)  # a bare string or number: complete, and refused below
                else:
                    continue
            message = bytes(buffer if end is None else buffer[:end])
            if message.strip() == b"ping":
                return "pong"
            if not message.strip():
                self._refuse("no_data", "a sender closed without sending anything")
                return "invalid: no data"
            try:
                parsed = jsoncodec.loads(message)
            except jsoncodec.JSONDecodeError as exc:
                self._refuse("not_json", "refusing a message that is not JSON", error=str(exc), bytes=len(message))
                return f"invalid: not JSON: {exc}"
            try:
                return await self.accept(parsed)
            except Exception:
                log.exception("failed to publish a check result from the tcp socket")
                return "invalid: the client could not publish the result"

    async def accept(self, parsed: Any) -> str:
        """Validate and publish a parsed message; the reply for the sender."""
        try:
            results = parse_results(parsed, self.clock())
        except Invalid as exc:
            self._refuse("invalid_result", "invalid check result from socket", error=str(exc))
            return f"invalid: {exc}"
        for result in results:
            await self.publish(result)
        self.counts["accepted"] += len(results)
        return "ok"


class _Datagrams(asyncio.DatagramProtocol):
    def __init__(self, owner: SocketInput) -> None:
        self.owner = owner
        self.tasks: set[asyncio.Task[None]] = set()

    def datagram_received(self, data: bytes, addr: tuple[str | Any, int]) -> None:
        if data.strip() == b"ping":
            return
        try:
            parsed = jsoncodec.loads(data)
        except jsoncodec.JSONDecodeError as exc:
            self.owner._refuse("not_json", "refusing a udp datagram that is not JSON", error=str(exc))
            return
        task = asyncio.create_task(self._accept(parsed))
        self.tasks.add(task)
        task.add_done_callback(self.tasks.discard)

    async def _accept(self, parsed: Any) -> None:
        try:
            await self.owner.accept(parsed)
        except Exception:
            log.exception("failed to publish a check result from the udp socket")
