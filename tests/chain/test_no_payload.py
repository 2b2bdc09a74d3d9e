"""Handlers that take no payload (`graphite`, `prometheus`): their routes run no mutator at all.

A command mutator named on such a handler would spawn one process per event for bytes nobody
reads; these tests run the real built-in handlers with a real command mutator that leaves a
file behind whenever it is spawned.
"""

from __future__ import annotations

import shlex
import socket
import threading
from pathlib import Path
from typing import Any

from prometheus_client import CollectorRegistry

from pipeline.chain.engine import Engine
from pipeline.config.load import settings_of
from pipeline.extension import Context, Handler, Mutator
from pipeline.model import Event
from pipeline.registry import Registry
from pipeline.store.memory import MemoryStore

T0 = 1_795_000_000


def metric_event(**check: Any) -> Event:
    return {
        "id": "0f9a", "action": "create", "occurrences": 1,
        "client": {"name": "web1", "address": "10.0.0.1", "subscriptions": []},
        "check": {"name": "load", "type": "metric", "status": 0, "executed": T0,
                  "output": f"web1.load.avg 0.5 {T0}\n", **check},
    }


def spawning_mutator(marker: Path) -> dict[str, Any]:
    return {"command": f"touch {shlex.quote(str(marker))}; cat", "timeout": 10}


class Carbon:
    """A plaintext carbon port on 127.0.0.1 in a thread: keeps every byte received."""

    def __init__(self) -> None:
        self.received = b""
        self._done = threading.Event()
        self._server = socket.create_server(("127.0.0.1", 0))
        self.port = self._server.getsockname()[1]
        threading.Thread(target=self._serve, daemon=True).start()

    def _serve(self) -> None:
        with self._server, self._server.accept()[0] as conn:
            while chunk := conn.recv(65536):
                self.received += chunk
        self._done.set()

    def wait(self) -> str:
        self._done.wait(10)
        return self.received.decode()


async def test_the_prometheus_handler_gets_the_event_and_its_command_mutator_is_never_spawned(tmp_path):
    marker = tmp_path / "mutator-ran"
    settings = {
        "handlers": {"prom": {"type": "prometheus", "mutator": "slow"},
                     "file": {"type": "pipe", "command": f"cat > {shlex.quote(str(tmp_path / 'piped'))}",
                              "mutator": "slow"}},
        "mutators": {"slow": spawning_mutator(marker)},
    }
    store = MemoryStore()
    engine = Engine(settings_of(settings), Context(settings=settings_of(settings), store=store, metrics=CollectorRegistry()), Registry())
    await engine.process(metric_event(handlers=["prom"]))
    assert list(await store.list_series()) != []  # the handler got the event
    assert not marker.exists()
    # the same mutator still runs for a handler that reads its payload
    await engine.process(metric_event(handlers=["file"]))
    await engine.close()
    assert marker.exists() and (tmp_path / "piped").read_text().startswith("{")


async def test_the_graphite_handler_ships_the_points_without_running_its_mutator(tmp_path):
    marker = tmp_path / "mutator-ran"
    carbon = Carbon()
    settings = {
        "handlers": {"carbon": {"type": "graphite", "port": carbon.port, "mutator": "slow"}},
        "mutators": {"slow": spawning_mutator(marker)},
    }
    engine = Engine(settings_of(settings), Context(settings=settings_of(settings), metrics=CollectorRegistry()), Registry())
    await engine.process(metric_event(handlers=["carbon"]))
    await engine.close()
    assert f"web1.load.avg 0.5 {T0}" in carbon.wait()
    assert not marker.exists()


class Counting(Mutator):
    calls = 0

    async def mutate(self, event: Event) -> bytes | None:
        Counting.calls += 1
        return b"mutated"


class Reader(Handler):
    """Reads the event itself."""

    payload = False
    seen: list[tuple[str, bytes]] = []

    async def handle(self, event: Event, payload: bytes) -> None:
        Reader.seen.append((event["check"]["name"], payload))


class Taker(Handler):
    seen: list[bytes] = []

    async def handle(self, event: Event, payload: bytes) -> None:
        Taker.seen.append(payload)


async def test_a_handler_declaring_no_payload_gets_empty_bytes_and_the_shared_mutator_runs_once_for_the_rest():
    registry = Registry(use_entry_points=False)
    registry.register("handlers", "reader", Reader)
    registry.register("handlers", "taker", Taker)
    registry.register("mutators", "json", Counting)
    settings = {"handlers": {"a": {"type": "reader"}, "b": {"type": "reader"}, "c": {"type": "taker"}}}
    engine = Engine(settings_of(settings), Context(settings=settings_of(settings), metrics=CollectorRegistry()), registry)
    Counting.calls, Reader.seen, Taker.seen = 0, [], []
    await engine.process(metric_event(handlers=["a", "b"]))
    assert (Counting.calls, Reader.seen) == (0, [("load", b""), ("load", b"")])
    await engine.process(metric_event(handlers=["a", "c"]))
    await engine.close()
    assert (Counting.calls, Taker.seen) == (1, [b"mutated"])
