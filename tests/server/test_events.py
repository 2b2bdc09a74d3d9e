"""The rules of reference §3.5-§3.10, one table row or one sequence per rule."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

import pytest

from pipeline.model import HISTORY_LENGTH
from pipeline.server.events import (
    Decision,
    build_event,
    decide,
    is_flapping,
    silence_ids,
    total_state_change,
    truncate_for_store,
)

NOW = 1_700_000_000.7
CLIENT = {"name": "web-1", "address": "10.0.0.1", "subscriptions": ["web", "client:web-1"]}


def ids(prefix: str = "id") -> Any:
    counter = iter(range(1, 10_000))
    return lambda: f"{prefix}-{next(counter)}"


@dataclass
class Run:
    """A check's life through the pure functions, as the server applies them."""

    check: dict[str, Any]
    history: list[str] = field(default_factory=list)
    stored: dict[str, Any] | None = None
    last_ok: int | None = None
    events: list[dict[str, Any]] = field(default_factory=list)
    decisions: list[Decision] = field(default_factory=list)
    new_id: Any = field(default_factory=ids)
    now: float = NOW

    def feed(self, statuses: Iterable[int]) -> Run:
        for status in statuses:
            self.now += 60
            check = {**self.check, "status": status, "output": f"status {status}", "executed": int(self.now)}
            self.history = [*self.history, str(status)][-HISTORY_LENGTH:]
            if status == 0:
                self.last_ok = int(self.now)
            event = build_event(CLIENT, check, self.history, self.last_ok, self.stored, self.now, self.new_id)
            decision = decide(event, self.stored)
            if decision is Decision.STORE:
                self.stored = event
            elif decision is Decision.DELETE:
                self.stored = None
            self.events.append(event)
            self.decisions.append(decision)
        return self

    @property
    def actions(self) -> list[str]:
        return [e["action"] for e in self.events]


# -- history --------------------------------------------------------------------------


# -- total state change ----------------------------------------------------------------


@pytest.mark.parametrize(
    ("history", "expected"),
    [
        ([str(i % 2) for i in range(20)], 0),
        (["0"] * 21, 0),
        ([str(i % 2) for i in range(21)], 101),
        (["0"] * 20 + ["1"], 6),  # entry 20 weighs 1.20: floor(1.20 / 20 * 100)
        (["1"] + ["0"] * 20, 4),  # entry 1 weighs 0.82: floor(4.1)
        (["0"] * 10 + ["2"] + ["0"] * 10, 10),  # entries 10 and 11: 1.00 + 1.02 -> floor(10.1)
        (["1", "2"] * 10 + ["1"], 101),  # any change counts, not only to and from OK
        (["0"] * 5 + [str(i % 2) for i in range(21)], 101),  # only the last 21 count
    ],
    ids=["fewer than 21 statuses give 0", "a steady history gives 0", "a fully alternating history gives 101",
         "one change at the newest entry weighs 1.20", "one change at the oldest compared entry weighs 0.82",
         "two changes in the middle add their weights", "a change between two failures counts",
         "only the last 21 statuses count"],
)
def test_total_state_change_follows_the_weighted_formula(history: list[str], expected: int) -> None:
    assert total_state_change(history) == expected


def test_total_state_change_compares_statuses_as_strings() -> None:
    # "1" and "01" are different strings, as in Redis, so this counts as a change.
    assert total_state_change(["1"] * 20 + ["01"]) == 6


# -- flapping ---------------------------------------------------------------------------

THRESHOLDS = {"low_flap_threshold": 20, "high_flap_threshold": 40}


@pytest.mark.parametrize(
    ("check", "tsc", "previous", "expected"),
    [
        ({}, 101, None, False),
        ({"high_flap_threshold": 40}, 101, None, False),
        ({"low_flap_threshold": 20.0, "high_flap_threshold": 40}, 101, None, False),
        ({"low_flap_threshold": 20, "high_flap_threshold": "40"}, 101, None, False),
        ({"low_flap_threshold": True, "high_flap_threshold": 40}, 101, None, False),
        (THRESHOLDS, 40, None, True),
        (THRESHOLDS, 39, "create", False),
        (THRESHOLDS, 21, "flapping", True),
        (THRESHOLDS, 20, "flapping", False),
        (THRESHOLDS, 30, "create", False),
    ],
    ids=["no thresholds never flaps", "one threshold alone never flaps", "a float threshold disables detection",
         "a string threshold disables detection", "a boolean threshold disables detection",
         "reaching the high threshold starts flapping", "just under the high threshold is not flapping",
         "a flapping check keeps flapping above the low threshold",
         "a flapping check stops at the low threshold", "between the thresholds a calm check stays calm"],
)
def test_flapping_has_hysteresis_between_the_two_thresholds(
    check: dict[str, Any], tsc: int, previous: str | None, expected: bool
) -> None:
    assert is_flapping(check, tsc, previous) is expected


