"""The examples of docs/client.md (hooks, the HTTP socket), docs/events.md (registration) and
docs/scheduling.md (proxy requests) do what the pages say."""

from __future__ import annotations

import json
import re
from typing import Any

from pipeline.agent.hooks import hook_key
from pipeline.config.load import settings_of
from pipeline.config.validate import validate
from pipeline.registry import default_registry
from pipeline.server.proxy import matching_clients, proxy_request, splay_step
from pipeline.server.publisher import check_request
from pipeline.server.registration import registration_check, registration_event
from tests.helpers import ROOT


def blocks(page: str) -> list[dict[str, Any]]:
    return [json.loads(b) for b in re.findall(r"```json\n(.*?)```", (ROOT / "docs" / page).read_text(), re.S)]


def text(page: str) -> str:
    return " ".join((ROOT / "docs" / page).read_text().split())


def test_the_hooks_example_picks_the_hooks_the_page_names() -> None:
    [example] = [b for b in blocks("client.md") if "hooks" in b.get("checks", {}).get("nginx", {})]
    assert validate(example, default_registry, role="client")[0] == []
    hooks = example["checks"]["nginx"]["hooks"]
    assert (hook_key(hooks, 2), hook_key(hooks, 1), hook_key(hooks, 0)) == ("critical", "non-zero", None)


def test_the_http_socket_example_is_valid_on_a_client_and_names_a_server_handler() -> None:
    [example] = [b for b in blocks("client.md") if "http_socket" in b.get("client", {})]
    assert validate(example, default_registry, role="client")[0] == []
    errors, _ = validate(example, default_registry)
    assert [e.path for e in errors] == ["client.deregistration.handler"], "a server would have to define it"
    assert "ogi check-config --role client" in text("client.md")


def test_the_registration_event_on_the_events_page_is_what_the_server_raises() -> None:
    [shown] = [b for b in blocks("events.md") if b.get("name") == "registration"]
    client = {"name": "web-1", "registration": {"handler": "cmdb", "team": "ops"}}
    check = registration_check({}, client, 1_700_000_000)
    assert check is not None
    assert registration_event(client, check, 1_700_000_000)["check"] == shown


def test_the_proxy_example_requests_what_the_scheduling_page_says() -> None:
    [example] = [b for b in blocks("scheduling.md") if "proxy_requests" in b.get("checks", {}).get("snmp_ports", {})]
    check = example["checks"]["snmp_ports"]
    clients = [
        {"name": "sw-1", "address": "10.0.0.2", "device": {"kind": "switch"}, "snmp": {"community": "c1"}},
        {"name": "sw-2", "address": "10.0.0.3", "device": {"kind": "switch"}},
        {"name": "sw-dmz", "address": "192.168.0.2", "device": {"kind": "switch"}},
        {"name": "rt-1", "address": "10.0.0.1", "device": {"kind": "router"}},
    ]
    matched = matching_clients(clients, check["proxy_requests"]["client_attributes"])
    request = check_request("snmp_ports", check, 1_700_000_000)
    sent = [proxy_request(request, c) for c in matched]
    assert [(r["source"], r["command"]) for r in sent if r] == [
        ("sw-1", "check_snmp -H 10.0.0.2 -C c1 -o ifOperStatus.1"),
        ("sw-2", "check_snmp -H 10.0.0.3 -C public -o ifOperStatus.1")]
    assert round(splay_step(check, 1_000), 2) == 0.27 and "every 0.27 s" in text("scheduling.md")


def test_the_spawn_limit_example_keeps_sensus_twelve_slots_for_the_agent() -> None:
    [example] = [b for b in blocks("client.md") if "spawn" in b.get("sensu", {})]
    assert validate(example, default_registry, role="client")[0] == []
    assert settings_of(example).limits.agent_spawn_limit == 12
    assert settings_of({}).limits.agent_spawn_limit == 32
    assert "the agent allows 32" in text("client.md")
