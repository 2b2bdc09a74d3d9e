"""The names of the pipes, one definition for the agent, the server and the API.

Sensu 1.x's layout: results travel on the direct pipe `results` and keepalives on
`keepalives`, both renamed together for every daemon by `sensu.server.results_pipe` and
`sensu.server.keepalives_pipe` (Sensu's keys, read by the agent too, so a client and a server
given the same settings always meet). Check requests go to one pipe per subscription:
`NAME` is a fanout pipe (every subscribed client gets the request), `roundrobin:NAME` and
`direct:NAME` are direct pipes (one client of the group gets it).
"""

from __future__ import annotations

from pipeline.model import JSON
from pipeline.transport.base import PipeKind

RESULTS = "results"
KEEPALIVES = "keepalives"
#: Subscription prefixes whose requests go to one client of the group, not to each.
SHARED_PREFIXES = ("roundrobin", "direct")


def results_pipe(settings: JSON) -> str:
    """The pipe check results go to: `sensu.server.results_pipe`, else `results`."""
    return _override(settings, "results_pipe", RESULTS)


def keepalives_pipe(settings: JSON) -> str:
    """The pipe keepalives go to: `sensu.server.keepalives_pipe`, else `keepalives`."""
    return _override(settings, "keepalives_pipe", KEEPALIVES)


def request_pipe(subscription: str) -> tuple[str, PipeKind]:
    """The pipe and kind a subscription's check requests travel on."""
    kind, sep, _rest = subscription.partition(":")
    if sep and kind in SHARED_PREFIXES:
        return subscription, "direct"
    return subscription, "fanout"


def _override(settings: JSON, key: str, default: str) -> str:
    sensu = settings.get("sensu")
    server = sensu.get("server") if isinstance(sensu, dict) else None
    name = server.get(key) if isinstance(server, dict) else None
    return name if isinstance(name, str) and name else default
