"""The environment of every check and hook the agent runs: the agent's own, plus who runs it.

`OGI_CLIENT_NAME` is the client's name (`client.name`), so a plugin can name its series by the
client rather than by the host it happens to run on (ogi's `ogi-metrics-*` plugins default
their `--scheme` to it); `OGI_CHECK_NAME` is the check's name. The same values are available
in the command line itself as Sensu's tokens, `:::name:::` and `:::check.name:::`.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

__all__ = ["CLIENT_NAME_VAR", "CHECK_NAME_VAR", "check_env"]

CLIENT_NAME_VAR = "OGI_CLIENT_NAME"
CHECK_NAME_VAR = "OGI_CHECK_NAME"


def check_env(client: dict[str, Any], check: dict[str, Any], base: Mapping[str, str]) -> dict[str, str]:
    """`base` (the agent's command environment) with the client's and the check's names set."""
    env = dict(base)
    for var, value in ((CLIENT_NAME_VAR, client.get("name")), (CHECK_NAME_VAR, check.get("name"))):
        if isinstance(value, str) and value and "\0" not in value:
            env[var] = value
        else:
            env.pop(var, None)  # never the agent's own setting (its name override) under the check's
    return env
