"""What was only counted on objects is on `/metrics` (issue 13): dropped publishes, events queued
for a busy handler, and refusals of the client socket, scraped over HTTP as Prometheus would."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable

import aiohttp
import pytest

from pipeline.cli.run import AllInOne
from pipeline.config.load import settings_of
from pipeline.metrics.exporter import Runner, listener_access, start_exporter
from pipeline.server.server import Server
from pipeline.store.memory import MemoryStore
from pipeline.transport.rabbitmq import RabbitMQTransport
from tests.contract.transport_fixtures import settings_for
from tests.helpers import free_port


async def scrape(runner: Runner) -> str:
    async with aiohttp.ClientSession() as session, session.get(runner.url) as response:
        assert response.status == 200
        return await response.text()


async def until(condition: Callable[[], bool], seconds: float) -> None:
    deadline = asyncio.get_running_loop().time() + seconds
    while not condition():
        assert asyncio.get_running_loop().time() < deadline, "condition not met in time"
        await asyncio.sleep(0.05)


def sample(page: str, series: str) -> float | None:
    for line in page.splitlines():
        if line.startswith(series + " "):
            return float(line.split()[-1])
    return None


@pytest.fixture
async def served(rabbitmq_vhost: str) -> AsyncIterator[tuple[Server, Runner]]:
    transport = RabbitMQTransport(settings_for(rabbitmq_vhost))
    store = MemoryStore()
    settings = settings_of({"handlers": {"slow": {"type": "pipe", "command": "cat > /dev/null"}}})
    server = Server(settings, store, transport, run_tasks=False, serve_metrics=False)
    runner = await start_exporter(listener_access({"metrics": {"port": 0}}), store, server.metrics)
    try:
        yield server, runner
    finally:
        await runner.stop()
        await server.engine.close()
        await transport.close(flush_timeout=1)


@pytest.mark.services
async def test_a_refused_publish_and_an_event_queued_for_a_busy_handler_are_on_the_page(
    served: tuple[Server, Runner],
) -> None:
    server, runner = served
    page = await scrape(runner)
    assert sample(page, 'ogi_publish_dropped_total{reason="publish_refused"}') == 0
    assert sample(page, 'ogi_publish_dropped_total{reason="publish_failed"}') == 0

    await server.transport.publish("amq.evil", b'{"poison": true}', "fanout")
    event = {"id": "e1", "client": {"name": "web-1"}, "check": {"name": "disk", "status": 2, "output": "x"},
             "occurrences": 1, "action": "create", "timestamp": 1}
    assert await server.engine.queues.queue("slow", event)  # type: ignore[arg-type]

    page = await scrape(runner)
    assert sample(page, 'ogi_publish_dropped_total{reason="publish_refused"}') == 1
    assert sample(page, 'ogi_handler_queued_events_total{handler="slow"}') == 1
    await until(lambda: server.engine.queues.taken_by_handler["slow"] == 1, 15)
    page = await scrape(runner)
    assert sample(page, 'ogi_handler_queue_taken_total{handler="slow"}') == 1


async def test_messages_the_client_socket_refuses_are_counted_by_reason_on_ogi_runs_page() -> None:
    metrics_port = free_port()
    settings = settings_of({
        "client": {"name": "box", "subscriptions": [], "socket": {"port": 0}},
        "api": {"port": free_port()},
        "metrics": {"port": metrics_port},
    })
    everything = AllInOne(settings, quiet=True)
    await everything.start()
    try:
        assert everything.client.socket is not None
        port = everything.client.socket.tcp_port
        for garbage in (b"not json at all\n", b"{broken\n"):
            reader, writer = await asyncio.open_connection("127.0.0.1", port)
            writer.write(garbage)
            writer.write_eof()
            await reader.read()
            writer.close()
        async with aiohttp.ClientSession() as session, \
                session.get(f"http://127.0.0.1:{metrics_port}/metrics") as response:
            page = await response.text()
        assert sample(page, 'ogi_socket_refusals_total{listener="client_socket",reason="not_json"}') == 2
    finally:
        await everything.stop()
