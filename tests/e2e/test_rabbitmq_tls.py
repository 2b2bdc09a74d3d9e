"""ogi over a real RabbitMQ TLS listener: `ogi server` and `ogi client` verified both ways, and
each way a TLS connection goes wrong (no client certificate, a broker or client certificate from
another authority, a missing file, TLS to a plain port) as the operator meets it in the log.

One private node for the module (`rabbitmq_tls`: its AMQPS port requires a client certificate
signed by the test authority, `fail_if_no_peer_cert`); nodes take seconds to boot.
"""

from __future__ import annotations

import asyncio
import json
import re
import shutil
import signal
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from bench.vhost import rabbitmqctl
from pipeline.jsoncodec import dumps
from pipeline.transport.rabbitmq import RabbitMQTransport
from tests.helpers import ROOT, TlsBroker, events_in, free_port, wait_for

OGI = str(Path(sys.executable).parent / "ogi")
DOC = ROOT / "docs" / "distributed.md"


def documented(kind: str) -> str:
    """The one block of `kind` (json, ini) in docs/distributed.md's TLS section."""
    section = DOC.read_text().split("## TLS to RabbitMQ", 1)[1].split("\n## ", 1)[0]
    blocks = re.findall(rf"```{kind}\n(.*?)```", section, re.S)
    assert len(blocks) == 1
    return str(blocks[0])


def lines(path: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in path.read_text().splitlines() if line.startswith("{")] if path.exists() else []


def refusals(log: Path) -> list[str]:
    return [line.get("error", "") for line in lines(log) if line["message"] == "cannot connect to RabbitMQ; trying again"]


def start(kind: str, config: dict[str, Any], directory: Path) -> subprocess.Popen[str]:
    (directory / f"{kind}.json").write_text(json.dumps(config))
    return subprocess.Popen([OGI, kind, "-c", str(directory / f"{kind}.json"), "-l", str(directory / f"{kind}.log")],
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)


def stop(process: subprocess.Popen[str]) -> tuple[int, str]:
    process.send_signal(signal.SIGTERM)
    try:
        output, _ = process.communicate(timeout=15)
    except subprocess.TimeoutExpired:
        process.kill()
        output, _ = process.communicate()
    return process.returncode, output


def from_the_docs(broker: TlsBroker, directory: Path) -> dict[str, Any]:
    """docs/distributed.md's client configuration pointed at the test broker and its certificates."""
    config: dict[str, Any] = json.loads(documented("json"))
    files = {"/etc/ogi/ssl/ca.pem": broker.authority.cert, "/etc/ogi/ssl/client.pem": broker.client.cert,
             "/etc/ogi/ssl/client.key": broker.client.key}
    ssl = config["rabbitmq"]["ssl"]
    assert set(ssl.values()) == set(files), "the documented files are the ones this test provides"
    config["rabbitmq"]["ssl"] = {key: str(files[path]) for key, path in ssl.items()}
    assert (config["rabbitmq"]["host"], config["rabbitmq"]["port"]) == ("rabbitmq.example.com", 5671)
    config["rabbitmq"].update(host="127.0.0.1", port=broker.node.port)
    config["transport"] = {"name": "rabbitmq", "reconnect_interval": 0.2}
    return config


