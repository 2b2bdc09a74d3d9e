"""Command mutators: a `mutators` settings entry `{"command": ..., "timeout": ...}`.

As in Sensu 1.x, the command reads the event JSON on stdin and its stdout becomes the
handler's payload; a non-zero exit or a timeout drops the event for the handler that uses
this mutator only. ogi keeps the command's stderr out of the payload (it is logged), and
runs the command under the shared spawn limit (`sensu.spawn.limit`).
"""

from __future__ import annotations

from typing import ClassVar

from mutators.json import encode_event
from pipeline.agent.process.execute import parse_command, parse_timeout, run_command
from pipeline.extension import Context, Mutator
from pipeline.model import JSON, Event

#: Largest payload a command mutator may produce. More is not cut (a cut payload is a
#: corrupt one): the event is dropped for the handler, with a log line.
OUTPUT_LIMIT = 64 << 20


def event_fields(event: Event) -> JSON:
    """Client and check names of an event, for log lines."""
    client = event.get("client")
    check = event.get("check")
    return {
        "client": client.get("name") if isinstance(client, dict) else None,
        "check": check.get("name") if isinstance(check, dict) else None,
    }


class PipeMutator(Mutator):
    """Runs `command` with the event JSON on stdin; its stdout is the payload."""

    type_name: ClassVar[str] = "pipe"
    allowed_keys: ClassVar[frozenset[str] | None] = frozenset({"command", "timeout"})

    def __init__(self, name: str, definition: JSON, context: Context) -> None:
        super().__init__(name, definition, context)
        self.command = parse_command(definition)
        self.timeout = parse_timeout(definition)

    async def mutate(self, event: Event) -> bytes | None:
        result = await run_command(
            self.command,
            stdin=encode_event(event),
            timeout=self.timeout,
            limit=self.context.spawn_limit(),
            merge_stderr=False,
            output_cap=OUTPUT_LIMIT,
        )
        fields = {"mutator": self.name, "status": result.status, **event_fields(event)}
        if result.stderr.strip():
            self.context.log.warning(
                "mutator %s wrote to stderr", self.name, extra={"fields": {**fields, "stderr": result.stderr}}
            )
        if result.status != 0:
            self.context.log.error(
                "mutator %s failed with status %d: event dropped for its handler",
                self.name,
                result.status,
                extra={"fields": {**fields, "output": result.output, "timed_out": result.timed_out}},
            )
            return None
        if result.truncated:
            self.context.log.error(
                "mutator %s wrote more than %d bytes: event dropped for its handler",
                self.name,
                OUTPUT_LIMIT,
                extra={"fields": fields},
            )
            return None
        return result.raw
