"""Properties of metric extraction: garbage never raises, and every format round-trips a point."""

from __future__ import annotations

import math
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from pipeline.metrics.extract import FORMATS, Extracted, Point, extract_points, parse

DEFAULT = 1_700_000_000.0

# Characters the parsers give meaning to, so that random text reaches their corners.
SPECIAL = " \t\n\r|;=,'\"{}\\#:.-+eEiuU0123456789abcNaInf%"
garbage = st.text() | st.text(alphabet=SPECIAL) | st.binary().map(lambda b: b.decode("latin-1"))

finite = st.floats(allow_nan=False, allow_infinity=False)
seconds = st.integers(min_value=1_000_000_000, max_value=4_000_000_000)
safe_name = st.from_regex(r"[A-Za-z0-9_][A-Za-z0-9_.:-]{0,40}", fullmatch=True)


def well_formed(got: Extracted) -> bool:
    return got.skipped >= 0 and all(
        isinstance(p.name, str) and p.name and math.isfinite(p.value) and math.isfinite(p.timestamp)
        and all(isinstance(k, str) and isinstance(v, str) for k, v in p.tags)
        for p in got.points
    )


@settings(max_examples=300)
@given(fmt=st.sampled_from(FORMATS), output=garbage)
def test_any_text_in_any_format_gives_finite_points_and_never_raises(fmt: str, output: str) -> None:
    assert well_formed(parse(fmt, output, DEFAULT))


@given(check=st.dictionaries(st.sampled_from(["type", "output", "output_metric_format", "output_metric_tags",
                                               "executed", "issued", "name"]),
                             st.none() | st.booleans() | st.integers() | finite | st.text(alphabet=SPECIAL)
                             | st.sampled_from(["metric", *FORMATS])
                             | st.lists(st.dictionaries(st.sampled_from(["name", "value"]), st.text(alphabet=SPECIAL)))),
       client=st.none() | st.dictionaries(st.text(max_size=5), st.text(max_size=5)))
def test_any_check_and_client_extract_without_raising(check: dict[str, Any], client: dict[str, Any] | None) -> None:
    assert well_formed(extract_points(check, client, clock=lambda: DEFAULT))


# -- round trips ----------------------------------------------------------------------------------


@given(name=safe_name, value=finite, stamp=st.none() | st.floats(min_value=0, max_value=1e10), sep=st.sampled_from([" ", "\t", "  "]))
def test_a_graphite_line_round_trips(name: str, value: float, stamp: float | None, sep: str) -> None:
    line = sep.join([name, repr(value)] + ([repr(stamp)] if stamp is not None else []))
    assert parse("graphite_plaintext", line + "\n", DEFAULT) == Extracted([Point(name, value, stamp if stamp is not None else DEFAULT)], 0)


UNITS = ["", "s", "ms", "us", "%", "B", "KB", "MB", "TB", "MiB", "c"]
label_text = st.text(st.characters(codec="utf-8", exclude_characters="\n"), min_size=1, max_size=30)
threshold = st.sampled_from(["", "10", "~:10", "@5:20", "0.5"])


@given(items=st.lists(st.tuples(label_text, finite, st.sampled_from(UNITS), st.lists(threshold, max_size=4)), max_size=6),
       text=st.text(st.characters(exclude_characters="|\n", codec="utf-8"), max_size=30),
       joiner=st.sampled_from([" ", "  ", "\t"]), trailing=st.sampled_from(["", " ", ";", "; "]))
def test_perfdata_round_trips_with_any_quoted_label(items: list[tuple[str, float, str, list[str]]], text: str,
                                                    joiner: str, trailing: str) -> None:
    rendered = joiner.join(
        "'" + label.replace("'", "''") + "'=" + repr(value) + unit + "".join(";" + t for t in thresholds)
        for label, value, unit, thresholds in items
    )
    output = f"OK - {text}|{rendered}{trailing if items else ''}"
    expected = [Point(label, value, DEFAULT, (("unit", unit),) if unit else ()) for label, value, unit, _ in items]
    assert parse("nagios_perfdata", output, DEFAULT) == Extracted(expected, 0)


@given(first=st.lists(st.tuples(safe_name.filter(lambda s: s[0] != "-"), finite), min_size=1, max_size=3),
       second=st.lists(st.tuples(safe_name.filter(lambda s: s[0] != "-"), finite), min_size=1, max_size=3),
       long_text=st.lists(st.text(st.characters(exclude_characters="|\n", codec="utf-8")), max_size=3))
def test_nagios3_multi_line_perfdata_gives_both_parts(first: list[tuple[str, float]], second: list[tuple[str, float]],
                                                      long_text: list[str]) -> None:
    def render(items: list[tuple[str, float]]) -> str:
        return " ".join(f"{label}={value!r};1;2;0;" for label, value in items)

    output = "\n".join([f"OK | {render(first)}", *long_text, f"end | {render(second[:1])}", render(second[1:])])
    expected = [Point(label, value, DEFAULT) for label, value in first + second]
    assert parse("nagios_perfdata", output, DEFAULT) == Extracted(expected, 0)


