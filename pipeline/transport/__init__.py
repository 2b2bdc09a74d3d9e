"""Transports: the seam (base.py), the embedded memory default, RabbitMQ and Redis.

`transport_from_settings` picks one from `"transport": {"name": "memory" | "rabbitmq" | "redis"}`;
the RabbitMQ module (and aio-pika) is imported only when it is chosen.
"""

from __future__ import annotations

import dataclasses
import random
from typing import TYPE_CHECKING, Literal

from pipeline.errors import ConfigError, ConfigErrors
from pipeline.model import JSON
from pipeline.transport.base import Message, Subscription, Transport

if TYPE_CHECKING:
    from pipeline.config.settings import Settings

__all__ = ["Message", "Subscription", "Transport", "transport_from_settings", "transport_name"]

TransportName = Literal["memory", "rabbitmq", "redis"]
NAMES: tuple[TransportName, ...] = ("memory", "rabbitmq", "redis")


def transport_name(settings: JSON, default: TransportName = "memory") -> TransportName:
    """The transport the settings choose: `transport.name`, else `default`."""
    section = settings.get("transport")
    name = section.get("name", default) if isinstance(section, dict) else default
    if name not in NAMES:
        raise ConfigErrors([ConfigError("transport.name", "must be \"memory\", \"rabbitmq\" or \"redis\"", name)])
    return name


def transport_from_settings(settings: Settings, default: TransportName = "memory", **options: object) -> Transport:
    """A transport built from typed settings; it connects on first use.

    `options` go to RabbitMQTransport (e.g. `connection_name`); the memory and Redis transports
    take `transport.max_attempts` from the settings as RabbitMQ does; Redis reads the `redis`
    section, as the Redis store does.
    """
    name = settings.transport(default)
    if name == "redis":
        from pipeline.transport.redis import RedisTransport

        return RedisTransport(settings.raw)
    if name == "rabbitmq":
        from pipeline.transport.rabbitmq import RabbitMQTransport

        # Brokers are tried in shuffled order, as Sensu does: each process shuffles its own copy.
        brokers = list(settings.amqp.brokers)
        random.shuffle(brokers)
        amqp = dataclasses.replace(settings.amqp, brokers=tuple(brokers))
        return RabbitMQTransport(amqp, **options)  # type: ignore[arg-type]
    from pipeline.transport.memory import MemoryTransport

    return MemoryTransport(max_attempts=settings.amqp.max_attempts)
