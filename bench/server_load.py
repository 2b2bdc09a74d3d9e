"""What `python -m bench.server` sends: Sensu-shaped result bodies, preloaded queues, the publisher.

Preloading and publishing run in processes of their own (`python -m bench.server --preload` /
`--publish`), so the measured process starts clean and its CPU is the server's alone.
"""

from __future__ import annotations

import asyncio
import subprocess
import sys
import time
from collections.abc import Iterator
from typing import Any

import aio_pika

from bench.amqp_publisher import ConfirmingPublisher
from pipeline import jsoncodec


def result_body(i: int, sent: float | None = None) -> bytes:
    host = f"host{i % 200}"
    now = int(time.time())
    output = "".join(f"{host}.cpu.cpu{n}.user {i % 97 + n} {now}\n" for n in range(10))
    check: dict[str, Any] = {
        "name": f"metrics_x{i % 5}", "type": "metric", "command": "metrics-cpu", "interval": 10,
        "issued": now, "executed": now, "duration": 0.01, "output": output, "status": 0,
        "handlers": ["graphite"],
    }
    if sent is not None:
        check["bench_sent"] = sent
        check["handlers"] = ["graphite", "latency"]
    return jsoncodec.dumps({"client": host, "check": check})


def amqp_url(vhost: str) -> str:
    return f"amqp://guest:guest@127.0.0.1:5672/{vhost}"


def raw_body(i: int) -> bytes:
    return b"%08d" % i + b"x" * 592


async def preload(vhost: str, queue: str, bodies: Iterator[bytes], exchange: str = "") -> int:
    """Publish persistent messages (with confirms) to a durable queue, through `exchange`."""
    connection = await aio_pika.connect(amqp_url(vhost))
    async with connection:
        channel = await connection.channel(publisher_confirms=True)
        amqp_queue = await channel.declare_queue(queue, durable=True, auto_delete=False)
        if exchange:
            target = await channel.declare_exchange(exchange, "direct", durable=False)
            await amqp_queue.bind(target, routing_key="")
            key = ""
        else:
            target, key = channel.default_exchange, queue
        sent = 0
        batch: list[bytes] = []
        for body in [*bodies, b""]:
            if body:
                batch.append(body)
            if len(batch) >= 2000 or (not body and batch):
                await asyncio.gather(*(target.publish(aio_pika.Message(b, delivery_mode=aio_pika.DeliveryMode.PERSISTENT),
                                                      routing_key=key) for b in batch))
                sent += len(batch)
                batch = []
        return sent


async def depth(vhost: str, queue: str) -> int:
    connection = await aio_pika.connect(amqp_url(vhost))
    async with connection:
        channel = await connection.channel()
        declared = await channel.declare_queue(queue, passive=True)
        return int(declared.declaration_result.message_count or 0)


def preload_elsewhere(vhost: str, queue: str, count: int) -> None:
    """Preload in another process, so the measured process starts clean (its RSS included)."""
    subprocess.run([sys.executable, "-m", "bench.server", "--preload", vhost, queue, str(count)], check=True)


async def publish(vhost: str, rate: float, seconds: float) -> int:
    """The publisher process: `rate` results/s with their send time, persistent, with confirms.

    It stands for clients on other hosts, so it is as lean as it can be (bench/amqp_publisher.py):
    on this host its CPU is taken from the server's.
    """
    publisher = await ConfirmingPublisher.open("127.0.0.1", 5672, vhost, "guest", "guest", exchange="results")
    try:
        sent = 0
        start = time.monotonic()
        while (elapsed := time.monotonic() - start) < seconds:
            due = int(rate * elapsed) - sent
            if due > 0:
                now = time.time()
                publisher.publish([result_body(sent + k, now) for k in range(due)])
                sent += due
            await asyncio.sleep(0.002)
        confirmed = await publisher.wait_confirmed()
        if publisher.nacked:
            raise RuntimeError(f"the broker refused {publisher.nacked} results")
        return confirmed
    finally:
        await publisher.close()
