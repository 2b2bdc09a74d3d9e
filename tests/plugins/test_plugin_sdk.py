"""The plugin SDK: Nagios ranges, perfdata, status lines, Graphite output, and failures that stay one line."""

from __future__ import annotations

import math
import os
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from plugins import sdk
from plugins.sdk import CRITICAL, OK, UNKNOWN, WARNING, Range, format_number, perfdata, status_line, status_of
from tests.helpers import ROOT

# --- ranges: the monitoring-plugins guidelines' table (ecosystem.md §1) -----------------------------

RANGE_CASES = [
    # range, value, alerts?
    ("10", -1, True), ("10", 0, False), ("10", 5, False), ("10", 10, False), ("10", 10.5, True),
    ("10:", 9.99, True), ("10:", 10, False), ("10:", 1e12, False),
    ("~:10", -1e12, False), ("~:10", 10, False), ("~:10", 11, True),
    ("10:20", 9, True), ("10:20", 10, False), ("10:20", 20, False), ("10:20", 21, True),
    ("@10:20", 9, False), ("@10:20", 10, True), ("@10:20", 15, True), ("@10:20", 20, True), ("@10:20", 21, False),
    ("@10", 0, True), ("@10", -1, False), ("@~:0", -5, True), ("@~:0", 1, False),
    ("-5:-1", -3, False), ("-5:-1", 0, True), ("0.5:1.5", 1.6, True), (":10", -1, True), (":10", 3, False),
]


@pytest.mark.parametrize(("text", "value", "alerts"), RANGE_CASES)
def test_a_nagios_range_alerts_exactly_as_the_guidelines_say(text: str, value: float, alerts: bool) -> None:
    assert Range.parse(text).alerts(value) is alerts


@pytest.mark.parametrize("text", ["", "@", "20:10", "abc", "1:x", "x:1", "nan", "inf", "~", "@ "])
def test_a_malformed_range_is_a_value_error_naming_it(text: str) -> None:
    with pytest.raises(ValueError, match="range"):
        Range.parse(text)


def test_a_range_prints_as_it_was_written_so_perfdata_keeps_the_users_thresholds() -> None:
    assert [str(Range.parse(t)) for t in ("10", "10:", "~:10", "@10:20")] == ["10", "10:", "~:10", "@10:20"]
    assert str(Range(0, 10)) == "10" and str(Range(10, math.inf)) == "10:" and str(Range(-math.inf, 10)) == "~:10"
    assert str(Range(10, 20, inside=True)) == "@10:20"


def test_critical_wins_over_warning_and_no_range_means_ok() -> None:
    warn, crit = Range.parse("80"), Range.parse("90")
    assert [status_of(v, warn, crit) for v in (50, 85, 95)] == [OK, WARNING, CRITICAL]
    assert status_of(1e9) == OK
    assert Range.parse("200").explain(250) == "above 200" and Range.parse("10:").explain(3) == "below 10"


@given(st.floats(-1e6, 1e6), st.floats(-1e6, 1e6), st.floats(-1e6, 1e6))
def test_an_inside_range_alerts_exactly_where_the_outside_one_does_not(a: float, b: float, value: float) -> None:
    lo, hi = sorted((a, b))
    outside, inside = Range.parse(f"{lo!r}:{hi!r}"), Range.parse(f"@{lo!r}:{hi!r}")
    assert outside.alerts(value) != inside.alerts(value)


# --- numbers and perfdata ----------------------------------------------------------------------------

@pytest.mark.parametrize(("value", "text"), [
    (3, "3"), (3.0, "3"), (0.76, "0.76"), (-2.5, "-2.5"), (1e-7, "0"), (-0.0, "0"), (1 / 3, "0.333333"),
    (25276502016, "25276502016"), (2.5e15, "2500000000000000"), (True, "1"),
])
def test_numbers_are_printed_plainly_without_exponents(value: float, text: str) -> None:
    assert format_number(value) == text


def test_perfdata_has_the_nagios_shape_and_drops_trailing_empty_fields() -> None:
    assert perfdata("load1", 0.76, warn=5, crit=10, minimum=0) == "load1=0.76;5;10;0"
    assert perfdata("time", 0.0017, "s", minimum=0, maximum=10) == "time=0.0017s;;;0;10"
    assert perfdata("size", 190, "B") == "size=190B"
    assert perfdata("used", 80, "%", Range.parse("~:80"), Range.parse("@90:100")) == "used=80%;~:80;@90:100"
    assert perfdata("gone", None) == "gone=U"


