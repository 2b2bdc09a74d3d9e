"""The `webhook` handler's `format` presets: the bodies Slack, Mattermost and PagerDuty expect.

- `slack`: an incoming webhook message (`text`, one attachment coloured by severity with the
  check output and fields; `channel`, `username`, `icon_emoji` when set).
- `mattermost`: Mattermost's incoming webhooks take the same message shape (plus `icon_url`).
- `pagerduty`: an Events API v2 event: `trigger` for a create (or flapping), `resolve` for a
  resolve, with `dedup_key` `<client>/<check>` so the resolve closes the incident the
  trigger opened. The URL defaults to the Events API's enqueue endpoint.
- `json` (the default): the handler's payload (the event JSON, or a mutator's output) as is.
"""

from __future__ import annotations

from typing import Any

from pipeline.model import Event, dig
from pipeline.notify.template import Template, dedup_key, derived

PRESETS = ("json", "slack", "mattermost", "pagerduty")
PAGERDUTY_URL = "https://events.pagerduty.com/v2/enqueue"
DEFAULT_TEXT = "{status_word}: {client.name}/{check.name}"

#: Attachment colours by severity (Slack's named colours and hex both work in Mattermost too).
COLOURS = {"ok": "good", "warning": "warning", "critical": "danger", "unknown": "#808080"}
#: PagerDuty's `payload.severity` takes critical, error, warning or info.
PD_SEVERITY = {"ok": "info", "warning": "warning", "critical": "critical", "unknown": "error"}

#: Keys of a webhook definition each preset reads besides the common ones.
PRESET_KEYS = {
    "json": frozenset(),
    "slack": frozenset({"text", "channel", "username", "icon_emoji"}),
    "mattermost": frozenset({"text", "channel", "username", "icon_emoji", "icon_url"}),
    "pagerduty": frozenset({"routing_key", "text"}),
}


def chat_message(event: Event, text: Template, extras: dict[str, Any]) -> dict[str, Any]:
    """Slack's (and Mattermost's) incoming webhook message for an event."""
    names = derived(event)
    output = str(dig(event, "check.output", "") or "").strip()
    title = text.render(event)
    message: dict[str, Any] = {
        "text": title,
        "attachments": [{
            "fallback": f"{title}: {output}" if output else title,
            "color": "good" if event.get("action") == "resolve" else COLOURS[names["severity"]],
            "title": f"{dig(event, 'client.name', '')}/{dig(event, 'check.name', '')}",
            "text": output,
            "fields": [
                {"title": "Client", "value": str(dig(event, "client.name", "")), "short": True},
                {"title": "Check", "value": str(dig(event, "check.name", "")), "short": True},
                {"title": "Severity", "value": names["severity"], "short": True},
                {"title": "Occurrences", "value": str(event.get("occurrences", 1)), "short": True},
            ],
            "ts": int(float(dig(event, "check.executed", 0) or event.get("timestamp", 0) or 0)),
        }],
    }
    message.update({key: value for key, value in extras.items() if value is not None})
    return message


def pagerduty_event(event: Event, routing_key: str, text: Template) -> dict[str, Any]:
    """An Events API v2 event: trigger on create, resolve on resolve, one dedup_key per client/check."""
    key = dedup_key(event)
    if event.get("action") == "resolve":
        return {"routing_key": routing_key, "event_action": "resolve", "dedup_key": key}
    names = derived(event)
    return {
        "routing_key": routing_key,
        "event_action": "trigger",
        "dedup_key": key,
        "payload": {
            # PagerDuty cuts a summary at 1024 characters; the output goes in custom_details whole
            "summary": f"{text.render(event)}: {str(dig(event, 'check.output', '') or '').strip()}"[:1024],
            "source": str(dig(event, "client.name", "") or "unknown"),
            "severity": PD_SEVERITY[names["severity"]],
            "timestamp": names["time"],
            "component": str(dig(event, "check.name", "")),
            "class": "ogi check",
            "custom_details": {
                "output": dig(event, "check.output", ""),
                "status": dig(event, "check.status"),
                "occurrences": event.get("occurrences", 1),
                "client_address": dig(event, "client.address"),
                "action": event.get("action", "create"),
            },
        },
    }
