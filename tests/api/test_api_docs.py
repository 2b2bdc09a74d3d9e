"""Every example in docs/api.md runs against a test app and gets the response the doc shows.

An example is a fenced `http` block holding a request (`METHOD /path HTTP/1.1`, headers, a blank
line, a body) followed by one holding the response (`HTTP/1.1 STATUS Reason`, headers, a blank
line, a JSON body). The headers the response block lists must be there with those values; the
body must equal the doc's, or, when the block is fenced `http subset`, hold at least what the
doc shows. A request block fenced `http auth` runs against an app with `api.user`/`api.password`
set. Each example gets a fresh app over the same seeded store and a fixed clock.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any, NamedTuple

import pytest

from pipeline.api.openapi import document
from pipeline.store.memory import MemoryStore
from tests.api.support import CHECKS, START, FakeClock, seed, start_harness
from tests.helpers import ROOT

DOC = ROOT / "docs" / "api.md"
BLOCK = re.compile(r"^```(http[^\n]*)\n(.*?)^```", re.M | re.S)
AUTH = {"api": {"user": "admin", "password": "secret"}}


class Example(NamedTuple):
    line: int
    auth: bool
    method: str
    target: str
    headers: dict[str, str]
    body: str
    status: int
    expected_headers: dict[str, str]
    expected_body: str
    subset: bool


def _split(text: str) -> tuple[str, dict[str, str], str]:
    head, _, body = text.partition("\n\n")
    first, *lines = head.strip("\n").split("\n")
    headers = dict(line.split(": ", 1) for line in lines if line)
    return first, headers, body.strip()


def examples(path: Path = DOC) -> list[Example]:
    text = path.read_text()
    blocks = [(m.group(1).split(), m.group(2), text.count("\n", 0, m.start()) + 1) for m in BLOCK.finditer(text)]
    found = []
    for (info, request, line), (reply_info, reply, _) in zip(blocks[::2], blocks[1::2], strict=True):
        first, headers, body = _split(request)
        method, target, version = first.split(" ")
        assert version == "HTTP/1.1" and reply.startswith("HTTP/1.1 "), f"docs/api.md:{line}: not a request/response pair"
        status_line, expected_headers, expected_body = _split(reply)
        found.append(Example(line, "auth" in info, method, target, headers, body, int(status_line.split(" ")[1]),
                             expected_headers, expected_body, "subset" in reply_info))
    return found


def contains(actual: Any, shown: Any) -> bool:
    if isinstance(shown, dict):
        return isinstance(actual, dict) and all(k in actual and contains(actual[k], v) for k, v in shown.items())
    return bool(actual == shown)


async def doc_store(clock: FakeClock) -> MemoryStore:
    """What the doc's examples find: docs/api.md describes it under "The examples"."""
    store = MemoryStore(clock=clock)
    await seed(store)
    await store.put_stash("silence/db-01/disk", {"reason": "disk replacement", "ticket": "OPS-42"})
    await store.put_silence({"id": "client:db-01:disk", "subscription": "client:db-01", "check": "disk",
                             "reason": "disk replacement", "creator": "ops", "expire_on_resolve": True,
                             "timestamp": int(START) - 300, "begin": None, "expire": 3600}, 3300)
    return store


async def run(example: Example) -> tuple[int, dict[str, str], str]:
    clock = FakeClock()
    settings = {"checks": CHECKS, **(AUTH if example.auth else {})}
    harness = await start_harness(await doc_store(clock), clock, settings)
    try:
        reply = await harness.call(example.method, example.target, raw=example.body.encode() or None,
                                   headers=example.headers)
        await harness.drain()
        return reply.status, dict(reply.headers), reply.text
    finally:
        await harness.client.close()


EXAMPLES = examples()


def test_the_doc_has_an_example_for_every_operation() -> None:
    # `/incidents` is an alias of `/events`: an example of either shows both.
    shown = {(e.method.lower(), re.sub(r"\?.*", "", e.target).replace("/incidents", "/events")) for e in EXAMPLES}
    for path, item in document()["paths"].items():
        if path.startswith("/incidents"):
            continue
        pattern = re.compile("^" + re.sub(r"\\\{\w+\\\}", "[^?]+", re.escape(path)) + "$")
        for method in item:
            if method != "parameters":
                assert any(m == method and pattern.match(t) for m, t in shown), f"no example of {method} {path}"


def documented_statuses(method: str, target: str) -> set[str]:
    """The statuses /openapi.json lists for the operation a request reaches (none for an unknown route)."""
    path = target.split("?", 1)[0]
    for template, item in document()["paths"].items():
        pattern = "^" + re.sub(r"\\\{\w+\\\}", "[^/]+", re.escape(template)) + "$"
        if template in ("/stashes/{path}", "/stash/{path}"):
            pattern = "^" + template.removesuffix("{path}") + ".+$"
        if re.match(pattern, path) and method.lower() in item:
            return set(item[method.lower()]["responses"])
    return set()


@pytest.mark.parametrize("example", EXAMPLES, ids=[f"line{e.line}-{e.method}-{e.target}" for e in EXAMPLES])
async def test_a_doc_example_gets_the_response_it_shows(example: Example) -> None:
    status, headers, text = await run(example)
    where = f"docs/api.md:{example.line}"
    assert status == example.status, f"{where}: got {status} {text}"
    assert str(status) in documented_statuses(example.method, example.target) or status in (404, 405), where
    for name, value in example.expected_headers.items():
        assert headers.get(name) == value, f"{where}: header {name} is {headers.get(name)!r}"
    if not example.expected_body:
        assert text == "", f"{where}: got a body {text}"
        return
    actual, shown = json.loads(text), json.loads(example.expected_body)
    if example.subset:
        assert contains(actual, shown), f"{where}: {json.dumps(actual)}"
    else:
        assert actual == shown, f"{where}: got {json.dumps(actual)}"
