"""Consuming the Redis transport's pipes: direct pipes with a processing list, fanout by SUBSCRIBE.

`DirectConsumer` takes each message with BLMOVE from the pipe's list into its own processing
list and removes it there when `message.process()` ends; `FanoutConsumer` reads the pipe's
channel. `pipeline/transport/redis.py` (the transport) renews their leases and recovers the
lists of consumers that went away.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import socket
import uuid
from collections import Counter, deque
from collections.abc import AsyncIterator
from typing import TYPE_CHECKING, Any

from redis import exceptions as rexc

from pipeline.transport.amqp_topology import FAILED_SUFFIX, ogi_owns
from pipeline.transport.base import Message, PipeKind, Subscription
from pipeline.transport.redis_layout import Keys, digest

if TYPE_CHECKING:
    from pipeline.transport.redis import RedisTransport

log = logging.getLogger("ogi")

#: Errors that mean "Redis is not reachable now", never "this message is wrong".
GONE = (rexc.ConnectionError, rexc.TimeoutError, OSError, asyncio.TimeoutError)
#: Seconds one BLMOVE or pubsub read waits; below the client's 5 s reply timeout.
BLOCK = 1


class RedisMessage(Message):
    """One delivery; `process()` acks it by removing it from the consumer's processing list."""

    def __init__(self, body: bytes, subscription: Consumer, attempts: int, redelivered: bool) -> None:
        self.body = body
        self.redelivered = redelivered
        self.attempts = attempts
        self.state = "delivered"  # -> processing -> settled, or requeued at close
        self._subscription = subscription

    @contextlib.asynccontextmanager
    async def process(self) -> AsyncIterator[None]:
        if self.state != "delivered":
            raise RuntimeError("message already processed, or requeued when its subscription closed")
        self.state = "processing"
        try:
            yield
        except Exception as exc:
            self.state = "settled"
            await self._subscription.failed(self, exc)
            raise
        except BaseException:
            self.state = "settled"
            await asyncio.shield(self._subscription.give_back([self]))
            raise
        else:
            self.state = "settled"
            await self._subscription.ack(self)
        finally:
            self._subscription.settled(self)


class Consumer(Subscription):
    """What both kinds of subscription share: unsettled messages and closing."""

    def __init__(self, transport: RedisTransport, keys: Keys, kind: PipeKind) -> None:
        self.transport = transport
        self.keys = keys
        self.kind = kind
        self.closed = False
        self.unsettled: dict[RedisMessage, None] = {}
        self._reading: asyncio.Future[Any] | None = None

    def __aiter__(self) -> AsyncIterator[Message]:
        return self._messages()

    async def _messages(self) -> AsyncIterator[Message]:
        while not self.closed:
            try:
                message = await self._next()
            except GONE as exc:
                self.transport.lost(exc)
                await asyncio.sleep(self.transport.reconnect_interval)
                continue
            except asyncio.CancelledError:
                if self.closed:
                    return
                raise
            if message is not None:
                self.unsettled[message] = None
                yield message

    async def _await_read(self, awaitable: Any) -> Any:
        """Await a read that `close()` may cancel."""
        self._reading = asyncio.ensure_future(awaitable)
        try:
            return await self._reading
        finally:
            self._reading = None

    async def _next(self) -> RedisMessage | None:
        raise NotImplementedError

    def settled(self, message: RedisMessage) -> None:
        self.unsettled.pop(message, None)

    async def ack(self, message: RedisMessage) -> None:
        """Nothing to do for a fanout copy."""

    async def failed(self, message: RedisMessage, exc: Exception) -> None:
        raise NotImplementedError

    async def give_back(self, messages: list[RedisMessage]) -> None:
        raise NotImplementedError

    def _report_failure(self, message: RedisMessage, attempts: int, outcome: str, exc: Exception) -> None:
        log.error("message failed %d times: %s", attempts, outcome,
                  extra={"fields": {"queue": self.keys.pipe, "attempts": attempts, "error": repr(exc)[:500]}})

    async def close(self) -> None:
        if self.closed:
            return
        self.closed = True
        if self._reading is not None:
            self._reading.cancel()
        await self._closing()
        self.transport.unsubscribed(self)

    async def _closing(self) -> None:
        raise NotImplementedError


