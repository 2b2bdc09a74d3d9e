"""The graphite handler against real local sockets: lines, batching, drops, restarts, shutdown; its doc."""

from __future__ import annotations

import asyncio
import json
import logging
import re
import socket
import threading
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st
from prometheus_client import CollectorRegistry

from handlers.graphite import GraphiteHandler
from pipeline.config.load import settings_of
from pipeline.extension import Context, DefinitionError, Handler
from pipeline.metrics.graphite_queue import LineFormatter, PointQueue, sanitize, split_datagrams
from pipeline.model import Point
from pipeline.registry import default_registry

ROOT = Path(__file__).resolve().parents[2]
T0 = 1_795_000_000


class LineSink:
    """A TCP server on 127.0.0.1 in a thread: keeps what each connection sent; stops and restarts on one port."""

    def __init__(self) -> None:
        self.connections: list[bytes] = []
        self._lock = threading.Lock()
        self._changed = threading.Condition(self._lock)
        self._server: socket.socket | None = None
        self.port = 0
        self.start()

    def start(self) -> None:
        server = socket.socket()
        server.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        server.bind(("127.0.0.1", self.port))
        server.listen(64)
        self.port = server.getsockname()[1]
        self._server = server
        threading.Thread(target=self._accept, args=(server,), daemon=True).start()

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown(socket.SHUT_RDWR)
            self._server.close()
            self._server = None

    def _accept(self, server: socket.socket) -> None:
        while True:
            try:
                conn, _ = server.accept()
            except OSError:
                return
            threading.Thread(target=self._read, args=(conn,), daemon=True).start()

    def _read(self, conn: socket.socket) -> None:
        data = b""
        with conn:
            while chunk := conn.recv(65536):
                data += chunk
        with self._changed:
            self.connections.append(data)
            self._changed.notify_all()

    @property
    def lines(self) -> list[str]:
        with self._lock:
            return b"".join(self.connections).decode().splitlines()

    def wait_lines(self, count: int, timeout: float = 10.0) -> list[str]:
        with self._changed:
            self._changed.wait_for(lambda: b"".join(self.connections).count(b"\n") >= count, timeout)
        return self.lines


@pytest.fixture
def sink() -> Any:
    server = LineSink()
    yield server
    server.stop()


def closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def metric_event(output: str, client: str = "web-1", check: str = "cpu", **extra: Any) -> dict[str, Any]:
    return {
        "client": {"name": client, "address": "10.0.0.1", "subscriptions": []},
        "check": {"name": check, "type": "metric", "output": output, "status": 0, "executed": T0, **extra},
        "occurrences": 1,
        "action": "create",
    }


def lines_output(count: int, name: str = "web-1.cpu.user", start: int = 0) -> str:
    return "".join(f"{name} {i} {T0 + 10 * (start + i)}\n" for i in range(count))


def timestamp(line: str) -> int:
    return int(line.split()[-1])


def make(definition: dict[str, Any], name: str = "carbon") -> tuple[GraphiteHandler, CollectorRegistry]:
    registry = CollectorRegistry()
    return GraphiteHandler(name, {"type": "graphite", **definition}, Context(metrics=registry)), registry


def counter(registry: CollectorRegistry, metric: str, handler: str = "carbon") -> float:
    return registry.get_sample_value(f"{metric}_total", {"handler": handler}) or 0.0


# definitions


def test_a_graphite_handler_defaults_to_plain_paths_on_the_local_carbon_tcp_port() -> None:
    handler, _ = make({})
    assert (handler.host, handler.port, handler.protocol) == ("127.0.0.1", 2003, "tcp")
    assert handler.prefix is None and handler.tags is False
    assert handler.queue_size >= 100_000


