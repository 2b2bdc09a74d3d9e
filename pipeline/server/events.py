"""What one check result means: history, flapping, occurrences, the event and its fate.

Pure functions, values in and values out: no I/O, and the time comes in as a value. The rules are
Sensu 1.x's (docs/events.md "Which results create, resolve or flap an event"); `pipeline/server/results.py` feeds them from the store.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from enum import Enum
from typing import Any

from pipeline.model import HISTORY_LENGTH, Action, Check, Client, Event, is_int, truthy
from pipeline.secrets import without_signature

#: Stored output of a truncated check is at most this long (plus one, as Sensu) unless set.
DEFAULT_TRUNCATE_LENGTH = 255
MAX_TOTAL_STATE_CHANGE = 101

# The actions as events carry them; plain strings, as an Enum member's `.value` is a
# descriptor call on every use.
CREATE: str = Action.CREATE.value
RESOLVE: str = Action.RESOLVE.value
FLAPPING: str = Action.FLAPPING.value


class Decision(Enum):
    """What the registry does with an event (docs/events.md "Which events are stored, deleted or only handled")."""

    STORE = "store"
    DELETE = "delete"
    PROCESS_ONLY = "process_only"
    NOTHING = "nothing"

    @property
    def processes(self) -> bool:
        """True when the event goes on to the handlers."""
        return self is not Decision.NOTHING


def total_state_change(history: list[str]) -> int:
    """Sensu's weighted percentage of state changes over the last 21 statuses, 0..101.

    Entry i (1..20) that differs from entry i-1 weighs 0.80 + 0.02·i. The weight is accumulated
    step by step in floating point, as Sensu does, so results agree to the last rounding.
    """
    if len(history) < HISTORY_LENGTH:
        return 0
    window = history[-HISTORY_LENGTH:]
    first = window[0]
    if window.count(first) == HISTORY_LENGTH:
        return 0  # no change at all, the usual case
    changes = 0.0
    weight = 0.8
    previous = first
    for status in window:
        if status != previous:
            changes += weight
        weight += 0.02
        previous = status
    return min(int(changes / 20 * 100), MAX_TOTAL_STATE_CHANGE)


def is_flapping(check: Check, tsc: int, previous_action: str | None) -> bool:
    """Flap detection with hysteresis; only when both thresholds are integers.

    A check that was flapping keeps flapping while the state change stays above the low
    threshold; one that was not starts flapping at the high threshold.
    """
    low = check.get("low_flap_threshold")
    high = check.get("high_flap_threshold")
    if not (is_int(low) and is_int(high)):
        return False
    if previous_action == FLAPPING:
        return tsc > low
    return tsc >= high


def _ruby_prefix(text: str, last: int) -> str:
    # Ruby's text[0..last]: an inclusive range, where a negative end counts from the end.
    end = last + 1 if last >= 0 else max(0, len(text) + last + 1)
    return text[:end]


def truncate_for_store(check: Check) -> Check:
    """The check as kept for the last result: output cut to its first line when truncating.

    Metric checks truncate unless `truncate_output` is false; others only when it is set. With
    more than one line, or a first line longer than `truncate_output_length` (255), the stored
    output is the first `length + 1` characters of that line followed by "\\n...". The check
    itself is returned unchanged when there is nothing to do; it is never mutated.
    """
    flag = check.get("truncate_output")
    metric = check.get("type") == "metric"
    if not (truthy(flag) or (metric and flag is not False)):
        return check
    output = check.get("output")
    if not isinstance(output, str):
        return check
    # The first of Ruby's output.split("\n") lines (the whole output when there are none),
    # and whether there is a second, without splitting every line of a long output.
    content = output.rstrip("\n")
    newline = content.find("\n")
    first = output if not content else content if newline < 0 else content[:newline]
    length = check.get("truncate_output_length", DEFAULT_TRUNCATE_LENGTH)
    if not is_int(length):
        length = DEFAULT_TRUNCATE_LENGTH
    if newline >= 0 or len(first) > length:
        first = _ruby_prefix(first, length) + "\n..."
    return {**check, "output": first}


def _stored_int(stored: Event, key: str, default: int) -> int:
    value = stored.get(key)
    return value if is_int(value) else default


def build_event(
    client: Client,
    check: Check,
    history: list[str],
    last_ok: int | None,
    stored: Event | None,
    now: float,
    new_id: Callable[[], str],
) -> Event:
    """The event for one result (docs/events.md "Occurrences", "History and flapping"), not yet silenced.

    `history` already ends with this result's status; `stored` is the open event before it.
    The id, occurrences and watermark carry over from the stored event; a run of equal
    non-OK statuses counts occurrences up, a change starts over at 1 (the watermark stays).
    An OK with an open event resolves it.
    """
    tsc = total_state_change(history)
    previous_action = stored.get("action") if stored is not None else None
    flapping = is_flapping(check, tsc, previous_action if isinstance(previous_action, str) else None)
    timestamp = int(now)
    event_check = {**check, "history": list(history), "total_state_change": tsc}
    if stored is not None:
        event_id = stored.get("id")
        if not isinstance(event_id, str):
            event_id = new_id()
        occurrences = _stored_int(stored, "occurrences", 1)
        watermark = _stored_int(stored, "occurrences_watermark", occurrences)
        last_state_change = stored.get("last_state_change")
    else:
        event_id = new_id()
        occurrences, watermark, last_state_change = 1, 1, None
    action = FLAPPING if flapping else CREATE
    if check.get("status") != 0 or flapping:
        if len(history) >= 2 and history[-1] == history[-2]:
            occurrences += 1
            watermark = max(watermark, occurrences)
        else:
            occurrences = 1
            last_state_change = timestamp
    elif stored is not None:
        action = RESOLVE
        last_state_change = timestamp
    return {
        "id": event_id,
        "client": without_signature(client),  # the client's shared secret stays on the server
        "check": event_check,
        "occurrences": occurrences,
        "occurrences_watermark": watermark,
        "last_ok": last_ok,
        "action": action,
        "timestamp": timestamp,
        "last_state_change": last_state_change,
        "silenced": False,
        "silenced_by": [],
    }


def decide(event: Event, stored: Event | None = None) -> Decision:
    """Store, delete, only process, or drop the event (docs/events.md "Which events are stored, deleted or only handled").

    STORE and DELETE also send the event to the handlers. `stored` is not needed: `build_event`
    already made an OK without an open event a `create`, which is never a resolve.
    """
    check = event["check"]
    action = event.get("action")
    force_resolve = check.get("force_resolve")
    if check.get("status") != 0 or (action == FLAPPING and force_resolve is not True):
        return Decision.STORE
    resolves = action == RESOLVE and (check.get("auto_resolve") is not False or truthy(force_resolve))
    if resolves or (action == FLAPPING and truthy(force_resolve)):
        return Decision.DELETE
    # Sensu 1.x: a metric check is handled on every run. The points of any other check go to
    # its `output_metric_handlers` on every run (pipeline/chain/metric_routes.py), not here.
    if check.get("type") == "metric":
        return Decision.PROCESS_ONLY
    return Decision.NOTHING


def silence_ids(client: Client, check: Check) -> list[str]:
    """Silence entry ids that may cover this client and check, in Sensu's lookup order.

    For each subscription `sub:*` then `sub:check`, and last `*:check`. A client always has
    its own `client:NAME` subscription; it is added here if a stored client lacks it.
    """
    name = check.get("name")
    raw = client.get("subscriptions")
    subscriptions = [s for s in raw if isinstance(s, str)] if isinstance(raw, list) else []
    own = f"client:{client.get('name')}"
    if own not in subscriptions:
        subscriptions.append(own)
    ids: list[str] = []
    for subscription in subscriptions:
        ids.append(f"{subscription}:*")
        ids.append(f"{subscription}:{name}")
    ids.append(f"*:{name}")
    return ids


def is_silenced_now(entry: dict[str, Any], now: float) -> bool:
    """An entry silences once its `begin` (if any) has come."""
    begin = entry.get("begin")
    if begin is None or not isinstance(begin, int | float) or isinstance(begin, bool):
        return True
    return bool(begin <= int(now))


def found_silences(ids: list[str], entries: Sequence[Any]) -> list[tuple[str, dict[str, Any]]]:
    """`(id, entry)` for each stored entry among `entries` (aligned with `ids`), each id once."""
    found: list[tuple[str, dict[str, Any]]] = []
    seen: set[str] = set()
    for key, entry in zip(ids, entries, strict=False):
        if not isinstance(entry, dict):
            continue
        stored = entry.get("id")
        entry_id = stored if isinstance(stored, str) else key
        if entry_id not in seen:
            seen.add(entry_id)
            found.append((entry_id, entry))
    return found


def silenced_by(found: list[tuple[str, dict[str, Any]]], now: float) -> list[str]:
    """The ids of the found entries that silence at `now` (their `begin` has come)."""
    return [entry_id for entry_id, entry in found if is_silenced_now(entry, now)]


def silenced_now(event: Event, by_id: Mapping[str, Any], now: float) -> list[str]:
    """Which of the live entries `by_id` cover `event` at `now`, by the result processor's rules.

    The API answers with this at read time: a stored event says whether it was silenced at its
    last result, which for a pushed result with no interval may be long ago.
    """
    client = event.get("client")
    check = event.get("check")
    if not isinstance(client, dict) or not isinstance(check, dict):
        return []
    ids = silence_ids(client, check)
    return silenced_by(found_silences(ids, [by_id.get(key) for key in ids]), now)
