"""/checks, /checks/:name and /request (reference §7)."""

from __future__ import annotations

from pipeline.config.load import settings_of
from tests.api.support import START, Harness, seed


async def test_the_check_list_holds_the_defined_checks_with_their_names_but_not_standalone_ones(
    api: Harness,
) -> None:
    reply = await api.call("GET", "/checks")
    assert reply.status == 200
    assert [c["name"] for c in reply.json] == ["disk", "ntp"]
    assert reply.json[0] == {"command": "check-disk -w 80", "subscribers": ["linux"], "interval": 60,
                             "handlers": ["default"], "name": "disk"}


async def test_one_check_is_returned_by_name(api: Harness) -> None:
    reply = await api.call("GET", "/checks/ntp")
    assert reply.status == 200 and reply.json["name"] == "ntp"


async def test_an_undefined_or_standalone_check_is_404(api: Harness) -> None:
    assert (await api.call("GET", "/checks/nope")).status == 404
    assert (await api.call("GET", "/checks/backup")).status == 404


async def test_deleting_a_check_wipes_its_results_and_history_on_every_client(api: Harness) -> None:
    await seed(api.store)
    reply = await api.call("DELETE", "/checks/disk")
    assert (reply.status, reply.json) == (202, {"issued": int(START)})
    assert [r["name"] for _, r in await api.store.list_results()] == ["ntp"]
    assert await api.store.get_history("web-01", "disk") == []
    assert await api.store.get_history("web-01", "ntp") == ["0"]
    # the open event is left alone: resolving is what /resolve is for
    assert await api.store.get_event("web-01", "disk") is not None


async def test_deleting_a_check_nobody_knows_is_404(api: Harness) -> None:
    assert (await api.call("DELETE", "/checks/nope")).status == 404


async def test_a_request_publishes_the_check_to_each_subscription_with_api_requested(api: Harness) -> None:
    reply = await api.call("POST", "/request", {"check": "disk", "reason": "testing", "creator": "ops"})
    assert (reply.status, reply.json) == (202, {"issued": int(START)})
    assert api.transport.sent == [("linux", "fanout", {
        "command": "check-disk -w 80", "handlers": ["default"], "name": "disk", "issued": int(START),
        "api_requested": {"reason": "testing", "creator": "ops"},
    })]


async def test_a_request_may_name_other_subscribers_and_roundrobin_goes_to_a_direct_pipe(api: Harness) -> None:
    reply = await api.call("POST", "/request", {"check": "disk", "subscribers": ["client:web-01", "roundrobin:x"]})
    assert reply.status == 202
    assert [(pipe, kind) for pipe, kind, _ in api.transport.sent] == [("client:web-01", "fanout"),
                                                                      ("roundrobin:x", "direct")]
    assert api.transport.sent[0][2]["api_requested"] == {"reason": None, "creator": None}


async def test_a_request_for_an_undefined_check_is_404(api: Harness) -> None:
    reply = await api.call("POST", "/request", {"check": "nope"})
    assert reply.status == 404 and reply.json == {"error": "check nope is not defined"}
    assert api.transport.sent == []


async def test_a_request_for_a_check_without_subscribers_is_refused(api: Harness) -> None:
    reply = await api.call("POST", "/request", {"check": "backup"})
    assert reply.status == 400 and "subscribers" in reply.json["error"]


async def test_a_malformed_request_is_400_naming_the_field(api: Harness) -> None:
    for body, field in [({}, "check"), ({"check": 5}, "check"), ({"check": "disk", "subscribers": "linux"},
                        "subscribers"), ({"check": "disk", "reason": 1}, "reason")]:
        reply = await api.call("POST", "/request", body)
        assert reply.status == 400 and f"'{field}'" in reply.json["error"], body
    assert api.transport.sent == []


async def test_a_request_for_a_proxy_check_goes_to_each_matching_client_after_the_answer(api: Harness) -> None:
    from pipeline.api.http import API

    api.settings["checks"] = {**api.settings["checks"], "ping": {
        "command": "ping -c1 :::address:::", "subscribers": ["poller"], "interval": 60,
        "proxy_requests": {"client_attributes": {"type": "router"}}}}
    api.app[API].settings = settings_of(api.settings)  # as a reload would
    for name, kind in (("r1", "router"), ("r2", "router"), ("sw", "switch")):
        await api.store.put_client({"name": name, "address": f"10.0.0.{len(name)}{name[-1]}", "type": kind})
    reply = await api.call("POST", "/request", {"check": "ping"})
    assert reply.status == 202
    await api.app[API].drain()
    assert sorted((p, r["source"], r["command"]) for p, _k, r in api.transport.sent) == [
        ("poller", "r1", "ping -c1 10.0.0.21"), ("poller", "r2", "ping -c1 10.0.0.22")]
