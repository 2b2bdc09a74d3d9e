"""BulkFrameReceiver gives the frames, errors and end of stream that aiormq's FrameReceiver gives."""

from __future__ import annotations

import asyncio
from typing import Any

import aiormq.connection
import pamqp.frame
import pytest
from aiormq.connection import FrameReceiver
from aiormq.exceptions import AMQPConnectionError, InvalidFrameError, ProtocolSyntaxError
from hypothesis import given, settings
from hypothesis import strategies as st
from pamqp import commands, header
from pamqp.body import ContentBody
from pamqp.heartbeat import Heartbeat

from pipeline.transport import amqp_frames
from pipeline.transport.amqp_frames import BulkFrameReceiver
from pipeline.transport.rabbitmq import RabbitMQTransport
from tests.contract.transport_fixtures import settings_for


def delivery(tag: int, body: bytes, channel: int = 1, redelivered: bool = False,
             consumer_tag: str = "ctag1.e4f0", routing_key: str = "") -> bytes:
    properties = commands.Basic.Properties(delivery_mode=2, message_id=f"id-{tag}", headers={"x-ogi-attempts": 2})
    return b"".join([
        pamqp.frame.marshal(commands.Basic.Deliver(consumer_tag, tag, redelivered, "results", routing_key), channel),
        pamqp.frame.marshal(header.ContentHeader(0, len(body), properties), channel),
        pamqp.frame.marshal(ContentBody(body), channel),
    ])


STREAM = b"".join([
    pamqp.frame.marshal(commands.Connection.Start(), 0),
    delivery(1, b'{"client": "web01"}'),
    Heartbeat().marshal(),
    delivery(2**40, "ünïcode ✓".encode(), channel=3, redelivered=True, consumer_tag="ctag-ü", routing_key="rk"),
    pamqp.frame.marshal(commands.Basic.Ack(7, multiple=True), 2),
    delivery(3, b"x" * 70_000),
    pamqp.frame.marshal(commands.Channel.Close(404, "NOT_FOUND - no queue 'results'", 60, 20), 1),
])


def fields(value: Any) -> tuple[Any, ...]:
    if isinstance(value, ContentBody):
        return ("body", value.value)
    if isinstance(value, header.ContentHeader):
        return ("header", value.body_size, value.properties.delivery_mode, value.properties.message_id,
                value.properties.headers)
    if isinstance(value, Heartbeat):
        return ("heartbeat",)
    return (value.name, *(getattr(value, slot) for slot in value.__slots__))


async def frames_of(receiver_type: type[FrameReceiver], chunks: list[bytes]) -> list[Any]:
    """The frames read, then the error that ended the stream (an end of stream is a lost connection)."""
    reader = asyncio.StreamReader()

    async def feed() -> None:
        for chunk in chunks:
            reader.feed_data(chunk)
            await asyncio.sleep(0)
        reader.feed_eof()

    feeding = asyncio.ensure_future(feed())
    receiver = receiver_type(reader)
    got: list[Any] = []
    try:
        async for weight, channel, frame in receiver:
            got.append((weight, channel, fields(frame)))
    except AMQPConnectionError as error:
        got.append(type(error).__name__)
    await feeding
    return got


def split(data: bytes, cuts: list[int]) -> list[bytes]:
    points = sorted({min(cut, len(data)) for cut in cuts})
    return [data[a:b] for a, b in zip([0, *points], [*points, len(data)], strict=True) if b > a]


async def test_frames_are_those_aiormq_reads_whole_or_cut_anywhere() -> None:
    expected = await frames_of(FrameReceiver, [STREAM])
    assert [f[2][0] for f in expected[:4]] == ["Connection.Start", "Basic.Deliver", "header", "body"]
    assert expected[-1] == "AMQPConnectionError"
    assert await frames_of(BulkFrameReceiver, [STREAM]) == expected
    assert await frames_of(BulkFrameReceiver, [STREAM[i:i + 1] for i in range(len(STREAM))][:5000] + [STREAM[5000:]]) == expected


@settings(max_examples=60, deadline=None)
@given(st.lists(st.integers(min_value=1, max_value=len(STREAM)), max_size=12))
def test_any_split_of_the_stream_gives_the_same_frames(cuts: list[int]) -> None:
    expected = asyncio.run(frames_of(FrameReceiver, [STREAM]))
    assert asyncio.run(frames_of(BulkFrameReceiver, split(STREAM, cuts))) == expected


async def test_a_stream_that_ends_inside_a_frame_is_a_connection_error() -> None:
    cut = delivery(1, b"abc")[:-5]
    assert await frames_of(BulkFrameReceiver, [cut]) == await frames_of(FrameReceiver, [cut])
    assert (await frames_of(BulkFrameReceiver, [cut]))[-1] == "AMQPConnectionError"


async def test_a_frame_without_its_end_octet_is_invalid() -> None:
    for broken in (delivery(1, b"abc"), pamqp.frame.marshal(commands.Basic.Ack(1), 1)):
        with pytest.raises(InvalidFrameError):
            await frames_of(BulkFrameReceiver, [broken[:-1] + b"\x00"])


async def test_a_broker_answering_with_its_protocol_header_is_a_protocol_error() -> None:
    with pytest.raises(ProtocolSyntaxError):
        await frames_of(BulkFrameReceiver, [b"AMQP\x00\x00\x09\x01"])


def test_only_a_tested_aiormq_gets_the_bulk_reader() -> None:
    assert amqp_frames.supported("7.2.4")
    assert not amqp_frames.supported("7.3.0")
    assert not amqp_frames.supported("6.8.1")


async def test_on_an_untested_aiormq_the_transport_reads_through_aiormqs_own_receiver(
        rabbitmq_vhost: str, monkeypatch: pytest.MonkeyPatch) -> None:
    # As on a machine with an aiormq this was not tested with: aiormq's receiver stays in place.
    monkeypatch.setattr(aiormq.connection, "FrameReceiver", FrameReceiver)
    monkeypatch.setattr(amqp_frames, "TESTED_AIORMQ", ("0.0.",))
    assert amqp_frames.install() is False
    transport = RabbitMQTransport(settings_for(rabbitmq_vhost))
    try:
        subscription = await transport.subscribe("results-fallback")
        for i in range(3):
            await transport.publish("results-fallback", f"r{i}".encode())
        got = []
        iterator = aiter(subscription)
        while len(got) < 3:
            message = await asyncio.wait_for(anext(iterator), 10)
            async with message.process():
                got.append(message.body)
        assert got == [b"r0", b"r1", b"r2"]
        assert aiormq.connection.FrameReceiver is FrameReceiver
    finally:
        await transport.close()
