"""Task election: each server task runs on exactly one server, spreads over servers, and moves when its holder dies."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import pytest

from pipeline.server.tasks import TASK_NAMES, TaskElection
from pipeline.store.base import Store, StoreUnavailable
from pipeline.store.memory import MemoryStore
from tests.helpers import T0, FakeClock, claim_redis_db, require_service

PUBLISHER, CLIENTS, TTL = TASK_NAMES



class Probe:
    """A server task that runs until cancelled and counts its starts and cancellations."""

    def __init__(self, fail_first: bool = False) -> None:
        self.starts = 0
        self.cancels = 0
        self.fail_first = fail_first

    async def run(self) -> None:
        self.starts += 1
        if self.fail_first and self.starts == 1:
            raise RuntimeError("broken on first start")
        try:
            await asyncio.Event().wait()
        except asyncio.CancelledError:
            self.cancels += 1
            raise

    @property
    def running(self) -> bool:
        return self.starts - self.cancels == 1 and not (self.fail_first and self.starts == 1)


class Server:
    """One ogi server's election with a probe per task."""

    def __init__(self, store: Store, name: str, clock: FakeClock) -> None:
        self.probes = {task: Probe() for task in TASK_NAMES}
        self.election = TaskElection(store, name, {task: probe.run for task, probe in self.probes.items()},
                                     clock=clock, hostname=f"host-{name}", address="10.0.0.1")

    async def tick(self, now: float) -> list[str]:
        await self.election.tick(now)
        await asyncio.sleep(0)  # let tasks just started run their first step
        return self.election.held

    async def stop(self) -> None:
        await self.election.release_all()


@pytest.fixture
def store() -> MemoryStore:
    return MemoryStore(clock=FakeClock())


async def test_a_lone_server_takes_the_tasks_in_order_waiting_ten_seconds_per_task_held(store: MemoryStore) -> None:
    server = Server(store, "a", FakeClock())
    assert await server.tick(T0) == [PUBLISHER]
    assert await server.tick(T0 + 10) == [PUBLISHER, CLIENTS]
    assert await server.tick(T0 + 19) == [PUBLISHER, CLIENTS]
    assert await server.tick(T0 + 20) == [PUBLISHER, CLIENTS, TTL]
    assert all(probe.starts == 1 and probe.running for probe in server.probes.values())
    assert await store.task_owner(TTL) == "a"
    await server.stop()


async def test_servers_started_together_share_the_tasks_and_no_task_runs_twice(store: MemoryStore) -> None:
    servers = [Server(store, name, FakeClock()) for name in ("a", "b", "c")]
    for step in range(4):
        for server in servers:
            await server.tick(T0 + 10 * step)
    held = [server.election.held for server in servers]
    assert sorted(task for tasks in held for task in tasks) == sorted(TASK_NAMES)
    assert all(len(tasks) == 1 for tasks in held), held
    for task in TASK_NAMES:
        assert sum(server.probes[task].running for server in servers) == 1


async def test_the_tasks_of_a_dead_server_move_at_the_first_tick_after_its_locks_went_stale(store: MemoryStore) -> None:
    dead = Server(store, "a", FakeClock())
    for step in range(3):
        await dead.tick(T0 + 10 * step)
    assert dead.election.held == list(TASK_NAMES)  # last refresh at T0 + 20, then it dies
    survivor = Server(store, "b", FakeClock())
    assert await survivor.tick(T0 + 25) == []
    assert await survivor.tick(T0 + 35) == []
    assert await survivor.tick(T0 + 45) == [], "locks refreshed 25 s ago are not stale"
    assert await survivor.tick(T0 + 55) == list(TASK_NAMES)
    assert all(probe.running for probe in survivor.probes.values())


async def test_a_server_that_finds_its_task_taken_cancels_it_at_once(store: MemoryStore) -> None:
    server = Server(store, "a", FakeClock())
    await server.tick(T0)
    assert await store.acquire_task(PUBLISHER, "b", T0 + 31)  # a's lock was not refreshed for 31 s
    assert PUBLISHER not in await server.tick(T0 + 32)
    assert server.probes[PUBLISHER].cancels == 1
    assert await store.task_owner(PUBLISHER) == "b"


