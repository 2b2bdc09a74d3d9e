"""Five-field cron expressions: fields, names, steps, the day-of-month/day-of-week rule, month ends, zones."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from pipeline.schedule.cron import CronError, next_cron, parse_cron


def utc(year: int, month: int = 1, day: int = 1, hour: int = 0, minute: int = 0, second: int = 0) -> float:
    return datetime(year, month, day, hour, minute, second, tzinfo=UTC).timestamp()


def shown(stamp: float) -> str:
    return datetime.fromtimestamp(stamp, UTC).strftime("%Y-%m-%d %a %H:%M")


# 2024-01-01 is a Monday.
TABLE = [
    ("every five minutes starts at the next multiple of five", "*/5 * * * *", (2024, 1, 1, 0, 0), (2024, 1, 1, 0, 5)),
    ("a time in the middle of a minute moves to the next match", "*/5 * * * *", (2024, 1, 1, 0, 3, 30), (2024, 1, 1, 0, 5)),
    ("a matching minute itself is not the next run", "0 * * * *", (2024, 1, 1, 10, 0), (2024, 1, 1, 11, 0)),
    ("a list picks the next listed minute", "0,30 * * * *", (2024, 1, 1, 10, 15), (2024, 1, 1, 10, 30)),
    ("a stepped range ends at its last value", "1-10/2 * * * *", (2024, 1, 1, 0, 9, 30), (2024, 1, 1, 1, 1)),
    ("a value with a step runs to the end of the field", "5/20 * * * *", (2024, 1, 1, 0, 26), (2024, 1, 1, 0, 45)),
    ("an hour range continues the next day", "0 9-17 * * *", (2024, 1, 1, 17, 30), (2024, 1, 2, 9, 0)),
    ("weekday names skip the weekend", "0 12 * * mon-fri", (2024, 1, 5, 13, 0), (2024, 1, 8, 12, 0)),
    ("names are case-insensitive", "0 12 * * MON-Fri", (2024, 1, 5, 13, 0), (2024, 1, 8, 12, 0)),
    ("7 is Sunday", "0 0 * * 7", (2024, 1, 1, 0, 0), (2024, 1, 7, 0, 0)),
    ("0 is Sunday", "0 0 * * 0", (2024, 1, 1, 0, 0), (2024, 1, 7, 0, 0)),
    ("a weekday range may end at 7", "0 0 * * 6-7", (2024, 1, 1, 0, 0), (2024, 1, 6, 0, 0)),
    ("a month name", "0 0 1 jun *", (2024, 1, 1, 0, 0), (2024, 6, 1, 0, 0)),
    ("day-of-month and day-of-week both restricted: a Friday is enough", "0 0 13 * 5",
     (2024, 1, 1, 0, 0), (2024, 1, 5, 0, 0)),
    ("day-of-month and day-of-week both restricted: the 13th is enough", "0 0 13 * 5",
     (2024, 1, 12, 0, 0), (2024, 1, 13, 0, 0)),
    ("a day-of-month step starting with * needs both to match", "0 0 */2 * 5",
     (2024, 1, 6, 0, 0), (2024, 1, 19, 0, 0)),
    ("day-of-month alone", "0 0 13 * *", (2024, 1, 1, 0, 0), (2024, 1, 13, 0, 0)),
    ("the 31st skips February", "0 0 31 * *", (2024, 2, 1, 0, 0), (2024, 3, 31, 0, 0)),
    ("the 31st skips April", "0 0 31 * *", (2024, 4, 1, 0, 0), (2024, 5, 31, 0, 0)),
    ("the 30th skips February", "0 12 30 * *", (2024, 1, 30, 13, 0), (2024, 3, 30, 12, 0)),
    ("29 February waits for a leap year", "0 0 29 2 *", (2025, 1, 1, 0, 0), (2028, 2, 29, 0, 0)),
    ("the last minute of the year rolls over", "59 23 31 12 *", (2024, 12, 31, 23, 59), (2025, 12, 31, 23, 59)),
    ("@hourly", "@hourly", (2024, 1, 1, 0, 30), (2024, 1, 1, 1, 0)),
    ("@daily", "@daily", (2024, 1, 1, 0, 30), (2024, 1, 2, 0, 0)),
    ("@midnight", "@midnight", (2024, 1, 1, 23, 59), (2024, 1, 2, 0, 0)),
    ("@weekly runs on Sunday", "@weekly", (2024, 1, 1, 0, 0), (2024, 1, 7, 0, 0)),
    ("@monthly", "@monthly", (2024, 1, 31, 0, 0), (2024, 2, 1, 0, 0)),
    ("@yearly", "@yearly", (2024, 3, 1, 0, 0), (2025, 1, 1, 0, 0)),
    ("@annually", "@annually", (2024, 3, 1, 0, 0), (2025, 1, 1, 0, 0)),
]


@pytest.mark.parametrize(("expr", "start", "expected"), [t[1:] for t in TABLE], ids=[t[0] for t in TABLE])
def test_the_next_run_of_a_cron_expression(expr: str, start: tuple[int, ...], expected: tuple[int, ...]) -> None:
    assert shown(next_cron(expr, utc(*start), UTC)) == shown(utc(*expected))


ERRORS = [
    ("", "0 fields"),
    ("* * * *", "4 fields"),
    ("* * * * * *", "6 fields"),
    ("60 * * * *", "minute field: 60 is out of range 0-59"),
    ("* 24 * * *", "hour field: 24 is out of range 0-23"),
    ("* * 0 * *", "day-of-month field: 0 is out of range 1-31"),
    ("* * * 13 *", "month field: 13 is out of range 1-12"),
    ("* * * * 8", "day-of-week field: 8 is out of range 0-7"),
    ("*/0 * * * *", "minute field: step '0'"),
    ("5-1 * * * *", "minute field: range '5-1' runs backwards"),
    ("a * * * *", "minute field: 'a' is not a number"),
    ("* * * foo *", "month field: 'foo' is not a number or a name (jan,"),
    ("1,,2 * * * *", "minute field: empty item"),
    ("@reboot", "'@reboot' is not supported"),
    ("0 0 30 2 *", "never matches"),
]


@pytest.mark.parametrize(("expr", "message"), ERRORS, ids=[e[0] or "empty" for e in ERRORS])
def test_a_malformed_expression_is_a_cron_error_naming_the_field(expr: str, message: str) -> None:
    with pytest.raises(CronError) as caught:
        parse_cron(expr)
    assert message in str(caught.value)


def test_an_expression_that_is_not_a_string_is_a_cron_error() -> None:
    with pytest.raises(CronError, match="must be a string"):
        parse_cron(5)  # type: ignore[arg-type]
    with pytest.raises(CronError, match="must be a string"):
        parse_cron(["* * * * *"])  # type: ignore[arg-type]


def test_the_30th_of_february_or_a_february_monday_is_a_valid_expression() -> None:
    # Day-of-week is restricted, so the impossible day-of-month does not make it empty (OR rule).
    assert shown(next_cron("0 0 30 2 1", utc(2024, 1, 1, 0, 0), UTC)) == "2024-02-05 Mon 00:00"  # a February Monday


def test_times_are_read_in_the_given_zone() -> None:
    plus_two = timezone(timedelta(hours=2))
    # 08:00 UTC is 10:00 at +02:00, past 09:00 there: the next 09:00 is tomorrow, 07:00 UTC.
    assert shown(next_cron("0 9 * * *", utc(2024, 1, 1, 8, 0), plus_two)) == "2024-01-02 Tue 07:00"


def test_times_are_read_in_local_time_by_default() -> None:
    start = datetime(2024, 1, 1, 8, 0).timestamp()
    assert next_cron("0 9 * * *", start) == datetime(2024, 1, 1, 9, 0).timestamp()


def test_a_time_skipped_by_daylight_saving_runs_after_the_jump() -> None:
    berlin = ZoneInfo("Europe/Berlin")  # 2024-03-31 02:00 CET -> 03:00 CEST
    start = datetime(2024, 3, 31, 0, 0, tzinfo=berlin).timestamp()
    assert shown(next_cron("30 2 * * *", start, berlin)) == "2024-03-31 Sun 01:30"  # 03:30 CEST


def test_a_time_repeated_when_clocks_go_back_runs_once() -> None:
    berlin = ZoneInfo("Europe/Berlin")  # 2024-10-27 03:00 CEST -> 02:00 CET
    first = next_cron("30 2 * * *", datetime(2024, 10, 27, 0, 0, tzinfo=berlin).timestamp(), berlin)
    assert shown(first) == "2024-10-27 Sun 00:30"  # 02:30 CEST
    assert shown(next_cron("30 2 * * *", first, berlin)) == "2024-10-28 Mon 01:30"  # 02:30 CET, a day later


minute_sets = st.sets(st.integers(0, 59), min_size=1, max_size=4)
hour_sets = st.sets(st.integers(0, 23), min_size=1, max_size=4)


def _field(values: set[int] | None) -> str:
    return "*" if values is None else ",".join(map(str, sorted(values)))


@settings(max_examples=40, deadline=None)
@given(
    minutes=minute_sets,
    hours=st.one_of(st.none(), hour_sets),
    days=st.one_of(st.none(), st.sets(st.integers(1, 28), min_size=1, max_size=3)),
    weekdays=st.one_of(st.none(), st.sets(st.integers(0, 6), min_size=1, max_size=3)),
    start=st.integers(int(utc(2024)), int(utc(2030))),
)
def test_the_next_run_matches_and_no_minute_before_it_does(
    minutes: set[int], hours: set[int] | None, days: set[int] | None, weekdays: set[int] | None, start: int
) -> None:
    expr = " ".join([_field(minutes), _field(hours), _field(days), "*", _field(weekdays)])
    parsed = parse_cron(expr)
    found = next_cron(parsed, start, UTC)
    assert found > start and found % 60 == 0
    assert parsed.matches(datetime.fromtimestamp(found, UTC))
    minute = (start // 60 + 1) * 60
    while minute < found:
        assert not parsed.matches(datetime.fromtimestamp(minute, UTC)), (expr, shown(minute))
        minute += 60