def test_a_server_and_a_client_configured_as_documented_run_checks_over_tls_both_verified(
    rabbitmq_tls: TlsBroker, tmp_path: Path
) -> None:
    node = rabbitmq_tls.node.node
    documented_broker = json.loads(documented("json"))["rabbitmq"]
    rabbitmqctl("add_vhost", documented_broker["vhost"], node=node)
    rabbitmqctl("add_user", documented_broker["user"], documented_broker["password"], node=node)
    rabbitmqctl("set_permissions", "-p", documented_broker["vhost"], documented_broker["user"], ".*", ".*", ".*",
                node=node)
    client_config = from_the_docs(rabbitmq_tls, tmp_path)
    client_config["client"]["socket"] = {"enabled": False}
    events = tmp_path / "events.json"
    server_config = {
        "rabbitmq": client_config["rabbitmq"], "transport": client_config["transport"], "store": {"name": "memory"},
        "api": {"port": free_port()},
        "checks": {"tls_disk": {"command": "echo disk full; exit 2", "subscribers": ["web"], "interval": 1,
                                "handlers": ["record"]}},
        "handlers": {"record": {"type": "pipe", "command": f"cat >> {events}; echo >> {events}"}},
    }
    server = start("server", server_config, tmp_path)
    client = start("client", client_config, tmp_path)
    try:
        # The request went server -> client and the result client -> server, both over TLS.
        handled = wait_for(lambda: [e for e in events_in(events) if e["check"]["name"] == "tls_disk"], 60)
        assert (handled[0]["client"]["name"], handled[0]["check"]["output"]) == ("web-1", "disk full\n")
        connections = rabbitmqctl("list_connections", "-p", documented_broker["vhost"], "--no-table-headers", "-q",
                                  "user", "ssl", "peer_cert_subject", node=node).splitlines()
        assert len(connections) >= 2
        assert all(row.split("\t")[:2] == ["sensu", "true"] and "CN=ogi-client" in row for row in connections), \
            connections
    finally:
        codes = [stop(client), stop(server)]
    assert [code for code, _ in codes] == [0, 0], codes
    assert not refusals(tmp_path / "client.log") and not refusals(tmp_path / "server.log")


def test_a_client_without_a_certificate_is_told_tls_wants_one_stays_up_and_keeps_trying(
    rabbitmq_tls: TlsBroker, tmp_path: Path
) -> None:
    config = {"rabbitmq": rabbitmq_tls.rabbitmq(cert_chain_file=None, private_key_file=None),
              "transport": {"name": "rabbitmq", "reconnect_interval": 0.2},
              "client": {"name": "no-cert", "subscriptions": ["web"], "socket": {"enabled": False}}}
    client = start("client", config, tmp_path)
    try:
        errors = wait_for(lambda: (found := refusals(tmp_path / "client.log")) and len(found) >= 3 and found, 30)
        assert client.poll() is None, "the client keeps running"
    finally:
        code, output = stop(client)
    assert code == 0
    for error in errors:
        assert error.startswith("TLS: ") and "requires a client certificate" in error, error
        assert "rabbitmq.ssl.cert_chain_file" in error
    log = (tmp_path / "client.log").read_text()
    assert "Traceback" not in log + output and '"backtrace"' not in log


async def refusal(settings: dict[str, Any]) -> str:
    """What a RabbitMQ transport with `settings` says after its first failed attempts (it never connects)."""
    transport = RabbitMQTransport({"rabbitmq": settings, "transport": {"name": "rabbitmq", "reconnect_interval": 0.2}})
    connecting = asyncio.ensure_future(transport.connect())
    try:
        for _ in range(100):
            if transport.last_error is not None or connecting.done():
                break
            await asyncio.sleep(0.1)
        assert not connecting.done(), "connected, or gave up, where it should keep trying"
        assert transport.last_error is not None
        return transport.last_error
    finally:
        connecting.cancel()
        await transport.close()


