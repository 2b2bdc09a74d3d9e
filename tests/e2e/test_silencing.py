"""Silencing end to end, the way an operator does it: `ogi events`, `ogi silence add`, `ogi resolve`.

A real ogi API serves on a free loopback port over a MemoryStore and MemoryTransport; a
ResultConsumer on `results` feeds a ResultProcessor and an Engine whose `default` handler is a
real `pipe` handler appending each event it gets to a file. The operator commands run through
`pipeline.cli.ops.register` in a worker thread (they block on urllib) against that API.
"""

from __future__ import annotations

import argparse
import asyncio
import io
import json
import shlex
import time
from collections.abc import AsyncIterator
from contextlib import redirect_stderr, redirect_stdout
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from prometheus_client import CollectorRegistry

from pipeline import jsoncodec
from pipeline.chain.engine import Engine
from pipeline.cli.main import common_options
from pipeline.cli.ops import register
from pipeline.config.load import settings_of
from pipeline.extension import Context
from pipeline.server.results import ResultProcessor
from pipeline.server.server import ResultConsumer
from pipeline.store.memory import MemoryStore
from pipeline.transport.memory import MemoryTransport
from tests.helpers import free_port


def run_ogi(*argv: str) -> tuple[int, str, str]:
    parser = argparse.ArgumentParser(prog="ogi")
    register(parser.add_subparsers(dest="command"), common_options())
    out, err = io.StringIO(), io.StringIO()
    with redirect_stdout(out), redirect_stderr(err):
        args = parser.parse_args(list(argv))
        code = args.handler(args)
    return code, out.getvalue(), err.getvalue()


@dataclass
class Site:
    url: str
    handled: Path
    processor: ResultProcessor

    async def ogi(self, *argv: str) -> tuple[int, str, str]:
        return await asyncio.to_thread(run_ogi, *argv, "--api", self.url)

    async def ogi_json(self, *argv: str) -> Any:
        code, out, err = await self.ogi(*argv, "--json")
        assert code == 0, err
        return json.loads(out)

    def handled_events(self) -> list[dict[str, Any]]:
        if not self.handled.exists():
            return []
        return [json.loads(line) for line in self.handled.read_text().splitlines() if line.strip()]

    async def check_result(self, status: int, output: str) -> None:
        now = int(time.time())
        result = {"client": "web1", "check": {"name": "disk", "command": "check-disk -w 90 -c 95",
                                              "status": status, "output": output, "issued": now, "executed": now}}
        # Awaited to the end, handlers included, so "not handled" below is a fact, not a race.
        await self.processor.process_message(jsoncodec.dumps(result))


@pytest.fixture
async def site(tmp_path: Path) -> AsyncIterator[Site]:
    api = pytest.importorskip("pipeline.api", reason="pipeline.api (start_api) has not landed yet")
    handled = tmp_path / "handled.jsonl"
    port = free_port()
    settings: dict[str, Any] = {
        "api": {"bind": "127.0.0.1", "port": port},
        "handlers": {"default": {"type": "pipe", "command": f"cat >> {shlex.quote(str(handled))}; echo >> {shlex.quote(str(handled))}"}},
    }
    store, transport = MemoryStore(), MemoryTransport()
    await store.put_client({"name": "web1", "address": "10.0.0.7", "subscriptions": ["base", "web", "client:web1"],
                            "version": "1.9.0", "timestamp": int(time.time())})
    context = Context(settings=settings_of(settings), store=store, transport=transport, metrics=CollectorRegistry())
    engine = Engine(settings_of(settings), context)
    processor = ResultProcessor(settings_of(settings), store, engine)
    consumer = ResultConsumer(transport, processor)
    consuming = asyncio.create_task(consumer.run("results"))
    runner = await api.start_api(settings_of(settings), store, transport, time.time)
    try:
        yield Site(f"http://127.0.0.1:{port}", handled, processor)
    finally:
        await runner.stop()
        await consumer.drain(5)
        consuming.cancel()
        await asyncio.gather(consuming, return_exceptions=True)
        await engine.close()
        await transport.close()


async def eventually(probe: Any, what: str, timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while not await probe():
        assert time.monotonic() < deadline, f"gave up waiting: {what}"
        await asyncio.sleep(0.05)


async def test_a_silenced_check_is_not_handled_and_the_silence_goes_when_ogi_resolve_resolves_it(site: Site) -> None:
    await site.check_result(2, "CRITICAL: / is 97% full\nmounted on /dev/sda1\n")
    assert [e["action"] for e in site.handled_events()] == ["create"]

    code, out, err = await site.ogi("events")
    assert (code, err) == (0, "")
    header, row = out.splitlines()
    assert header.split() == ["CLIENT", "CHECK", "STATUS", "OCCURRENCES", "SILENCED", "OUTPUT"]
    assert row.split(None, 5) == ["web1", "disk", "CRITICAL", "1", "no", "CRITICAL: / is 97% full"]

    code, out, err = await site.ogi("silence", "add", "--client", "web1", "--check", "disk", "--expire-on-resolve",
                                    "--reason", "replacing the disk", "--creator", "alice")
    assert (code, out, err) == (0, "silenced client:web1:disk (until it resolves)\n", "")
    [entry] = await site.ogi_json("silence", "list")
    assert entry["id"] == "client:web1:disk"
    assert (entry["subscription"], entry["check"]) == ("client:web1", "disk")
    assert (entry["expire_on_resolve"], entry["reason"], entry["creator"]) == (True, "replacing the disk", "alice")

    await site.check_result(2, "CRITICAL: / is 98% full\n")
    assert [e["action"] for e in site.handled_events()] == ["create"], "a silenced event reached the handler"
    [event] = await site.ogi_json("events")
    assert (event["silenced"], event["silenced_by"], event["occurrences"]) == (True, ["client:web1:disk"], 2)
    code, out, _ = await site.ogi("events", "web1", "disk")
    assert out.splitlines()[1].split(None, 5)[:5] == ["web1", "disk", "CRITICAL", "2", "yes"]

    code, out, err = await site.ogi("resolve", "web1", "disk")
    assert (code, out, err) == (0, "resolving web1/disk\n", "")

    async def silence_gone() -> bool:
        return await site.ogi_json("silence", "list") == []

    await eventually(silence_gone, "the expire_on_resolve silence to be removed by the resolve")

    async def resolve_handled() -> bool:
        return len(site.handled_events()) == 2

    await eventually(resolve_handled, "the resolve event to reach the handler")
    resolved = site.handled_events()[1]
    assert (resolved["action"], resolved["check"]["status"], resolved["silenced"]) == ("resolve", 0, False)
    assert await site.ogi_json("events") == []
    code, out, err = await site.ogi("silence", "list")
    assert (code, out, err) == (0, "", "nothing is silenced\n")

    # The silence is gone for good: the next failure pages again.
    await site.check_result(2, "CRITICAL: / is 99% full\n")
    assert [e["action"] for e in site.handled_events()] == ["create", "resolve", "create"]