# -- stored output truncation ----------------------------------------------------------

LONG = "x" * 300


@pytest.mark.parametrize(
    ("check", "expected"),
    [
        ({"output": "a\nb"}, "a\nb"),
        ({"output": "a\nb", "truncate_output": True}, "a\n..."),
        ({"output": "a 1 1\nb 2 1", "type": "metric"}, "a 1 1\n..."),
        ({"output": "a 1 1\nb 2 1", "type": "metric", "truncate_output": False}, "a 1 1\nb 2 1"),
        ({"output": "y" * 255, "type": "metric"}, "y" * 255),
        ({"output": "y" * 256, "type": "metric"}, "y" * 256 + "\n..."),
        ({"output": LONG, "type": "metric"}, "x" * 256 + "\n..."),
        ({"output": "z" * 20, "truncate_output": True, "truncate_output_length": 10}, "z" * 11 + "\n..."),
        ({"output": "z" * 10, "truncate_output": True, "truncate_output_length": 10}, "z" * 10),
        ({"output": "abc\n", "type": "metric"}, "abc"),
        ({"output": "\nabc", "type": "metric"}, "\n..."),
        ({"output": "", "type": "metric"}, ""),
        ({"output": "a\nb", "truncate_output": 0}, "a\n..."),
    ],
    ids=["a standard check keeps its whole output", "truncate_output true keeps the first line",
         "a metric check keeps its first line", "a metric check with truncate_output false keeps everything",
         "a line of exactly 255 characters is kept as is",
         "a line of 256 characters keeps all 256 and gains the marker",
         "a long line keeps length plus one characters", "truncate_output_length sets the cut",
         "a line at the custom length is kept", "a trailing newline is dropped with the empty line",
         "a leading empty line stores only the marker", "empty output stays empty",
         "truncate_output 0 is on, as any value but false"],
)
def test_stored_output_is_truncated_as_sensu_does(check: dict[str, Any], expected: str) -> None:
    assert truncate_for_store(check)["output"] == expected


def test_truncation_leaves_the_events_check_untouched() -> None:
    check = {"name": "cpu", "type": "metric", "output": "a 1 1\nb 2 1"}
    stored = truncate_for_store(check)
    assert check["output"] == "a 1 1\nb 2 1"
    assert stored["name"] == "cpu" and stored is not check


# -- one event --------------------------------------------------------------------------


def check_with(status: int, **extra: Any) -> dict[str, Any]:
    return {"name": "disk", "command": "check-disk", "status": status, "output": "out", "executed": 1, **extra}


def stored_event(**extra: Any) -> dict[str, Any]:
    event = {"id": "kept", "action": "create", "occurrences": 3, "occurrences_watermark": 3,
             "last_state_change": 111, "check": check_with(1)}
    event.update(extra)
    return event


def test_a_first_failure_creates_an_event_with_sensus_fields() -> None:
    event = build_event(CLIENT, check_with(2), ["0", "2"], 1234, None, NOW, lambda: "new-id")
    assert event == {
        "id": "new-id",
        "client": CLIENT,
        "check": {**check_with(2), "history": ["0", "2"], "total_state_change": 0},
        "occurrences": 1,
        "occurrences_watermark": 1,
        "last_ok": 1234,
        "action": "create",
        "timestamp": int(NOW),
        "last_state_change": int(NOW),
        "silenced": False,
        "silenced_by": [],
    }


