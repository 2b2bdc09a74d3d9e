"""The fixtures the suites share; plain helpers are in tests/helpers.py (nothing imports a conftest).

- `clock`: a FakeClock; `store`: the memory store and the Redis store (a database of the shared
  Redis, flushed around each test), so a test taking `store` runs against both; `memory_store`
  for tests that move the clock past an expiry (Redis expires keys on its own clock);
  `backend`: the store with its kind and a way to let time pass for it (the Store contract).
- `api` / `memory_api`: the HTTP API on a test server over that store (tests/api/support.py).
- `rabbitmq_vhost`: a fresh vhost on the shared RabbitMQ for one test module;
  `private_rabbitmq` / `private_redis`: a broker or a redis-server of the test's own;
  `rabbitmq_tls`: a private broker with an AMQPS listener requiring client certificates, one per
  module (a node takes seconds to boot), with its certificates (tests/helpers.py `TlsBroker`).

A fixture needing a real service skips without it, and fails with OGI_REQUIRE_SERVICES=1.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

from bench.certificates import make_authority
from bench.private_peers import RABBITMQ_SERVER, PrivateRabbitMQ, PrivateRedis, RabbitTLS, alive
from bench.vhost import fresh_vhost
from pipeline.store.base import Store
from pipeline.store.memory import MemoryStore
from tests.api.support import Harness, start_harness
from tests.contract import Backend
from tests.contract.transport_fixtures import require_rabbitmq
from tests.helpers import FakeClock, TlsBroker, claim_redis_db, free_port, require_service

if TYPE_CHECKING:
    import redis.asyncio as aioredis

    from pipeline.store.redis import RedisStore

#: The Redis database store tests run in, claimed for this run (other checkouts may be testing too).
REDIS_DB = claim_redis_db()


@pytest.fixture(params=["default", "spawn-thread", "on-loop", "asyncio"])
def spawn_path(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> str:
    """Each way the agent can start a direct check (pipeline/agent/process/execute.py), one per test run.

    `default` shares the spawns between the loop's thread and the spawn threads as the agent does.
    """
    from pipeline.agent.process import execute
    from pipeline.agent.process.posix_child import LoopShare

    if request.param != "asyncio" and not execute._DIRECT:
        pytest.skip("posix_spawn with pidfds is not available on this kernel")
    if request.param in ("default", "spawn-thread") and not execute._OFF_LOOP:
        pytest.skip("glibc's posix_spawn is not reachable through ctypes here")
    monkeypatch.setattr(execute, "_DIRECT", request.param != "asyncio")
    monkeypatch.setattr(execute, "_OFF_LOOP", request.param in ("default", "spawn-thread"))
    monkeypatch.setattr(execute, "_LOOP_SHARE", LoopShare(0.0 if request.param == "spawn-thread" else 0.25))
    return str(request.param)


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture(params=["memory", "redis"])
async def store(request: pytest.FixtureRequest, clock: FakeClock) -> AsyncIterator[Store]:
    if request.param == "memory":
        yield MemoryStore(clock=clock)
        return
    require_service("redis", port=6379)
    from pipeline.store.redis import RedisStore

    redis_store = RedisStore({"host": "127.0.0.1", "port": 6379, "db": REDIS_DB}, clock=clock)
    await redis_store.client.flushdb()
    try:
        yield redis_store
    finally:
        await redis_store.client.flushdb()
        await redis_store.close()


@pytest.fixture
def redis_db() -> int:
    """The number of the Redis database this run's store tests flush."""
    return REDIS_DB


@pytest.fixture
async def raw_redis() -> AsyncIterator[aioredis.Redis]:
    """redis-py on the claimed database, flushed before and after: to read the keys a store wrote."""
    require_service("redis", port=6379)
    import redis.asyncio as aioredis

    client = aioredis.Redis(host="127.0.0.1", port=6379, db=REDIS_DB)
    await client.flushdb()
    yield client
    await client.flushdb()
    await client.aclose()


@pytest.fixture
async def redis_store(raw_redis: aioredis.Redis) -> AsyncIterator[RedisStore]:
    """A RedisStore on the claimed database (flushed by `raw_redis`), its clock stopped at T0."""
    from pipeline.store.redis import RedisStore

    store = RedisStore({"host": "127.0.0.1", "port": 6379, "db": REDIS_DB}, clock=FakeClock())
    yield store
    await store.close()


@pytest.fixture
def memory_store(clock: FakeClock) -> MemoryStore:
    return MemoryStore(clock=clock)


@pytest.fixture
def backend(store: Store, clock: FakeClock) -> Backend:
    return Backend("memory" if isinstance(store, MemoryStore) else "redis", store, clock)


@pytest.fixture
async def api(store: Store, clock: FakeClock) -> AsyncIterator[Harness]:
    harness = await start_harness(store, clock)
    yield harness
    await harness.client.close()


@pytest.fixture
async def memory_api(memory_store: MemoryStore, clock: FakeClock) -> AsyncIterator[Harness]:
    harness = await start_harness(memory_store, clock)
    yield harness
    await harness.client.close()


@pytest.fixture(scope="module")
def rabbitmq_vhost() -> Iterator[str]:
    require_rabbitmq()
    with fresh_vhost() as name:
        yield name


@pytest.fixture
def private_rabbitmq() -> Iterator[PrivateRabbitMQ]:
    require_service("rabbitmq-server", available=os.path.exists(RABBITMQ_SERVER) and os.geteuid() == 0)
    node = PrivateRabbitMQ()
    try:
        node.start()
        yield node
    finally:
        node.destroy()


@pytest.fixture(scope="module")
def rabbitmq_tls() -> Iterator[TlsBroker]:
    """A private RabbitMQ node whose TLS listener verifies client certificates (fail_if_no_peer_cert)."""
    require_service("rabbitmq-server", available=os.path.exists(RABBITMQ_SERVER) and os.geteuid() == 0)
    require_service("openssl", available=shutil.which("openssl") is not None)
    directory = Path(tempfile.mkdtemp(prefix="ogi-tls-"))
    authority = make_authority(directory)
    server = authority.issue("broker", server=True)
    broker = TlsBroker(
        PrivateRabbitMQ(RabbitTLS(server.cert, server.key, authority.cert, require_client_cert=True)),
        authority, authority.issue("ogi-client", server=False), make_authority(directory, "stranger"),
    )
    try:
        try:
            broker.node.start()
        except RuntimeError as error:
            require_service(f"a private RabbitMQ node with a TLS listener ({error})", available=False)
        yield broker
    finally:
        broker.node.destroy()
        shutil.rmtree(directory, ignore_errors=True)


@pytest.fixture
def private_redis() -> Iterator[PrivateRedis]:
    """A started redis-server of the test's own (Debian package redis-server); stopped afterwards."""
    require_service("redis-server (Debian package redis-server)", available=shutil.which("redis-server") is not None)
    directory = tempfile.mkdtemp(prefix="ogi-redis-")
    server = PrivateRedis(directory, free_port())
    try:
        server.start()
        yield server
    finally:
        try:
            pid = int(Path(server.pidfile).read_text())
        except (OSError, ValueError):
            pid = 0
        if pid and alive(pid):
            server.stop()
        shutil.rmtree(directory, ignore_errors=True)