@pytest.mark.parametrize(
    ("definition", "path"),
    [
        ({"host": ""}, "host"),
        ({"port": 70000}, "port"),
        ({"port": "2003"}, "port"),
        ({"protocol": "pickle"}, "protocol"),
        ({"prefix": 7}, "prefix"),
        ({"prefix": "."}, "prefix"),
        ({"tags": "yes"}, "tags"),
        ({"queue_size": 0}, "queue_size"),
        ({"batch_size": 1.5}, "batch_size"),
        ({"interval": 0}, "interval"),
        ({"timeout": -1}, "timeout"),
        ({"queue_wait": -1}, "queue_wait"),
    ],
)
def test_a_bad_graphite_definition_names_the_key(definition: dict[str, Any], path: str) -> None:
    with pytest.raises(DefinitionError) as error:
        make(definition)
    assert error.value.path == path


def test_building_a_graphite_handler_starts_no_thread_and_opens_no_connection(sink: LineSink) -> None:
    threads = threading.active_count()
    handler, _ = make({"port": sink.port})
    assert threading.active_count() == threads
    assert sink.connections == []
    assert handler.queue_size == 100_000


# what is sent


async def test_points_reach_carbon_as_plaintext_lines_with_exact_values_and_timestamps(sink: LineSink) -> None:
    handler, registry = make({"port": sink.port})
    await handler.handle(metric_event("web-1.load.load1 0.76 1795000000\nweb-1.load.load5 1e3 1795000010.4\n"), b"")
    await handler.close()
    assert sink.wait_lines(2) == ["web-1.load.load1 0.76 1795000000", "web-1.load.load5 1000.0 1795000010"]
    assert counter(registry, "ogi_graphite_points_sent") == 2


async def test_the_handler_reads_the_check_output_and_ignores_the_payload(sink: LineSink) -> None:
    handler, _ = make({"port": sink.port})
    await handler.handle(metric_event("web-1.disk.used 42 1795000000"), b"not.these.lines 1 1")
    await handler.close()
    assert sink.wait_lines(1) == ["web-1.disk.used 42.0 1795000000"]


async def test_a_line_without_a_timestamp_gets_the_time_the_check_executed(sink: LineSink) -> None:
    handler, _ = make({"port": sink.port})
    await handler.handle(metric_event("web-1.users 3", executed=T0 + 7), b"")
    await handler.close()
    assert sink.wait_lines(1) == [f"web-1.users 3.0 {T0 + 7}"]


async def test_a_nagios_check_with_a_perfdata_format_ships_its_perfdata(sink: LineSink) -> None:
    handler, _ = make({"port": sink.port, "prefix": "nagios"})
    output = "LOAD OK - total load average: 0.76, 0.24, 0.08|load1=0.760;5.000;10.000;0; load5=0.240;4.000;8.000;0;"
    event = metric_event(output, output_metric_format="nagios_perfdata")
    event["check"]["type"] = "standard"
    await handler.handle(event, b"")
    await handler.close()
    assert [line.split()[:2] for line in sink.wait_lines(2)] == [["nagios.load1", "0.76"], ["nagios.load5", "0.24"]]


async def test_a_check_without_a_metric_format_yields_no_points(sink: LineSink) -> None:
    handler, registry = make({"port": sink.port})
    event = metric_event("CRITICAL: disk 97% full")
    del event["check"]["type"]
    await handler.handle(event, b"")
    await handler.close()
    assert sink.connections == []
    assert counter(registry, "ogi_metric_lines_skipped") == 0


async def test_garbage_output_is_a_counted_and_logged_skip_and_no_points(
    sink: LineSink, caplog: pytest.LogCaptureFixture
) -> None:
    handler, registry = make({"port": sink.port})
    with caplog.at_level(logging.WARNING, logger="ogi"):
        await handler.handle(metric_event("Traceback (most recent call last):\nweb-1.ok 1 1795000000\nbad value x\n"), b"")
        await handler.handle(metric_event("still garbage here\n"), b"")
    await handler.close()
    assert counter(registry, "ogi_metric_lines_skipped") == 3
    assert sink.wait_lines(1) == ["web-1.ok 1.0 1795000000"]
    [record] = [r for r in caplog.records if r.getMessage() == "metric lines skipped"]  # rate-limited: one line
    assert record.fields["handler"] == "carbon" and record.fields["check"] == "cpu"  # type: ignore[attr-defined]