@pytest.mark.parametrize(
    ("status", "history", "stored", "expected"),
    [
        (1, ["1", "1"], stored_event(), {"id": "kept", "occurrences": 4, "occurrences_watermark": 4,
                                         "last_state_change": 111, "action": "create"}),
        (2, ["1", "2"], stored_event(), {"id": "kept", "occurrences": 1, "occurrences_watermark": 3,
                                         "last_state_change": int(NOW), "action": "create"}),
        (0, ["1", "0"], stored_event(), {"id": "kept", "occurrences": 3, "occurrences_watermark": 3,
                                         "last_state_change": int(NOW), "action": "resolve"}),
        (0, ["0", "0"], None, {"id": "fresh", "occurrences": 1, "occurrences_watermark": 1,
                               "last_state_change": None, "action": "create"}),
        (1, ["1", "1"], None, {"id": "fresh", "occurrences": 2, "occurrences_watermark": 2,
                               "last_state_change": None, "action": "create"}),
        (1, ["1", "1"], {**stored_event(), "occurrences_watermark": None},
         {"id": "kept", "occurrences": 4, "occurrences_watermark": 4, "action": "create"}),
        (1, ["1"], None, {"occurrences": 1, "last_state_change": int(NOW)}),
        (1, ["1", "1"], {**stored_event(), "occurrences": 1, "occurrences_watermark": 5},
         {"occurrences": 2, "occurrences_watermark": 5}),
    ],
    ids=["a repeated failure counts up and raises the watermark",
         "a change from 1 to 2 resets occurrences but keeps the watermark",
         "an OK with an open event resolves it keeping its counts",
         "an OK without an open event is a create that changes nothing",
         "a repeated failure whose event was deleted counts from the history, as Sensu",
         "a stored event without a watermark starts from its occurrences",
         "the very first result is a state change",
         "the watermark never goes down"],
)
def test_occurrences_watermark_and_last_state_change(
    status: int, history: list[str], stored: dict[str, Any] | None, expected: dict[str, Any]
) -> None:
    event = build_event(CLIENT, check_with(status), history, None, stored, NOW, lambda: "fresh")
    assert {key: event[key] for key in expected} == expected


def test_building_an_event_does_not_change_the_check_it_was_given() -> None:
    check = check_with(2)
    build_event(CLIENT, check, ["2"], None, None, NOW, lambda: "x")
    assert "history" not in check and "total_state_change" not in check


def test_a_flapping_ok_is_a_flapping_event_not_a_resolve() -> None:
    history = [str(i % 2) for i in range(21)]  # ends with "0"
    event = build_event(CLIENT, check_with(0, **THRESHOLDS), history, None, stored_event(), NOW, lambda: "x")
    assert event["action"] == "flapping"
    assert event["check"]["total_state_change"] == 101
    assert event["occurrences"] == 1  # the last two statuses differ


# -- the registry decision -------------------------------------------------------------


@pytest.mark.parametrize(
    ("check", "action", "expected"),
    [
        ({"status": 2}, "create", Decision.STORE),
        ({"status": 1, "force_resolve": True}, "create", Decision.STORE),
        ({"status": 1, "type": "metric"}, "create", Decision.STORE),
        ({"status": 0}, "flapping", Decision.STORE),
        ({"status": 1}, "flapping", Decision.STORE),
        ({"status": 0, "force_resolve": True}, "flapping", Decision.DELETE),
        ({"status": 0, "force_resolve": "yes"}, "flapping", Decision.STORE),
        ({"status": 0}, "resolve", Decision.DELETE),
        ({"status": 0, "auto_resolve": False}, "resolve", Decision.NOTHING),
        ({"status": 0, "auto_resolve": False, "force_resolve": True}, "resolve", Decision.DELETE),
        ({"status": 0, "auto_resolve": False, "type": "metric"}, "resolve", Decision.PROCESS_ONLY),
        ({"status": 0, "type": "metric"}, "create", Decision.PROCESS_ONLY),
        ({"status": 0, "output_metric_format": "nagios_perfdata"}, "create", Decision.NOTHING),
        ({"status": 0, "output_metric_format": ""}, "create", Decision.NOTHING),
        ({"status": 0}, "create", Decision.NOTHING),
    ],
    ids=["a failure is stored", "a failure is stored even with force_resolve", "a failing metric is stored",
         "a flapping OK is stored", "a flapping failure is stored",
         "flapping with force_resolve deletes the event", "a force_resolve other than true keeps a flapping OK stored, as Sensu",
         "a resolve deletes the event", "auto_resolve false keeps the event and handles nothing",
         "force_resolve overrides auto_resolve false", "a metric OK under auto_resolve false is still handled",
         "a metric OK is handled but not stored",
         "a standard OK carrying an output_metric_format is not a status event (its points go to output_metric_handlers)",
         "an empty output_metric_format carries no metrics",
         "a standard OK without an event needs nothing"],
)
def test_the_registry_decision_follows_sensu(check: dict[str, Any], action: str, expected: Decision) -> None:
    event = {"check": {"name": "disk", **check}, "action": action}
    decision = decide(event, None)
    assert decision is expected
    assert decision.processes is (expected is not Decision.NOTHING)


# -- silence lookups -------------------------------------------------------------------


