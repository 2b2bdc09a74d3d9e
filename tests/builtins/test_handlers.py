"""Handlers against real commands and sockets: pipe, tcp (both modes), udp, transport; the docs' examples."""

from __future__ import annotations

import asyncio
import json
import logging
import re
import socket
from pathlib import Path
from typing import Any

import pytest

from handlers.mail import MailHandler
from handlers.pipe import PipeHandler
from handlers.tcp import TcpHandler
from handlers.transport import TransportHandler
from handlers.udp import UdpHandler
from handlers.webhook import WebhookHandler
from mutators.json import encode_event
from pipeline.agent.process.execute import CommandFailed
from pipeline.config.load import settings_of
from pipeline.config.validate import validate
from pipeline.extension import Context, DefinitionError, Handler, Mutator
from pipeline.registry import default_registry
from pipeline.server.server import Server
from pipeline.store.memory import MemoryStore
from pipeline.transport.memory import MemoryTransport

ROOT = Path(__file__).resolve().parents[2]

EVENT: dict[str, Any] = {
    "id": "0b6d2a43-8d4e-4b8e-a0b5-53a3c0c0e001",
    "action": "create",
    "client": {"name": "web-1", "subscriptions": ["linux"]},
    "check": {"name": "cpu", "status": 2, "output": "CRITICAL: load 12\n"},
    "occurrences": 1,
}


