"""The deregistration result a client with `"deregister": true` publishes when it stops.

As Sensu 1.x: the check `{"handler": "deregistration", "status": 1}` deep-merged with the
client's `deregistration`, named `deregistration`, with Sensu's output and this host's time.
The server handles it and then removes the client (pipeline/server/registration.py), so an
autoscaled host that is gone does not stay a keepalive alert.
"""

from __future__ import annotations

from pipeline.config.load import deep_merge
from pipeline.model import JSON

DEREGISTRATION_OUTPUT = "client initiated deregistration"


def deregistration_check(client: JSON, now: float) -> JSON | None:
    """The check to publish on stop, or None when the client does not deregister."""
    if client.get("deregister") is not True:
        return None
    check: JSON = {"handler": "deregistration", "status": 1}
    own = client.get("deregistration")
    if isinstance(own, dict):
        check = deep_merge(check, own)
    timestamp = int(now)
    check.update(name="deregistration", output=DEREGISTRATION_OUTPUT, issued=timestamp, executed=timestamp)
    return check