@pytest.mark.parametrize(("label", "shown"), [
    ("/", "/"), ("db.latency_ms", "db.latency_ms"), ("free space", "'free space'"), ("a=b", "'a=b'"),
    ("it's", "'it''s'"), ("x;y", "'x;y'"),
])
def test_perfdata_labels_are_quoted_only_when_they_need_it(label: str, shown: str) -> None:
    assert perfdata(label, 1) == f"{shown}=1"


@pytest.mark.parametrize("label", ["", "a|b", "two\nlines"])
def test_a_perfdata_label_no_parser_could_read_back_is_refused(label: str) -> None:
    with pytest.raises(ValueError):
        perfdata(label, 1)


def test_the_engines_perfdata_parser_reads_sdk_perfdata_back() -> None:
    metrics = pytest.importorskip("pipeline.metrics.extract")
    line = status_line(OK, "fine", [perfdata("free space", 12.5, "%", 20, 10, 0, 100), perfdata("it's", 3)])
    points = metrics.parse("nagios_perfdata", line, 0).points
    assert [(p.name, p.value) for p in points] == [("free space", 12.5), ("it's", 3.0)]


# --- status lines ------------------------------------------------------------------------------------

def test_the_status_line_is_label_status_message_and_perfdata() -> None:
    assert status_line(WARNING, "disk getting full", "used=91%", label="DISK") == \
        "DISK WARNING: disk getting full | used=91%\n"
    assert status_line(CRITICAL, "down") == "CRITICAL: down\n"
    assert status_line(OK, "two", ["a=1", "b=2"], "X") == "X OK: two | a=1 b=2\n"


def test_a_multi_line_message_keeps_perfdata_on_the_first_line_and_pipes_out_of_the_text() -> None:
    text = status_line(UNKNOWN, "first | not perfdata\nlong text", "a=1", "X")
    assert text == "X UNKNOWN: first / not perfdata | a=1\nlong text\n"
    assert status_line(7, "odd") == "UNKNOWN: odd\n"


# --- plugins built with the SDK, run in-process and as real processes ---------------------------------

def _example_metric(extra: str = "") -> str:
    return textwrap.dedent(f"""
        from plugins.sdk import metric_plugin

        @metric_plugin("entropy")
        def main(args):
            yield "available", 3000
            yield "ratio", 0.5
            yield "missing", float("nan")
            yield "fixed", 7, 1700000000
            {extra}
    """)


def run_script(tmp_path: Path, source: str, *args: str, timeout: float = 30) -> subprocess.CompletedProcess[str]:
    script = tmp_path / "plugin.py"
    script.write_text(source + "\nimport sys\nsys.exit(main())\n")
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    return subprocess.run([sys.executable, str(script), *args], capture_output=True, text=True, env=env,
                          timeout=timeout)


def test_a_metric_plugin_is_a_few_lines_and_prints_graphite_plaintext(tmp_path: Path) -> None:
    before = int(time.time())
    done = run_script(tmp_path, _example_metric())
    assert done.returncode == 0 and done.stderr == ""
    lines = [line.split(" ") for line in done.stdout.splitlines()]
    host = os.uname().nodename.replace(".", "_")
    assert [(p, v) for p, v, _ in lines] == [(f"{host}.entropy.available", "3000"), (f"{host}.entropy.ratio", "0.5"),
                                             (f"{host}.entropy.fixed", "7")]
    assert before <= int(lines[0][2]) <= int(time.time()) and lines[2][2] == "1700000000"


def test_the_scheme_option_replaces_the_prefix_and_an_empty_one_drops_it(tmp_path: Path) -> None:
    for flag in ("-s", "--scheme"):
        out = run_script(tmp_path, _example_metric(), flag, "web01.system").stdout
        assert out.startswith("web01.system.available 3000 ")
    assert run_script(tmp_path, _example_metric(), "-s", "").stdout.startswith("available 3000 ")


def test_an_exception_in_a_plugin_is_one_unknown_line_and_exit_3_without_a_traceback(tmp_path: Path) -> None:
    done = run_script(tmp_path, _example_metric('raise OSError(2, "No such file", "/proc/nope")'))
    assert done.returncode == 3
    assert done.stdout == "METRICS_ENTROPY UNKNOWN: FileNotFoundError: [Errno 2] No such file: '/proc/nope'\n"
    assert done.stderr == ""  # nothing printed before the failure either: the points are all or nothing


