"""The client's local input socket (TCP and UDP, 127.0.0.1:3030): results pushed by applications.

A sender writes one JSON check result, or an array of them, and gets `ok` back, or
`invalid: <reason>`, after which the connection closes. `ping` gets `pong`. Each result is
validated as Sensu's client validated it (`name` and `source` matching `[\\w.-]+`, `output` a
string, `status` an integer 0-255 defaulting to 0, `executed` defaulting to now) and goes to
the `results` pipe as the client's own; every other attribute (`handlers`, `type`, thresholds,
custom keys) travels with it. An array is accepted or refused as a whole.

TCP has no framing: the buffer is parsed each time data arrives and the first complete JSON
value is the message. A sender that stalls for 0.5 s with an incomplete message is told
`invalid` and cut off (Sensu's watchdog); each connection has its own, so a stalled sender
holds nobody else up. Over UDP each datagram is one message and nothing is replied.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable
from typing import Any

from pipeline import jsoncodec
from pipeline.model import JSON, MAX_MESSAGE_SIZE, Clock, system_clock, valid_name
from pipeline.optional_keys import without_null_options

log = logging.getLogger("ogi.client.socket")

#: Sensu's watchdog: how long a TCP sender may go quiet in the middle of a message.
WATCHDOG_DELAY = 0.5
DEFAULT_BIND = "127.0.0.1"
DEFAULT_PORT = 3030

Publish = Callable[[JSON], Awaitable[None]]


class Invalid(ValueError):
    """A pushed result that cannot be published; the message is the reason sent back."""


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


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
    if not _is_int(status) or not 0 <= status <= 255:
        raise Invalid("check status must be an integer from 0 to 255")
    if not _is_int(result["executed"]):
        raise Invalid("check executed timestamp must be an integer")
    if "handler" in result and not isinstance(result["handler"], str):
        raise Invalid("check handler must be a string")
    handlers = result.get("handlers")
    if "handlers" in result and not (isinstance(handlers, list) and all(isinstance(h, str) for h in handlers)):
        raise Invalid("check handlers must be an array of strings")
    if "ttl" in result and not (_is_int(result["ttl"]) and result["ttl"] > 0):
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
    ) -> None:
        self.publish = publish
        self.bind = bind
        self.port = port
        self.clock = clock
        self.watchdog = watchdog
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

    async def _discard(self, reader: asyncio.StreamReader) -> None:
        """Read what the sender still sends, briefly: closing with unread data would reset the
        connection, and the sender could lose the reply."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self.watchdog
        while (remaining := deadline - loop.time()) > 0:
            if not await asyncio.wait_for(reader.read(65536), remaining):
                return

    async def _converse(self, reader: asyncio.StreamReader) -> str:
        buffer = bytearray()
        error = "no data"
        while True:
            try:
                chunk = await asyncio.wait_for(reader.read(65536), self.watchdog)
            except TimeoutError:
                self.counts["invalid"] += 1
                log.warning(
                    "discarding data from a sender that stalled mid-message",
                    extra={"fields": {"bytes": len(buffer), "parse_error": error}},
                )
                return f"invalid: incomplete message after {self.watchdog:g} s without data ({error})"
            final = not chunk  # the sender closed its side: what it sent is all there is
            buffer += chunk
            if len(buffer) > MAX_MESSAGE_SIZE:
                self.counts["invalid"] += 1
                return f"invalid: message larger than {MAX_MESSAGE_SIZE} bytes"
            if buffer.strip() == b"ping":
                return "pong"
            if final and not buffer.strip():
                self.counts["invalid"] += 1
                return "invalid: no data"
            try:
                parsed = jsoncodec.loads(bytes(buffer))
            except jsoncodec.JSONDecodeError as exc:
                error = f"not JSON: {exc}"
                if final:
                    self.counts["invalid"] += 1
                    return f"invalid: {error}"
                continue
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
            self.counts["invalid"] += 1
            log.warning("invalid check result from socket", extra={"fields": {"reason": str(exc)}})
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
            self.owner.counts["invalid"] += 1
            log.warning("invalid check result from udp socket", extra={"fields": {"reason": f"not JSON: {exc}"}})
            return
        task = asyncio.create_task(self._accept(parsed))
        self.tasks.add(task)
        task.add_done_callback(self.tasks.discard)

    async def _accept(self, parsed: Any) -> None:
        try:
            await self.owner.accept(parsed)
        except Exception:
            log.exception("failed to publish a check result from the udp socket")
