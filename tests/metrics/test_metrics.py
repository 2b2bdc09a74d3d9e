"""Metric extraction from check output: every format, from real outputs, and the docs' examples."""

from __future__ import annotations

import json
import math
import re
from pathlib import Path
from typing import Any

import pytest
from prometheus_client import CollectorRegistry

from pipeline.agent.agent import Agent
from pipeline.config.load import settings_of
from pipeline.config.validate import validate
from pipeline.metrics.extract import (
    FORMATS,
    Extracted,
    Point,
    extract_points,
    metric_format,
    metric_tags,
    parse,
)
from pipeline.registry import Registry
from pipeline.server.results import ResultProcessor
from pipeline.store.memory import MemoryStore
from pipeline.transport.memory import MemoryTransport
from tests.helpers import RecordingEngine, require_service

ROOT = Path(__file__).resolve().parents[2]
DATA = ROOT / "tests" / "data" / "metrics"
T = 1_700_000_000.0
NAGIOS = Path("/usr/lib/nagios/plugins")


def P(name: str, value: float, ts: float = T, **tags: str) -> Point:
    return Point(name, value, ts, tuple(tags.items()))


def points(fmt: str, output: str) -> list[Point]:
    return parse(fmt, output, T).points


# -- which format -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("check", "expected"),
    [
        ({"type": "metric"}, "graphite_plaintext"),
        ({"type": "metric", "output_metric_format": "influxdb_line"}, "influxdb_line"),
        ({"output_metric_format": "nagios_perfdata"}, "nagios_perfdata"),
        ({"type": "standard", "output_metric_format": "prometheus_text"}, "prometheus_text"),
        ({"type": "metric", "output_metric_format": None}, "graphite_plaintext"),
        ({"type": "metric", "output_metric_format": ""}, "graphite_plaintext"),
        ({"output_metric_format": "statsd"}, "statsd"),
        ({}, None),
        ({"type": "standard"}, None),
        ({"output_metric_format": 5}, None),
    ],
)
def test_the_metric_format_is_the_checks_or_graphite_for_a_metric_check(check: dict[str, Any], expected: str | None) -> None:
    assert metric_format(check) == expected


def test_an_unknown_format_gives_no_points_and_no_skips() -> None:
    assert parse("statsd", "a:1|c\n", T) == Extracted([], 0)
    assert extract_points({"output_metric_format": "statsd", "output": "a:1|c"}) == Extracted([], 0)


# -- graphite_plaintext -------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("output", "expected", "skipped"),
    [
        ("a.b.c 1.5 1699999990\n", [P("a.b.c", 1.5, 1699999990)], 0),
        ("a.b 2\n", [P("a.b", 2)], 0),
        ("a\t 3 \t 1699999990.25  \n", [P("a", 3, 1699999990.25)], 0),
        ("a 4 -1\n", [P("a", 4)], 0),
        ("a -4.5e3 1699999990\n", [P("a", -4500, 1699999990)], 0),
        ("a nan 1699999990\nb NaN\nc inf 1\n", [], 0),
        ("\n\n   \na 1 1699999990\n\n", [P("a", 1, 1699999990)], 0),
        ("a 1 1699999990\r\nb 2 1699999990\r\n", [P("a", 1, 1699999990), P("b", 2, 1699999990)], 0),
        ("a one 1699999990\nb 1 yesterday\nc\nd 1 2 3\ne 5\n", [P("e", 5)], 4),
        ("a 1 nan\nb 1 inf\n", [], 2),
        ("no trailing newline 7", [], 1),
        ("no_trailing_newline 7", [P("no_trailing_newline", 7)], 0),
    ],
)
def test_graphite_lines(output: str, expected: list[Point], skipped: int) -> None:
    assert parse("graphite_plaintext", output, T) == Extracted(expected, skipped)


def test_a_sensu_plugin_metric_output_parses_line_for_line() -> None:
    output = "web-1.cpu.user 1234 1700000000\nweb-1.cpu.nice 0 1700000000\nweb-1.cpu.system 567 1700000000\n"
    assert points("graphite_plaintext", output) == [
        P("web-1.cpu.user", 1234), P("web-1.cpu.nice", 0), P("web-1.cpu.system", 567)
    ]


