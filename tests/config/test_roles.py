"""A client's configuration is judged as Sensu 1.x judged it: its handler names are the server's."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from pipeline.cli.main import main
from pipeline.config.load import load_settings
from pipeline.errors import ConfigErrors

#: The usual Sensu layout: the client names handlers that only the server defines.
CLIENT_ONLY: dict[str, Any] = {
    "client": {
        "name": "web-1", "subscriptions": ["linux"],
        "keepalive": {"handlers": ["pagerduty"]},
        "registration": {"handler": "cmdb"}, "deregistration": {"handler": "cmdb_remove"},
    },
    "checks": {"disk": {"command": "true", "interval": 60, "standalone": True, "handlers": ["mail", "graphite_x"]}},
}


def write(tmp_path: Path, settings: dict[str, Any]) -> str:
    file = tmp_path / "client.json"
    file.write_text(json.dumps(settings))
    return str(file)


def test_a_client_starts_with_handlers_defined_only_on_the_server(tmp_path: Path) -> None:
    loaded, warnings = load_settings([write(tmp_path, CLIENT_ONLY)], [], env={}, role="client")
    assert loaded.typed is not None and loaded.typed.checks["disk"].handlers == ("mail", "graphite_x")
    assert not [w for w in warnings if "default" in w]


def test_the_server_role_still_refuses_the_same_names_with_their_paths(tmp_path: Path) -> None:
    with pytest.raises(ConfigErrors) as raised:
        load_settings([write(tmp_path, CLIENT_ONLY)], [], env={})
    paths = {e.path for e in raised.value.errors}
    assert {"client.keepalive.handlers[0]", "client.registration.handler", "client.deregistration.handler",
            "checks.disk.handlers[0]", "checks.disk.handlers[1]"} <= paths


def test_a_client_still_refuses_what_it_would_run_wrongly(tmp_path: Path) -> None:
    bad = {**CLIENT_ONLY, "checks": {"disk": {"command": "true", "interval": 0, "standalone": True,
                                              "handlers": [5]}}}
    with pytest.raises(ConfigErrors) as raised:
        load_settings([write(tmp_path, bad)], [], env={}, role="client")
    assert {e.path for e in raised.value.errors} == {"checks.disk.interval", "checks.disk.handlers[0]"}


def test_check_config_judges_as_the_role_asked(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    file = write(tmp_path, CLIENT_ONLY)
    assert main(["check-config", "--role", "client", "-c", file]) == 0
    assert capsys.readouterr().out.strip() == "OK"
    assert main(["check-config", "-c", file]) == 1
    assert "client.keepalive.handlers[0]: no handler has this name" in capsys.readouterr().err