@pytest.mark.parametrize(
    ("client", "expected"),
    [
        ({"name": "web-1", "subscriptions": ["web", "client:web-1"]},
         ["web:*", "web:disk", "client:web-1:*", "client:web-1:disk", "*:disk"]),
        ({"name": "web-1", "subscriptions": ["client:web-1", "web"]},
         ["client:web-1:*", "client:web-1:disk", "web:*", "web:disk", "*:disk"]),
        ({"name": "web-1", "subscriptions": []}, ["client:web-1:*", "client:web-1:disk", "*:disk"]),
        ({"name": "web-1"}, ["client:web-1:*", "client:web-1:disk", "*:disk"]),
        ({"name": "web-1", "subscriptions": "web"}, ["client:web-1:*", "client:web-1:disk", "*:disk"]),
    ],
    ids=["each subscription then the check alone", "the client's own order is kept",
         "a client without subscriptions still has its own", "a client with no list at all has its own",
         "a malformed subscription list is ignored"],
)
def test_silence_ids_follow_sensus_key_order(client: dict[str, Any], expected: list[str]) -> None:
    assert silence_ids(client, {"name": "disk"}) == expected


# -- long sequences ----------------------------------------------------------------------


def test_alternating_statuses_start_flapping_and_a_run_of_oks_ends_it() -> None:
    run = Run(check={"name": "disk", **THRESHOLDS}).feed([1, 0] * 10 + [1])
    assert run.actions[:20] == ["create", "resolve"] * 10
    assert run.actions[20] == "flapping" and run.decisions[20] is Decision.STORE
    run.feed([0] * 30)
    oks = run.events[21:]
    tscs = [e["check"]["total_state_change"] for e in oks]
    # Still flapping while the state change stays above the low threshold, even once it is
    # below the high one (hysteresis); the first OK at or below the low threshold resolves.
    end = next(i for i, e in enumerate(oks) if e["action"] != "flapping")
    assert all(tsc > 20 for tsc in tscs[:end]) and tscs[end] <= 20
    assert any(20 < tsc < 40 for tsc in tscs[:end])
    assert end == 16 and tscs.index(35) == 12  # the 17th OK resolves; the 13th fell below high (docs/events.md)
    assert oks[end]["action"] == "resolve" and run.decisions[21 + end] is Decision.DELETE
    assert run.stored is None
    assert all(e["action"] == "create" for e in oks[end + 1:])
    assert all(d is Decision.NOTHING for d in run.decisions[22 + end:])


def test_occurrences_count_per_status_and_the_watermark_survives_a_change() -> None:
    run = Run(check={"name": "disk"}).feed([1, 1, 1, 2, 2, 0])
    # The resolve reports the occurrences of the event it closes.
    assert [e["occurrences"] for e in run.events] == [1, 2, 3, 1, 2, 2]
    assert [e["occurrences_watermark"] for e in run.events] == [1, 2, 3, 3, 3, 3]
    assert run.events[-1]["action"] == "resolve"


def test_the_event_id_is_kept_until_the_resolve_and_new_after_it() -> None:
    run = Run(check={"name": "disk"}).feed([2, 2, 1, 0, 2, 2])
    first, second = {e["id"] for e in run.events[:4]}, {e["id"] for e in run.events[4:]}
    assert len(first) == 1 and len(second) == 1 and first != second


def test_auto_resolve_false_keeps_the_event_open_through_oks() -> None:
    run = Run(check={"name": "disk", "auto_resolve": False}).feed([2, 2, 0, 0])
    assert run.actions == ["create", "create", "resolve", "resolve"]
    assert run.decisions[2:] == [Decision.NOTHING, Decision.NOTHING]
    assert run.stored is not None and run.stored["occurrences"] == 2
    run.feed([2])
    assert run.events[-1]["id"] == run.events[0]["id"]
    assert run.events[-1]["occurrences"] == 1  # the OKs in between broke the run


def test_force_resolve_removes_a_flapping_event() -> None:
    run = Run(check={"name": "disk", "force_resolve": True, **THRESHOLDS}).feed([1, 0] * 10 + [1, 0])
    assert run.actions[-1] == "flapping"
    assert run.decisions[-1] is Decision.DELETE and run.stored is None


def test_a_metric_check_is_handled_on_every_result_and_stored_only_when_failing() -> None:
    run = Run(check={"name": "cpu", "type": "metric"}).feed([0, 0, 0])
    assert run.decisions == [Decision.PROCESS_ONLY] * 3 and run.stored is None
    run.feed([2, 0])
    assert run.decisions[3:] == [Decision.STORE, Decision.DELETE]


def test_last_ok_is_the_time_of_the_last_ok_result() -> None:
    run = Run(check={"name": "disk"}).feed([0, 2, 2])
    assert run.events[-1]["last_ok"] == int(NOW) + 60
