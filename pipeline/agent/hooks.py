"""Check hooks (Sensu 1.4+): a command run after a check, chosen by the check's status.

`hooks` maps a key to `{command, timeout (60), stdin (false)}`. After the check ran, the hook
for its status is looked up: the exact status (`"2"`), then its severity name (`critical`),
then `non-zero` for any status but 0. That hook runs under the check's rules: its tokens are
filled in from the client definition (a token without a value or default is not run: the
entry says "Unmatched client token(s): ..." with status 3), a client token value holding shell
characters is refused unless the check sets `unsafe_tokens` (pipeline/expr/tokens.py), the
spawn limit applies, and at its timeout its process group is killed ("Execution timed out",
status 2). Its `executed`, `duration`, `output` and `status` go into its own entry,
`check.hooks.<KEY>`, and the result is published either way.
"""

from __future__ import annotations

import asyncio
from typing import Any

from pipeline import jsoncodec
from pipeline.agent.process.execute import UNKNOWN_STATUS, parse_timeout, run_command
from pipeline.expr.tokens import UNMATCHED_OUTPUT, substitute, unsafe_message, unsafe_tokens
from pipeline.extension import DefinitionError
from pipeline.model import JSON, Clock, is_int, severity_name, system_clock

#: Sensu's default hook timeout, seconds.
DEFAULT_HOOK_TIMEOUT = 60.0
#: A hook's output cap: with the check's own 1 MiB it still fits the server's 2 MiB message.
HOOK_OUTPUT_CAP = 256 * 1024


def hook_key(hooks: Any, status: Any) -> str | None:
    """The key of the hook that runs for `status`, or None."""
    if not isinstance(hooks, dict) or not is_int(status):
        return None
    for key in (str(status), severity_name(status), "non-zero" if status != 0 else None):
        if key is not None and isinstance(hooks.get(key), dict):
            return key
    return None


async def run_hook(
    result: JSON,
    client: JSON,
    *,
    limit: asyncio.Semaphore | None = None,
    clock: Clock = system_clock,
    output_cap: int = HOOK_OUTPUT_CAP,
) -> JSON:
    """`result` with the entry of the hook for its status filled in; `result` itself when none applies."""
    key = hook_key(result.get("hooks"), result.get("status"))
    if key is None:
        return result
    hook: JSON = result["hooks"][key]
    entry: JSON = {**hook, "executed": int(clock()), "duration": 0.0}
    substituted, unmatched = substitute(hook, client)
    command = substituted.get("command")
    if unmatched:
        entry.update(output=UNMATCHED_OUTPUT + ", ".join(unmatched), status=UNKNOWN_STATUS)
    elif not isinstance(command, str) or not command.strip():
        entry.update(output="Hook has no command: nothing run", status=UNKNOWN_STATUS)
    elif result.get("unsafe_tokens") is not True and (found := unsafe_tokens(hook["command"], client)):
        entry.update(output=unsafe_message(found), status=UNKNOWN_STATUS)
    else:
        try:
            timeout = parse_timeout(hook, DEFAULT_HOOK_TIMEOUT)
        except DefinitionError as exc:
            entry.update(output=f"Hook {exc.path} {exc.message}, not {exc.value!r}: command not run",
                         status=UNKNOWN_STATUS)
        else:
            check = {k: v for k, v in result.items() if k != "hooks"}
            stdin = jsoncodec.dumps({"client": client, "check": check}) if hook.get("stdin") is True else None
            ran = await run_command(command, stdin=stdin, timeout=timeout, limit=limit, output_cap=output_cap)
            entry.update(output=ran.output, status=ran.status, duration=round(ran.duration, 3))
    return {**result, "hooks": {**result["hooks"], key: entry}}
