"""Which exchange and queue each pipe uses on RabbitMQ, declared as Sensu 1.x declares them.

A Ruby sensu-client declares the `results` and `keepalives` exchanges, its subscription
exchanges and the queues it consumes from itself; RabbitMQ refuses a declaration whose
arguments differ from an existing one (PRECONDITION_FAILED) and closes the channel. So every
exchange, and every queue a Ruby client declares, is declared exactly as Sensu 1.x does:

| pipe | exchange | queue |
|---|---|---|
| `results`, `keepalives`, any other direct pipe | direct, not durable | same name, **durable, not auto-delete** (ogi owns it) |
| `roundrobin:NAME`, `direct:NAME` | direct, not durable | same name, auto-delete, not durable (Sensu's) |
| a subscription `NAME`, `client:NAME` | fanout, not durable | the subscriber's own, auto-delete, not durable (Sensu's) |
| `<queue>.failed` | none (default exchange) | durable: messages that failed `max_attempts` times |

Routing keys are empty. Only the queues ogi alone consumes differ from Sensu (whose queues
are all auto-delete, so results vanished when the last server stopped): a Sensu server and an
ogi server cannot share a vhost (docs/rabbitmq.md says how to migrate).
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from typing import Literal

from pipeline.transport.base import PipeKind

ExchangeType = Literal["direct", "fanout"]

#: Pipes whose shared queue a Ruby sensu-client declares itself (client/process.rb).
SENSU_DECLARED_PREFIXES = ("roundrobin:", "direct:")
FAILED_SUFFIX = ".failed"


@dataclass(frozen=True)
class QueueSpec:
    """A queue declaration: name and the flags RabbitMQ compares on re-declaration."""

    name: str
    durable: bool
    auto_delete: bool

    def flags(self) -> str:
        return ", ".join(["durable" if self.durable else "not durable",
                          "auto-delete" if self.auto_delete else "not auto-delete"])


class TopologyConflict(RuntimeError):
    """RabbitMQ refused a declaration: the exchange or queue exists with other arguments."""


def conflict(what: str, name: str, flags: str, exc: Exception) -> TopologyConflict:
    return TopologyConflict(
        f"RabbitMQ refused to declare {what} {name!r} ({flags}): it exists with other arguments "
        f"({exc}). A Sensu server's auto-delete queue in the same vhost? See docs/rabbitmq.md, 'Migrating'."
    )


def exchange_type(kind: PipeKind) -> ExchangeType:
    if kind not in ("direct", "fanout"):
        raise ValueError(f"unknown pipe kind {kind!r} (known: direct, fanout)")
    return kind


def ogi_owns(pipe: str) -> bool:
    """True for a direct pipe whose queue no Ruby client declares (`results`, `keepalives`, ...)."""
    return not pipe.startswith(SENSU_DECLARED_PREFIXES)


def direct_queue(pipe: str) -> QueueSpec:
    """The shared queue of a direct pipe."""
    if ogi_owns(pipe):
        return QueueSpec(pipe, durable=True, auto_delete=False)
    return QueueSpec(pipe, durable=False, auto_delete=True)


def fanout_queue(queue: str | None) -> QueueSpec:
    """A subscriber's own queue on a fanout pipe (Sensu: `<client>-<version>-<epoch>`)."""
    return QueueSpec(queue or f"ogi-{uuid.uuid4().hex}", durable=False, auto_delete=True)


def subscription_queue(pipe: str, kind: PipeKind, queue: str | None) -> QueueSpec:
    return direct_queue(pipe) if exchange_type(kind) == "direct" else fanout_queue(queue)


def failed_queue(queue: str) -> QueueSpec:
    """Where a message that failed `max_attempts` times goes: durable, consumed by nobody."""
    return QueueSpec(queue + FAILED_SUFFIX, durable=True, auto_delete=False)