async def test_paths_are_sanitised_and_never_re_split_and_the_prefix_is_joined_with_a_dot(sink: LineSink) -> None:
    handler, _ = make({"port": sink.port, "prefix": "ogi.prod"})
    await handler.handle(metric_event("web-1.disk./var/log.used% 5 1795000000\nweb_1.cpu{x}.idle 1 1795000000"), b"")
    await handler.close()
    assert sink.wait_lines(2) == ["ogi.prod.web-1.disk._var_log.used_ 5.0 1795000000", "ogi.prod.web_1.cpu_x_.idle 1.0 1795000000"]


async def test_with_tags_on_points_carry_graphite_tags_sorted_and_sanitised(sink: LineSink) -> None:
    handler, _ = make({"port": sink.port, "tags": True})
    event = metric_event(
        "web-1.cpu.user 5 1795000000",
        output_metric_tags={"zone": "eu west", "env": "prod", "empty": ""},
    )
    await handler.handle(event, b"")
    await handler.close()
    assert sink.wait_lines(1) == ["web-1.cpu.user;env=prod;zone=eu_west 5.0 1795000000"]


async def test_without_tags_the_tags_of_points_are_left_out(sink: LineSink) -> None:
    handler, _ = make({"port": sink.port})
    await handler.handle(metric_event("web-1.cpu.user 5 1795000000", output_metric_tags={"env": "prod"}), b"")
    await handler.close()
    assert sink.wait_lines(1) == ["web-1.cpu.user 5.0 1795000000"]


async def test_udp_sends_whole_lines_in_datagrams_that_fit_an_ethernet_frame() -> None:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as server:
        server.bind(("127.0.0.1", 0))
        server.settimeout(5)
        handler, registry = make({"port": server.getsockname()[1], "protocol": "udp"})
        await handler.handle(metric_event(lines_output(100)), b"")
        await handler.close()
        datagrams: list[bytes] = []
        while sum(d.count(b"\n") for d in datagrams) < 100:
            datagrams.append(server.recv(65536))
    assert len(datagrams) > 1
    assert all(len(d) <= 1400 and d.endswith(b"\n") for d in datagrams)
    assert b"".join(datagrams).decode().splitlines() == [f"web-1.cpu.user {float(i)!r} {T0 + 10 * i}" for i in range(100)]
    assert counter(registry, "ogi_graphite_points_sent") == 100


# batching, queue, drops


async def test_points_of_many_events_go_out_in_batches_one_connection_each(sink: LineSink) -> None:
    handler, registry = make({"port": sink.port, "batch_size": 50, "interval": 60})
    for event_index in range(10):
        await handler.handle(metric_event(lines_output(20, start=20 * event_index)), b"")
    await handler.close()
    # batches travel on connections of their own, so they may arrive in any order
    assert sorted(sink.wait_lines(200), key=timestamp) == [f"web-1.cpu.user {float(i % 20)!r} {T0 + 10 * i}" for i in range(200)]
    assert len(sink.connections) == 4  # 200 points in batches of 50, each its own connection
    assert counter(registry, "ogi_graphite_points_sent") == 200


async def test_without_queue_wait_points_beyond_the_queue_size_are_dropped_and_counted(sink: LineSink) -> None:
    handler, registry = make({"port": sink.port, "queue_size": 10, "interval": 60, "queue_wait": 0})
    await handler.handle(metric_event(lines_output(25)), b"")
    assert counter(registry, "ogi_graphite_points_dropped") == 15
    await handler.close()
    assert len(sink.wait_lines(10)) == 10
    assert counter(registry, "ogi_graphite_points_sent") == 10


async def test_a_full_queue_waits_for_room_while_carbon_takes_batches(sink: LineSink) -> None:
    handler, registry = make({"port": sink.port, "queue_size": 10, "interval": 60, "queue_wait": 30})
    await handler.handle(metric_event(lines_output(25)), b"")
    await handler.handle(metric_event(lines_output(25, start=25)), b"")
    await handler.close()
    assert len(sink.wait_lines(50)) == 50
    assert counter(registry, "ogi_graphite_points_dropped") == 0


