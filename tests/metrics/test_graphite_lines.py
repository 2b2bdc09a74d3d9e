"""The graphite handler's one-pass reading of Graphite plaintext gives the lines that parsing the
output into points and formatting those points would give, skips counted alike."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from pipeline.metrics.formats.graphite import parse
from pipeline.metrics.graphite_queue import LineFormatter

DEFAULT = 1_795_000_000.4

# Whatever gives the parser a choice: separators of every kind, numbers, carbon's -1, nan, inf.
separator = st.sampled_from([" ", "\t", "  ", "\r", "\x0b", "\u2003", "\x1c"])
name = st.sampled_from(["web-1.cpu", "a/b", "x{y}.é", "5", "-1"])
number = st.sampled_from(["5", "0.76", "1e3", "-1", "-1.0", "nan", "inf", "-inf", "1_0", "abc", "1795000000",
                          "1795000010.6"])
fields = st.lists(name | number, max_size=4) | st.tuples(name, number).map(list) | st.tuples(name, number, number).map(list)
line = fields.flatmap(
    lambda tokens: st.lists(separator, min_size=len(tokens) + 1, max_size=len(tokens) + 1).map(
        lambda seps: "".join(s + t for s, t in zip(seps, [*tokens, ""], strict=True))))
output = st.lists(line, max_size=8).map("\n".join) | st.text(alphabet=" \t\n\r-1.05einfa")
tags = st.lists(st.tuples(st.sampled_from(["env", "zone", "a b", ""]), st.sampled_from(["prod", "eu west", ""])),
                max_size=3)


@given(output=output, prefix=st.sampled_from([None, "ogi", "o g.i"]), tags=tags)
def test_plaintext_lines_equal_formatted_points(output: str, prefix: str | None, tags: list[tuple[str, str]]) -> None:
    formatter = LineFormatter(prefix, tags=True)
    points, skipped = parse(output, DEFAULT)
    expected, left_out = formatter.lines([point._replace(tags=tuple(tags)) for point in points])
    assert left_out == 0
    assert formatter.plaintext(output, DEFAULT, formatter.tag_suffix(tags)) == (expected, skipped)


def test_one_timestamp_text_read_once_still_follows_each_line() -> None:
    formatter = LineFormatter()
    lines, skipped = formatter.plaintext("a 1 7.6\nb 2 -1\nc 3 7.6\nd 4 inf\ne 5 -1\nf 6\n", DEFAULT)
    assert lines == ["a 1.0 8\n", f"b 2.0 {round(DEFAULT)}\n", "c 3.0 8\n", "e 5.0 1795000000\n", "f 6.0 1795000000\n"]
    assert skipped == 1