@pytest.mark.parametrize(("case", "expected"), [
    ("no client certificate", ["TLS: ", "client certificate", "rabbitmq.ssl.cert_chain_file"]),
    ("broker signed by another authority", ["TLS: the broker's certificate is not trusted", "stranger.crt"]),
    ("broker reached by a name its certificate lacks", ["TLS: the broker's certificate is not valid for 127.1",
                                                         "mismatch"]),
    ("client signed by another authority", ["TLS: ", "refused the client certificate", "intruder.crt"]),
    ("key of another certificate", ["TLS: rabbitmq.ssl.private_key_file", "is not the key of", "ogi-client.crt"]),
    ("missing certificate file", ["TLS: cannot read rabbitmq.ssl.cert_chain_file", "absent.crt",
                                  "No such file or directory"]),
    ("TLS to the plain AMQP port", ["TLS: the broker's port does not speak TLS"]),
    ("plain AMQP to the TLS port", ["if port", "is a TLS listener, set rabbitmq.ssl"]),
    ("TLS to a closed port", ["Connect call failed"]),
])
async def test_each_tls_mistake_is_refused_with_an_error_naming_tls_and_the_setting(
    rabbitmq_tls: TlsBroker, tmp_path: Path, case: str, expected: list[str]
) -> None:
    broker = rabbitmq_tls
    settings = {
        "no client certificate": lambda: broker.rabbitmq(cert_chain_file=None, private_key_file=None),
        "broker signed by another authority": lambda: broker.rabbitmq(ca_file=str(broker.stranger.cert)),
        # 127.1 is 127.0.0.1 to the resolver, but not a name the certificate lists
        "broker reached by a name its certificate lacks": lambda: {**broker.rabbitmq(), "host": "127.1"},
        "client signed by another authority": lambda: broker.rabbitmq(
            cert_chain_file=str((intruder := broker.stranger.issue("intruder", server=False)).cert),
            private_key_file=str(intruder.key)),
        "key of another certificate": lambda: broker.rabbitmq(
            private_key_file=str(broker.stranger.issue("other", server=False).key)),
        "missing certificate file": lambda: broker.rabbitmq(cert_chain_file=str(tmp_path / "absent.crt")),
        "TLS to the plain AMQP port": lambda: {**broker.rabbitmq(), "port": broker.node.plain_port},
        "plain AMQP to the TLS port": lambda: {"host": "127.0.0.1", "port": broker.node.port},
        "TLS to a closed port": lambda: {**broker.rabbitmq(), "port": free_port()},
    }[case]()
    error = await refusal(settings)
    for part in expected:
        assert part in error, error
    reason = error.split(": ", 1)[1]  # after the broker's label
    assert reason.startswith("TLS") == expected[0].startswith("TLS"), "only a TLS failure is called one"


async def test_a_certificate_put_in_place_after_start_is_picked_up_without_a_restart(
    rabbitmq_tls: TlsBroker, tmp_path: Path
) -> None:
    cert, key = tmp_path / "late.crt", tmp_path / "late.key"
    transport = RabbitMQTransport({"rabbitmq": rabbitmq_tls.rabbitmq(cert_chain_file=str(cert), private_key_file=str(key)),
                                   "transport": {"name": "rabbitmq", "reconnect_interval": 0.2}})
    try:
        connecting = asyncio.ensure_future(transport.connect())
        for _ in range(100):
            if transport.last_error is not None:
                break
            await asyncio.sleep(0.1)
        assert transport.last_error is not None and "cannot read rabbitmq.ssl.cert_chain_file" in transport.last_error
        shutil.copyfile(rabbitmq_tls.client.key, key)
        shutil.copyfile(rabbitmq_tls.client.cert, cert)
        await asyncio.wait_for(connecting, 30)
        assert transport.connected and transport.last_error is None
    finally:
        await transport.close()


async def test_an_amqps_url_with_the_certificates_in_its_query_publishes_and_consumes(rabbitmq_tls: TlsBroker) -> None:
    broker = rabbitmq_tls
    url = (f"amqps://guest:guest@127.0.0.1:{broker.node.port}/?cafile={broker.authority.cert}"
           f"&certfile={broker.client.cert}&keyfile={broker.client.key}")
    settings = {"rabbitmq": {"url": url}, "transport": {"name": "rabbitmq", "reconnect_interval": 0.2}}
    publisher, consumer = RabbitMQTransport(settings), RabbitMQTransport(settings)
    try:
        subscription = await consumer.subscribe("results-url")
        await publisher.publish("results-url", dumps({"client": "url", "check": {"name": "x"}}))
        message = await asyncio.wait_for(anext(aiter(subscription)), 10)
        async with message.process():
            assert json.loads(message.body)["client"] == "url"
    finally:
        await publisher.close()
        await consumer.close()


def test_the_documented_broker_settings_are_those_the_tested_node_runs_with(rabbitmq_tls: TlsBroker) -> None:
    def keys(text: str) -> dict[str, str]:
        pairs = (line.split(" = ", 1) for line in text.splitlines() if line.startswith(("listeners.ssl", "ssl_options")))
        return {key: value for key, value in pairs}

    documented_conf = keys(documented("ini"))
    tested = keys((rabbitmq_tls.node.dir / "rabbitmq.conf").read_text())
    assert set(documented_conf) == set(tested)
    assert {k: v for k, v in documented_conf.items() if k.startswith("ssl_options.") and "file" not in k} == {
        k: v for k, v in tested.items() if k.startswith("ssl_options.") and "file" not in k}