def test_collectds_write_graphite_output_parses_with_its_crlf_and_nan_values() -> None:
    text = (DATA / "collectd-5.12-write_graphite.txt").read_bytes().decode()
    assert "\r\n" in text
    lines = text.splitlines()
    numeric = [line for line in lines if " nan " not in line]
    assert len(numeric) < len(lines), "the capture holds nan values"
    got = parse("graphite_plaintext", text, T)
    assert got.skipped == 0
    assert len(got.points) == len(numeric)
    assert got.points[0] == P("collectd.host1_example_com.load.load.shortterm", 0.33203125, 1795687643)
    assert all(math.isfinite(p.value) and p.timestamp > T for p in got.points)


# -- nagios_perfdata ----------------------------------------------------------------------------

# The outputs in shared/reference/ecosystem.md §1, exactly as monitoring-plugins 2.3.3 printed them.
ECOSYSTEM_OUTPUTS = [
    (
        "LOAD OK - total load average: 0.76, 0.24, 0.08|load1=0.760;5.000;10.000;0; load5=0.240;4.000;8.000;0; "
        "load15=0.080;3.000;6.000;0; ",
        [P("load1", 0.76), P("load5", 0.24), P("load15", 0.08)],
    ),
    (
        "DISK OK - free space: / 80949MiB (77% inode=97%);| /=24062722048B;216442024755;243497277849;0;270552530944",
        [P("/", 24062722048, unit="B")],
    ),
    ("PROCS OK: 74 processes | procs=74;250;400;0;", [P("procs", 74)]),
    (
        "TCP OK - 0.002 second response time on 127.0.0.1 port 18080|time=0.001686s;1.000000;2.000000;0.000000;10.000000",
        [P("time", 0.001686, unit="s")],
    ),
    (
        "HTTP OK: HTTP/1.0 200 OK - 190 bytes in 0.004 second response time |time=0.003868s;;;0.000000;10.000000 size=190B;;;0;",
        [P("time", 0.003868, unit="s"), P("size", 190, unit="B")],
    ),
    ("WARNING: disk getting full", []),
    ("CRITICAL", []),
]

# Captured on the test machine from more monitoring-plugins 2.3.3 checks.
CAPTURED_OUTPUTS = [
    (
        "DISK OK - free space: /dev 12045MiB (100% inode=99%); /dev/shm 24104MiB (99% inode=99%);| "
        "/dev=0B;10104078336;11367088128;0;12630097920 /dev/shm=1048576B;20220739584;22748332032;0;25275924480",
        [P("/dev", 0, unit="B"), P("/dev/shm", 1048576, unit="B")],
    ),
    (
        "PING OK - Packet loss = 0%, RTA = 1.02 ms|rta=1.016000ms;100.000000;200.000000;0.000000 pl=0%;20;50;0;",
        [P("rta", 1.016, unit="ms"), P("pl", 0, unit="%")],
    ),
    (
        "SWAP CRITICAL - 0% free (0MB out of 0MB) - Swap is either disabled, not present, or of zero size. |swap=0B;0;0;0;0",
        [P("swap", 0, unit="B")],
    ),
    ("USERS OK - 0 users currently logged in |users=0;5;10;0", [P("users", 0)]),
]


@pytest.mark.parametrize(("output", "expected"), ECOSYSTEM_OUTPUTS + CAPTURED_OUTPUTS)
def test_real_nagios_plugin_outputs(output: str, expected: list[Point]) -> None:
    assert parse("nagios_perfdata", output, T) == Extracted(expected, 0)


