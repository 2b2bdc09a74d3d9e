"""The `ogi` command line: check-config output and exit codes, print-config, run's refusal of bad config."""

from __future__ import annotations

import json
import logging
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

import pipeline
from pipeline.cli.main import build_parser, load_settings, main
from pipeline.config import load as config
from pipeline.errors import ConfigErrors

ROOT = Path(__file__).resolve().parents[2]
DATA = ROOT / "tests" / "data" / "config"
GOOD = ["-c", str(DATA / "good" / "config.json"), "-d", str(DATA / "good" / "conf.d")]
BAD = ["-d", str(DATA / "bad")]
OGI = ROOT / ".venv" / "bin" / "ogi"
FIVE_MISTAKES = [
    (DATA / "bad" / "checks.json", 'checks["cpu load"]', '(got "cpu load")'),
    (DATA / "bad" / "checks.json", "checks.disk.interval", '(got "60")'),
    (DATA / "bad" / "checks.json", "checks.disk.handlers[1]", '(got "pagerduty")'),
    (DATA / "bad" / "checks.json", "checks.memory.command", "is required"),
    (DATA / "bad" / "handlers.json", "handlers.default.handlers[1]", "default -> everyone -> default"),
]


@pytest.fixture(autouse=True)
def no_sensu_environment(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    logger = logging.getLogger("ogi")
    handlers = list(logger.handlers)
    for var in ("RABBITMQ_URL", "REDIS_URL", "SENSU_API_PORT", "OGI_API_PORT", "SENSU_TRANSPORT_NAME",
                "SENSU_CLIENT_NAME", "SENSU_CLIENT_ADDRESS", "SENSU_CLIENT_SUBSCRIPTIONS"):
        monkeypatch.delenv(var, raising=False)
    yield
    for handler in logger.handlers:
        if handler not in handlers:
            handler.close()
    logger.handlers[:] = handlers


def test_check_config_prints_ok_and_exits_0_for_a_good_config(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["check-config", *GOOD]) == 0
    captured = capsys.readouterr()
    assert captured.out == "OK\n"
    assert captured.err == ""


def test_check_config_prints_all_five_mistakes_each_naming_file_path_and_value(
    capsys: pytest.CaptureFixture[str],
) -> None:
    assert main(["check-config", *BAD]) == 1
    captured = capsys.readouterr()
    assert captured.out == ""
    lines = captured.err.splitlines()
    assert lines[-1] == "5 configuration errors"
    errors = lines[:-1]
    assert len(errors) == 5, captured.err
    for file, path, detail in FIVE_MISTAKES:
        assert any(line.startswith(f"{file}: {path}: ") and detail in line for line in errors), (path, errors)


def test_print_config_shows_the_merged_settings_with_secrets_redacted(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["check-config", *GOOD, "--print-config"]) == 0
    shown = json.loads(capsys.readouterr().out)
    assert shown["client"]["subscriptions"] == ["base", "web"]
    assert shown["client"]["environment"] == "production"
    assert shown["api"] == {"port": 4567, "user": "admin", "password": "REDACTED"}
    assert shown["checks"]["cpu"]["occurrences"] == 3


def test_flags_repeat_and_take_comma_lists(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    one, two = tmp_path / "one.json", tmp_path / "two.json"
    one.write_text('{"api": {"port": 1}}')
    two.write_text('{"api": {"bind": "127.0.0.1"}}')
    args = ["check-config", "-c", f"{DATA / 'good' / 'config.json'},{one}", "--config", str(two),
            "-d", str(DATA / "good" / "conf.d"), "--print-config"]
    assert main(args) == 0
    assert json.loads(capsys.readouterr().out)["api"] == {"port": 1, "user": "admin", "password": "REDACTED",
                                                          "bind": "127.0.0.1"}


def test_an_explicitly_named_missing_file_is_an_error(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    missing = tmp_path / "nope.json"
    assert main(["check-config", "-c", str(missing)]) == 1
    assert f"{missing}: " in capsys.readouterr().err


def test_warnings_are_printed_but_do_not_fail_the_check(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    file = tmp_path / "c.json"
    file.write_text(json.dumps({"checks": {"cpu": {"command": "true", "interval": 10, "subscribers": ["a"]}}}))
    assert main(["check-config", "-c", str(file)]) == 0
    captured = capsys.readouterr()
    assert captured.out == "OK\n"
    assert captured.err.startswith("warning: checks cpu name no handler")


def test_without_flags_the_default_places_are_read(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    sensu = tmp_path / "etc" / "sensu"
    (sensu / "conf.d").mkdir(parents=True)
    (sensu / "conf.d" / "api.json").write_text('{"api": {"port": 4568}}')
    monkeypatch.setattr(config, "DEFAULT_ROOTS", (str(tmp_path / "etc" / "ogi"), str(sensu)))
    assert main(["check-config", "--print-config"]) == 0
    assert json.loads(capsys.readouterr().out) == {"api": {"port": 4568}}
    monkeypatch.setattr(config, "DEFAULT_ROOTS", (str(tmp_path / "nowhere"),))
    assert main(["check-config"]) == 0
    assert "warning: no configuration found" in capsys.readouterr().err


def test_load_settings_raises_every_error_with_its_file_filled_in() -> None:
    with pytest.raises(ConfigErrors) as caught:
        load_settings([], [str(DATA / "bad")])
    assert len(caught.value.errors) == 5
    assert all(e.file and e.file.startswith(str(DATA / "bad")) for e in caught.value.errors)


def test_run_refuses_a_bad_config_before_doing_anything(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    started: list[object] = []
    import pipeline.cli.run

    def fake_run(args: object, loaded: object) -> int:
        started.append(loaded)
        return 0

    monkeypatch.setattr(pipeline.cli.run, "run", fake_run)
    assert main(["run", *BAD]) == 1
    assert started == []
    assert len(capsys.readouterr().err.splitlines()) == 6


def test_run_with_a_log_file_also_logs_each_configuration_error(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    log = tmp_path / "ogi.log"
    assert main(["run", *BAD, "-l", str(log)]) == 1
    lines = [json.loads(line) for line in log.read_text().splitlines()]
    assert [line["level"] for line in lines] == ["fatal"] * 5
    assert {line["path"] for line in lines} == {path for _, path, _ in FIVE_MISTAKES}
    assert all(line["file"].startswith(str(DATA / "bad")) for line in lines)
    assert len(capsys.readouterr().err.splitlines()) == 6


def test_run_hands_the_loaded_config_and_options_to_the_app(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    seen: list[tuple[Any, Any]] = []
    import pipeline.cli.run

    def fake_run(args: Any, loaded: Any) -> int:
        seen.append((args, loaded))
        return 3

    monkeypatch.setattr(pipeline.cli.run, "run", fake_run)
    log = tmp_path / "ogi.log"
    assert main(["run", *GOOD, "--quiet", "-l", str(log), "-L", "debug"]) == 3
    [(args, loaded)] = seen
    assert args.quiet is True
    assert loaded.settings["checks"]["cpu"]["interval"] == 60
    line = json.loads(log.read_text().splitlines()[0])
    assert line["message"] == "configuration loaded" and len(line["files"]) == 3


def test_the_common_options_are_on_every_subcommand() -> None:
    parser = build_parser()
    for command in ("run", "check-config"):
        args = parser.parse_args([command, "-c", "a", "-d", "b", "-l", "f", "-L", "warn", "--log-format", "text"])
        assert (args.config, args.config_dir, args.log, args.log_level, args.log_format) == (
            ["a"], ["b"], "f", "warn", "text"
        )


def test_no_subcommand_prints_help_and_exits_2(capsys: pytest.CaptureFixture[str]) -> None:
    assert main([]) == 2
    assert "check-config" in capsys.readouterr().err


def test_version_prints_the_version(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exit_:
        main(["--version"])
    assert exit_.value.code == 0
    assert capsys.readouterr().out == f"ogi {pipeline.__version__}\n"


def test_the_installed_ogi_command_checks_config_with_exit_codes() -> None:
    good = subprocess.run([str(OGI), "check-config", *GOOD], capture_output=True, text=True, timeout=60)
    assert (good.returncode, good.stdout) == (0, "OK\n")
    bad = subprocess.run([str(OGI), "check-config", *BAD], capture_output=True, text=True, timeout=60)
    assert bad.returncode == 1
    assert len(bad.stderr.splitlines()) == 6


def test_main_reads_sys_argv_when_called_without_arguments() -> None:
    done = subprocess.run([sys.executable, "-c", "import sys; from pipeline.cli.main import main; sys.exit(main())",
                           "check-config", *GOOD], capture_output=True, text=True, timeout=60, cwd=ROOT)
    assert (done.returncode, done.stdout) == (0, "OK\n")


ONE_MISTAKE: list[tuple[str, dict[str, Any], str]] = [
    ("handler subdue", {"handlers": {"mail": {"subdue": {"days": {"all": [{"begin": "5PM", "end": "8AM"}]}}}}},
     "handlers.mail.subdue"),
    ("a tcp port out of range", {"handlers": {"carbon": {"type": "tcp", "socket": {"host": "c", "port": 70000}}}},
     "handlers.carbon.socket.port"),
    ("a tcp handler without socket", {"handlers": {"carbon": {"type": "tcp"}}}, "handlers.carbon.socket"),
    ("a pipe handler without command", {"handlers": {"mail": {"command": None}}}, "handlers.mail.command"),
    ("a handler without type", {"handlers": {"mail": {"type": None}}}, "handlers.mail.type"),
    ("an unknown key of a tcp handler",
     {"handlers": {"carbon": {"type": "tcp", "socket": {"host": "c", "port": 2003}, "sockett": {}}}},
     "handlers.carbon.sockett"),
    ("a malformed eval", {"filters": {"f": {"attributes": {"occurrences": "eval: value >"}}}},
     "filters.f.attributes.occurrences"),
    ("a when time without minutes",
     {"filters": {"f": {"attributes": {}, "when": {"days": {"all": [{"begin": "17", "end": "18:00"}]}}}}},
     "filters.f.when.days.all[0].begin"),
    ("a mutator without command", {"mutators": {"m": {"timeout": 5}}}, "mutators.m.command"),
    ("a core type named without a definition", {"checks": {"cpu": {"handlers": ["mail", "tcp"]}}},
     "checks.cpu.handlers[1]"),
]


def _config_with(tmp_path: Path, change: dict[str, Any]) -> Path:
    settings: dict[str, Any] = {
        "checks": {"cpu": {"command": "true", "interval": 10, "subscribers": ["base"], "handlers": ["mail"]}},
        "handlers": {"mail": {"type": "pipe", "command": "mail ops"}},
    }
    for section, entries in change.items():
        for name, definition in entries.items():
            merged = {**settings.setdefault(section, {}).get(name, {}), **definition}
            settings[section][name] = {k: v for k, v in merged.items() if v is not None}
    file = tmp_path / "config.json"
    file.write_text(json.dumps(settings))
    return file


@pytest.mark.parametrize(("change", "path"), [c[1:] for c in ONE_MISTAKE], ids=[c[0] for c in ONE_MISTAKE])
def test_a_config_with_one_mistake_gets_exactly_one_error_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], change: dict[str, Any], path: str
) -> None:
    file = _config_with(tmp_path, change)
    assert main(["check-config", "-c", str(file)]) == 1
    error, count = capsys.readouterr().err.splitlines()
    assert error.startswith(f"{file}: {path}: ")
    assert count == "1 configuration error"


def test_mistakes_in_different_definitions_all_show_in_one_run(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    file = _config_with(tmp_path, {"handlers": {
        "carbon": {"type": "tcp", "socket": {"host": "c", "port": 2003}, "sockett": {}},
        "mail": {"subdue": {"days": {}}},
    }})
    assert main(["check-config", "-c", str(file)]) == 1
    lines = capsys.readouterr().err.splitlines()
    assert [line.split(": ")[1] for line in lines[:-1]] == ["handlers.mail.subdue", "handlers.carbon.sockett"]
    assert lines[-1] == "2 configuration errors"


def test_check_config_compiles_eval_with_the_expression_language_that_runs(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    file = _config_with(tmp_path, {"filters": {"f": {"attributes": {"check": {"name": "eval: value.nosuch?"}}}}})
    assert main(["check-config", "-c", str(file)]) == 1
    assert "filters.f.attributes.check.name: bad eval expression: " in capsys.readouterr().err


@pytest.mark.parametrize(
    ("argv", "usage"),
    [
        (["run", "--bogus"], "usage: ogi run "),
        (["events", "web-1", "disk", "extra"], "usage: ogi events "),
        (["silence", "add", "--nope"], "usage: ogi silence add "),
    ],
)
def test_a_subcommand_given_wrong_arguments_prints_its_own_usage_and_exits_2(
    argv: list[str], usage: str, capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(SystemExit) as exit_:
        main(argv)
    assert exit_.value.code == 2
    err = capsys.readouterr().err
    assert err.startswith(usage) and f"unrecognized arguments: {argv[-1]}" in err
