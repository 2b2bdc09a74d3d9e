"""Sensu's splay, interval and cron schedules without drift, and subdue windows."""

from __future__ import annotations

import hashlib
from datetime import UTC, datetime
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from pipeline.schedule.timing import (
    CheckSchedule,
    ScheduleError,
    first_delay,
    first_tick,
    in_subdue,
    splay_hash,
    standalone_key,
)

NOW = 1_700_000_000.5


def test_the_splay_of_a_known_check_is_the_one_computed_by_hand() -> None:
    # md5("cpu") = d9747e2da342bdb9 95f6389533ad1a3d; its first 8 bytes read little-endian:
    #   0xb9bd42a32d7e74d9 = 13383926936225346777
    # now_ms = 1700000000500
    # (13383926936225346777 - 1700000000500) mod 60000 = 13383925236225346277 mod 60000 = 46277 ms
    assert splay_hash("cpu") == 13383926936225346777
    assert first_delay("cpu", 60, NOW) == 46.277
    assert first_tick("cpu", 60, NOW) == 1_700_000_046.777


def test_two_servers_started_at_different_times_tick_on_the_same_phase() -> None:
    one = CheckSchedule.for_check("cpu", {"interval": 60}, NOW)
    other = CheckSchedule.for_check("cpu", {"interval": 60}, NOW + 1234.321)
    assert (other.next_at - one.next_at) % 60 == 0
    assert one.next_at - NOW < 60 and other.next_at - (NOW + 1234.321) < 60


def test_a_standalone_check_is_splayed_on_client_and_check_name() -> None:
    assert standalone_key("web-1", "cpu") == "web-1:cpu"
    on_web1 = first_delay(standalone_key("web-1", "cpu"), 60, NOW)
    on_web2 = first_delay(standalone_key("web-2", "cpu"), 60, NOW)
    assert on_web1 != on_web2, "clients of one standalone check spread their runs"


@given(
    name=st.text(min_size=1, max_size=30),
    interval=st.integers(1, 86_400),
    now_ms=st.integers(0, 4_000_000_000_000),
)
def test_the_first_tick_lies_within_one_interval_on_the_phase_of_the_hash(name: str, interval: int, now_ms: int) -> None:
    now = now_ms / 1000
    delay = first_delay(name, interval, now)
    assert 0 <= delay < interval
    tick_ms = round(first_tick(name, interval, now) * 1000)
    assert (tick_ms - splay_hash(name)) % (interval * 1000) == 0
    digest = hashlib.md5(name.encode()).digest()
    assert splay_hash(name) == int.from_bytes(digest[:8], "little")


def test_a_non_positive_interval_has_no_splay() -> None:
    with pytest.raises(ValueError, match="above 0"):
        first_delay("cpu", 0, NOW)


def test_interval_ticks_follow_the_ideal_tick_not_the_end_of_the_run() -> None:
    schedule = CheckSchedule.for_check("cpu", {"interval": 60}, NOW)
    first = schedule.next_at
    assert not schedule.due(first - 0.001) and schedule.due(first)
    # Each run happens 0.4 s late; the rhythm stays on the first tick's phase.
    for k in range(1, 6):
        schedule.advance(schedule.next_at + 0.4)
        assert schedule.next_at == pytest.approx(first + 60 * k, abs=1e-6)


def test_ticks_missed_during_a_stall_are_skipped_not_replayed() -> None:
    schedule = CheckSchedule.for_check("cpu", {"interval": 60}, NOW)
    first = schedule.next_at
    schedule.advance(first + 300.5)  # five minutes stalled
    assert schedule.next_at == pytest.approx(first + 360, abs=1e-6)


def test_a_cron_check_ticks_on_the_cron_times_and_cron_wins_over_interval() -> None:
    start = datetime(2024, 1, 1, 10, 2, tzinfo=UTC).timestamp()
    schedule = CheckSchedule.for_check("backup", {"cron": "*/15 * * * *", "interval": 60}, start, UTC)
    assert schedule.cron is not None and schedule.interval is None
    assert schedule.next_at == datetime(2024, 1, 1, 10, 15, tzinfo=UTC).timestamp()
    schedule.advance(schedule.next_at + 2)
    assert schedule.next_at == datetime(2024, 1, 1, 10, 30, tzinfo=UTC).timestamp()
    schedule.advance(datetime(2024, 1, 1, 11, 7, tzinfo=UTC).timestamp())  # a stall
    assert schedule.next_at == datetime(2024, 1, 1, 11, 15, tzinfo=UTC).timestamp()


UNSCHEDULABLE = [
    ("no interval and no cron", {}, "interval"),
    ("a zero interval", {"interval": 0}, "interval"),
    ("an interval that is a string", {"interval": "60"}, "interval"),
    ("a malformed cron", {"cron": "61 * * * *"}, "cron"),
    ("a subdue without days", {"interval": 60, "subdue": {"hours": []}}, "subdue.hours"),
    ("a subdue with a bad time", {"interval": 60, "subdue": {"days": {"all": [{"begin": "x", "end": "5PM"}]}}},
     "subdue.days.all[0].begin"),
]


@pytest.mark.parametrize(("check", "path"), [u[1:] for u in UNSCHEDULABLE], ids=[u[0] for u in UNSCHEDULABLE])
def test_a_check_that_cannot_be_scheduled_names_the_attribute(check: dict[str, Any], path: str) -> None:
    with pytest.raises(ScheduleError) as caught:
        CheckSchedule.for_check("cpu", check, NOW)
    assert caught.value.path == path


def local(day: int, hour: int, minute: int = 0) -> float:
    return datetime(2024, 1, day, hour, minute).timestamp()  # 2024-01-01 is a Monday


NIGHTS = {"days": {"all": [{"begin": "10PM", "end": "6AM"}]}}
FRIDAY_EVENING = {"days": {"friday": [{"begin": "17:00", "end": "23:59:59"}]}}
SUBDUE = [
    ("a night window covers the late evening", NIGHTS, local(1, 23, 30), True),
    ("a night window covers the early morning", NIGHTS, local(2, 2, 0), True),
    ("a night window ends at its end", NIGHTS, local(2, 6, 1), False),
    ("a night window leaves the day alone", NIGHTS, local(2, 12, 0), False),
    ("a window on a named day covers that day", FRIDAY_EVENING, local(5, 18, 0), True),
    ("a window on a named day leaves other days alone", FRIDAY_EVENING, local(4, 18, 0), False),
]


@pytest.mark.parametrize(("subdue", "now", "subdued"), [s[1:] for s in SUBDUE], ids=[s[0] for s in SUBDUE])
def test_subdue_windows(subdue: dict[str, Any], now: float, subdued: bool) -> None:
    check = {"interval": 60, "subdue": subdue}
    assert in_subdue(check, now) is subdued
    assert CheckSchedule.for_check("cpu", check, NOW).subdued(now) is subdued


def test_a_check_without_subdue_is_never_subdued() -> None:
    assert in_subdue({"interval": 60}, local(1, 3)) is False
    assert CheckSchedule.for_check("cpu", {"interval": 60}, NOW).subdued(local(1, 3)) is False