@pytest.mark.parametrize(
    ("output", "expected", "skipped"),
    [
        # Quoted labels: spaces, '' for a quote, = inside.
        ("OK | 'C:\\ used space'=12.5GB;;;0;100 'it''s'=1 'a=b'=2", [P("C:\\ used space", 12.5, unit="GB"),
                                                                     P("it's", 1), P("a=b", 2)], 0),
        # Exponents, signs, U, and every unit the guidelines name, plus MiB.
        ("OK | a=1e+03 b=-0.5 c=U d=.5 e=+2", [P("a", 1000), P("b", -0.5), P("d", 0.5), P("e", 2)], 0),
        ("OK | " + " ".join(f"u{i}=1{u}" for i, u in enumerate(["s", "ms", "us", "%", "B", "KB", "MB", "TB", "MiB", "c"])),
         [P(f"u{i}", 1, unit=u) for i, u in enumerate(["s", "ms", "us", "%", "B", "KB", "MB", "TB", "MiB", "c"])], 0),
        # Nagios 3 multi-line: long text, then more perfdata after a | on a later line, to the end.
        ("OK - 2 dbs | a=1\nlong text x=9\nmore text | b=2;1;2\nc=3s\n", [P("a", 1), P("b", 2), P("c", 3, unit="s")], 0),
        ("OK - no perfdata on line 1\nlong text\nlast | b=2\n", [P("b", 2)], 0),
        ("OK - long text only\nx=1 y=2\n", [], 0),
        # Two parts joined by Nagios without a space.
        ("OK | load15=0.080;3.000;6.000;0;time=0.5s;1;2 'a b'=3", [P("load15", 0.08), P("time", 0.5, unit="s"),
                                                                   P("a b", 3)], 0),
        ("OK | a=1;;;0;'q r'=2%", [P("a", 1), P("q r", 2, unit="%")], 0),
        # Several spaces, tabs, a | between items.
        ("OK |  a=1\t b=2 | c=3", [P("a", 1), P("b", 2), P("c", 3)], 0),
        # Garbage items are counted, good ones kept.
        ("OK | a=1 junk b= =4 c=x d=1,5 'open=5 e=2", [P("a", 1), P("e", 2)], 6),
        ("OK | ", [], 0),
        ("", [], 0),
    ],
)
def test_nagios_perfdata_items(output: str, expected: list[Point], skipped: int) -> None:
    assert parse("nagios_perfdata", output, T) == Extracted(expected, skipped)


def test_perfdata_values_are_kept_as_printed_not_converted() -> None:
    assert points("nagios_perfdata", "OK | a=1.5KB b=250ms") == [P("a", 1.5, unit="KB"), P("b", 250, unit="ms")]


# -- influxdb_line ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("output", "expected", "skipped"),
    [
        ("cpu,host=a usage=1.5 1700000000000000000\n", [P("cpu.usage", 1.5, host="a")], 0),
        ("cpu usage=1.5,count=3i,free=7u\n", [P("cpu.usage", 1.5), P("cpu.count", 3), P("cpu.free", 7)], 0),
        ("m v=1 1700000000\nm v=2 1700000000000\nm v=3 1700000000000000\nm v=4 1700000000500000000\n",
         [P("m.v", 1), P("m.v", 2), P("m.v", 3), P("m.v", 4, T + 0.5)], 0),
        # Escapes in the measurement, tag keys and values, field keys.
        ("my\\ meas\\,ure,tag\\ key=va\\,l\\=ue,b=c fi\\=eld=1\n",
         [Point("my meas,ure.fi=eld", 1, T, (("tag key", "va,l=ue"), ("b", "c")))], 0),
        # String and boolean fields give no point; a string may hold spaces, commas and =.
        ('svc,host=a state="up, ok=yes",healthy=true,latency=0.25,flag=F 1700000000\n', [P("svc.latency", 0.25, host="a")], 0),
        ('log msg="quoted \\" and \\\\"\n', [], 0),
        ("# a comment\n\n   \n", [], 0),
        ("m v=1\r\n", [P("m.v", 1)], 0),
        # Bad lines: no fields, a field without =, bad values and timestamps, a tag without =.
        ("m\nm v\nm v=abc\nm v=1 soon\nm,t v=1\nm v=1 1.5\nm v=1 2 3\n,t=a v=1\nm s=\"open\nm v=1 5\n", [P("m.v", 1, 5)], 9),
        ("m v=nan,w=2\n", [P("m.w", 2)], 0),
    ],
)
def test_influxdb_lines(output: str, expected: list[Point], skipped: int) -> None:
    assert parse("influxdb_line", output, T) == Extracted(expected, skipped)


# -- opentsdb_line ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("output", "expected", "skipped"),
    [
        ("put sys.cpu.user 1700000000 42.5 host=web-1 cpu=0\n", [P("sys.cpu.user", 42.5, host="web-1", cpu="0")], 0),
        ("sys.cpu.user 1700000000 42.5 host=web-1\n", [P("sys.cpu.user", 42.5, host="web-1")], 0),
        ("sys.cpu.user 1700000000250 1 host=a\n", [P("sys.cpu.user", 1, T + 0.25, host="a")], 0),
        ("put m 1700000000 1\n", [P("m", 1)], 0),
        ("put 1700000000 1 host=a\n", [P("put", 1, host="a")], 0),
        ("m 1700000000 NaN host=a\n", [], 0),
        ("m 1700000000\nm soon 1\nm 1700000000 x\nm 1700000000 1 host\nm 1700000000 1 =a\nm 1700000000 2\n",
         [P("m", 2)], 5),
    ],
)
def test_opentsdb_lines(output: str, expected: list[Point], skipped: int) -> None:
    assert parse("opentsdb_line", output, T) == Extracted(expected, skipped)