class DirectConsumer(Consumer):
    """A competing consumer of a list: BLMOVE into its own processing list, LREM on ack."""

    def __init__(self, transport: RedisTransport, keys: Keys) -> None:
        super().__init__(transport, keys, "direct")
        self.consumer = f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:12]}"
        self.processing = keys.processing(self.consumer)
        #: True while the processing list may hold messages (until closed and drained).
        self.owning = True

    async def start(self) -> None:
        await self.transport.lease([self])
        await self.transport.recover(self.keys)

    async def _next(self) -> RedisMessage | None:
        client = self.transport.client
        body = await self._await_read(client.blmove(self.keys.list, self.processing, BLOCK, "LEFT", "RIGHT"))
        if body is None:
            return None
        self.transport.regained()
        try:
            marked = await client.hget(self.keys.attempts, digest(body))
        except GONE:
            marked = None
        attempts = int(marked) if marked is not None else 0
        return RedisMessage(bytes(body), self, attempts, redelivered=marked is not None)

    async def ack(self, message: RedisMessage) -> None:
        def build(pipe: Any) -> None:
            pipe.lrem(self.processing, 1, message.body)
            if message.redelivered:
                pipe.hdel(self.keys.attempts, digest(message.body))

        await self.transport.settle(build)

    async def failed(self, message: RedisMessage, exc: Exception) -> None:
        attempts = message.attempts + 1
        field = digest(message.body)
        retry = attempts < self.transport.max_attempts
        dead_letter = not retry and ogi_owns(self.keys.pipe)

        def build(pipe: Any) -> None:
            pipe.lrem(self.processing, 1, message.body)
            if retry:
                pipe.lpush(self.keys.list, message.body)
                pipe.hset(self.keys.attempts, field, str(attempts))
                return
            pipe.hdel(self.keys.attempts, field)
            if dead_letter:
                pipe.rpush(Keys(self.transport.db, self.keys.pipe + FAILED_SUFFIX).list, message.body)

        await self.transport.settle(build)
        if retry:
            return
        if dead_letter:
            self.transport.counts["dead_lettered"] += 1
            outcome = f"moved to {self.keys.pipe + FAILED_SUFFIX}"
        else:
            self.transport.counts["dropped_after_attempts"] += 1
            outcome = "dropped"
        self._report_failure(message, attempts, outcome, exc)

    async def give_back(self, messages: list[RedisMessage]) -> None:
        await self._return([m.body for m in messages])

    async def _return(self, bodies: list[bytes], leave: tuple[str, ...] = ()) -> None:
        """Move `bodies` from the processing list back to the head of the pipe, in their order;
        leave the ZSETs named in `leave` (owners, consumers)."""
        def build(pipe: Any) -> None:
            for body in bodies:
                pipe.lrem(self.processing, 1, body)
                pipe.hsetnx(self.keys.attempts, digest(body), "0")
            if bodies:
                pipe.lpush(self.keys.list, *reversed(bodies))
            for key in leave:
                pipe.zrem(key, self.consumer)

        await self.transport.settle(build)

    def settled(self, message: RedisMessage) -> None:
        super().settled(message)
        if self.closed and self.owning and not self.unsettled:
            self.owning = False
            self.transport.disown(self)
            self.transport.spawn(self._return([], (self.keys.owners,)))

    async def _closing(self) -> None:
        in_flight = Counter(m.body for m in self.unsettled if m.state == "processing")
        for message in list(self.unsettled):
            if message.state == "delivered":
                message.state = "requeued"
                self.unsettled.pop(message)
        leave: tuple[str, ...] = (self.keys.consumers,)
        if not self.unsettled:
            self.owning = False
            leave += (self.keys.owners,)
        try:
            held: list[bytes] = await self.transport.client.lrange(self.processing, 0, -1)  # type: ignore[assignment]
        except GONE as exc:
            # Not returned now: the lease lapses and another consumer recovers the list.
            log.warning("could not give back unprocessed messages", extra={"fields": {"error": repr(exc)}})
            self.owning = False
            return
        back: list[bytes] = []
        for body in held:
            if in_flight[body] > 0:
                in_flight[body] -= 1
            else:
                back.append(bytes(body))
        await self._return(back, leave)


class FanoutConsumer(Consumer):
    """A SUBSCRIBE to a pipe's channel; a failed copy is retried locally, then dropped."""

    def __init__(self, transport: RedisTransport, keys: Keys) -> None:
        super().__init__(transport, keys, "fanout")
        self.pubsub = transport.client.pubsub()
        self.retry: deque[RedisMessage] = deque()

    async def start(self) -> None:
        await self.pubsub.subscribe(self.keys.channel)
        # Wait for Redis to confirm, so a publish right after subscribe() returns reaches us.
        while (reply := await self.pubsub.get_message(timeout=BLOCK)) is None or reply["type"] != "subscribe":
            pass

    async def _next(self) -> RedisMessage | None:
        if self.retry:
            return self.retry.popleft()
        reply = await self._await_read(self.pubsub.get_message(ignore_subscribe_messages=True, timeout=BLOCK))
        if reply is None or reply.get("type") != "message":
            return None
        self.transport.regained()
        return RedisMessage(bytes(reply["data"]), self, 0, redelivered=False)

    def _again(self, message: RedisMessage, attempts: int) -> None:
        if not self.closed:
            self.retry.appendleft(RedisMessage(message.body, self, attempts, redelivered=True))

    async def failed(self, message: RedisMessage, exc: Exception) -> None:
        attempts = message.attempts + 1
        if attempts < self.transport.max_attempts:
            self._again(message, attempts)
            return
        self.transport.counts["dropped_after_attempts"] += 1
        self._report_failure(message, attempts, "dropped", exc)

    async def give_back(self, messages: list[RedisMessage]) -> None:
        for message in reversed(messages):
            self._again(message, message.attempts)

    async def _closing(self) -> None:
        for message in list(self.unsettled):
            if message.state == "delivered":
                message.state = "requeued"
                self.unsettled.pop(message)
        self.retry.clear()
        with contextlib.suppress(*GONE, rexc.RedisError):
            await self.pubsub.aclose()
