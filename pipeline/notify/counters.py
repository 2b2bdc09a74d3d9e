"""`ogi_notifications_sent_total` and `ogi_notifications_failed_total`, shared by the notification handlers."""

from __future__ import annotations

import weakref
from typing import ClassVar

from prometheus_client import CollectorRegistry, Counter


class NotifyCounters:
    """Counters registered once per registry (a registry refuses a name twice)."""

    _by_registry: ClassVar[weakref.WeakKeyDictionary[CollectorRegistry, NotifyCounters]] = (
        weakref.WeakKeyDictionary()
    )

    def __init__(self, registry: CollectorRegistry) -> None:
        self.sent = Counter(
            "ogi_notifications_sent", "Notifications delivered (a mail accepted, a webhook answered 2xx)",
            ["handler", "type"], registry=registry,
        )
        self.failed = Counter(
            "ogi_notifications_failed",
            "Notifications given up on, by reason: template, refused, unreachable, timeout, http_<status>",
            ["handler", "type", "reason"], registry=registry,
        )
        self.retried = Counter(
            "ogi_notifications_retried", "Notification attempts repeated after a 5xx, a timeout or a connection error",
            ["handler", "type"], registry=registry,
        )

    @classmethod
    def of(cls, registry: CollectorRegistry | None) -> NotifyCounters:
        if registry is None:
            return cls(CollectorRegistry())
        found = cls._by_registry.get(registry)
        if found is None:
            found = cls._by_registry[registry] = cls(registry)
        return found
