"""`ogi status` against a running `ogi run`, and with the API down."""

from __future__ import annotations

import json
import subprocess
import sys
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.helpers import free_port, wait_for

OGI = str(Path(sys.executable).parent / "ogi")


def status(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([OGI, "status", *args], capture_output=True, text=True, timeout=60)


@pytest.fixture
def running(tmp_path: Path) -> Iterator[str]:
    api_port, socket_port = free_port(), free_port()
    config = {
        "client": {"name": "status-host", "subscriptions": ["base"], "socket": {"port": socket_port}},
        "api": {"port": api_port},
        "checks": {"disk": {"command": "echo 'DISK CRITICAL'; exit 2", "subscribers": ["base"], "interval": 1}},
        "handlers": {"default": {"type": "pipe", "command": "cat > /dev/null"}},
    }
    (tmp_path / "config.json").write_text(json.dumps(config))
    process = subprocess.Popen([OGI, "run", "-c", str(tmp_path / "config.json"), "--quiet"],
                               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    url = f"http://127.0.0.1:{api_port}"
    try:
        # the README's way of pushing a result, without nc
        wait_for(lambda: status("--api", url).returncode == 0, 20, poll=0.2)
        subprocess.run(["bash", "-c", f"echo '{{\"name\":\"backup\",\"output\":\"late\",\"status\":1}}' "
                                      f"> /dev/tcp/127.0.0.1/{socket_port}"], check=True, timeout=10)
        yield url
    finally:
        process.terminate()
        process.wait(timeout=15)


def post(url: str, body: Any) -> None:
    request = urllib.request.Request(url, data=json.dumps(body).encode(), method="POST",
                                     headers={"Content-Type": "application/json"})
    urllib.request.urlopen(request, timeout=10).close()


def test_status_of_a_running_ogi(running: str) -> None:
    post(f"{running}/clients", {"name": "quiet-box", "address": "10.0.0.9", "subscriptions": [],
                                "keepalives": True, "keepalive": {"thresholds": {"warning": 1, "critical": 2}}})
    found = wait_for(lambda: (lambda r: r if "1 critical, 1 warning" in r.stdout and "stale" in r.stdout else None)(
        status("--api", running)), 20, poll=0.3)
    assert found.returncode == 0, found.stderr
    lines = dict(line.split(None, 1) for line in found.stdout.splitlines())
    assert lines["transport"] == "memory: connected" and lines["store"] == "connected"
    assert lines["events"] == "2 open: 1 critical, 1 warning"
    assert lines["clients"].startswith("2, 1 with a stale keepalive: quiet-box (")
    assert "none registered" in lines["server"]
    assert "results:" in found.stdout and "1 consumer" in found.stdout
    as_json = json.loads(status("--api", running, "--json").stdout)
    assert as_json["ok"] is True and as_json["events"]["by_severity"] == {"critical": 1, "warning": 1}
    assert as_json["queues"]["results"]["consumers"] == 1


def test_status_with_the_api_down_says_so_and_exits_1() -> None:
    url = f"http://127.0.0.1:{free_port()}"
    done = status("--api", url)
    assert done.returncode == 1
    assert done.stderr.startswith(f"ogi status: cannot reach the ogi API at {url}")
    as_json = status("--api", url, "--json")
    assert as_json.returncode == 1 and json.loads(as_json.stdout)["ok"] is False


def start_api(tmp_path: Path, settings: dict[str, Any]) -> tuple[subprocess.Popen[bytes], str]:
    port = free_port()
    (tmp_path / "api.json").write_text(json.dumps({"api": {"port": port}, **settings}))
    process = subprocess.Popen([OGI, "api", "-c", str(tmp_path / "api.json")],
                               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    return process, f"http://127.0.0.1:{port}"


def lines_of(done: subprocess.CompletedProcess[str]) -> dict[str, str]:
    return dict(line.split(None, 1) for line in done.stdout.splitlines())


def test_with_the_transport_and_the_store_down_status_shows_each_error_and_exits_1(tmp_path: Path) -> None:
    # a real `ogi api` pointed at ports where nothing listens
    nothing, also_nothing = free_port(), free_port()
    process, url = start_api(tmp_path, {
        "redis": {"host": "127.0.0.1", "port": nothing},
        "transport": {"name": "rabbitmq", "reconnect_interval": 0.2},
        "rabbitmq": {"host": "127.0.0.1", "port": also_nothing},
    })
    try:
        done = wait_for(lambda: (lambda r: r if "transport  rabbitmq: NOT CONNECTED: " in r.stdout else None)(
            status("--api", url)), 40, poll=0.5)
        as_json = json.loads(status("--api", url, "--json").stdout)
    finally:
        process.terminate()
        process.wait(timeout=15)
    assert done.returncode == 1, done.stderr
    lines = lines_of(done)
    assert lines["transport"].startswith(f"rabbitmq: NOT CONNECTED: amqp://127.0.0.1:{also_nothing}/")
    assert "Connect call failed" in lines["transport"]
    assert lines["store"].startswith("NOT CONNECTED: ") and f"127.0.0.1:{nothing}" in lines["store"]
    assert (lines["events"], lines["DOWN"]) == ("? (the store is down)", "transport, store")
    assert as_json["ok"] is False and as_json["down"] == ["transport", "store"]
    assert f"127.0.0.1:{nothing}" in as_json["store"]["error"] and as_json["events"]["open"] is None


def test_a_store_stopped_under_a_running_api_turns_status_to_exit_1_with_the_error(
    tmp_path: Path, private_redis: Any, rabbitmq_vhost: str
) -> None:
    process, url = start_api(tmp_path, {
        "redis": {"host": "127.0.0.1", "port": private_redis.port},
        "transport": {"name": "rabbitmq", "reconnect_interval": 0.2},
        "rabbitmq": {"host": "127.0.0.1", "port": 5672, "vhost": rabbitmq_vhost},
    })
    try:
        up = wait_for(lambda: (lambda r: r if r.returncode == 0 else None)(status("--api", url)), 40, poll=0.5)
        assert lines_of(up)["store"] == "connected" and lines_of(up)["transport"] == "rabbitmq: connected"
        private_redis.stop()
        down = status("--api", url)
    finally:
        process.terminate()
        process.wait(timeout=15)
    assert down.returncode == 1
    lines = lines_of(down)
    assert lines["store"].startswith("NOT CONNECTED: ") and f"127.0.0.1:{private_redis.port}" in lines["store"]
    assert lines["transport"] == "rabbitmq: connected" and lines["DOWN"] == "store"
