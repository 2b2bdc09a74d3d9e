"""Results published in small batches: those finished in the same turn of the event loop go together.

A run's result waits at most one turn of the loop (no timer): when several checks finish at
once, the transport gets one `publish_many` instead of a publish each. Over Redis that is one
RPUSH for the lot; over RabbitMQ the messages go out back to back and their confirms are
awaited together; in memory it saves a coroutine per result. The caller's await ends when its
batch has been handed to the transport, so a run still counts as running until then, as before.
"""

from __future__ import annotations

import asyncio
from collections import Counter

from pipeline.transport.base import Transport

#: Most results in one publish; more finishing in the same turn start another batch.
MAX_BATCH = 100


class ResultBatch:
    """Collects message bodies for one pipe and publishes them together on the next turn."""

    def __init__(self, transport: Transport, pipe: str, counts: Counter[str], max_batch: int = MAX_BATCH) -> None:
        self.transport = transport
        self.pipe = pipe
        self.counts = counts
        self.max_batch = max_batch
        self._bodies: list[bytes] = []
        self._sent: asyncio.Future[None] | None = None
        self._flushing: set[asyncio.Task[None]] = set()

    async def publish(self, body: bytes) -> None:
        """Add `body` to the open batch and wait until that batch is published (or raise as it did)."""
        sent = self._sent
        if sent is None or len(self._bodies) >= self.max_batch:
            sent = self._sent = asyncio.get_running_loop().create_future()
            self._bodies = []
            task = asyncio.create_task(self._flush(self._bodies, sent), name=f"publish:{self.pipe}")
            self._flushing.add(task)
            task.add_done_callback(self._flushing.discard)
        self._bodies.append(body)
        # Shielded: a cancelled run's result is in the batch and goes out with the others.
        await asyncio.shield(sent)

    async def _flush(self, bodies: list[bytes], sent: asyncio.Future[None]) -> None:
        if self._sent is sent:
            self._sent = None  # what finishes from now on opens the next batch
        try:
            await self.transport.publish_many(self.pipe, bodies)
        except BaseException as error:
            if not sent.done():
                sent.set_exception(error)
            if not isinstance(error, Exception):
                raise
        else:
            self.counts["results"] += len(bodies)
            self.counts["result_batches"] += 1
            if not sent.done():
                sent.set_result(None)
        finally:
            # Nobody awaits a batch whose runs were all cancelled: do not warn about its error.
            if sent.done() and not sent.cancelled():
                sent.exception()
