"""Contract fixtures: every backend test here runs once per implementation.

The `store` fixture gives the embedded MemoryStore and a RedisStore on the shared Redis
(127.0.0.1:6379, database 15, flushed before each test). Without that Redis the redis half
skips locally and fails in CI (`require_service`).
"""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from pipeline.store.base import Store
from pipeline.store.memory import MemoryStore
from tests.conftest import require_service
from tests.contract import Backend, FakeClock
from tests.helpers import claim_redis_db

#: The database the Redis contract runs in; nothing else on this machine uses it.
CONTRACT_DB = claim_redis_db()


@pytest.fixture(params=["memory", "redis"])
async def backend(request: pytest.FixtureRequest) -> AsyncIterator[Backend]:
    clock = FakeClock()
    if request.param == "memory":
        yield Backend("memory", MemoryStore(clock=clock), clock)
        return
    require_service("redis", port=6379)
    from pipeline.store.redis import RedisStore

    store = RedisStore({"host": "127.0.0.1", "port": 6379, "db": CONTRACT_DB}, clock=clock)
    await store.client.flushdb()
    try:
        yield Backend("redis", store, clock)
    finally:
        await store.client.flushdb()
        await store.close()


@pytest.fixture
def store(backend: Backend) -> Store:
    return backend.store


@pytest.fixture
def clock(backend: Backend) -> FakeClock:
    return backend.clock
