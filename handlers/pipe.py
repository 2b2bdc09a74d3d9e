"""The `pipe` handler: run a command with the payload on its stdin, as Sensu 1.x does."""

from __future__ import annotations

from typing import ClassVar

from mutators.pipe import event_fields
from pipeline.agent.process.execute import CommandFailed, parse_command, parse_timeout, run_command
from pipeline.extension import DEFAULT_HANDLER_TIMEOUT, Context, Handler
from pipeline.model import JSON, Event


class PipeHandler(Handler):
    """`sh -c command` with the payload on stdin; output logged, a non-zero exit is a failure.

    The command runs under the spawn limit (`sensu.spawn.limit`) and is killed with its whole
    process group once it runs past `timeout` (60 s when the definition sets none).
    """

    type_name: ClassVar[str] = "pipe"
    allowed_keys: ClassVar[frozenset[str] | None] = frozenset({"command"})
    #: Read by the engine: this handler is bounded by the spawn limit, not the in-process pool.
    runs_commands: ClassVar[bool] = True

    def __init__(self, name: str, definition: JSON, context: Context) -> None:
        super().__init__(name, definition, context)
        self.command = parse_command(definition)
        self.timeout = parse_timeout(definition, DEFAULT_HANDLER_TIMEOUT)

    async def handle(self, event: Event, payload: bytes) -> None:
        result = await run_command(
            self.command, stdin=payload, timeout=self.timeout, limit=self.context.spawn_limit()
        )
        fields = {
            "handler": self.name,
            "status": result.status,
            "output": result.output.splitlines(),
            **event_fields(event),
        }
        if result.status == 0:
            if result.output:
                self.context.log.info("handler output", extra={"fields": fields})
            return
        self.context.log.error("handler output", extra={"fields": fields})
        reason = "timed out" if result.timed_out else f"exited with status {result.status}"
        raise CommandFailed(f"pipe handler {self.name}: command {reason}", result)
