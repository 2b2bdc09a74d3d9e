"""A lean AMQP 0-9-1 publisher for the benchmarks: persistent messages with publisher confirms.

The latency benchmark's publisher stands for a fleet of clients that in production run on
other hosts; here it shares the server's two cores, so its own CPU shows up as server latency.
aio-pika spends about half a millisecond of CPU on each confirmed publish (a task, a lock and
futures per message); this writes the frames of every message due in one tick with one
socket write (pamqp marshals them) and counts the broker's confirms as they come. The broker
sees the same thing: persistent messages on a confirm channel.
"""

from __future__ import annotations

import asyncio
import contextlib
import struct

from pamqp import commands, frame, header
from pamqp.body import ContentBody
from pamqp.common import FieldTable
from pamqp.heartbeat import Heartbeat

FRAME_END = b"\xce"
CHANNEL = 1


class ConfirmingPublisher:
    """One connection, one confirm channel; `publish` many bodies, `confirmed()` waits for them."""

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter, exchange: str, routing_key: str) -> None:
        self._reader = reader
        self._writer = writer
        self._method = frame.marshal(commands.Basic.Publish(exchange=exchange, routing_key=routing_key), CHANNEL)
        self._properties = commands.Basic.Properties(delivery_mode=2)
        self._headers: dict[int, bytes] = {}
        self._buffer = b""
        self.published = 0
        self.nacked = 0
        self._multiple_upto = 0
        self._single: set[int] = set()
        self._confirmed = asyncio.Event()
        self._reading: asyncio.Task[None] | None = None

    @classmethod
    async def open(cls, host: str, port: int, vhost: str, user: str, password: str,
                   exchange: str, routing_key: str = "") -> ConfirmingPublisher:
        reader, writer = await asyncio.open_connection(host, port)
        publisher = cls(reader, writer, exchange, routing_key)
        await publisher._handshake(vhost, user, password)
        return publisher

    async def _frame(self) -> frame.FrameTypes:
        while True:
            if len(self._buffer) >= 8:
                try:
                    used, _channel, value = frame.unmarshal(self._buffer)
                except Exception:  # pamqp: not all of the frame is here yet
                    used = 0
                if used:
                    self._buffer = self._buffer[used:]
                    return value
            chunk = await self._reader.read(65536)
            if not chunk:
                raise ConnectionError("the broker closed the connection")
            self._buffer += chunk

    async def _expect(self, kind: type) -> frame.FrameTypes:
        value = await self._frame()
        if not isinstance(value, kind):
            raise ConnectionError(f"expected {kind.__name__}, the broker sent {value!r}")
        return value

    def _send(self, value: frame.FrameTypes, channel: int) -> None:
        self._writer.write(frame.marshal(value, channel))

    async def _handshake(self, vhost: str, user: str, password: str) -> None:
        self._writer.write(header.ProtocolHeader().marshal())
        await self._expect(commands.Connection.Start)
        properties: FieldTable = {"product": "ogi-bench", "capabilities": {"publisher_confirms": True}}
        self._send(commands.Connection.StartOk(client_properties=properties, mechanism="PLAIN",
                                               response=f"\0{user}\0{password}"), 0)
        tune = await self._expect(commands.Connection.Tune)
        assert isinstance(tune, commands.Connection.Tune)
        self._send(commands.Connection.TuneOk(channel_max=tune.channel_max, frame_max=tune.frame_max, heartbeat=0), 0)
        self._send(commands.Connection.Open(virtual_host=vhost), 0)
        await self._expect(commands.Connection.OpenOk)
        self._send(commands.Channel.Open(), CHANNEL)
        await self._expect(commands.Channel.OpenOk)
        self._send(commands.Confirm.Select(), CHANNEL)
        await self._expect(commands.Confirm.SelectOk)
        self._reading = asyncio.ensure_future(self._read_confirms())

    def publish(self, bodies: list[bytes]) -> None:
        """Write the frames of every body at once (bodies must fit one frame: under 128 KiB)."""
        parts: list[bytes] = []
        for body in bodies:
            size = len(body)
            content = self._headers.get(size)
            if content is None:
                content = frame.marshal(header.ContentHeader(body_size=size, properties=self._properties), CHANNEL)
                self._headers[size] = content
            parts += (self._method, content, struct.pack(">BHI", 3, CHANNEL, size), body, FRAME_END)
        self._writer.write(b"".join(parts))
        self.published += len(bodies)

    @property
    def confirmed(self) -> int:
        return self._multiple_upto + len(self._single)

    async def _read_confirms(self) -> None:
        while True:
            value = await self._frame()
            if isinstance(value, commands.Basic.Nack):
                self.nacked += 1
            if isinstance(value, commands.Basic.Ack | commands.Basic.Nack):
                tag = value.delivery_tag
                if value.multiple:
                    self._multiple_upto = max(self._multiple_upto, tag)
                    self._single = {t for t in self._single if t > self._multiple_upto}
                elif tag > self._multiple_upto:
                    self._single.add(tag)
                if self.confirmed >= self.published:
                    self._confirmed.set()
            elif isinstance(value, commands.Channel.Close | commands.Connection.Close):
                raise ConnectionError(f"the broker closed: {value!r}")
            elif isinstance(value, Heartbeat | ContentBody):
                continue

    async def wait_confirmed(self, timeout: float = 30.0) -> int:
        """Wait until the broker confirmed every publish so far; the number confirmed."""
        while self.confirmed < self.published:
            self._confirmed.clear()
            await asyncio.wait_for(self._confirmed.wait(), timeout)
        return self.confirmed

    async def close(self) -> None:
        if self._reading is not None:
            self._reading.cancel()
        self._writer.close()
        with contextlib.suppress(ConnectionError, OSError):
            await self._writer.wait_closed()
