"""Runs checks on their interval and publishes the results, as a client does.

This is the smallest agent that lets `ogi run` show the engine at work: every check with an
`interval` runs on this host, and its result goes to the `results` pipe. The full agent
(subscriptions, splay, cron, tokens, keepalives, the local socket) replaces it.
"""

from __future__ import annotations

import asyncio
import json
import logging
import socket
from typing import Any

from pipeline.execute import run_command
from pipeline.model import JSON, Clock, system_clock
from pipeline.transport.base import Transport

log = logging.getLogger("ogi")


def client_definition(settings: JSON) -> JSON:
    client = dict(settings.get("client") or {})
    client.setdefault("name", socket.gethostname())
    client.setdefault("address", "127.0.0.1")
    client.setdefault("subscriptions", [])
    return client


class CheckRunner:
    """Executes each check with an `interval` every interval seconds and publishes its result."""

    def __init__(self, settings: JSON, transport: Transport, clock: Clock = system_clock) -> None:
        self.client = client_definition(settings)
        self.checks: dict[str, JSON] = {
            name: check
            for name, check in (settings.get("checks") or {}).items()
            if isinstance(check, dict) and check.get("command") and check.get("interval")
        }
        self.transport = transport
        self.clock = clock
        self._tasks: list[asyncio.Task[None]] = []

    def start(self) -> None:
        for name, check in self.checks.items():
            self._tasks.append(asyncio.create_task(self._loop(name, check), name=f"check:{name}"))

    async def stop(self) -> None:
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)

    async def _loop(self, name: str, check: JSON) -> None:
        interval = float(check["interval"])
        while True:
            try:
                await self.run_once(name, check)
            except Exception:
                log.exception("check failed to run", extra={"fields": {"check": name}})
            await asyncio.sleep(interval)

    async def run_once(self, name: str, check: JSON) -> None:
        issued = int(self.clock())
        result = await run_command(check["command"], timeout=check.get("timeout"))
        payload: dict[str, Any] = {
            "client": self.client["name"],
            "check": {
                **{k: v for k, v in check.items() if k not in ("subscribers",)},
                "name": name,
                "issued": issued,
                "executed": issued,
                "duration": round(result.duration, 3),
                "output": result.output,
                "status": result.status,
            },
        }
        await self.transport.publish("results", json.dumps(payload).encode())
