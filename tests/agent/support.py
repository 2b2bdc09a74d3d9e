"""What the agent's tests share: settings for a socket-less client, a pipe reader, one request."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from typing import Any

from pipeline.agent.agent import Agent
from pipeline.config.load import settings_of
from pipeline.config.settings import Settings
from pipeline.transport.base import PipeKind, Subscription
from pipeline.transport.memory import MemoryTransport

NO_SOCKET = {"socket": {"enabled": False}}


def settings(client: dict[str, Any] | None = None, checks: dict[str, Any] | None = None, **more: Any) -> Settings:
    return settings_of({"client": {"name": "web-1", "address": "10.0.0.5", **NO_SOCKET, **(client or {})},
                        "checks": checks or {}, **more})


class Pipe:
    """Reads one pipe of a transport; `next()` gives the next decoded message."""

    def __init__(self, subscription: Subscription) -> None:
        self.subscription = subscription
        self._messages: AsyncIterator[Any] = subscription.__aiter__()

    @classmethod
    async def open(cls, transport: MemoryTransport, pipe: str, kind: PipeKind = "direct") -> Pipe:
        return cls(await transport.subscribe(pipe, kind))

    async def next(self) -> dict[str, Any]:
        message = await asyncio.wait_for(self._messages.__anext__(), 20)
        async with message.process():
            return dict(json.loads(message.body))


async def ask(client: Agent, request: dict[str, Any]) -> Any:
    """Send one check request to the client and wait until it was handled."""
    task = client.request(json.dumps(request).encode())
    assert task is not None, "the request was skipped"
    return await task
