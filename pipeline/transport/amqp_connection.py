"""One RabbitMQ connection that stays up: connect, reconnect, fail over, tell who cares.

The brokers are tried in shuffled order until one answers, then aio-pika's robust connection
reconnects on its own, re-declaring exchanges, queues and bindings and resuming consumers;
with several brokers the URL rotates while the connection is down. `on_disconnect` /
`on_reconnect` callbacks let a server pause and resume its timers (Sensu's pause/resume).
The pipes over this connection (publish, buffer, subscribe) are rabbitmq.py.
"""

from __future__ import annotations

import asyncio
import inspect
import logging
import os
import socket
from collections import Counter
from collections.abc import Coroutine
from typing import Any

import aio_pika
from aio_pika.abc import AbstractRobustChannel
from aio_pika.robust_connection import RobustConnection
from yarl import URL

from pipeline.transport import amqp_failures, amqp_frames
from pipeline.transport.amqp_settings import AmqpSettings
from pipeline.transport.base import ConnectionCallback

log = logging.getLogger("ogi")

CONNECT_TIMEOUT = 10.0
#: A confirm slower than this counts as lost; the message goes back to the buffer.
PUBLISH_TIMEOUT = 30.0
MAX_BACKOFF = 20.0


class AmqpConnection:
    """The connection half of the RabbitMQ transport; a subclass adds the pipes."""

    def __init__(self, settings: AmqpSettings, connection_name: str | None = None) -> None:
        self.settings = settings
        self.connection_name = connection_name or f"ogi {socket.gethostname()} {os.getpid()}"
        self.counts: Counter[str] = Counter()
        self._connection: RobustConnection | None = None
        self._broker = 0
        self._publish_channel: AbstractRobustChannel | None = None
        self._topology_channel: AbstractRobustChannel | None = None
        self._up = False
        #: Why the connection is down (the last failed attempt or the loss); None while up.
        self.last_error: str | None = None
        self._ready = asyncio.Event()
        self._closed_event = asyncio.Event()
        self._tried = asyncio.Event()
        self._closed = False
        self._closing = False
        self._tasks: dict[str, asyncio.Task[None]] = {}
        self._callback_tasks: set[asyncio.Future[Any]] = set()
        self._on_disconnect: list[ConnectionCallback] = []
        self._on_reconnect: list[ConnectionCallback] = []

    @property
    def pending(self) -> int:
        """Messages waiting for the connection; the pipes' buffer says."""
        return 0

    def _connected_again(self) -> None:
        """Called each time the connection is (again) ready; the pipes send their buffer."""

    # --- state ---------------------------------------------------------------------------

    @property
    def connected(self) -> bool:
        return self._up

    @property
    def broker(self) -> str:
        """The broker in use (or tried next), without the password."""
        return self.settings.brokers[self._broker].label

    def on_disconnect(self, callback: ConnectionCallback) -> None:
        self._on_disconnect.append(callback)

    def on_reconnect(self, callback: ConnectionCallback) -> None:
        self._on_reconnect.append(callback)

    def _fire(self, callbacks: list[ConnectionCallback]) -> None:
        for callback in callbacks:
            try:
                result = callback()
            except Exception:
                log.exception("transport connection callback failed")
                continue
            if inspect.isawaitable(result):
                task = asyncio.ensure_future(result)
                self._callback_tasks.add(task)
                task.add_done_callback(self._callback_done)

    def _callback_done(self, task: asyncio.Future[Any]) -> None:
        self._callback_tasks.discard(task)
        if not task.cancelled() and task.exception() is not None:
            log.error("transport connection callback failed", exc_info=task.exception())

    def _background(self, task: asyncio.Future[Any]) -> None:
        """Keep a reference to a fire-and-forget task until it ends."""
        self._callback_tasks.add(task)
        task.add_done_callback(self._callback_tasks.discard)

    def _spawn(self, name: str, coro: Coroutine[Any, Any, None]) -> None:
        task = self._tasks.get(name)
        if task is not None and not task.done():
            coro.close()
            return
        self._tasks[name] = asyncio.ensure_future(coro)

    # --- connecting ----------------------------------------------------------------------

    def connect_soon(self) -> None:
        """Begin connecting in the background (aio-pika reconnects by itself afterwards)."""
        if self._connection is None and not self._closed:
            self._spawn("connect", self._connect_loop())

    async def connect(self, timeout: float | None = None) -> None:
        """Wait until connected (retrying the brokers meanwhile); TimeoutError after `timeout` s."""
        if self._closed:
            raise RuntimeError("rabbitmq transport is closed")
        if self._up:
            return
        if self._connection is None:  # afterwards aio-pika reconnects by itself
            self._spawn("connect", self._connect_loop())
        ready = asyncio.ensure_future(self._ready.wait())
        closed = asyncio.ensure_future(self._closed_event.wait())
        try:
            await asyncio.wait_for(asyncio.wait((ready, closed), return_when=asyncio.FIRST_COMPLETED), timeout)
        finally:
            ready.cancel()
            closed.cancel()
        if not self._up:
            raise RuntimeError("rabbitmq transport closed while connecting")

    async def _connect_loop(self) -> None:
        delay = self.settings.reconnect_interval
        brokers = self.settings.brokers
        while not self._closed:
            for _ in range(len(brokers)):
                broker = brokers[self._broker]
                try:
                    await self._open(broker.url)
                except asyncio.CancelledError:
                    raise
                except Exception as exc:
                    reason = amqp_failures.describe(exc, broker.url)
                    self.last_error = f"{broker.label}: {reason}"
                    log.warning("cannot connect to RabbitMQ; trying again",
                                extra={"fields": {"broker": broker.label, "error": reason}})
                    self._broker = (self._broker + 1) % len(brokers)
                    continue
                log.info("connected to RabbitMQ", extra={"fields": {"broker": broker.label}})
                self._tried.set()
                self._became_ready()
                return
            self._tried.set()
            await asyncio.sleep(delay)
            delay = min(delay * 2, MAX_BACKOFF)

    async def _open(self, url: str) -> None:
        amqp_frames.install()
        connection = await aio_pika.connect_robust(
            url, timeout=CONNECT_TIMEOUT, reconnect_interval=self.settings.reconnect_interval,
            client_properties={"connection_name": self.connection_name},
        )
        try:
            self._topology_channel = await connection.channel(publisher_confirms=False)
            self._publish_channel = await connection.channel(publisher_confirms=True)
        except BaseException:
            await connection.close()
            raise
        if self._closed:
            await connection.close()
            return
        assert isinstance(connection, RobustConnection)
        self._connection = connection
        connection.close_callbacks.add(self._lost)
        connection.reconnect_callbacks.add(self._restored)

    def _became_ready(self) -> None:
        self._up = True
        self.last_error = None
        self._ready.set()
        self._connected_again()

    def _lost(self, _sender: Any, exc: BaseException | None = None) -> None:
        if self._closing or not self._up:
            return
        self._up = False
        self.last_error = f"{self.broker}: connection lost: {exc}" if exc is not None else f"{self.broker}: connection lost"
        self._ready.clear()
        self.counts["disconnects"] += 1
        log.warning("RabbitMQ connection lost; buffering publishes until it is back",
                    extra={"fields": {"broker": self.broker, "error": repr(exc)}})
        self._fire(self._on_disconnect)
        if len(self.settings.brokers) > 1:
            self._spawn("rotate", self._rotate())

    def _restored(self, _sender: Any) -> None:
        if self._closing:
            return
        if self._connection is not None:
            self._broker = self._index_of(self._live_url(self._connection), self._broker)
        log.info("RabbitMQ connection back; consumers resumed",
                 extra={"fields": {"broker": self.broker, "buffered": self.pending}})
        self._became_ready()
        self._fire(self._on_reconnect)

    @staticmethod
    def _live_url(connection: RobustConnection) -> URL:
        # `_rotate` may move `connection.url` on while a reconnect to the previous URL is still
        # completing; the underlying connection knows which broker actually answered.
        underlay = getattr(connection, "transport", None)
        live = getattr(getattr(underlay, "connection", None), "url", None)
        return URL(live) if live is not None else connection.url

    def _index_of(self, url: URL, default: int) -> int:
        for index, broker in enumerate(self.settings.brokers):
            known = URL(broker.url)
            if (known.host, known.port, known.path) == (url.host, url.port, url.path):
                return index
        return default

    async def _rotate(self) -> None:
        # aio-pika reconnects to `connection.url`; moving it on while down is how we fail over.
        connection = self._connection
        while connection is not None and not self._up and not self._closing:
            await asyncio.sleep(self.settings.reconnect_interval)
            if self._up or connection.connected.is_set():  # connected, restoring channels: stay
                return
            self._broker = (self._broker + 1) % len(self.settings.brokers)
            connection.url = URL(self.settings.brokers[self._broker].url)
