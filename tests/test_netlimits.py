"""The listeners' shared bounds: framing a JSON message chunk by chunk, refusals counted and rate-limited."""

from __future__ import annotations

import json
import logging

import pytest

from pipeline.netlimits import ConnectionCap, JsonFramer, Refusals

MESSAGE = json.dumps({"name": "a", "output": 'braces } ] in "quotes" \\ and {[', "list": [1, {"x": [2]}]}).encode()


@pytest.mark.parametrize("size", [1, 2, 7, len(MESSAGE)])
def test_the_end_of_a_message_is_found_whatever_the_chunking(size: int) -> None:
    framer = JsonFramer()
    ends = [framer.feed(MESSAGE[i:i + size]) for i in range(0, len(MESSAGE), size)]
    assert ends[-1] == len(MESSAGE) and all(end is None for end in ends[:-1])
    assert json.loads(bytes(framer.buffer[:ends[-1]])) == json.loads(MESSAGE)


def test_trailing_data_after_the_message_is_not_part_of_it() -> None:
    framer = JsonFramer()
    assert framer.feed(b'  [1, "]"] {"next"') == 10


def test_a_message_that_is_not_an_object_or_array_has_no_end_to_find() -> None:
    framer = JsonFramer()
    assert framer.feed(b'"just a string"') is None and framer.scalar


def test_the_cap_refuses_past_its_limit_and_frees_a_place_on_leave() -> None:
    cap = ConnectionCap(2)
    assert cap.enter() and cap.enter() and not cap.enter()
    cap.leave()
    assert cap.enter()


def test_refusals_are_all_counted_but_each_reason_logged_once_per_interval(caplog: pytest.LogCaptureFixture) -> None:
    now = [0.0]
    refusals = Refusals(logging.getLogger("test.refusals"), interval=10, clock=lambda: now[0])
    with caplog.at_level(logging.WARNING, "test.refusals"):
        for _ in range(50):
            refusals.refuse("not_json", "refusing a message that is not JSON")
        refusals.refuse("too_large", "refusing a message that is too large")
        now[0] = 11
        refusals.refuse("not_json", "refusing a message that is not JSON")
    assert refusals.counts == {"not_json": 51, "too_large": 1}
    assert [r.message for r in caplog.records].count("refusing a message that is not JSON") == 2
    assert caplog.records[-1].fields["not_logged_since_last"] == 49  # type: ignore[attr-defined]