influx_text = st.text(alphabet="abcXYZ019_ ,=.-:/", min_size=1, max_size=15).filter(lambda s: s[0] != "#")


def influx_escape(text: str, chars: str) -> str:
    for char in chars:
        text = text.replace(char, "\\" + char)
    return text


@given(measurement=influx_text, fields=st.dictionaries(influx_text, finite | st.integers(-2**53, 2**53), min_size=1, max_size=4),
       tags=st.dictionaries(influx_text, influx_text, max_size=3), stamp=st.none() | seconds,
       unit=st.sampled_from([1, 1000, 10**6, 10**9]), strings=st.booleans())
def test_an_influx_line_round_trips_with_escapes(measurement: str, fields: dict[str, float | int], tags: dict[str, str],
                                                 stamp: int | None, unit: int, strings: bool) -> None:
    head = ",".join([influx_escape(measurement, ", ")]
                    + [f"{influx_escape(k, ', =')}={influx_escape(v, ', =')}" for k, v in tags.items()])
    rendered = [f"{influx_escape(k, ', =')}={repr(v) if isinstance(v, float) else f'{v}i'}" for k, v in fields.items()]
    if strings:
        rendered.append('note="a, b=c \\"q\\""')
    line = f"{head} {','.join(rendered)}" + (f" {stamp * unit}" if stamp is not None else "")
    expected = [Point(f"{measurement}.{k}", float(v), float(stamp) if stamp is not None else DEFAULT, tuple(tags.items()))
                for k, v in fields.items()]
    assert parse("influxdb_line", line + "\n", DEFAULT) == Extracted(expected, 0)


opentsdb_tag = st.from_regex(r"[A-Za-z0-9_./-]{1,12}", fullmatch=True)


@given(name=safe_name, value=finite, stamp=seconds, millis=st.none() | st.integers(0, 999), put=st.booleans(),
       tags=st.dictionaries(opentsdb_tag, opentsdb_tag, max_size=3))
def test_an_opentsdb_line_round_trips(name: str, value: float, stamp: int, millis: int | None, put: bool,
                                      tags: dict[str, str]) -> None:
    printed = stamp if millis is None else stamp * 1000 + millis
    line = " ".join((["put"] if put else []) + [name, str(printed), repr(value)] + [f"{k}={v}" for k, v in tags.items()])
    expected_stamp = float(stamp) if millis is None else printed / 1e3
    assert parse("opentsdb_line", line, DEFAULT) == Extracted([Point(name, value, expected_stamp, tuple(tags.items()))], 0)


prom_name = st.from_regex(r"[a-zA-Z_:][a-zA-Z0-9_:]{0,30}", fullmatch=True)
label_name = st.from_regex(r"[a-zA-Z_][a-zA-Z0-9_]{0,15}", fullmatch=True)
label_value = st.text(st.characters(codec="utf-8"), max_size=20)


def prom_escape(text: str) -> str:
    return text.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")


@given(name=prom_name, value=finite, labels=st.dictionaries(label_name, label_value, max_size=4),
       stamp=st.none() | st.integers(0, 2**42), help_text=st.text(alphabet="ab \\n", max_size=10))
def test_a_prometheus_sample_round_trips_with_escaped_labels(name: str, value: float, labels: dict[str, str],
                                                             stamp: int | None, help_text: str) -> None:
    rendered = ",".join(f'{k}="{prom_escape(v)}"' for k, v in labels.items())
    sample = name + (f"{{{rendered}}}" if labels else "") + f" {value!r}" + (f" {stamp}" if stamp is not None else "")
    output = f"# HELP {name} {help_text}\n# TYPE {name} gauge\n{sample}\n"
    expected = Point(name, value, stamp / 1000 if stamp is not None else DEFAULT, tuple(labels.items()))
    assert parse("prometheus_text", output, DEFAULT) == Extracted([expected], 0)


# -- counting -------------------------------------------------------------------------------------


@given(lines=st.lists(st.tuples(st.booleans(), safe_name, finite), max_size=30))
def test_every_bad_graphite_line_is_counted_once_and_every_good_one_kept(lines: list[tuple[bool, str, float]]) -> None:
    output = "\n".join(f"{name} {value!r} 1700000000" if good else f"{name} value-{value!r} 1700000000"
                       for good, name, value in lines)
    got = parse("graphite_plaintext", output, DEFAULT)
    assert got.points == [Point(name, value, 1_700_000_000.0) for good, name, value in lines if good]
    assert got.skipped == sum(not good for good, _, _ in lines)


@given(tags=st.dictionaries(st.text(min_size=1, max_size=8), st.text(max_size=8).filter(lambda s: ":::" not in s), max_size=4),
       count=st.integers(0, 5))
def test_output_metric_tags_reach_every_point(tags: dict[str, str], count: int) -> None:
    check = {"type": "metric", "executed": DEFAULT, "output": "".join(f"m{i} {i}\n" for i in range(count)),
             "output_metric_tags": [{"name": k, "value": v} for k, v in tags.items()]}
    got = extract_points(check)
    assert [p.tags for p in got.points] == [tuple(tags.items())] * count