def test_a_bad_argument_is_unknown_on_one_line_not_argparses_exit_2(tmp_path: Path) -> None:
    done = run_script(tmp_path, _example_metric(), "--frobnicate")
    assert done.returncode == 3 and done.stderr == ""
    assert done.stdout.count("\n") == 1 and done.stdout.startswith("METRICS_ENTROPY UNKNOWN: ")
    assert "--frobnicate" in done.stdout


def test_help_still_exits_0(capsys: pytest.CaptureFixture[str]) -> None:
    @sdk.metric_plugin("x")
    def main(args: object) -> list[tuple[str, float]]:
        """Example."""
        return []
    assert main(["--help"]) == 0
    assert "--scheme" in capsys.readouterr().out


CHECK_SOURCE = """
import time
from plugins.sdk import Range, check_plugin, nagios_range, perfdata, status_of

def arguments(parser):
    parser.add_argument("value", type=float)
    parser.add_argument("-w", type=nagios_range)
    parser.add_argument("-c", type=nagios_range)
    parser.add_argument("--sleep", type=float, default=0)

@check_plugin("queue", arguments)
def main(args):
    time.sleep(args.sleep)
    return status_of(args.value, args.w, args.c), f"{args.value:g} jobs", perfdata("jobs", args.value, "", args.w, args.c)
"""


@pytest.mark.parametrize(("args", "code", "line"), [
    (["5", "-w", "10", "-c", "20"], 0, "QUEUE OK: 5 jobs | jobs=5;10;20\n"),
    (["15", "-w", "10", "-c", "20"], 1, "QUEUE WARNING: 15 jobs | jobs=15;10;20\n"),
    (["25", "-w", "10", "-c", "20"], 2, "QUEUE CRITICAL: 25 jobs | jobs=25;10;20\n"),
    (["5", "-w", "20:10"], 3, "QUEUE UNKNOWN: plugin.py: argument -w: range start is above its end: '20:10'\n"),
    (["-7", "-w", "-10:-5"], 0, "QUEUE OK: -7 jobs | jobs=-7;-10:-5\n"),  # a range may start with a dash
    (["-2", "-c", "-10:-5"], 2, "QUEUE CRITICAL: -2 jobs | jobs=-2;;-10:-5\n"),
])
def test_a_check_plugin_is_a_few_lines_in_the_nagios_convention(tmp_path: Path, args: list[str], code: int,
                                                                 line: str) -> None:
    done = run_script(tmp_path, CHECK_SOURCE, *args)
    assert (done.returncode, done.stdout, done.stderr) == (code, line, "")


@pytest.mark.parametrize(("timeout", "code", "word"), [("0.2", 3, "UNKNOWN"), ("0.2:critical", 2, "CRITICAL")])
def test_a_check_past_its_timeout_stops_with_the_timeout_state(tmp_path: Path, timeout: str, code: int,
                                                               word: str) -> None:
    done = run_script(tmp_path, CHECK_SOURCE, "1", "--sleep", "20", "-t", timeout)
    assert (done.returncode, done.stdout) == (code, f"QUEUE {word}: timed out after 0.2 seconds\n")


def test_a_check_that_returns_no_status_is_unknown(capsys: pytest.CaptureFixture[str]) -> None:
    class Forgetful(sdk.CheckPlugin):
        name = "forgetful"

        def run(self) -> int:
            return None  # type: ignore[return-value]

    assert Forgetful.main([]) == 3
    assert capsys.readouterr().out == "FORGETFUL UNKNOWN: the plugin ended without a status\n"


# --- path nodes --------------------------------------------------------------------------------------

@pytest.mark.parametrize(("mount", "node"), [
    ("/", "root"), ("/var/log", "var_log"), ("/home/", "home"), ("/mnt/my disk", "mnt_my_disk"),
    ("/srv/data.v2", "srv_data_v2"),
])
def test_a_mount_point_becomes_one_graphite_node(mount: str, node: str) -> None:
    assert sdk.mount_node(mount) == node


def test_a_node_never_holds_a_dot_or_other_separator() -> None:
    assert sdk.node("eth0.100") == "eth0_100" and sdk.node("cciss!c0d0") == "cciss_c0d0" and sdk.node("") == "_"
    assert sdk.default_scheme("cpu") == sdk.node(os.uname().nodename) + ".cpu"
    assert "." not in sdk.hostname()
