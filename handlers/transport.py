"""The `transport` handler: publish the payload to a named pipe on ogi's transport.

Sensu 1.x's `pipe.type` is `direct`, `fanout` or `topic`. ogi's transports know direct and
fanout pipes only; Sensu published with an empty routing key, so a topic exchange delivered
to the queues bound with `#` and nothing else, which is what a fanout does: `topic` is
published as `fanout`. `pipe.options` (RabbitMQ exchange options in Sensu) is accepted and
ignored. An empty payload is skipped, as in Sensu.
"""

from __future__ import annotations

from typing import ClassVar

from pipeline.extension import Context, DefinitionError, Handler
from pipeline.model import JSON, Event
from pipeline.transport.base import PipeKind

_KINDS: dict[str, PipeKind] = {"direct": "direct", "fanout": "fanout", "topic": "fanout"}


class TransportHandler(Handler):
    """Publishes each payload to `pipe.name` on the transport ogi runs with."""

    type_name: ClassVar[str] = "transport"
    allowed_keys: ClassVar[frozenset[str] | None] = frozenset({"pipe"})

    def __init__(self, name: str, definition: JSON, context: Context) -> None:
        super().__init__(name, definition, context)
        pipe = definition.get("pipe")
        if pipe is None:
            raise DefinitionError("pipe", "is required (an object with type and name)")
        if not isinstance(pipe, dict):
            raise DefinitionError("pipe", "must be an object with type and name", pipe)
        kind = pipe.get("type")
        if kind is None:
            raise DefinitionError("pipe.type", "is required (direct, fanout or topic)")
        if not isinstance(kind, str) or kind not in _KINDS:
            raise DefinitionError("pipe.type", "must be direct, fanout or topic", kind)
        pipe_name = pipe.get("name")
        if pipe_name is None:
            raise DefinitionError("pipe.name", "is required")
        if not isinstance(pipe_name, str) or not pipe_name:
            raise DefinitionError("pipe.name", "must be a non-empty string", pipe_name)
        options = pipe.get("options")
        if options is not None and not isinstance(options, dict):
            raise DefinitionError("pipe.options", "must be an object", options)
        self.pipe = pipe_name
        self.kind: PipeKind = _KINDS[kind]

    async def handle(self, event: Event, payload: bytes) -> None:
        if not payload:
            return
        transport = self.context.transport
        if transport is None:
            raise RuntimeError(f"transport handler {self.name}: ogi runs without a transport")
        await transport.publish(self.pipe, payload, kind=self.kind)