async def test_a_full_queue_does_not_wait_once_a_send_has_failed() -> None:
    handler, registry = make({"port": closed_port(), "queue_size": 10, "interval": 0.01, "queue_wait": 30})
    await handler.handle(metric_event(lines_output(5)), b"")
    while counter(registry, "ogi_graphite_points_dropped") < 5:  # the first send fails
        await asyncio.sleep(0.01)
    await handler.handle(metric_event(lines_output(25)), b"")
    assert counter(registry, "ogi_graphite_points_dropped") >= 5 + 15  # dropped at once, no waiting
    await handler.close()
    assert counter(registry, "ogi_graphite_points_dropped") == 30


async def test_with_carbon_down_handle_neither_blocks_nor_raises_and_the_loss_is_counted(
    caplog: pytest.LogCaptureFixture,
) -> None:
    handler, registry = make({"port": closed_port(), "interval": 0.01, "batch_size": 10})
    with caplog.at_level(logging.WARNING, logger="ogi"):
        for index in range(5):
            await handler.handle(metric_event(lines_output(10, start=10 * index)), b"")
        await handler.close()
    assert counter(registry, "ogi_graphite_points_dropped") == 50
    assert counter(registry, "ogi_graphite_points_sent") == 0
    # said once, with the error, however many sends fail; the counter has the total
    [warning] = [r for r in caplog.records if r.levelno >= logging.WARNING]
    assert warning.getMessage().startswith("carbon unreachable")
    assert "refused" in warning.fields["error"].lower() and warning.fields["target"].startswith("tcp://127.0.0.1:")


async def test_carbon_coming_back_is_said_once_with_the_count_lost_meanwhile(
    sink: LineSink, caplog: pytest.LogCaptureFixture,
) -> None:
    handler, registry = make({"port": sink.port, "interval": 0.01, "queue_wait": 0})
    sink.stop()
    with caplog.at_level(logging.INFO, logger="ogi"):
        for index in range(3):
            await handler.handle(metric_event(lines_output(4, start=4 * index)), b"")
            while counter(registry, "ogi_graphite_points_dropped") < 4 * (index + 1):
                await asyncio.sleep(0.01)
        sink.start()  # same port
        await handler.handle(metric_event(lines_output(2, start=100)), b"")
        await handler.close()
    assert len(sink.wait_lines(2)) == 2
    said = [(r.levelname, r.getMessage(), getattr(r, "fields", {}).get("dropped_while_down")) for r in caplog.records]
    assert said == [
        ("WARNING", "carbon unreachable: metric points are dropped and counted until it answers", None),
        ("INFO", "carbon answers again", 12),
    ]


async def test_a_restarted_carbon_gets_the_next_batch_on_a_new_connection(sink: LineSink) -> None:
    handler, registry = make({"port": sink.port, "interval": 0.01})
    await handler.handle(metric_event(lines_output(3)), b"")
    sink.wait_lines(3)
    sink.stop()
    sink.start()  # same port
    await handler.handle(metric_event(lines_output(3, start=3)), b"")
    await handler.close()
    assert sink.wait_lines(6) == [f"web-1.cpu.user {float(i % 3)!r} {T0 + 10 * i}" for i in range(6)]
    assert len(sink.connections) == 2
    assert counter(registry, "ogi_graphite_points_dropped") == 0


async def test_close_sends_what_is_queued_before_it_returns(sink: LineSink) -> None:
    handler, _ = make({"port": sink.port, "interval": 3600})
    await handler.handle(metric_event(lines_output(7)), b"")
    await handler.close()
    assert len(sink.wait_lines(7)) == 7


async def test_points_after_close_are_counted_as_dropped_not_raised(sink: LineSink) -> None:
    handler, registry = make({"port": sink.port})
    await handler.handle(metric_event(lines_output(2)), b"")
    await handler.close()
    await handler.handle(metric_event(lines_output(4)), b"")
    assert counter(registry, "ogi_graphite_points_dropped") == 4
    assert len(sink.wait_lines(2)) == 2