# -- prometheus_text ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("output", "expected", "skipped"),
    [
        ("up 1\n", [P("up", 1)], 0),
        ("# HELP x Help with \\\\ and \\n.\n# TYPE x gauge\n# a comment\nx 2 1700000000123\n", [P("x", 2, 1700000000.123)], 0),
        ('x{a="1",b="two"} 3\n', [P("x", 3, a="1", b="two")], 0),
        ('x{ a = "1" , b="2", } 3\n', [P("x", 3, a="1", b="2")], 0),
        ('x{} 4\n', [P("x", 4)], 0),
        ('x{a="}{,"} 5\n', [P("x", 5, a="}{,")], 0),
        ('x{a="C:\\\\dir",b="say \\"hi\\"\\nbye"} 6\n', [P("x", 6, a="C:\\dir", b='say "hi"\nbye')], 0),
        ("ns:sub_total{le=\"+Inf\"} 7\n", [P("ns:sub_total", 7, le="+Inf")], 0),
        ("a NaN\nb +Inf\nc -Inf\nd 1e3\n", [P("d", 1000)], 0),
        # Bad lines: names, labels, escapes, values, timestamps.
        ('1x 1\nx-y 1\nx{1a="b"} 1\nx{a=b} 1\nx{a="\\q"} 1\nx{a="1",a="2"} 1\nx one\nx 1 soon\nx 1 2 3\nx{a="1"} \n'
         'x{a="1" b="2"} 1\nok 1\n', [P("ok", 1)], 11),
    ],
)
def test_prometheus_lines(output: str, expected: list[Point], skipped: int) -> None:
    assert parse("prometheus_text", output, T) == Extracted(expected, skipped)


def test_prometheus_own_metrics_page_parses_completely() -> None:
    text = (DATA / "prometheus-2.42-self.prom").read_text()
    samples = [line for line in text.splitlines() if line and not line.startswith("#")]
    finite = [line for line in samples if not re.search(r" (NaN|[+-]Inf)$", line)]
    assert len(finite) < len(samples), "the capture holds NaN quantiles"
    got = parse("prometheus_text", text, T)
    assert got.skipped == 0
    assert len(got.points) == len(finite)
    buckets = [p for p in got.points if p.name == "prometheus_tsdb_compaction_duration_seconds_bucket"]
    assert buckets and all(dict(p.tags)["le"] for p in buckets)
    assert any(dict(p.tags)["le"] == "+Inf" for p in buckets)


def test_the_pushgateways_escaped_labels_come_back_unescaped() -> None:
    got = parse("prometheus_text", (DATA / "pushgateway-1.5-escaped.prom").read_text(), T)
    assert got.skipped == 0
    assert got.points[0] == P("esc_test", 1, instance="host1", job="ogi_batch", msg='line1\nline2 "q"', path="C:\\dir")
    assert got.points[1] == P("ogi_batch_ok", 1, check="backup", instance="host1", job="ogi_batch")
    assert got.points[3].name == "push_time_seconds" and got.points[3].value == pytest.approx(1.7956876363347561e9)


# -- garbage ------------------------------------------------------------------------------------


@pytest.mark.parametrize("fmt", FORMATS)
def test_binary_garbage_is_skipped_and_counted_never_raised(fmt: str) -> None:
    garbage = bytes(range(256)).decode("latin-1") * 3 + "\n\x00\x00|='\"{}\\\n" + "=" * 10
    got = parse(fmt, garbage, T)
    assert got.skipped >= 1
    good = parse(fmt, {"graphite_plaintext": "a 1 1700000000", "nagios_perfdata": "OK | a=1",
                       "influxdb_line": "m a=1 1700000000", "opentsdb_line": "a 1700000000 1 h=x",
                       "prometheus_text": "a 1 1700000000000"}[fmt], T)
    assert [(p.name, p.value, p.timestamp) for p in good.points] == [({"influxdb_line": "m.a"}.get(fmt, "a"), 1.0, T)]


