"""Reading AMQP frames in bulk: the frames of one socket read are parsed without awaiting.

aiormq's `FrameReceiver` awaits three `readexactly` calls per frame, and a delivery is three
frames (method, header, body): under load that was a third of a server's CPU. `BulkFrameReceiver`
reads what the socket has (up to 256 KiB) and cuts every whole frame out of it, so the
connection's reader hands a run of deliveries to their channel in one turn of the event loop
and the consumers of those deliveries share one Redis pipeline and one ack. Frames and errors
are what aiormq's own receiver gives. `install()` makes aiormq use it for
connections opened from then on.
"""

from __future__ import annotations

import asyncio
from struct import error as StructError
from struct import pack, unpack_from

import aiormq.connection
import pamqp.frame
from aiormq.exceptions import AMQPConnectionError, InvalidFrameError, ProtocolSyntaxError
from pamqp import commands
from pamqp.body import ContentBody
from pamqp.exceptions import PAMQPException

#: Bytes asked of the socket at once.
READ_SIZE = 256 * 1024
#: type (1) + channel (2) + size (4) before the payload, the end octet after it.
_HEAD = 7
FRAME_END = 0xCE
FRAME_METHOD = 1
FRAME_BODY = 3
#: A method frame's payload starts with its class and method ids: Basic (60), Deliver (60).
DELIVER = pack(">HH", 60, 60)


class BulkFrameReceiver(aiormq.connection.FrameReceiver):
    """aiormq's frame source, parsing every whole frame of a read before reading again."""

    def __init__(self, reader: asyncio.StreamReader) -> None:
        super().__init__(reader)
        self._data = b""
        self._at = 0

    async def get_frame(self) -> aiormq.connection.ReceivedFrame:
        while True:
            data, at = self._data, self._at
            if len(data) - at >= _HEAD:
                if not self.started:
                    if data.startswith(b"AMQP", at):
                        raise ProtocolSyntaxError("Unexpected AMQP protocol header")
                    self.started = True
                size = unpack_from(">I", data, at + 3)[0]
                end = at + _HEAD + size + 1
                if end <= len(data):
                    self._at = end
                    kind = data[at]
                    if data[end - 1] == FRAME_END and (
                            kind == FRAME_BODY or (kind == FRAME_METHOD and data.startswith(DELIVER, at + _HEAD))
                    ):
                        # The two frames of every delivery that pamqp decodes field by field.
                        channel = unpack_from(">H", data, at + 1)[0]
                        value = ContentBody(data[at + _HEAD:end - 1]) if kind == FRAME_BODY else _deliver(data, at)
                        return end - at, channel, value
                    try:
                        return pamqp.frame.unmarshal(data[at:end])
                    except PAMQPException as error:
                        raise InvalidFrameError(str(error)) from error
            await self._read()

    async def _read(self) -> None:
        try:
            chunk = await self.reader.read(READ_SIZE)
        except ConnectionRefusedError as error:
            raise AMQPConnectionError(f"Server connection refused: {error!r}") from error
        except ConnectionResetError as error:
            raise AMQPConnectionError(f"Server connection reset: {error!r}") from error
        except ConnectionError as error:
            raise AMQPConnectionError(f"Server connection error: {error!r}") from error
        except OSError as error:
            raise AMQPConnectionError(f"Server communication error: {error!r}") from error
        left = len(self._data) - self._at
        if not chunk:
            # The reader stops reading after Connection.CloseOk, so an end of stream is always a
            # lost connection, which aio-pika's robust connection must see as one.
            raise AMQPConnectionError(f"Server connection unexpectedly closed. Read {left} bytes of a frame")
        self._data = self._data[self._at:] + chunk if left else chunk
        self._at = 0


def _short(data: bytes, at: int) -> tuple[str, int]:
    end = at + 1 + data[at]
    return data[at + 1:end].decode("utf-8"), end


def _deliver(data: bytes, at: int) -> commands.Basic.Deliver:
    """A Basic.Deliver frame's fields, as pamqp decodes them (the broker's frame: not validated again)."""
    try:
        consumer_tag, at = _short(data, at + _HEAD + len(DELIVER))
        delivery_tag = unpack_from(">Q", data, at)[0]
        redelivered = bool(data[at + 8] & 1)
        exchange, at = _short(data, at + 9)
        routing_key, _ = _short(data, at)
    except (IndexError, UnicodeDecodeError, StructError) as error:
        raise InvalidFrameError(f"malformed Basic.Deliver: {error}") from error
    deliver = commands.Basic.Deliver.__new__(commands.Basic.Deliver)
    deliver.consumer_tag = consumer_tag
    deliver.delivery_tag = delivery_tag
    deliver.redelivered = redelivered
    deliver.exchange = exchange
    deliver.routing_key = routing_key
    return deliver


def install() -> None:
    """Connections aiormq opens from now on read their frames through BulkFrameReceiver."""
    aiormq.connection.FrameReceiver = BulkFrameReceiver  # type: ignore[misc]
