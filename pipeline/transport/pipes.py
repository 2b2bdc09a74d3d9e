"""The names of the pipes, one definition for the agent, the server and the API.

Sensu 1.x's layout: results travel on the direct pipe `results` and keepalives on
`keepalives`, both renamed together for every daemon by `sensu.server.results_pipe` and
`sensu.server.keepalives_pipe` (Sensu's keys, read once into the typed settings' `Limits` in
pipeline/config/settings.py, which the agent, the server and the API all use, so a client and a
server given the same settings always meet). Check requests go to one pipe per subscription:
`NAME` is a fanout pipe (every subscribed client gets the request), `roundrobin:NAME` and
`direct:NAME` are direct pipes (one client of the group gets it).
"""

from __future__ import annotations

from pipeline.transport.base import PipeKind

RESULTS = "results"
KEEPALIVES = "keepalives"
#: Subscription prefixes whose requests go to one client of the group, not to each.
SHARED_PREFIXES = ("roundrobin", "direct")


def request_pipe(subscription: str) -> tuple[str, PipeKind]:
    """The pipe and kind a subscription's check requests travel on."""
    kind, sep, _rest = subscription.partition(":")
    if sep and kind in SHARED_PREFIXES:
        return subscription, "direct"
    return subscription, "fanout"