class Sink:
    """A real TCP server on 127.0.0.1: counts connections, keeps what each one sent."""

    def __init__(self, read: bool = True, close_after_first_write: bool = False) -> None:
        self.read = read
        self.close_after_first_write = close_after_first_write
        self.received: list[bytes] = []
        self.closed_connections = 0
        self.changed = asyncio.Condition()
        self.server: asyncio.Server | None = None
        self.port = 0
        self._tasks: list[asyncio.Task[Any]] = []

    async def __aenter__(self) -> Sink:
        self.server = await asyncio.start_server(self._client, "127.0.0.1", 0)
        self.port = self.server.sockets[0].getsockname()[1]
        return self

    async def __aexit__(self, *exc: object) -> None:
        assert self.server is not None
        self.server.close()
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)

    async def _client(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        assert task is not None
        self._tasks.append(task)
        index = len(self.received)
        self.received.append(b"")
        await self._notify()
        try:
            if not self.read:
                await asyncio.Event().wait()
            while chunk := await reader.read(65536):
                self.received[index] += chunk
                await self._notify()
                if self.close_after_first_write:
                    break
        finally:
            writer.close()
        self.closed_connections += 1
        await self._notify()

    async def _notify(self) -> None:
        async with self.changed:
            self.changed.notify_all()

    async def until(self, predicate: Any) -> None:
        async with asyncio.timeout(10), self.changed:
            await self.changed.wait_for(predicate)

    @property
    def data(self) -> bytes:
        return b"".join(self.received)


def tcp(port: int, **extra: Any) -> dict[str, Any]:
    return {"type": "tcp", "socket": {"host": "127.0.0.1", "port": port}, **extra}


def closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


# pipe


async def test_the_pipe_handler_gives_the_command_the_payload_on_stdin(tmp_path: Path) -> None:
    target = tmp_path / "event.json"
    handler = PipeHandler("file", {"type": "pipe", "command": f"cat > {target}"}, Context())
    await handler.handle(EVENT, encode_event(EVENT))
    assert json.loads(target.read_text()) == EVENT


async def test_the_pipe_handler_logs_the_commands_output(caplog: pytest.LogCaptureFixture) -> None:
    handler = PipeHandler("talk", {"command": "cat >/dev/null; echo sent; echo to-stderr >&2"}, Context())
    with caplog.at_level(logging.INFO, logger="ogi"):
        await handler.handle(EVENT, b"{}")
    [record] = [r for r in caplog.records if r.getMessage() == "handler output"]
    assert record.levelno == logging.INFO
    assert sorted(record.fields["output"]) == ["sent", "to-stderr"]  # type: ignore[attr-defined]
    assert record.fields["handler"] == "talk"  # type: ignore[attr-defined]


async def test_a_failing_pipe_command_is_logged_at_error_and_raised(caplog: pytest.LogCaptureFixture) -> None:
    handler = PipeHandler("mail", {"command": "cat >/dev/null; echo smtp refused; exit 1"}, Context())
    with caplog.at_level(logging.INFO, logger="ogi"), pytest.raises(CommandFailed, match="status 1"):
        await handler.handle(EVENT, b"{}")
    [record] = [r for r in caplog.records if r.getMessage() == "handler output"]
    assert record.levelno == logging.ERROR
    assert record.fields["output"] == ["smtp refused"]  # type: ignore[attr-defined]
    assert record.fields["status"] == 1  # type: ignore[attr-defined]


async def test_a_pipe_command_past_its_timeout_is_killed_and_raised() -> None:
    handler = PipeHandler("slow", {"command": "sleep 30", "timeout": 0.2}, Context())
    with pytest.raises(CommandFailed, match="timed out"):
        await handler.handle(EVENT, b"{}")


async def test_pipe_handlers_share_the_spawn_limit(tmp_path: Path) -> None:
    lock = tmp_path / "lock"
    overlaps = tmp_path / "overlaps"
    # mkdir is atomic: a second command inside while one holds the lock records an overlap.
    command = f"cat >/dev/null; mkdir {lock} || echo overlap >> {overlaps}; sleep 0.05; rmdir {lock}"
    # The server's context is what pipe handlers get: it carries the configured sensu.spawn.limit.
    server = Server(settings_of({"sensu": {"spawn": {"limit": 1}}}), MemoryStore(), MemoryTransport(), serve_metrics=False)
    handlers = [PipeHandler(f"h{n}", {"command": command}, server.context) for n in range(5)]
    await asyncio.gather(*(h.handle(EVENT, b"{}") for h in handlers))
    assert not overlaps.exists()


# tcp


async def test_the_tcp_handler_opens_one_connection_per_event_by_default() -> None:
    async with Sink() as sink:
        handler = TcpHandler("carbon", tcp(sink.port), Context())
        for n in range(3):
            await handler.handle(EVENT, f"a.b {n} 1700000000\n".encode())
        await sink.until(lambda: sink.closed_connections == 3)
        assert sink.received == [f"a.b {n} 1700000000\n".encode() for n in range(3)]
        await handler.close()


async def test_the_tcp_handler_with_keepalive_uses_one_connection_and_ends_payloads_with_newlines() -> None:
    async with Sink() as sink:
        handler = TcpHandler("carbon", tcp(sink.port, keepalive=True), Context())
        await handler.handle(EVENT, b"a.b 1 1700000000")
        await handler.handle(EVENT, b"a.b 2 1700000000\na.c 3 1700000000\n")
        await handler.handle(EVENT, b"a.b 4 1700000000")
        expected = b"a.b 1 1700000000\na.b 2 1700000000\na.c 3 1700000000\na.b 4 1700000000\n"
        await sink.until(lambda: sink.data == expected)
        assert len(sink.received) == 1
        await handler.close()
        await sink.until(lambda: sink.closed_connections == 1)


async def test_concurrent_keepalive_writes_do_not_interleave() -> None:
    async with Sink() as sink:
        handler = TcpHandler("carbon", tcp(sink.port, keepalive=True), Context())
        lines = [f"metric.{n} {'9' * 5000} 1700000000\n".encode() for n in range(50)]
        await asyncio.gather(*(handler.handle(EVENT, line) for line in lines))
        await sink.until(lambda: len(sink.data) == sum(map(len, lines)))
        assert sorted(sink.data.splitlines(keepends=True)) == sorted(lines)
        assert len(sink.received) == 1
        await handler.close()


async def test_a_keepalive_connection_closed_by_the_server_is_reopened() -> None:
    async with Sink(close_after_first_write=True) as sink:
        handler = TcpHandler("carbon", tcp(sink.port, keepalive=True), Context())
        await handler.handle(EVENT, b"first\n")
        await sink.until(lambda: sink.closed_connections == 1)
        while handler.connected:  # the server's FIN reaches the client on a later loop turn
            await asyncio.sleep(0)
        await handler.handle(EVENT, b"second\n")
        await sink.until(lambda: sink.data == b"first\nsecond\n")
        assert len(sink.received) == 2
        assert handler.connections_opened == 2
        await handler.close()


async def test_the_tcp_handler_skips_an_empty_payload() -> None:
    async with Sink() as sink:
        handler = TcpHandler("carbon", tcp(sink.port), Context())
        await handler.handle(EVENT, b"")
        await handler.handle(EVENT, b"x\n")
        await sink.until(lambda: sink.closed_connections == 1)
        assert sink.received == [b"x\n"]


@pytest.mark.parametrize("keepalive", [False, True])
async def test_the_tcp_handler_raises_when_the_server_is_down(keepalive: bool) -> None:
    handler = TcpHandler("carbon", tcp(closed_port(), keepalive=keepalive), Context())
    with pytest.raises(ConnectionError, match="cannot connect"):
        await handler.handle(EVENT, b"x\n")
    await handler.close()


@pytest.mark.parametrize("keepalive", [False, True])
async def test_the_tcp_handler_gives_up_at_its_timeout_on_a_server_that_does_not_read(keepalive: bool) -> None:
    async with Sink(read=False) as sink:
        handler = TcpHandler("carbon", tcp(sink.port, keepalive=keepalive, timeout=0.5), Context())
        with pytest.raises(TimeoutError, match="within 0.5 s"):
            # A kept connection takes the first payload into its buffer; the next one waits for room.
            for _ in range(2 if keepalive else 1):
                await handler.handle(EVENT, b"x" * (32 << 20))
        assert not handler.connected, "a connection the peer stopped reading from is dropped"
        await handler.close()


# udp


@pytest.mark.parametrize(("bind", "host"), [("127.0.0.1", "127.0.0.1"), ("127.0.0.1", "localhost"), ("::1", "::1")])
async def test_the_udp_handler_sends_one_datagram_per_event_and_skips_empty_ones(bind: str, host: str) -> None:
    # An address is sent to from a plain socket, a name through a resolving endpoint: both arrive.
    loop = asyncio.get_running_loop()
    received: asyncio.Queue[bytes] = asyncio.Queue()

    class Receiver(asyncio.DatagramProtocol):
        def datagram_received(self, data: bytes, addr: Any) -> None:
            received.put_nowait(data)

    try:
        transport, _ = await loop.create_datagram_endpoint(Receiver, local_addr=(bind, 0))
    except OSError as error:
        pytest.skip(f"no {bind} on this machine: {error}")
    port = transport.get_extra_info("sockname")[1]
    try:
        handler = UdpHandler("statsd", {"type": "udp", "socket": {"host": host, "port": port}}, Context())
        await handler.handle(EVENT, b"")
        await handler.handle(EVENT, b"first")
        await handler.handle(EVENT, b"second\nline")
        assert await received.get() == b"first"
        assert await received.get() == b"second\nline"
        await handler.close()
        await handler.handle(EVENT, b"after a reload")  # close() ends the socket, not the handler
        assert await received.get() == b"after a reload"
        await handler.close()
    finally:
        transport.close()


async def test_a_payload_too_large_for_a_datagram_is_an_error() -> None:
    handler = UdpHandler("statsd", {"socket": {"host": "127.0.0.1", "port": 9}}, Context())
    with pytest.raises(ValueError, match="does not fit"):
        await handler.handle(EVENT, b"x" * 70000)


# transport


async def test_the_transport_handler_publishes_to_a_direct_pipe() -> None:
    transport = MemoryTransport()
    handler = TransportHandler(
        "relay", {"type": "transport", "pipe": {"type": "direct", "name": "metrics"}}, Context(transport=transport)
    )
    await handler.handle(EVENT, b"payload")
    await handler.handle(EVENT, b"")
    subscription = await transport.subscribe("metrics")
    message = await anext(aiter(subscription))
    async with message.process():
        assert message.body == b"payload"
    assert transport.depth("metrics") == 0


@pytest.mark.parametrize("kind", ["fanout", "topic"])
async def test_the_transport_handler_publishes_fanout_and_topic_to_every_subscriber(kind: str) -> None:
    transport = MemoryTransport()
    first = await transport.subscribe("events", kind="fanout")
    second = await transport.subscribe("events", kind="fanout")
    handler = TransportHandler("relay", {"pipe": {"type": kind, "name": "events"}}, Context(transport=transport))
    await handler.handle(EVENT, b"copy")
    for subscription in (first, second):
        message = await anext(aiter(subscription))
        assert message.body == b"copy"


async def test_the_transport_handler_without_a_transport_raises() -> None:
    handler = TransportHandler("relay", {"pipe": {"type": "direct", "name": "x"}}, Context())
    with pytest.raises(RuntimeError, match="without a transport"):
        await handler.handle(EVENT, b"payload")


# definitions


@pytest.mark.parametrize(
    ("cls", "definition", "path"),
    [
        (PipeHandler, {}, "command"),
        (PipeHandler, {"command": 5}, "command"),
        (PipeHandler, {"command": "cat", "timeout": -1}, "timeout"),
        (TcpHandler, {}, "socket"),
        (TcpHandler, {"socket": "localhost:2003"}, "socket"),
        (TcpHandler, {"socket": {"port": 2003}}, "socket.host"),
        (TcpHandler, {"socket": {"host": "carbon"}}, "socket.port"),
        (TcpHandler, {"socket": {"host": "carbon", "port": "2003"}}, "socket.port"),
        (TcpHandler, {"socket": {"host": "carbon", "port": 70000}}, "socket.port"),
        (TcpHandler, {"socket": {"host": "carbon", "port": 2003, "prot": 1}}, "socket.prot"),
        (TcpHandler, {"socket": {"host": "carbon", "port": 2003}, "keepalive": "yes"}, "keepalive"),
        (TcpHandler, {"socket": {"host": "carbon", "port": 2003}, "timeout": "10"}, "timeout"),
        (UdpHandler, {"socket": {"host": "", "port": 8125}}, "socket.host"),
        (TransportHandler, {}, "pipe"),
        (TransportHandler, {"pipe": {"name": "x"}}, "pipe.type"),
        (TransportHandler, {"pipe": {"type": "headers", "name": "x"}}, "pipe.type"),
        (TransportHandler, {"pipe": {"type": ["direct"], "name": "x"}}, "pipe.type"),
        (TransportHandler, {"pipe": {"type": "direct"}}, "pipe.name"),
        (TransportHandler, {"pipe": {"type": "direct", "name": "x", "options": []}}, "pipe.options"),
    ],
)
def test_a_bad_handler_definition_names_the_key(cls: type[Handler], definition: dict[str, Any], path: str) -> None:
    with pytest.raises(DefinitionError) as err:
        cls("h", definition, Context())
    assert err.value.path == path


def test_the_registry_finds_every_handler_type() -> None:
    for name, cls in [("pipe", PipeHandler), ("tcp", TcpHandler), ("udp", UdpHandler), ("transport", TransportHandler),
                      ("mail", MailHandler), ("webhook", WebhookHandler)]:
        assert default_registry.get("handlers", name) is cls
        assert cls.type_name == name


# docs/handlers.md


def doc_blocks() -> list[dict[str, Any]]:
    text = (ROOT / "docs" / "handlers.md").read_text()
    return [json.loads(block) for block in re.findall(r"```json\n(.*?)```", text, re.S)]


def test_the_handlers_doc_has_json_examples() -> None:
    blocks = doc_blocks()
    assert sum("handlers" in b for b in blocks) >= 5
    assert sum("mutators" in b for b in blocks) >= 1


@pytest.mark.parametrize("index", range(len(doc_blocks())))
def test_every_handler_and_mutator_in_the_handlers_doc_can_be_built(index: int) -> None:
    block = doc_blocks()[index]
    assert set(block) <= {"handlers", "mutators", "checks", "filters"}, "an example is a settings fragment"
    context = Context(settings=settings_of(block), transport=MemoryTransport())
    for name, definition in block.get("handlers", {}).items():
        kind = definition["type"]  # required, as in Sensu: the doc must never rely on a default
        if kind == "set":
            continue
        cls = default_registry.get("handlers", kind)
        assert cls.allowed_keys is not None
        assert set(definition) <= cls.allowed_keys | Handler.common_keys, f"handler {name}: unknown keys"
        assert isinstance(cls(name, definition, context), Handler)
    for name, definition in block.get("mutators", {}).items():
        mutator = default_registry.get("mutators", "pipe")(name, definition, context)
        assert isinstance(mutator, Mutator)
        assert mutator.allowed_keys is not None and set(definition) <= mutator.allowed_keys


@pytest.mark.parametrize("index", range(len(doc_blocks())))
def test_every_example_in_the_handlers_doc_passes_check_config_validation(index: int) -> None:
    block = doc_blocks()[index]
    errors, _warnings = validate(block, default_registry)
    assert [str(e) for e in errors] == []


def test_the_handlers_doc_says_type_is_required_and_handler_subdue_is_gone() -> None:
    text = (ROOT / "docs" / "handlers.md").read_text()
    assert "| `type` | **required**" in text
    assert "(the default)" not in text.split("## Mutators")[0]
    assert "Sensu 0.26 removed it" in text
