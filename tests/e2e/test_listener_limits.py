"""The 3030 socket's limits as an attacker or a broken sender meets them, against `ogi run`:
a connection cap that keeps checks, handlers and the API working, and a whole-message deadline."""

from __future__ import annotations

import contextlib
import json
import resource
import socket
import subprocess
import sys
import threading
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.helpers import events_in, free_port, wait_for

OGI = [str(Path(sys.executable).parent / "ogi")]
SLOW_CONNECTIONS = 1100
FD_LIMIT = 1024  # the usual default soft limit of a daemon


def _limit_descriptors() -> None:
    resource.setrlimit(resource.RLIMIT_NOFILE, (FD_LIMIT, resource.getrlimit(resource.RLIMIT_NOFILE)[1]))


@pytest.fixture
def daemon(tmp_path: Path) -> Iterator[tuple[int, int, Path, Path]]:
    socket_port, api_port = free_port(), free_port()
    events = tmp_path / "events.json"
    config = {
        "client": {"name": "slow-host", "subscriptions": ["base"],
                   "socket": {"port": socket_port, "message_deadline": 30}},
        "api": {"port": api_port},
        "checks": {"disk": {"command": "echo CRITICAL: disk full; exit 2", "subscribers": ["base"],
                            "interval": 1, "handlers": ["record"]}},
        "handlers": {"record": {"type": "pipe", "command": f"cat >> {events}; echo >> {events}"}},
    }
    (tmp_path / "config.json").write_text(json.dumps(config))
    log = tmp_path / "ogi.log"
    process = subprocess.Popen([*OGI, "run", "-c", str(tmp_path / "config.json"), "--quiet", "-l", str(log)],
                               preexec_fn=_limit_descriptors, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        wait_for(lambda: events_in(events), 15)
        yield socket_port, api_port, events, log
    finally:
        process.kill()
        process.wait()


def _trickle(port: int, count: int, stop: threading.Event) -> None:
    """Open `count` connections while another thread sends a byte on each every 0.2 s (under
    Sensu's 0.5 s watchdog), until `stop`."""
    conns: list[socket.socket] = []
    lock = threading.Lock()

    def keep_alive() -> None:
        while not stop.is_set():
            with lock:
                held = list(conns)
            for conn in held:
                try:
                    conn.send(b"{" if conn.fileno() >= 0 else b"")
                except OSError:
                    with lock:
                        conns.remove(conn)  # refused by the cap, or cut off
            stop.wait(0.2)

    sender = threading.Thread(target=keep_alive)
    sender.start()
    for _ in range(count):
        if stop.is_set():
            break
        try:
            conn = socket.create_connection(("127.0.0.1", port), timeout=2)
        except OSError:
            continue
        with lock:
            conns.append(conn)
    sender.join()
    for conn in conns:
        conn.close()


def test_1100_slow_connections_leave_checks_handlers_and_the_api_working(daemon) -> None:  # type: ignore[no-untyped-def]
    socket_port, api_port, events, log = daemon
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if hard < SLOW_CONNECTIONS + 200:
        pytest.skip(f"this test needs {SLOW_CONNECTIONS + 200} descriptors; the hard limit is {hard}")
    resource.setrlimit(resource.RLIMIT_NOFILE, (max(soft, SLOW_CONNECTIONS + 200), hard))
    stop = threading.Event()
    attacker = threading.Thread(target=_trickle, args=(socket_port, SLOW_CONNECTIONS, stop))
    attacker.start()
    try:
        time.sleep(2)  # every connection opened, the cap reached, the rest refused
        before = len(events_in(events))
        fresh = wait_for(lambda: events_in(events)[before:], 10)
        assert all(e["check"]["status"] == 2 and e["check"]["output"] == "CRITICAL: disk full\n" for e in fresh)
        with urllib.request.urlopen(f"http://127.0.0.1:{api_port}/info", timeout=3) as answer:
            assert answer.status == 200
    finally:
        stop.set()
        attacker.join()
        resource.setrlimit(resource.RLIMIT_NOFILE, (soft, hard))
    refusals = [json.loads(line) for line in log.read_text().splitlines() if "too many open" in line]
    assert refusals and refusals[0]["reason"] == "connections"


def test_a_sender_trickling_a_byte_every_0_3_s_is_cut_off_at_the_message_deadline(tmp_path: Path) -> None:
    port = free_port()
    config = {"client": {"name": "trickle", "socket": {"port": port, "message_deadline": 2}}}
    (tmp_path / "config.json").write_text(json.dumps(config))
    process = subprocess.Popen([*OGI, "run", "-c", str(tmp_path / "config.json"), "--quiet"],
                               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        wait_for(lambda: _answers(port), 15)
        message = json.dumps({"name": "slow", "output": "x" * 40}).encode()
        with socket.create_connection(("127.0.0.1", port), timeout=5) as conn:
            started = time.monotonic()
            reply = b""
            for byte in message[:-1]:  # never complete: the deadline, not the end, must stop it
                try:
                    conn.send(bytes([byte]))
                except OSError:
                    break
                time.sleep(0.3)
                if time.monotonic() - started > 6:
                    break
            conn.settimeout(5)
            with contextlib.suppress(OSError):
                reply = conn.recv(200)
        assert reply == b"invalid: message not complete within 2 s"
        assert time.monotonic() - started < 5
    finally:
        process.kill()
        process.wait()


def _answers(port: int) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=1) as conn:
            conn.sendall(b"ping")
            return conn.recv(10) == b"pong"
    except OSError:
        return False
