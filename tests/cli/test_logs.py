"""Log lines as Sensu writes them: one JSON object per line, Sensu's level names, fields alongside."""

from __future__ import annotations

import json
import logging
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest

from pipeline.logs import parse_level, setup_logging


@pytest.fixture(autouse=True)
def restore_ogi_logger() -> Iterator[None]:
    logger = logging.getLogger("ogi")
    handlers, level = list(logger.handlers), logger.level
    yield
    for handler in logger.handlers:
        if handler not in handlers:
            handler.close()
    logger.handlers[:] = handlers
    logger.setLevel(level)


def lines(file: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in file.read_text().splitlines()]


def test_a_json_log_line_has_timestamp_level_message_and_the_fields(tmp_path: Path) -> None:
    file = tmp_path / "ogi.log"
    setup_logging(str(file), "info", "json")
    logging.getLogger("ogi.engine").info("handler output %s", "x", extra={"fields": {"handler": "mail", "status": 0}})
    [line] = lines(file)
    assert list(line) == ["timestamp", "level", "message", "handler", "status"]
    assert line["level"] == "info"
    assert line["message"] == "handler output x"
    assert line["handler"] == "mail" and line["status"] == 0
    stamp = datetime.fromisoformat(line["timestamp"])
    assert stamp.utcoffset() is not None, "the timestamp carries its UTC offset"
    assert abs(stamp.timestamp() - datetime.now().timestamp()) < 60


def test_levels_are_named_as_sensu_names_them(tmp_path: Path) -> None:
    file = tmp_path / "ogi.log"
    log = setup_logging(str(file), "debug")
    log.debug("d")
    log.info("i")
    log.warning("w")
    log.error("e")
    log.critical("f")
    assert [line["level"] for line in lines(file)] == ["debug", "info", "warn", "error", "fatal"]


@pytest.mark.parametrize(("level", "shown"), [("debug", 5), ("info", 4), ("warn", 3), ("warning", 3),
                                              ("error", 2), ("fatal", 1), ("ERROR", 2)])
def test_the_level_option_drops_less_severe_lines(tmp_path: Path, level: str, shown: int) -> None:
    file = tmp_path / "ogi.log"
    log = setup_logging(str(file), level)
    for method in (log.debug, log.info, log.warning, log.error, log.critical):
        method("x")
    assert len(lines(file)) == shown


def test_an_unknown_level_or_format_is_refused() -> None:
    with pytest.raises(ValueError, match="verbose"):
        parse_level("verbose")
    with pytest.raises(ValueError, match="xml"):
        setup_logging(None, "info", "xml")


def test_an_exception_becomes_an_error_field(tmp_path: Path) -> None:
    file = tmp_path / "ogi.log"
    log = setup_logging(str(file))
    try:
        raise ValueError("boom")
    except ValueError:
        log.exception("handler failed", extra={"fields": {"handler": "mail"}})
    [line] = lines(file)
    assert line["level"] == "error"
    assert line["error"] == "ValueError: boom"
    assert "raise ValueError" in line["backtrace"]
    assert line["handler"] == "mail"


def test_fields_never_replace_the_core_keys_and_odd_values_are_written_as_text(tmp_path: Path) -> None:
    file = tmp_path / "ogi.log"
    setup_logging(str(file)).info("real", extra={"fields": {"message": "fake", "level": "fatal", "path": Path("/x")}})
    [line] = lines(file)
    assert line["message"] == "real" and line["level"] == "info" and line["path"] == "/x"


def test_setting_up_twice_replaces_the_output_instead_of_doubling_it(tmp_path: Path) -> None:
    first, second = tmp_path / "one.log", tmp_path / "two.log"
    setup_logging(str(first))
    log = setup_logging(str(second))
    log.info("once")
    assert not first.read_text()
    assert len(lines(second)) == 1


def test_text_format_is_one_plain_line_with_fields(tmp_path: Path) -> None:
    file = tmp_path / "ogi.log"
    setup_logging(str(file), "info", "text").warning("slow handler", extra={"fields": {"handler": "mail", "s": 1.5}})
    [line] = file.read_text().splitlines()
    stamp, level, rest = line.split(" ", 2)
    datetime.fromisoformat(stamp)
    assert level == "WARN"
    assert rest == 'slow handler handler="mail" s=1.5'


def test_without_a_file_lines_go_to_stderr(capsys: pytest.CaptureFixture[str]) -> None:
    setup_logging(None).info("to stderr")
    captured = capsys.readouterr()
    assert captured.out == ""
    assert json.loads(captured.err)["message"] == "to stderr"
