"""`ogi server` and `ogi client` as separate processes over the real RabbitMQ and Redis."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import uuid
from pathlib import Path
from typing import Any

import pytest

from tests.helpers import claim_redis_db, events_in, free_port, require_service
from tests.helpers import wait_for as _wait_for

OGI = str(Path(sys.executable).parent / "ogi")
REDIS_DB = claim_redis_db()


def wait_for(predicate: Any, timeout: float = 30.0) -> Any:
    return _wait_for(predicate, timeout, poll=0.2)
@pytest.fixture
def backends() -> dict[str, Any]:
    require_service("rabbitmq", port=5672)
    require_service("redis", port=6379)
    import redis

    redis.Redis(db=REDIS_DB).flushdb()
    return {"rabbitmq": {"host": "127.0.0.1", "port": 5672}, "redis": {"host": "127.0.0.1", "port": 6379, "db": REDIS_DB}}


def start(args: list[str], log: Path) -> subprocess.Popen[bytes]:
    return subprocess.Popen([OGI, *args, "-l", str(log)], stdout=subprocess.DEVNULL, stderr=subprocess.STDOUT)


def stop(process: subprocess.Popen[bytes]) -> int:
    process.send_signal(signal.SIGTERM)
    try:
        return process.wait(timeout=15)
    except subprocess.TimeoutExpired:
        process.kill()
        return process.wait()


def test_a_server_publishes_requests_a_client_runs_them_and_the_event_reaches_a_handler(tmp_path: Path, backends):
    subscription = f"e2e-{uuid.uuid4().hex[:8]}"
    events = tmp_path / "events.json"
    (tmp_path / "code").write_text("2\n")
    server_config = {
        **backends,
        "checks": {
            "e2e_disk": {"command": f"echo disk; exit $(cat {tmp_path}/code)", "subscribers": [subscription],
                         "interval": 1, "handlers": ["record"]},
        },
        "handlers": {"record": {"type": "pipe", "command": f"cat >> {events}; echo >> {events}"}},
        "api": {"port": free_port()},
    }
    client_config = {**backends, "client": {"name": f"host-{subscription}", "subscriptions": [subscription],
                                            "socket": {"enabled": False}}}
    (tmp_path / "server.json").write_text(json.dumps(server_config))
    (tmp_path / "client.json").write_text(json.dumps(client_config))
    server = start(["server", "-c", str(tmp_path / "server.json")], tmp_path / "server.log")
    client = start(["client", "-c", str(tmp_path / "client.json")], tmp_path / "client.log")
    api = start(["api", "-c", str(tmp_path / "server.json")], tmp_path / "api.log")
    try:
        created = wait_for(lambda: [e for e in events_in(events) if e["check"]["name"] == "e2e_disk"])
        assert created[0]["action"] == "create" and created[0]["client"]["name"] == f"host-{subscription}"
        (tmp_path / "code").write_text("0\n")
        wait_for(lambda: [e for e in events_in(events) if e["action"] == "resolve"])

        import urllib.request

        def client_listed() -> bool:
            url = f"http://127.0.0.1:{server_config['api']['port']}/clients"
            try:
                with urllib.request.urlopen(url, timeout=5) as answer:
                    return any(c["name"] == f"host-{subscription}" for c in json.loads(answer.read()))
            except OSError:
                return False

        assert wait_for(client_listed), "the API, a third process, sees the client the server registered"
    finally:
        codes = [stop(client), stop(server), stop(api)]
    assert codes == [0, 0, 0], (tmp_path / "server.log").read_text()[-2000:]