# -- extract_points: time and tags ----------------------------------------------------------------


def test_points_without_a_time_get_executed_else_issued_else_now() -> None:
    check = {"type": "metric", "output": "a 1", "executed": 1700000100, "issued": 1700000050}
    assert extract_points(check).points == [P("a", 1, 1700000100)]
    check = {"type": "metric", "output": "a 1", "executed": "soon", "issued": 1700000050}
    assert extract_points(check).points == [P("a", 1, 1700000050)]
    check = {"type": "metric", "output": "a 1"}
    assert extract_points(check, clock=lambda: 1700000222.5).points == [P("a", 1, 1700000222.5)]


def test_a_check_without_metrics_or_output_gives_nothing() -> None:
    assert extract_points({"output": "a 1 1700000000", "status": 0}) == Extracted([], 0)
    assert extract_points({"type": "metric"}) == Extracted([], 0)
    assert extract_points({"type": "metric", "output": None}) == Extracted([], 0)
    assert extract_points({"type": "metric", "output": ["a 1"]}) == Extracted([], 0)


def test_skipped_lines_are_reported_by_extract_points() -> None:
    check = {"type": "metric", "output": "a 1 1700000000\nNot a metric line at all\n", "executed": T}
    assert extract_points(check) == Extracted([P("a", 1)], 1)


CLIENT = {"name": "web-1", "address": "10.0.0.5", "environment": "production", "disk": {"size": 500},
          "tags": ["x", "y"], "enabled": True}


@pytest.mark.parametrize(
    ("tags", "expected"),
    [
        ([{"name": "env", "value": "prod"}], (("env", "prod"),)),
        ({"env": "prod", "n": 3}, (("env", "prod"), ("n", "3"))),
        ([{"name": "host", "value": ":::name:::"}, {"name": "size", "value": ":::disk.size:::GB"}],
         (("host", "web-1"), ("size", "500GB"))),
        ([{"name": "c", "value": ":::check.name:::@:::address:::"}], (("c", "load@10.0.0.5"),)),
        ([{"name": "c", "value": ":::client.name:::"}], (("c", "web-1"),)),
        ([{"name": "dc", "value": ":::dc|eu-1:::"}, {"name": "env", "value": ":::environment|dev:::"}],
         (("dc", "eu-1"), ("env", "production"))),
        ([{"name": "rack", "value": ":::rack:::"}, {"name": "ok", "value": "y"}], (("ok", "y"),)),
        ([{"name": "on", "value": ":::enabled:::"}, {"name": "t", "value": ":::tags:::"}],
         (("on", "true"), ("t", '["x","y"]'))),
        ([{"name": "", "value": "x"}, {"value": "x"}, {"name": "n"}, "junk", {"name": "v", "value": None}], ()),
        ("not tags", ()),
        (None, ()),
    ],
)
def test_output_metric_tags_are_substituted_from_the_client_and_check(tags: Any, expected: tuple[Any, ...]) -> None:
    assert metric_tags({"name": "load", "output_metric_tags": tags}, CLIENT) == expected


def test_tags_are_added_to_every_point_after_the_outputs_own_and_override_them() -> None:
    check = {"output_metric_format": "prometheus_text", "executed": T, "name": "app",
             "output": 'x{env="dev",path="/"} 1\ny 2\n',
             "output_metric_tags": [{"name": "env", "value": ":::environment:::"}, {"name": "check", "value": ":::check.name:::"}]}
    assert extract_points(check, CLIENT).points == [
        P("x", 1, path="/", env="production", check="app"),
        P("y", 2, env="production", check="app"),
    ]


def test_tokens_without_a_client_fall_back_to_their_defaults() -> None:
    check = {"type": "metric", "output": "a 1", "executed": T,
             "output_metric_tags": {"host": ":::name|unknown:::", "rack": ":::rack:::"}}
    assert extract_points(check).points == [P("a", 1, host="unknown")]


# -- docs/metrics.md ----------------------------------------------------------------------------


def doc_blocks() -> list[tuple[str, str]]:
    text = (ROOT / "docs" / "metrics.md").read_text()
    return re.findall(r"```([^\n]*)\n(.*?)```", text, flags=re.S)


