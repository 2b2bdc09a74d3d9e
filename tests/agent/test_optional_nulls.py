"""Sensu 1.9 validates a result's optional keys only when set: `null` means unset (pysensu-yelp)."""

from __future__ import annotations

import pytest

from pipeline.agent.socket_input import Invalid, pushed_check
from pipeline.optional_keys import without_null_options


def test_null_optional_keys_are_unset_and_status_and_executed_get_their_defaults() -> None:
    result = pushed_check({"name": "job", "output": "failed", "source": None, "ttl": None, "status": None,
                           "executed": None, "handler": None, "tip": None}, now=1000.9)
    assert result == {"name": "job", "output": "failed", "status": 0, "executed": 1000, "tip": None}


@pytest.mark.parametrize(("check", "reason"), [
    ({"name": "job", "output": None}, "check output must be a string"),
    ({"name": None, "output": "x"}, "check name must be a string"),
    ({"name": "job", "output": "x", "ttl": 0}, "check ttl must be an integer greater than 0"),
    ({"name": "job", "output": "x", "source": "no spaces allowed"}, "check source must be a string"),
])
def test_required_keys_stay_required_and_set_optional_keys_are_still_checked(check: dict, reason: str) -> None:
    with pytest.raises(Invalid, match=reason):
        pushed_check(check, now=0)


def test_a_check_without_null_options_is_returned_as_it_is() -> None:
    check = {"name": "job", "output": "x", "custom": None}
    assert without_null_options(check) is check
