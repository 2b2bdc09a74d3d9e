"""What RabbitMQ refuses for good, told apart from a connection that is merely down.

A publish the broker refuses for a permanent reason (a reserved or over-long exchange name, a
message over its `max_message_size`, no permission) fails the same way every time it is sent:
buffering and retrying it, as for a lost connection, put it at the head of the reconnect
buffer for ever and every later message behind it. Such a publish is dropped, logged and
counted instead. Names and sizes are checked before anything is sent, because a refusal
from the broker also closes the channel every other publish shares.
"""

from __future__ import annotations

from aiormq.exceptions import ChannelAccessRefused, ChannelPreconditionFailed

#: RabbitMQ's limit on an exchange or queue name (a shortstr), in UTF-8 bytes.
MAX_NAME_BYTES = 255
#: RabbitMQ's default `max_message_size` (128 MiB): a larger message is refused by the broker.
MAX_BODY_BYTES = 128 << 20
#: Broker errors that a retry would meet again.
PERMANENT = (ChannelAccessRefused, ChannelPreconditionFailed)


class PublishRefused(Exception):
    """A publish RabbitMQ refuses (or would refuse) for a reason no retry changes."""

    def __init__(self, pipe: str, reason: str) -> None:
        super().__init__(f"publish to {pipe!r} refused: {reason}")
        self.pipe = pipe
        self.reason = reason


def name_refusal(name: str) -> str | None:
    """Why RabbitMQ would refuse `name` as an exchange ogi declares, or None if it takes it."""
    if not name:
        return "the name is empty (the default exchange cannot be declared)"
    if name.startswith("amq."):
        return "names starting with 'amq.' are reserved by RabbitMQ"
    if len(name.encode("utf-8")) > MAX_NAME_BYTES:
        return f"the name is longer than {MAX_NAME_BYTES} bytes"
    return None


def publish_refusal(pipe: str, body: bytes, max_body: int = MAX_BODY_BYTES) -> PublishRefused | None:
    """The refusal a publish of `body` to `pipe` would meet, checked without the broker."""
    reason = name_refusal(pipe)
    if reason is None and len(body) > max_body:
        reason = f"the message of {len(body)} bytes is over the broker's limit of {max_body}"
    return PublishRefused(pipe, reason) if reason is not None else None
