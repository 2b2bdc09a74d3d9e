"""`GET /health` of a real `ogi api` process over a real RabbitMQ and Redis, asked nothing else before.

An `ogi api` connected to RabbitMQ only when it first published (a `POST /request`, a resolve) or
was asked for queue figures (`/info`): until then `/health` answered 412 "not connected to the
transport" of a broker it had never tried, as it did throughout a soak run (docs/performance.md).
"""

from __future__ import annotations

import json
import subprocess
import sys
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.helpers import claim_redis_db, free_port, port_answers, require_service, wait_for

OGI = str(Path(sys.executable).parent / "ogi")


def health(url: str) -> tuple[int, Any]:
    try:
        with urllib.request.urlopen(f"{url}/health", timeout=10) as response:
            return response.status, None
    except urllib.error.HTTPError as error:
        return error.code, json.loads(error.read())


@pytest.fixture
def api(tmp_path: Path) -> Iterator[Any]:
    """Starts `ogi api` with the given transport settings over the claimed Redis database; stops it after."""
    require_service("redis", port=6379)
    processes: list[subprocess.Popen[bytes]] = []

    def start(transport: dict[str, Any]) -> str:
        port = free_port()
        settings = {"api": {"port": port}, "redis": {"host": "127.0.0.1", "port": 6379, "db": claim_redis_db()},
                    "transport": {"name": "rabbitmq", "reconnect_interval": 0.2}, **transport}
        (tmp_path / "api.json").write_text(json.dumps(settings))
        processes.append(subprocess.Popen([OGI, "api", "-c", str(tmp_path / "api.json")],
                                          stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL))
        wait_for(lambda: port_answers("127.0.0.1", port, 0.2), 30)
        return f"http://127.0.0.1:{port}"

    yield start
    for process in processes:
        process.terminate()
        process.wait(timeout=15)


def test_an_idle_api_is_healthy_without_having_published_anything(api: Any, rabbitmq_vhost: str) -> None:
    url = api({"rabbitmq": {"host": "127.0.0.1", "port": 5672, "vhost": rabbitmq_vhost}})
    answers: list[tuple[int, Any]] = []

    def healthy() -> bool:
        answers.append(health(url))
        return answers[-1][0] == 204

    # Before the fix every answer was 412 ["not connected to the transport"], however long one asked.
    try:
        wait_for(healthy, 20, poll=0.2)
    except AssertionError:
        pytest.fail(f"/health never answered 204; the last answers: {answers[-3:]}")
    assert all(status == 412 and body == ["not connected to the transport"] for status, body in answers[:-1])


def test_an_unreachable_broker_is_named_with_its_error_without_a_publish(api: Any) -> None:
    nothing = free_port()
    url = api({"rabbitmq": {"host": "127.0.0.1", "port": nothing}})

    def reasons() -> Any:
        status, body = health(url)
        return body if status == 412 and ":" in body[0] else None

    # Before the fix the reason stayed the bare "not connected to the transport": nothing had been tried.
    found = wait_for(reasons, 20, poll=0.2)
    assert len(found) == 1 and found[0].startswith(f"not connected to the transport: amqp://127.0.0.1:{nothing}/")
    assert "Connect call failed" in found[0]
