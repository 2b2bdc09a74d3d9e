"""The server side of ogi: consume results and turn each into stored state and handled events."""

from __future__ import annotations

import asyncio
import logging

from pipeline.results import ResultProcessor
from pipeline.transport.base import Message, Transport

log = logging.getLogger("ogi")


class ResultConsumer:
    """Consumes the `results` pipe: each message is acked only after its event was processed."""

    def __init__(self, transport: Transport, processor: ResultProcessor, concurrency: int = 100) -> None:
        self.transport = transport
        self.processor = processor
        self._slots = asyncio.Semaphore(concurrency)
        self._tasks: set[asyncio.Task[None]] = set()

    async def run(self, pipe: str = "results") -> None:
        subscription = await self.transport.subscribe(pipe)
        try:
            async for message in subscription:
                await self._slots.acquire()
                task = asyncio.create_task(self._handle(message))
                self._tasks.add(task)
                task.add_done_callback(self._tasks.discard)
        finally:
            await subscription.close()

    async def _handle(self, message: Message) -> None:
        try:
            async with message.process():
                await self.processor.process_message(message.body)
        except Exception:  # the processor never raises for bad input; this is a bug, not data
            log.exception("result processing failed; message requeued")
        finally:
            self._slots.release()

    async def drain(self, timeout: float) -> None:
        """Wait up to `timeout` seconds for results in flight, then cancel the rest."""
        if not self._tasks:
            return
        _done, pending = await asyncio.wait(set(self._tasks), timeout=timeout)
        for task in pending:
            task.cancel()
