"""`/metrics` with `metrics.user`/`metrics.password` (basic auth) and `metrics.ssl` (TLS), like the API."""

from __future__ import annotations

import base64
import ssl
from pathlib import Path

import aiohttp
import pytest
from prometheus_client import CollectorRegistry

from pipeline.config.validate import validate
from pipeline.errors import ConfigErrors
from pipeline.metrics.exporter import listener_access, start_exporter
from pipeline.registry import default_registry
from pipeline.store.memory import MemoryStore
from tests.helpers import make_certificate

AUTH = {"user": "prometheus", "password": "scrape-me"}


def basic(user: str, password: str) -> dict[str, str]:
    return {"Authorization": "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()}


async def test_basic_auth_turns_away_a_scrape_without_the_password() -> None:
    runner = await start_exporter(listener_access({"metrics": {"port": 0, **AUTH}}), MemoryStore(), CollectorRegistry())
    try:
        async with aiohttp.ClientSession() as session:
            async with session.get(runner.url) as response:
                assert response.status == 401
                assert response.headers["WWW-Authenticate"].startswith("Basic")
            async with session.get(runner.url, headers=basic("prometheus", "wrong")) as response:
                assert response.status == 401
            async with session.get(runner.url, headers=basic("prometheus", "scrape-me")) as response:
                assert response.status == 200
                assert "ogi_exporter_scrapes_total 1" in await response.text()
    finally:
        await runner.stop()


async def test_tls_serves_the_page_over_https_with_the_configured_certificate(tmp_path: Path) -> None:
    cert, key = make_certificate(tmp_path)
    settings = {"metrics": {"port": 0, "ssl": {"cert_file": str(cert), "key_file": str(key)}, **AUTH}}
    runner = await start_exporter(listener_access(settings), MemoryStore(), CollectorRegistry())
    try:
        assert runner.url.startswith("https://")
        trusted = ssl.create_default_context(cafile=str(cert))
        async with aiohttp.ClientSession() as session:
            async with session.get(runner.url, ssl=trusted, headers=basic("prometheus", "scrape-me")) as response:
                assert response.status == 200
            with pytest.raises(aiohttp.ClientError):
                async with session.get(runner.url.replace("https:", "http:")) as response:
                    await response.read()
    finally:
        await runner.stop()


async def test_a_certificate_that_cannot_be_loaded_is_a_configuration_error(tmp_path: Path) -> None:
    settings = {"metrics": {"port": 0, "ssl": {"cert_file": str(tmp_path / "no.crt"), "key_file": str(tmp_path / "no.key")}}}
    with pytest.raises(ConfigErrors) as raised:
        await start_exporter(listener_access(settings), MemoryStore(), CollectorRegistry())
    assert raised.value.errors[0].path == "metrics.ssl"


def test_check_config_names_what_is_wrong() -> None:
    errors, _ = validate({"metrics": {"user": "prometheus", "ssl": {"cert_file": "/x.crt", "key": "/x.key"}}},
                         default_registry)
    paths = sorted(e.path for e in errors)
    assert paths == ["metrics", "metrics.ssl.key", "metrics.ssl.key_file"]
    assert validate({"metrics": {"port": 9127, **AUTH, "ssl": {"cert_file": "/x.crt", "key_file": "/x.key"}}},
                    default_registry)[0] == []
