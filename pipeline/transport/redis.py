"""The Redis transport (`"transport": {"name": "redis"}`): Sensu 1.x's small-site choice.

Pipes use Sensu's own keys (`redis_layout.py`), so Ruby clients on the Redis transport report
to an ogi server unchanged: a direct pipe is a list (RPUSH to publish), a fanout pipe a
PUBLISH/SUBSCRIBE channel. It does better than Sensu's BLPOP where Redis allows:

- a direct pipe is consumed with BLMOVE into this consumer's own processing list, and the
  message leaves that list only when `message.process()` ends: a consumer killed mid-result
  loses nothing. Every `heartbeat` seconds each consumer renews its lease; a processing list
  whose owner missed its lease (3 heartbeats) is moved back to the head of the pipe by any
  other consumer of that pipe, its messages marked redelivered;
- a processing failure puts the message back at the head of the pipe; after `max_attempts`
  failures it goes to `<pipe>.failed` (pipes ogi owns) or is dropped (`roundrobin:`), counted;
- publishes made while Redis is unreachable wait in a bounded buffer (`buffer_limit`) and go
  out in order when it is back.

What Redis cannot promise (docs/redis.md): a fanout message (a check request) reaches only the
subscribers connected at that instant; one published while a client is disconnected is gone.
Each fanout subscriber gets every message, whatever its queue name.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections import Counter, deque
from collections.abc import Callable
from typing import Any

from pipeline.model import JSON
from pipeline.store.redis_conn import connect, redis_settings
from pipeline.transport.amqp_settings import amqp_settings
from pipeline.transport.base import ConnectionCallback, PipeKind, Subscription, Transport
from pipeline.transport.redis_consume import GONE, Consumer, DirectConsumer, FanoutConsumer
from pipeline.transport.redis_layout import RECOVER, Keys

log = logging.getLogger("ogi")

DEFAULT_HEARTBEAT = 5.0
KINDS = ("direct", "fanout")


def _check_kind(kind: str) -> None:
    if kind not in KINDS:
        raise ValueError(f"unknown pipe kind {kind!r} (known: direct, fanout)")


class RedisTransport(Transport):
    """Pipes on Redis in Sensu 1.x's key layout; see the module docstring."""

    name = "redis"

    def __init__(self, settings: JSON, heartbeat: float = DEFAULT_HEARTBEAT) -> None:
        found = redis_settings(settings.get("redis"))
        self.client, self.described = connect(settings.get("redis"))
        given = self.client.connection_pool.connection_kwargs
        self.db = int(given.get("db", found.db) or 0)
        knobs = amqp_settings({"transport": settings.get("transport")} if isinstance(settings.get("transport"), dict)
                              else {})
        self.max_attempts = knobs.max_attempts
        self.buffer_limit = knobs.buffer_limit
        self.reconnect_interval = knobs.reconnect_interval
        self.heartbeat = heartbeat
        self.counts: Counter[str] = Counter()
        self._recover = self.client.register_script(RECOVER)
        self._subscriptions: set[Consumer] = set()
        self._owners: set[DirectConsumer] = set()
        self._pending: deque[tuple[str, bytes, PipeKind]] = deque()
        self._late: deque[Callable[[Any], None]] = deque()  # acks that failed while Redis was away, retried in order
        self._tasks: set[asyncio.Task[Any]] = set()
        self._watcher: asyncio.Task[None] | None = None
        self._up = True
        self._closed = False
        self._on_down: list[ConnectionCallback] = []
        self._on_up: list[ConnectionCallback] = []

    # -- connection state ------------------------------------------------------------------

    @property
    def connected(self) -> bool:
        return self._up

    def pending(self) -> int:
        """Messages buffered while Redis is away, not yet sent (`ogi_transport_publish_buffer`)."""
        return len(self._pending)

    def on_disconnect(self, callback: ConnectionCallback) -> None:
        self._on_down.append(callback)

    def on_reconnect(self, callback: ConnectionCallback) -> None:
        self._on_up.append(callback)

    def lost(self, exc: BaseException) -> None:
        if self._up and not self._closed:
            self._up = False
            log.warning("redis transport lost its connection", extra={"fields": {"redis": self.described,
                                                                                 "error": repr(exc)}})
            self._call(self._on_down)

    def regained(self) -> None:
        if not self._up and not self._closed:
            self._up = True
            log.info("redis transport connected again", extra={"fields": {"redis": self.described}})
            self._call(self._on_up)

    def _call(self, callbacks: list[ConnectionCallback]) -> None:
        for callback in callbacks:
            result = callback()
            if asyncio.iscoroutine(result):
                self.spawn(result)

    def spawn(self, coroutine: Any) -> None:
        task = asyncio.ensure_future(coroutine)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    def _watch(self) -> None:
        if self._watcher is None and not self._closed:
            self._watcher = asyncio.create_task(self._watch_loop())

    async def _watch_loop(self) -> None:
        """Renew leases, recover dead consumers' lists, send what waited; as Sensu, every few seconds."""
        while not self._closed:
            try:
                await self.lease(list(self._owners))
                for keys in {s.keys.pipe: s.keys for s in self._subscriptions if s.kind == "direct"}.values():
                    await self.recover(keys)
                if not self._owners:
                    await self.client.ping()
                self.regained()
                await self._flush()
            except GONE as exc:
                self.lost(exc)
            await asyncio.sleep(self.heartbeat if self._up and not self._pending else self.reconnect_interval)

    async def lease(self, consumers: list[DirectConsumer]) -> None:
        """Renew the leases of `consumers` (owners and, while open, consumers)."""
        if not consumers:
            return
        deadline = int((time.time() + 3 * self.heartbeat) * 1000)
        pipe = self.client.pipeline(transaction=False)
        for consumer in consumers:
            pipe.zadd(consumer.keys.owners, {consumer.consumer: deadline})
            if not consumer.closed:
                pipe.zadd(consumer.keys.consumers, {consumer.consumer: deadline})
        await pipe.execute()

    async def recover(self, keys: Keys) -> None:
        """Give the processing lists of this pipe's dead consumers back to the pipe."""
        moved = await self._recover(keys=[keys.owners, keys.consumers, keys.list, keys.attempts],
                                    args=[int(time.time() * 1000), keys.processing_prefix])
        if moved:
            self.counts["recovered"] += int(moved)
            log.warning("recovered %d messages of a consumer that went away", moved,
                        extra={"fields": {"pipe": keys.pipe}})

    async def settle(self, build: Callable[[Any], None]) -> None:
        """Run an ack-like write (`build` queues its commands in one transaction); while Redis
        is away, keep it for the watcher to retry, in order."""
        if self._late:
            self._late.append(build)
            return
        try:
            await self._transaction(build)
        except GONE as exc:
            self.lost(exc)
            self._late.append(build)
            self._watch()

    async def _transaction(self, build: Callable[[Any], None]) -> None:
        pipe = self.client.pipeline(transaction=True)
        build(pipe)
        await pipe.execute()

    async def _flush(self) -> None:
        while self._late:
            await self._transaction(self._late[0])
            self._late.popleft()
        while self._pending:
            pipe, body, kind = self._pending[0]
            await self._send(pipe, body, kind)
            self._pending.popleft()

    # -- the seam --------------------------------------------------------------------------

    async def _send(self, pipe: str, body: bytes, kind: PipeKind) -> None:
        keys = Keys(self.db, pipe)
        if kind == "direct":
            await self.client.rpush(keys.list, body)
        else:
            await self.client.publish(keys.channel, body)

    async def publish(self, pipe: str, body: bytes, kind: PipeKind = "direct") -> None:
        if self._closed:
            raise RuntimeError("redis transport is closed")
        _check_kind(kind)
        if not self._pending:
            try:
                await self._send(pipe, bytes(body), kind)
                return
            except GONE as exc:
                self.lost(exc)
        self._buffer(pipe, bytes(body), kind)

    async def publish_many(self, pipe: str, bodies: list[bytes], kind: PipeKind = "direct") -> None:
        """A direct pipe's batch is one RPUSH; a fanout pipe's, one PUBLISH each."""
        if kind != "direct" or len(bodies) < 2:
            await super().publish_many(pipe, bodies, kind)
            return
        if self._closed:
            raise RuntimeError("redis transport is closed")
        values = [bytes(body) for body in bodies]
        if not self._pending:
            try:
                await self.client.rpush(Keys(self.db, pipe).list, *values)
                return
            except GONE as exc:
                self.lost(exc)
        for value in values:
            self._buffer(pipe, value, kind)

    def _buffer(self, pipe: str, body: bytes, kind: PipeKind) -> None:
        if self.buffer_limit == 0:
            self.counts["buffer_dropped"] += 1
            return
        if len(self._pending) >= self.buffer_limit:
            self._pending.popleft()
            self.counts["buffer_dropped"] += 1
        self._pending.append((pipe, body, kind))
        self._watch()

    async def subscribe(self, pipe: str, kind: PipeKind = "direct", queue: str | None = None) -> Subscription:
        if self._closed:
            raise RuntimeError("redis transport is closed")
        _check_kind(kind)
        keys = Keys(self.db, pipe)
        subscription: DirectConsumer | FanoutConsumer
        if kind == "direct":
            subscription = DirectConsumer(self, keys)
            self._owners.add(subscription)
        else:
            subscription = FanoutConsumer(self, keys)
        self._subscriptions.add(subscription)
        try:
            await subscription.start()
        except BaseException:
            self._subscriptions.discard(subscription)
            self._owners.discard(subscription)
            raise
        self._watch()
        return subscription

    def disown(self, consumer: DirectConsumer) -> None:
        """A closed consumer's processing list is empty: stop renewing its lease."""
        self._owners.discard(consumer)

    def unsubscribed(self, subscription: Consumer) -> None:
        self._subscriptions.discard(subscription)
        if isinstance(subscription, DirectConsumer) and not subscription.owning:
            self._owners.discard(subscription)

    async def queue_stats(self, pipe: str) -> tuple[int, int]:
        """(messages waiting, live consumers) of a direct pipe, as `/health` checks them."""
        keys = Keys(self.db, pipe)
        pipe_ = self.client.pipeline(transaction=False)
        pipe_.llen(keys.list)
        pipe_.zcount(keys.consumers, int(time.time() * 1000), "+inf")
        waiting, consumers = await pipe_.execute()
        return int(waiting), int(consumers)

    async def close(self) -> None:
        if self._closed:
            return
        for subscription in list(self._subscriptions):
            with contextlib.suppress(*GONE):
                await subscription.close()
        self._closed = True
        if self._watcher is not None:
            self._watcher.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._watcher
        for task in list(self._tasks):
            with contextlib.suppress(Exception, asyncio.CancelledError):
                await asyncio.wait_for(task, 2)
        with contextlib.suppress(*GONE):
            await self.client.aclose()
