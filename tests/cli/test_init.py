"""`ogi init` writes a configuration that passes check-config for every role and never overwrites."""

from __future__ import annotations

import json
import stat
from pathlib import Path

import pytest

from pipeline.cli.main import main
from pipeline.config.load import load_settings


@pytest.mark.parametrize("role", ["server", "client", "api", "all"])
def test_each_role_gets_a_configuration_that_check_config_accepts(
    tmp_path: Path, role: str, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["init", "--role", role, "--dir", str(tmp_path / "ogi")]) == 0
    assert main(["check-config", "-c", str(tmp_path / "ogi" / "config.json"), "-d", str(tmp_path / "ogi" / "conf.d")]) == 0
    assert capsys.readouterr().out.splitlines()[-1] == "OK"
    loaded, _ = load_settings([str(tmp_path / "ogi" / "config.json")], [str(tmp_path / "ogi" / "conf.d")])
    settings = loaded.settings
    assert settings["transport"] == {"name": "rabbitmq"}
    assert ("client" in settings) == (role in ("client", "all"))
    assert ("api" in settings) == (role in ("api", "all"))
    assert ("redis" in settings) == (role != "client")
    if role in ("server", "all"):
        mail = settings["handlers"]["mail"]
        assert mail["type"] == "mail" and mail["filters"] == ["is_incident"]
        assert settings["handlers"]["keepalive"]["handlers"] == ["mail"]
        assert settings["handlers"]["metrics"]["handlers"] == ["graphite", "prometheus"]
        assert settings["metrics"]["port"] == 9127


def test_the_api_password_is_generated_and_the_files_are_not_world_readable(tmp_path: Path) -> None:
    passwords = []
    for name in ("a", "b"):
        assert main(["init", "--role", "api", "--dir", str(tmp_path / name)]) == 0
        path = tmp_path / name / "conf.d" / "api.json"
        passwords.append(json.loads(path.read_text())["api"]["password"])
        assert stat.S_IMODE(path.stat().st_mode) & 0o007 == 0
    assert passwords[0] != passwords[1] and len(passwords[0]) >= 20


def test_existing_files_are_named_and_nothing_changes(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    target = tmp_path / "ogi"
    (target / "conf.d").mkdir(parents=True)
    (target / "conf.d" / "client.json").write_text('{"client": {"name": "mine"}}')
    assert main(["init", "--role", "all", "--dir", str(target)]) == 1
    err = capsys.readouterr().err
    assert f"exists: {target / 'conf.d' / 'client.json'}" in err and "nothing was written" in err
    assert sorted(p.name for p in target.rglob("*")) == ["client.json", "conf.d"]
    assert (target / "conf.d" / "client.json").read_text() == '{"client": {"name": "mine"}}'


def test_a_second_run_over_its_own_output_changes_nothing(tmp_path: Path) -> None:
    assert main(["init", "--role", "server", "--dir", str(tmp_path)]) == 0
    before = {p: p.read_bytes() for p in tmp_path.rglob("*.json")}
    assert main(["init", "--role", "server", "--dir", str(tmp_path)]) == 1
    assert {p: p.read_bytes() for p in tmp_path.rglob("*.json")} == before
