"""`ogi server --workers N`: one `/metrics` page for the host, the workers' counters summed in.

Each worker serves its own registry on 127.0.0.1, a port the system picks, and announces the
port on a queue; the first process (the one serving `metrics.port`) fetches those pages on
every scrape and sums them with its own (pipeline/metrics/merge.py). A worker that does not
answer within 2 s is left out of that scrape and logged.
"""

from __future__ import annotations

import asyncio
import logging
import queue
from typing import Any

import aiohttp

from pipeline.metrics.access import Access
from pipeline.metrics.exporter import Runner, start_exporter

log = logging.getLogger("ogi.metrics")

FETCH_TIMEOUT = 2.0


class PeerPages:
    """The first process's side: the ports announced so far and their pages."""

    def __init__(self, announced: Any) -> None:
        self.announced = announced
        self.ports: set[int] = set()

    def _drain(self) -> None:
        while True:
            try:
                self.ports.add(int(self.announced.get_nowait()))
            except queue.Empty:
                return

    async def _fetch(self, session: aiohttp.ClientSession, port: int) -> str | None:
        try:
            async with session.get(f"http://127.0.0.1:{port}/metrics") as response:
                if response.status == 200:
                    return await response.text()
                raise RuntimeError(f"status {response.status}")
        except (TimeoutError, aiohttp.ClientError, RuntimeError) as error:
            log.warning("a server worker's metrics are left out of this scrape",
                        extra={"fields": {"port": port, "error": repr(error)}})
            return None

    async def __call__(self) -> list[str]:
        self._drain()
        if not self.ports:
            return []
        timeout = aiohttp.ClientTimeout(total=FETCH_TIMEOUT)
        async with aiohttp.ClientSession(timeout=timeout) as session:
            pages = await asyncio.gather(*(self._fetch(session, port) for port in sorted(self.ports)))
        return [page for page in pages if page is not None]


async def serve_worker_page(registry: Any, announce: Any) -> Runner:
    """A worker's own page on 127.0.0.1 (no check series: the first process reads the store), announced."""
    runner = await start_exporter(("127.0.0.1", 0, Access()), None, registry)
    announce.put(runner.port)
    return runner
