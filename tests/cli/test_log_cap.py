"""Log lines are capped (issue 13): megabytes of handler output make a short line, still JSON."""

from __future__ import annotations

import json
import logging

from pipeline.logs import MAX_LINE, JsonFormatter, TextFormatter


def record(**fields: object) -> logging.LogRecord:
    line = logging.LogRecord("ogi", logging.ERROR, __file__, 1, "handler output", None, None)
    line.fields = fields
    return line


def test_a_huge_field_is_cut_and_the_line_stays_json_with_the_other_fields() -> None:
    text = JsonFormatter().format(record(handler="mail", output=["x" * 1000] * 3000, status=2))
    assert len(text) <= MAX_LINE
    line = json.loads(text)
    assert (line["handler"], line["status"], line["message"]) == ("mail", 2, "handler output")
    assert "[ogi: cut," in line["output"]


def test_the_text_format_is_capped_too_and_short_lines_are_untouched() -> None:
    assert len(TextFormatter().format(record(output="y" * 2_000_000))) <= MAX_LINE
    short = json.loads(JsonFormatter().format(record(output=["ok"])))
    assert short["output"] == ["ok"]