async def test_a_task_that_ends_on_its_own_is_started_again_while_its_lock_is_held(store: MemoryStore) -> None:
    probe = Probe(fail_first=True)
    election = TaskElection(store, "a", {PUBLISHER: probe.run}, hostname="h", address="10.0.0.1")
    await election.tick(T0)
    await asyncio.sleep(0)
    assert probe.starts == 1
    await election.tick(T0 + 10)
    await asyncio.sleep(0)
    assert probe.starts == 2 and election.held == [PUBLISHER]
    await election.release_all()


class OutageStore(MemoryStore):
    """The embedded store with a switch that makes every task-lock call fail as an unreachable Redis does."""

    down = False

    async def refresh_task(self, task: str, owner: str, now: float) -> bool:
        if self.down:
            raise StoreUnavailable("redis 127.0.0.1:6379 db 0 is unavailable: connection refused")
        return await super().refresh_task(task, owner, now)

    async def acquire_task(self, task: str, owner: str, now: float) -> bool:
        if self.down:
            raise StoreUnavailable("redis 127.0.0.1:6379 db 0 is unavailable: connection refused")
        return await super().acquire_task(task, owner, now)


async def test_a_server_that_cannot_refresh_its_locks_stops_its_tasks_and_resumes_when_the_store_is_back() -> None:
    store = OutageStore(clock=FakeClock())
    server = Server(store, "a", FakeClock())
    await server.tick(T0)
    store.down = True
    assert await server.tick(T0 + 10) == []
    assert server.probes[PUBLISHER].cancels == 1
    store.down = False
    assert PUBLISHER in await server.tick(T0 + 20), "its own lock, still recorded, is taken back at once"
    assert server.probes[PUBLISHER].starts == 2


async def test_the_registry_entry_names_the_server_its_address_and_the_tasks_it_holds(store: MemoryStore) -> None:
    server = Server(store, "a", FakeClock())
    await server.tick(T0)
    (entry,) = await store.list_servers()
    assert entry["id"] == "a" and entry["hostname"] == "host-a" and entry["address"] == "10.0.0.1"
    assert entry["tasks"] == [PUBLISHER] and entry["timestamp"] == int(T0)
    assert set(entry["metrics"]["cpu"]) == {"user", "system"}


async def test_a_stopped_election_releases_its_tasks_and_leaves_the_registry(store: MemoryStore) -> None:
    server = Server(store, "a", FakeClock())
    running = asyncio.create_task(server.election.run())
    while not server.probes[PUBLISHER].running:
        await asyncio.sleep(0)
    assert [entry["id"] for entry in await store.list_servers()] == ["a"]
    running.cancel()
    with pytest.raises(asyncio.CancelledError):
        await running
    assert server.probes[PUBLISHER].cancels == 1
    assert await store.list_servers() == []
    assert await store.acquire_task(PUBLISHER, "b", T0), "taken at once, not after 30 s"


@pytest.fixture
async def redis_store() -> AsyncIterator[Store]:
    require_service("redis", port=6379)
    from pipeline.store.redis import RedisStore

    store = RedisStore({"db": claim_redis_db()})
    await store.client.flushdb()
    yield store
    await store.client.flushdb()
    await store.close()


async def test_servers_sharing_a_real_redis_share_the_tasks_and_hand_them_over(redis_store: Store) -> None:
    a, b = Server(redis_store, "a", FakeClock()), Server(redis_store, "b", FakeClock())
    for step in range(3):
        await a.tick(T0 + 10 * step)
        await b.tick(T0 + 10 * step)
    assert sorted(a.election.held + b.election.held) == sorted(TASK_NAMES)
    assert a.election.held and b.election.held
    await a.stop()
    assert await b.tick(T0 + 30) == list(TASK_NAMES)
    for task in TASK_NAMES:
        assert await redis_store.task_owner(task) == "b"
