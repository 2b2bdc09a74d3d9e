"""Private peers for the fault tests and bench.soak: a redis-server and a RabbitMQ node of their own.

Each runs on free loopback ports; the shared RabbitMQ on 5672 and Redis on 6379 are never touched.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import socket
import subprocess
import tempfile
import time
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from bench.vhost import rabbitmqctl


class PrivateRedis:
    """A redis-server of this test's own on a free port, never the shared one."""

    def __init__(self, directory: str, port: int) -> None:
        self.directory = directory
        self.port = port
        self.pidfile = os.path.join(directory, f"redis-{port}.pid")

    def start(self, *extra: str) -> None:
        subprocess.run(
            ["redis-server", "--bind", "127.0.0.1", "--port", str(self.port), "--save", "", "--appendonly", "no",
             "--daemonize", "yes", "--dir", self.directory, "--pidfile", self.pidfile, *extra],
            check=True, capture_output=True,
        )
        self._wait(lambda: subprocess.run(["redis-cli", "-p", str(self.port), "ping"], capture_output=True,
                                          text=True).stdout.strip() == "PONG")

    def stop(self) -> None:
        pid = int(Path(self.pidfile).read_text())
        os.kill(pid, signal.SIGTERM)
        self._wait(lambda: not alive(pid))

    @staticmethod
    def _wait(condition: Any) -> None:
        for _ in range(200):
            if condition():
                return
            subprocess.run(["sleep", "0.05"])
        raise RuntimeError("redis-server did not change state")


def alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


RABBITMQ_SERVER = shutil.which("rabbitmq-server") or "/usr/sbin/rabbitmq-server"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def port_answers(host: str, port: int, timeout: float = 1.0) -> bool:
    try:
        with socket.create_connection((host, port), timeout=timeout):
            return True
    except OSError:
        return False


@dataclass(frozen=True)
class RabbitTLS:
    """A TLS listener for a private node: its certificate and key, the authority it trusts for
    client certificates, and whether a client must present one (`fail_if_no_peer_cert`)."""

    cert: Path
    key: Path
    ca: Path
    require_client_cert: bool = False


class PrivateRabbitMQ:
    """A RabbitMQ node of the test's own on free loopback ports; stop() and start() at will.

    With `tls`, `port` is an AMQPS listener (certificates copied into the node's directory,
    which only the rabbitmq user reads) and `plain_port` still takes plain AMQP.
    """

    def __init__(self, tls: RabbitTLS | None = None) -> None:
        self.port = free_port()
        self.dist_port = free_port()
        self.plain_port = free_port() if tls else self.port
        self.tls = tls
        self.node = f"ogitest{uuid.uuid4().hex[:8]}@localhost"
        # Under /tmp, not pytest's tmp_path: the node runs as the rabbitmq user, which cannot enter root's 0700 dirs.
        self.dir = Path(tempfile.mkdtemp(prefix="ogi-rabbitmq-"))
        (self.dir / "mnesia").mkdir()
        (self.dir / "log").mkdir()
        (self.dir / "rabbitmq.conf").write_text(f"listeners.tcp.default = 127.0.0.1:{self.plain_port}\n"
                                                + (self._tls_conf(tls) if tls else ""))
        (self.dir / "env.conf").write_text("")
        (self.dir / "enabled_plugins").write_text("[].\n")
        shutil.chown(self.dir, "rabbitmq", "rabbitmq")
        for path in self.dir.rglob("*"):
            shutil.chown(path, "rabbitmq", "rabbitmq")
        self.process: subprocess.Popen[bytes] | None = None

    def _tls_conf(self, tls: RabbitTLS) -> str:
        (self.dir / "tls").mkdir()
        files = {}
        for key, source in (("certfile", tls.cert), ("keyfile", tls.key), ("cacertfile", tls.ca)):
            files[key] = self.dir / "tls" / f"{key}.pem"
            shutil.copyfile(source, files[key])
        return (
            f"listeners.ssl.default = 127.0.0.1:{self.port}\n"
            + "".join(f"ssl_options.{key} = {path}\n" for key, path in files.items())
            + "ssl_options.verify = verify_peer\n"
            + f"ssl_options.fail_if_no_peer_cert = {'true' if tls.require_client_cert else 'false'}\n"
        )

    def start(self, timeout: float = 60) -> None:
        env = dict(
            os.environ,
            RABBITMQ_NODENAME=self.node, RABBITMQ_NODE_PORT=str(self.plain_port), RABBITMQ_DIST_PORT=str(self.dist_port),
            RABBITMQ_CONFIG_FILE=str(self.dir / "rabbitmq"), RABBITMQ_CONF_ENV_FILE=str(self.dir / "env.conf"),
            RABBITMQ_MNESIA_BASE=str(self.dir / "mnesia"), RABBITMQ_LOG_BASE=str(self.dir / "log"),
            RABBITMQ_ENABLED_PLUGINS_FILE=str(self.dir / "enabled_plugins"),
        )
        with open(self.dir / "out.log", "ab") as out:
            self.process = subprocess.Popen([RABBITMQ_SERVER], env=env, stdout=out, stderr=subprocess.STDOUT,
                                            stdin=subprocess.DEVNULL, start_new_session=True)
        deadline = time.monotonic() + timeout
        while not all(port_answers("127.0.0.1", port, timeout=0.2) for port in {self.port, self.plain_port}):
            if self.process.poll() is not None or time.monotonic() > deadline:
                tail = (self.dir / "out.log").read_text(errors="replace")[-1500:]
                raise RuntimeError(f"private RabbitMQ did not start; {self.dir / 'out.log'} ends: {tail}")
            time.sleep(0.2)

    def stop(self) -> None:
        """Stop the node cleanly (its durable queues and persistent messages stay on disk)."""
        rabbitmqctl("stop", node=self.node)
        if self.process is not None:
            self.process.wait(timeout=60)
            self.process = None

    def destroy(self) -> None:
        if self.process is not None and self.process.poll() is None:
            with contextlib.suppress(Exception):
                rabbitmqctl("stop", node=self.node, timeout=30)
            with contextlib.suppress(ProcessLookupError, subprocess.TimeoutExpired):
                self.process.wait(timeout=30)
            if self.process.poll() is None:
                os.killpg(self.process.pid, signal.SIGKILL)  # our own session only
        shutil.rmtree(self.dir, ignore_errors=True)
