"""/aggregates[/:name] and its sub-resources (reference §7)."""

from __future__ import annotations

from tests.api.support import Harness, result_doc, seed, seed_result


async def test_aggregates_are_listed_by_name(api: Harness) -> None:
    await seed(api.store)
    reply = await api.call("GET", "/aggregates")
    assert (reply.status, reply.json) == (200, [{"name": "disk"}, {"name": "ntp"}])


async def test_an_aggregate_counts_clients_checks_and_results_by_severity(api: Harness) -> None:
    await seed(api.store)
    reply = await api.call("GET", "/aggregates/disk")
    assert reply.status == 200
    assert reply.json == {"clients": 2, "checks": 1, "results": {
        "ok": 0, "warning": 1, "critical": 1, "unknown": 0, "total": 2, "stale": 0}}


async def test_max_age_leaves_out_old_results_and_counts_them_stale(api: Harness) -> None:
    await seed(api.store)
    reply = await api.call("GET", "/aggregates/disk?max_age=300")
    assert reply.json["results"] == {"ok": 0, "warning": 0, "critical": 1, "unknown": 0, "total": 1, "stale": 1}
    bad = await api.call("GET", "/aggregates/disk?max_age=soon")
    assert bad.status == 400 and "max_age" in bad.json["error"]


async def test_an_unknown_aggregate_is_404_everywhere(api: Harness) -> None:
    for path in ("/aggregates/nope", "/aggregates/nope/clients", "/aggregates/nope/checks",
                 "/aggregates/nope/results/critical"):
        reply = await api.call("GET", path)
        assert reply.status == 404 and reply.json == {"error": "aggregate nope not found"}, path
    assert (await api.call("DELETE", "/aggregates/nope")).status == 404


async def test_deleting_an_aggregate_forgets_it_with_204(api: Harness) -> None:
    await seed(api.store)
    reply = await api.call("DELETE", "/aggregates/disk")
    assert (reply.status, reply.text) == (204, "")
    assert await api.store.list_aggregates() == ["ntp"]
    assert await api.store.get_result("web-01", "disk") is not None


async def test_aggregate_members_are_given_by_client_and_by_check(api: Harness) -> None:
    await seed(api.store)
    await seed_result(api.store, "web-01", result_doc("load", 0), ("disk",))
    clients = await api.call("GET", "/aggregates/disk/clients")
    assert clients.json == [{"name": "db-01", "checks": ["disk"]}, {"name": "web-01", "checks": ["disk", "load"]}]
    checks = await api.call("GET", "/aggregates/disk/checks")
    assert checks.json == [{"name": "disk", "clients": ["db-01", "web-01"]}, {"name": "load", "clients": ["web-01"]}]


async def test_results_of_one_severity_are_summarised_by_check_and_output(api: Harness) -> None:
    await seed(api.store)
    await api.store.put_client({"name": "web-02", "address": "x"})
    await seed_result(api.store, "web-02", result_doc("disk", 2, "DISK CRITICAL: / 95%"), ("disk",))
    reply = await api.call("GET", "/aggregates/disk/results/critical")
    assert reply.json == [{"check": "disk", "summary": [
        {"output": "DISK CRITICAL: / 95%", "total": 2, "clients": ["web-01", "web-02"]}]}]
    assert (await api.call("GET", "/aggregates/disk/results/unknown")).json == []
    fresh = await api.call("GET", "/aggregates/disk/results/warning?max_age=60")
    assert fresh.json == []


async def test_a_severity_other_than_warning_critical_or_unknown_is_400(api: Harness) -> None:
    await seed(api.store)
    for severity in ("ok", "fatal"):
        reply = await api.call("GET", f"/aggregates/disk/results/{severity}")
        assert reply.status == 400 and "warning, critical, unknown" in reply.json["error"]
