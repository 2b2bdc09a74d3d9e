"""Properties of the pure event functions over any sequence of statuses."""

from __future__ import annotations

from typing import Any

from hypothesis import given
from hypothesis import strategies as st

from pipeline.model import HISTORY_LENGTH
from pipeline.server.events import (
    Decision,
    build_event,
    decide,
    total_state_change,
    truncate_for_store,
)

CLIENT = {"name": "web-1", "subscriptions": ["client:web-1"]}
statuses = st.lists(st.integers(min_value=0, max_value=3) | st.integers(min_value=-5, max_value=300), max_size=80)
thresholds: st.SearchStrategy[dict[str, int]] = st.one_of(
    st.just({}),
    st.tuples(st.integers(0, 101), st.integers(0, 101)).map(
        lambda t: {"low_flap_threshold": min(t), "high_flap_threshold": max(t)}
    ),
)
resolve_flags = st.fixed_dictionaries(
    {}, optional={"auto_resolve": st.booleans(), "force_resolve": st.booleans(), "type": st.sampled_from(["metric"])}
)


def replay(check: dict[str, Any], sequence: list[int]) -> tuple[list[dict[str, Any]], list[Decision], Any]:
    history: list[str] = []
    stored: dict[str, Any] | None = None
    events, decisions = [], []
    counter = iter(range(10_000))
    for step, status in enumerate(sequence):
        history = [*history, str(status)][-HISTORY_LENGTH:]
        event = build_event(CLIENT, {**check, "status": status}, history, None, stored, 1000.0 + step,
                            lambda: f"id-{next(counter)}")
        decision = decide(event, stored)
        if decision is Decision.STORE:
            stored = event
        elif decision is Decision.DELETE:
            stored = None
        events.append(event)
        decisions.append(decision)
    return events, decisions, stored


@given(statuses)
def test_history_never_exceeds_21_and_ends_with_the_newest_status(sequence: list[int]) -> None:
    history: list[str] = []
    for status in sequence:
        history = [*history, str(status)][-HISTORY_LENGTH:]
        assert len(history) <= 21
        assert history[-1] == str(status)


@given(st.lists(st.sampled_from(["0", "1", "2", "3", "127"]), max_size=40))
def test_total_state_change_stays_within_0_and_101(history: list[str]) -> None:
    tsc = total_state_change(history)
    assert 0 <= tsc <= 101
    if len(history) < 21 or len(set(history[-21:])) == 1:
        assert tsc == 0


@given(statuses, thresholds)
def test_any_status_sequence_ends_in_a_consistent_event(sequence: list[int], flap: dict[str, Any]) -> None:
    events, decisions, stored = replay({"name": "disk", **flap}, [*sequence, 2])
    last = events[-1]
    assert decisions[-1] is Decision.STORE and stored is last
    assert 1 <= last["occurrences"] <= last["occurrences_watermark"]
    assert last["action"] in ("create", "flapping")
    # A final OK after an open event resolves it unless it is flapping.
    events, decisions, stored = replay({"name": "disk", **flap}, [*sequence, 2, 0])
    last = events[-1]
    if last["action"] == "resolve":
        assert decisions[-1] is Decision.DELETE and stored is None
        assert last["id"] == events[-2]["id"]
    else:
        assert last["action"] == "flapping" and stored is last


@given(statuses, resolve_flags)
def test_a_resolve_happens_only_after_an_open_event_and_a_create_ok_is_never_stored(
    sequence: list[int], flags: dict[str, Any]
) -> None:
    events, decisions, _ = replay({"name": "disk", **flags}, sequence)
    open_event = False
    for event, decision in zip(events, decisions, strict=True):
        if event["action"] == "resolve":
            assert open_event
        if event["check"]["status"] == 0 and event["action"] == "create":
            assert decision in (Decision.NOTHING, Decision.PROCESS_ONLY)
            assert not open_event
        if decision is Decision.STORE:
            open_event = True
        elif decision is Decision.DELETE:
            open_event = False


@given(statuses)
def test_the_id_stays_the_same_while_an_event_is_open(sequence: list[int]) -> None:
    events, decisions, _ = replay({"name": "disk"}, sequence)
    open_id = None
    for event, decision in zip(events, decisions, strict=True):
        if open_id is not None:
            assert event["id"] == open_id
        open_id = event["id"] if decision is Decision.STORE else None


@given(st.text(alphabet=st.sampled_from("ab \n\t\u00e9"), max_size=400), st.integers(0, 300), st.booleans())
def test_a_truncated_output_is_one_line_of_at_most_length_plus_one_and_the_marker(
    output: str, length: int, metric: bool
) -> None:
    check = {"name": "m", "output": output, "truncate_output_length": length}
    check.update({"type": "metric"} if metric else {"truncate_output": True})
    stored = truncate_for_store(check)["output"]
    lines = output.split("\n")
    while lines and not lines[-1]:
        lines.pop()
    if not lines:
        # Nothing but newlines: Ruby finds no line and keeps the output, cut if too long.
        assert stored == (output if len(output) <= length else output[: length + 1] + "\n...")
        return
    body = stored.removesuffix("\n...")
    assert len(body) <= length + 1
    assert lines[0].startswith(body)
    assert stored.endswith("\n...") is (len(lines) > 1 or len(lines[0]) > length)
