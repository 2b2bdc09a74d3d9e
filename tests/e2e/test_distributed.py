"""`ogi server` and `ogi client` as separate processes over the real RabbitMQ and Redis, including a
client configured the Sensu way (handlers only on the server), registration, deregistration and proxy requests."""

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


# -- a fleet configured the Sensu way (issue 12): handlers only on the server, registration,
# deregistration and proxy requests, over the same RabbitMQ and Redis database as above.


def recorder(path: Path, code: int = 0) -> dict[str, Any]:
    return {"type": "pipe", "command": f"cat >> {path}; echo >> {path}; exit {code}"}


def test_a_sensu_style_client_starts_reports_registers_and_deregisters(tmp_path: Path, backends: Any) -> None:
    import redis

    name = f"host-{uuid.uuid4().hex[:8]}"
    files = {key: tmp_path / key for key in ("mail", "pager", "registration", "deregistration")}
    server_config = {
        **backends,
        "handlers": {
            "mail": recorder(files["mail"]), "pager": recorder(files["pager"]),
            "registration": recorder(files["registration"], code=1),  # fails: the client is registered anyway
            "deregistration": recorder(files["deregistration"]),
        },
    }
    # Every handler name here is defined only on the server, as on a Sensu fleet.
    client_config = {
        **backends,
        "client": {"name": name, "subscriptions": [], "socket": {"enabled": False}, "deregister": True,
                   "keepalive": {"handlers": ["pager"]}, "registration": {"handler": "registration"}},
        "checks": {"disk": {"command": "echo disk full; exit 2", "standalone": True, "interval": 1,
                            "handlers": ["mail"]}},
    }
    (tmp_path / "server.json").write_text(json.dumps(server_config))
    (tmp_path / "client.json").write_text(json.dumps(client_config))
    server = start(["server", "-c", str(tmp_path / "server.json")], tmp_path / "server.log")
    client = start(["client", "-c", str(tmp_path / "client.json")], tmp_path / "client.log")
    db = redis.Redis(db=REDIS_DB)
    client_code = None
    try:
        mailed = wait_for(lambda: events_in(files["mail"]))
        assert (mailed[0]["client"]["name"], mailed[0]["check"]["output"]) == (name, "disk full\n")
        registered = wait_for(lambda: events_in(files["registration"]))
        assert (registered[0]["check"]["name"], registered[0]["check"]["status"]) == ("registration", 1)
        assert db.sismember("clients", name) and db.exists(f"client:{name}")
        assert client.poll() is None, (tmp_path / "client.log").read_text()[-2000:]

        client_code = stop(client)
        deregistered = wait_for(lambda: events_in(files["deregistration"]))
        assert (deregistered[0]["client"]["name"], deregistered[0]["check"]["output"]) == (
            name, "client initiated deregistration")
        wait_for(lambda: not db.exists(f"client:{name}"))
        assert not db.sismember("clients", name)
        assert not db.exists(f"events:{name}") and not db.exists(f"result:{name}")
        assert not events_in(files["pager"]), "no keepalive alert for a client that left"
    finally:
        if client_code is None:
            client_code = stop(client)
        server_code = stop(server)
    assert (client_code, server_code) == (0, 0), (tmp_path / "server.log").read_text()[-2000:]


def test_proxy_requests_reach_a_poller_and_events_come_back_for_each_device(tmp_path: Path, backends: Any) -> None:
    import redis

    tag = uuid.uuid4().hex[:8]
    db = redis.Redis(db=REDIS_DB)
    devices = {f"switch-{tag}-{n}": f"10.9.0.{n}" for n in (1, 2)}
    for name, address in {**devices, f"router-{tag}": "10.9.0.9"}.items():  # Sensu's registry layout
        kind = "router" if name.startswith("router") else "switch"
        db.set(f"client:{name}", json.dumps({"name": name, "address": address, "device": kind,
                                             "keepalives": False, "subscriptions": [f"client:{name}"]}))
        db.sadd("clients", name)
    events = tmp_path / "events"
    server_config = {
        **backends,
        "checks": {"snmp_ports": {"command": "echo polled :::address:::; exit 1", "interval": 1,
                                  "subscribers": [f"poller-{tag}"], "handlers": ["record"],
                                  "proxy_requests": {"client_attributes": {"device": "switch"}}}},
        "handlers": {"record": recorder(events)},
    }
    client_config = {**backends, "client": {"name": f"poller-{tag}", "subscriptions": [f"poller-{tag}"],
                                            "socket": {"enabled": False}}}
    (tmp_path / "server.json").write_text(json.dumps(server_config))
    (tmp_path / "client.json").write_text(json.dumps(client_config))
    server = start(["server", "-c", str(tmp_path / "server.json")], tmp_path / "server.log")
    client = start(["client", "-c", str(tmp_path / "client.json")], tmp_path / "client.log")
    try:
        def seen() -> dict[str, str]:
            return {e["client"]["name"]: e["check"]["output"] for e in events_in(events)}

        found = wait_for(lambda: seen() if set(seen()) >= set(devices) else None)
        assert {name: found[name] for name in devices} == {n: f"polled {a}\n" for n, a in devices.items()}
        assert f"router-{tag}" not in found and f"poller-{tag}" not in found
        assert all(e["check"]["origin"] == f"poller-{tag}" for e in events_in(events))
    finally:
        codes = [stop(client), stop(server)]
    assert codes == [0, 0], (tmp_path / "server.log").read_text()[-2000:]
