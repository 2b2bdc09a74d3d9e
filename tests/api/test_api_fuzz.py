"""A schemathesis fuzz run over /openapi.json: no 5xx from any input, every answer as the spec says.

The API is served for real (`start_api` on a free port, on an event loop of its own in a thread)
over a seeded memory store and over a seeded Redis store; schemathesis generates requests from
the spec ogi serves, valid and invalid, sends them with `requests` and checks each answer: no
5xx, a status the operation lists, a body of its schema and content type, a request the spec
allows not refused (400) and one it forbids not accepted. Two refusals of allowed requests are
excused, each for a reason OpenAPI 3.0 cannot state (`excused`). Bounded: 15 examples per
operation and store, about 30 s on a quiet machine.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Iterator
from typing import Any

import pytest
import schemathesis
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from schemathesis.specs.openapi import checks as openapi_checks

from pipeline.api.app import ApiRunner, start_api
from pipeline.api.openapi import document
from pipeline.config.load import settings_of
from pipeline.store.base import Store
from pipeline.store.memory import MemoryStore
from tests.api.support import CHECKS, RecordingTransport, seed
from tests.helpers import FakeClock, claim_redis_db, require_service

# The spec's custom formats (pipeline/api/openapi.py), generated: every value is one the API takes.
_PRINTABLE = st.characters(exclude_categories=("Cc", "Cf", "Cs", "Co", "Cn", "Zl", "Zp", "Zs"), include_characters=" ")


def _segments(most: int) -> st.SearchStrategy[str]:
    """One path segment: printable, no '/' or '\\', not '.' or '..', at most `most` characters."""
    text = st.text(_PRINTABLE.filter(lambda c: c not in "/\\"), min_size=1, max_size=most)
    return text.filter(lambda s: s not in (".", "..") and s.isprintable())


def _amqp_name(text: str) -> bool:
    return bool(text) and not text.startswith("amq.") and len(text.encode()) <= 255


schemathesis.openapi.format("stash-path", st.lists(_segments(40), min_size=1, max_size=4).map("/".join)
                            | _segments(1024))
schemathesis.openapi.format("stash-segment", _segments(1024))
schemathesis.openapi.format("silence-id", _segments(600))
schemathesis.openapi.format("amqp-name", st.text(min_size=1, max_size=80).filter(_amqp_name))
SCHEMA = schemathesis.openapi.from_dict(document())


class Served:
    """`ogi api` over a seeded store, on its own event loop in a thread; `url` is where it listens."""

    def __init__(self, kind: str) -> None:
        self.kind = kind
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, daemon=True)
        self.thread.start()
        self.runner: ApiRunner = self._run(self._start())
        self.url = self.runner.url

    def _run(self, coroutine: Any) -> Any:
        return asyncio.run_coroutine_threadsafe(coroutine, self.loop).result(60)

    def _store(self) -> Store:
        clock = FakeClock()
        if self.kind == "memory":
            return MemoryStore(clock=clock)
        from pipeline.store.redis import RedisStore

        return RedisStore({"host": "127.0.0.1", "port": 6379, "db": claim_redis_db()}, clock=clock)

    async def _start(self) -> ApiRunner:
        self.store = self._store()
        flush = getattr(self.store, "client", None)
        if flush is not None:
            await flush.flushdb()
        await seed(self.store)
        await self.store.put_stash("keep/me", {"a": 1})
        settings = settings_of({"checks": CHECKS, "api": {"port": 0}})
        return await start_api(settings, self.store, RecordingTransport())

    async def _stop(self) -> None:
        await self.runner.stop()
        client = getattr(self.store, "client", None)
        if client is not None:
            await client.flushdb()
        await self.store.close()

    def close(self) -> None:
        self._run(self._stop())
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(10)
        self.loop.close()


@pytest.fixture(scope="module", params=["memory", "redis"])
def served(request: pytest.FixtureRequest) -> Iterator[Served]:
    if request.param == "redis":
        require_service("redis", port=6379)
    api = Served(request.param)
    yield api
    api.close()


def excused(case: schemathesis.Case, response: schemathesis.Response) -> bool:
    """A refusal of a request the spec allows, for a reason OpenAPI 3.0 cannot say."""
    query = case.query or {}
    if case.operation.path == "/health":
        return response.status_code == 412  # the answer "unhealthy", about the server, not the request
    if case.operation.path == "/clients/{name}" and case.method.upper() == "DELETE":
        # one parameter needing another: the dependency is in the parameter's description
        return response.status_code == 400 and "invalidate_expire" in query and query.get("invalidate") != "true"
    return False


@SCHEMA.parametrize()
# the custom formats are drawn through filters, which Hypothesis's health checks would flag
@settings(max_examples=15, deadline=None, suppress_health_check=list(HealthCheck))
def test_no_input_gives_a_5xx_or_an_answer_the_spec_does_not_describe(served: Served, case: schemathesis.Case) -> None:
    response = case.call(base_url=served.url)
    skipped = [openapi_checks.positive_data_acceptance] if excused(case, response) else []
    case.validate_response(response, excluded_checks=skipped)