def doc_examples() -> list[tuple[str, str, list[Point], dict[str, Any]]]:
    """(info, output, expected points, the settings block before it) for each output block."""
    examples = []
    settings: dict[str, Any] = {}
    blocks = doc_blocks()
    for index, (info, body) in enumerate(blocks):
        if info == "json":
            settings = json.loads(body)
        elif info.startswith("output "):
            kind, expected = blocks[index + 1]
            assert kind == "points", f"an output block is followed by its points: {info}"
            rows = [json.loads(line) for line in expected.splitlines() if line.strip()]
            want = [Point(n, float(v), float(ts), tuple(tags.items())) for n, v, ts, tags in rows]
            examples.append((info[7:], body, want, settings))
    return examples


def test_the_metrics_doc_shows_every_format() -> None:
    shown = {info for info, *_ in doc_examples()}
    assert set(FORMATS) <= shown
    assert sum(info.startswith("check=") for info in shown) >= 2


@pytest.mark.parametrize("index", range(len(doc_examples())))
def test_every_output_in_the_metrics_doc_gives_the_points_shown(index: int) -> None:
    info, output, expected, settings = doc_examples()[index]
    if info.startswith("check="):
        check = {**settings["checks"][info[6:]], "name": info[6:], "output": output, "executed": T, "status": 0}
        got = extract_points(check, settings.get("client"))
    else:
        got = parse(info, output, T)
    assert got == Extracted(expected, 0)


@pytest.mark.parametrize("index", [i for i, (info, _) in enumerate(doc_blocks()) if info == "json"])
def test_every_json_example_in_the_metrics_doc_is_valid_configuration(index: int) -> None:
    settings = json.loads(doc_blocks()[index][1])
    errors, warnings = validate(settings, Registry(use_entry_points=False))
    assert errors == [] and warnings == []


# -- a real Nagios plugin: status event and metrics from one run --------------------------------




async def run_check(settings: dict[str, Any], name: str, processor: ResultProcessor) -> dict[str, Any] | None:
    transport = MemoryTransport()
    results = await transport.subscribe("results")
    await Agent(settings_of(settings), transport).run_check({**settings["checks"][name], "name": name})
    async for message in results:
        async with message.process():
            return await processor.process_message(message.body)
    return None


async def test_a_nagios_check_yields_its_status_event_and_its_perfdata_points_from_one_run() -> None:
    require_service("monitoring-plugins-basic", available=(NAGIOS / "check_procs").exists())
    block = next(json.loads(body) for info, body in doc_blocks() if info == "json" and '"procs"' in body)
    check = block["checks"]["procs"]
    assert check["output_metric_format"] == "nagios_perfdata"
    settings: dict[str, Any] = {"client": {"name": "web-1"}, "checks": {"procs": {**check, "command": f"{NAGIOS}/check_procs -w 1 -c 100000"}}}
    engine = RecordingEngine()
    processor = ResultProcessor(settings_of(settings), MemoryStore(), engine, metrics=CollectorRegistry())

    warning = await run_check(settings, "procs", processor)
    assert warning is not None and warning["check"]["status"] == 1 and warning["action"] == "create"
    assert warning["check"]["output"].startswith("PROCS WARNING: ")
    got = extract_points(warning["check"], warning["client"])
    assert got.skipped == 0
    [point] = got.points
    assert point.name == "procs" and point.value >= 1 and point.timestamp == warning["check"]["executed"]
    assert point.tags == ()
    assert await processor.store.get_event("web-1", "procs") is not None

    settings["checks"]["procs"]["command"] = f"{NAGIOS}/check_procs -w 100000 -c 100000"
    resolve = await run_check(settings, "procs", processor)
    assert resolve is not None and resolve["check"]["status"] == 0 and resolve["action"] == "resolve"
    assert [p.name for p in extract_points(resolve["check"], resolve["client"]).points] == ["procs"]
    ok = await run_check(settings, "procs", processor)
    assert ok is not None and ok["check"]["status"] == 0, "an OK's points go to the output_metric_handlers too"
    assert [p.name for p in extract_points(ok["check"], ok["client"]).points] == ["procs"]
    assert await processor.store.get_event("web-1", "procs") is None
    assert [e["action"] for e in engine.events] == ["create", "resolve", "create"]
    assert engine.statuses == [True, True, False], "the last OK goes to the metric handlers only"