async def test_two_graphite_handlers_share_one_registry_with_their_own_labels(sink: LineSink) -> None:
    registry = CollectorRegistry()
    context = Context(metrics=registry)
    first = GraphiteHandler("a", {"type": "graphite", "port": sink.port}, context)
    second = GraphiteHandler("b", {"type": "graphite", "port": sink.port, "prefix": "b"}, context)
    await first.handle(metric_event(lines_output(1)), b"")
    await second.handle(metric_event(lines_output(2)), b"")
    await asyncio.gather(first.close(), second.close())
    assert counter(registry, "ogi_graphite_points_sent", "a") == 1
    assert counter(registry, "ogi_graphite_points_sent", "b") == 2


async def test_a_handler_without_a_metrics_registry_still_counts(sink: LineSink) -> None:
    handler = GraphiteHandler("solo", {"type": "graphite", "port": sink.port}, Context())
    await handler.handle(metric_event(lines_output(1)), b"")
    await handler.close()
    assert len(sink.wait_lines(1)) == 1


# the pieces


def test_sanitising_keeps_letters_digits_and_the_five_path_characters() -> None:
    assert sanitize("Az09_:.-") == "Az09_:.-"
    assert sanitize("a b/c*d?e[f]{g}(h),i\"j'k;l=m~n") == "a_b_c_d_e_f__g__h__i_j_k_l_m_n"
    assert sanitize("héllo") == "h_llo"


def test_the_formatter_leaves_out_values_that_are_not_finite() -> None:
    formatter = LineFormatter()
    lines, left_out = formatter.lines(
        [Point("a", float("nan"), T0), Point("b", float("inf"), T0), Point("c", 2.5, T0 + 0.6)]
    )
    assert lines == [f"c 2.5 {T0 + 1}\n"]
    assert left_out == 2


def test_the_queue_hands_out_batches_in_order_across_event_boundaries() -> None:
    queue = PointQueue(capacity=100, batch_size=4)
    for start in (0, 3, 6):
        assert queue.put([Point(f"p{i}", i, T0) for i in range(start, start + 3)]) == 3
    taken = [queue.take(0), queue.take(0), queue.take(0)]
    assert [[p.name for p in batch] for batch in taken] == [["p0", "p1", "p2", "p3"], ["p4", "p5", "p6", "p7"], ["p8"]]
    assert len(queue) == 0


@given(st.lists(st.text(alphabet="ab \n", max_size=30), max_size=40), st.integers(min_value=8, max_value=64))
def test_datagrams_are_cut_only_at_line_ends_and_join_back_to_the_data(lines: list[str], size: int) -> None:
    data = "".join(f"{line.strip()}\n" for line in lines).encode()
    pieces = split_datagrams(data, size)
    assert b"".join(pieces) == data
    for piece in pieces:
        assert piece.endswith(b"\n")
        assert len(piece) <= size or piece.count(b"\n") == 1


# docs/graphite.md


def doc_blocks() -> list[dict[str, Any]]:
    text = (ROOT / "docs" / "graphite.md").read_text()
    return [json.loads(block) for block in re.findall(r"```json\n(.*?)```", text, re.S)]


def test_the_graphite_doc_has_json_examples_with_a_graphite_handler() -> None:
    blocks = doc_blocks()
    assert sum(any(h.get("type") == "graphite" for h in b.get("handlers", {}).values()) for b in blocks) >= 2


@pytest.mark.parametrize("index", range(len(doc_blocks())))
def test_every_handler_in_the_graphite_doc_can_be_built(index: int) -> None:
    block = doc_blocks()[index]
    assert set(block) <= {"handlers", "checks", "mutators", "filters"}, "an example is a settings fragment"
    context = Context(settings=settings_of(block))
    for name, definition in block.get("handlers", {}).items():
        cls = default_registry.get("handlers", definition.get("type", "pipe"))
        assert cls.allowed_keys is not None
        assert set(definition) <= cls.allowed_keys | Handler.common_keys, f"handler {name}: unknown keys"
        assert isinstance(cls(name, definition, context), Handler)
