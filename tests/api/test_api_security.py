"""Basic auth, TLS, the bind address and the start-up warning, the `api` settings (issue 6, item 3)."""

from __future__ import annotations

import base64
import logging
import ssl
import subprocess
from collections.abc import AsyncIterator
from pathlib import Path

import aiohttp
import pytest

from pipeline.api import api_config, api_config_errors, start_api
from pipeline.config.api import ApiConfig
from pipeline.config.load import settings_of
from pipeline.errors import ConfigErrors
from pipeline.store.memory import MemoryStore
from tests.api.support import FakeClock, Harness, RecordingTransport, start_harness
from tests.helpers import free_port

AUTH_SETTINGS = {"api": {"user": "admin", "password": "s3cret:with-colon"}}


def basic(user: str, password: str) -> dict[str, str]:
    return {"Authorization": "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()}


@pytest.fixture
async def secured() -> AsyncIterator[Harness]:
    clock = FakeClock()
    harness = await start_harness(MemoryStore(clock=clock), clock, AUTH_SETTINGS)
    yield harness
    await harness.client.close()


async def test_without_credentials_every_endpoint_is_401_with_no_body(secured: Harness) -> None:
    for method, path in [("GET", "/clients"), ("GET", "/info"), ("GET", "/health"), ("POST", "/silenced"),
                         ("GET", "/no/such/route")]:
        reply = await secured.call(method, path)
        assert (reply.status, reply.text) == (401, ""), (method, path)
        assert reply.headers["WWW-Authenticate"] == 'Basic realm="Restricted Area"'
        assert "X-Request-ID" in reply.headers


async def test_wrong_credentials_are_401_and_right_ones_pass(secured: Harness) -> None:
    for headers in [basic("admin", "wrong"), basic("root", "s3cret:with-colon"), basic("admin", ""),
                    {"Authorization": "Basic not-base64!"}, {"Authorization": "Bearer s3cret"},
                    {"Authorization": "Basic " + base64.b64encode(b"admin").decode()}]:
        assert (await secured.call("GET", "/clients", headers=headers)).status == 401, headers
    ok = await secured.call("GET", "/clients", headers=basic("admin", "s3cret:with-colon"))
    assert (ok.status, ok.json) == (200, [])


async def test_options_needs_no_credentials(secured: Harness) -> None:
    reply = await secured.call("OPTIONS", "/clients")
    assert reply.status == 200


async def test_a_rejected_request_changes_nothing(secured: Harness) -> None:
    reply = await secured.call("POST", "/stashes", {"path": "a", "content": {}}, headers=basic("admin", "no"))
    assert reply.status == 401
    assert await secured.store.list_stashes() == []


def test_the_api_section_defaults_to_loopback_port_4567_without_auth_or_tls() -> None:
    config = api_config({})
    assert (config.bind, config.port, config.auth, config.tls) == ("127.0.0.1", 4567, False, False)
    assert config.max_body_size == 1024 * 1024 and config.close_connections is False
    assert config.loopback_only


def test_every_mistake_in_the_api_section_is_reported_with_its_path() -> None:
    errors = api_config_errors({"api": {"port": 70000, "user": "admin", "max_body_size": 0,
                                        "ssl": {"cert_file": "x.pem"}, "cors": {"Origin": 5, "Other": "x"},
                                        "close_connections": "yes"}})
    assert sorted(e.path for e in errors) == sorted([
        "api", "api.port", "api.max_body_size", "api.close_connections", "api.ssl.key_file",
        "api.cors.Origin", "api.cors.Other"])
    with pytest.raises(ConfigErrors):
        api_config({"api": "everywhere"})


@pytest.mark.parametrize(("bind", "loopback"), [("127.0.0.1", True), ("::1", True), ("localhost", True),
                                                ("0.0.0.0", False), ("::", False), ("10.0.0.5", False),
                                                ("api.example.com", False)])
def test_loopback_addresses_are_told_apart_from_others(bind: str, loopback: bool) -> None:
    assert ApiConfig(bind=bind).loopback_only is loopback


async def test_start_api_serves_on_the_configured_port_and_stops(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO, logger="ogi")
    port = free_port()
    runner = await start_api(settings_of({"api": {"port": port}}), MemoryStore(), RecordingTransport())
    try:
        assert runner.url == f"http://127.0.0.1:{port}"
        async with aiohttp.ClientSession() as session, session.get(runner.url + "/clients") as response:
            assert response.status == 200
        assert not [r for r in caplog.records if r.levelno >= logging.WARNING]
    finally:
        await runner.stop()
    with pytest.raises(aiohttp.ClientConnectionError):
        async with aiohttp.ClientSession() as session, session.get(runner.url + "/clients"):
            pass


async def test_listening_beyond_loopback_without_auth_logs_a_warning(caplog: pytest.LogCaptureFixture) -> None:
    runner = await start_api(settings_of({"api": {"bind": "0.0.0.0", "port": 0}}), MemoryStore(), RecordingTransport())
    await runner.stop()
    warnings = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert any("without authentication" in message for message in warnings)
    caplog.clear()
    runner = await start_api(settings_of({"api": {"bind": "0.0.0.0", "port": 0, **AUTH_SETTINGS["api"]}}), MemoryStore(),
                             RecordingTransport())
    await runner.stop()
    assert not [r for r in caplog.records if r.levelno == logging.WARNING]


def make_certificate(directory: Path) -> tuple[Path, Path]:
    cert, key = directory / "api.crt", directory / "api.key"
    subprocess.run(
        ["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", str(key), "-out", str(cert),
         "-days", "1", "-subj", "/CN=127.0.0.1", "-addext", "subjectAltName=IP:127.0.0.1"],
        check=True, capture_output=True,
    )
    return cert, key


async def test_tls_serves_https_with_the_configured_certificate(tmp_path: Path) -> None:
    cert, key = make_certificate(tmp_path)
    settings = {"api": {"port": 0, "ssl": {"cert_file": str(cert), "key_file": str(key)}, **AUTH_SETTINGS["api"]}}
    runner = await start_api(settings_of(settings), MemoryStore(), RecordingTransport())
    try:
        assert runner.url.startswith("https://127.0.0.1:")
        trusted = ssl.create_default_context(cafile=str(cert))
        async with aiohttp.ClientSession() as session:
            async with session.get(runner.url + "/clients", ssl=trusted,
                                   headers=basic("admin", "s3cret:with-colon")) as response:
                assert (response.status, await response.json()) == (200, [])
            with pytest.raises(aiohttp.ClientConnectorCertificateError):
                async with session.get(runner.url + "/clients"):
                    pass
            with pytest.raises(aiohttp.ClientError):
                async with session.get(runner.url.replace("https", "http") + "/clients"):
                    pass
    finally:
        await runner.stop()


async def test_a_certificate_that_cannot_be_loaded_is_a_config_error(tmp_path: Path) -> None:
    missing = {"api": {"port": 0, "ssl": {"cert_file": str(tmp_path / "no.crt"), "key_file": str(tmp_path / "no.key")}}}
    with pytest.raises(ConfigErrors) as raised:
        await start_api(settings_of(missing), MemoryStore(), RecordingTransport())
    assert raised.value.errors[0].path == "api.ssl"
