"""The agent over the memory transport: definition, subscriptions, requests, tokens, keepalives, standalone checks."""

from __future__ import annotations

import asyncio
import json
import re
import socket
import subprocess
from pathlib import Path
from typing import Any

import pytest

import pipeline
from pipeline.agent.agent import Agent, fit_message, subscription_pipe
from pipeline.agent.definition import client_definition, keepalive_payload
from pipeline.agent.standalone import GATHER
from pipeline.config.load import settings_of
from pipeline.config.validate import validate
from pipeline.errors import ConfigErrors
from pipeline.expr.tokens import prepare_check, unsafe_message, unsafe_tokens
from pipeline.hostaddr import first_ipv4
from pipeline.registry import default_registry
from pipeline.schedule.cron import next_cron, parse_cron
from pipeline.schedule.timing import first_delay
from pipeline.transport.base import PipeKind
from pipeline.transport.memory import MemoryTransport
from tests.agent.support import Pipe, ask, settings
from tests.helpers import FakeClock

NOW = 1_700_000_000.0





class SteppedTime:
    """A clock and a sleep that only returns when the test calls `step()`: each step is one timer firing."""

    def __init__(self, now: float = NOW) -> None:
        self.now = now
        self.sleeps: list[float] = []
        self._permits = asyncio.Semaphore(0)
        self.sleeping = asyncio.Event()

    def clock(self) -> float:
        return self.now

    async def sleep(self, delay: float) -> None:
        self.sleeps.append(delay)
        self.sleeping.set()
        await self._permits.acquire()
        self.now += delay

    async def step(self) -> None:
        """Let the pending sleep return, then wait until the sleeper sleeps again."""
        self.sleeping.clear()
        self._permits.release()
        await asyncio.wait_for(self.sleeping.wait(), 20)


async def started(client: Agent) -> Agent:
    await client.start()
    return client


# --- the client definition ------------------------------------------------------------------


def test_the_name_defaults_to_the_host_name_and_subscriptions_to_none() -> None:
    client = client_definition({}, {})
    assert client["name"] == socket.gethostname()
    assert client["subscriptions"] == []


def test_the_address_defaults_to_the_first_non_loopback_ipv4_address() -> None:
    listed = subprocess.run(["hostname", "-I"], capture_output=True, text=True).stdout.split()
    ipv4 = [a for a in listed if a.count(".") == 3 and not a.startswith("127.")]
    address = client_definition({}, {})["address"]
    assert address == first_ipv4()
    if ipv4:
        assert address in ipv4
    else:
        assert address == "127.0.0.1"


def test_custom_attributes_and_client_options_pass_through() -> None:
    defined = {"name": "db-1", "address": "10.1.1.1", "subscriptions": ["db"], "environment": "prod",
               "disk": {"warning": 80}, "keepalive": {"thresholds": {"warning": 60}}, "keepalives": False,
               "safe_mode": True, "socket": {"port": 4040}, "redact": ["token"]}
    assert client_definition(defined, {}) == defined


def test_ogi_and_sensu_environment_variables_override_the_files_and_ogi_wins() -> None:
    env = {"SENSU_CLIENT_NAME": "from-sensu", "OGI_CLIENT_NAME": "from-ogi",
           "SENSU_CLIENT_ADDRESS": "10.9.9.9", "SENSU_CLIENT_SUBSCRIPTIONS": "web, roundrobin:api,,linux"}
    client = client_definition({"name": "file", "address": "1.1.1.1", "subscriptions": ["x"]}, env)
    assert client["name"] == "from-ogi"
    assert client["address"] == "10.9.9.9"
    assert client["subscriptions"] == ["web", "roundrobin:api", "linux"]


def test_a_bad_client_name_from_the_environment_is_a_config_error_naming_the_variable() -> None:
    with pytest.raises(ConfigErrors) as caught:
        client_definition({}, {"OGI_CLIENT_NAME": "web 1;"})
    assert "OGI_CLIENT_NAME" in str(caught.value)


def test_the_keepalive_is_the_redacted_definition_with_version_and_timestamp() -> None:
    client = {"name": "web-1", "address": "10.0.0.5", "subscriptions": [], "password": "p",
              "db": {"api_key": "k", "host": "h"}, "token": "t", "redact": ["token"]}
    payload = keepalive_payload(client, NOW + 0.9)
    assert payload == {"name": "web-1", "address": "10.0.0.5", "subscriptions": [], "password": "REDACTED",
                       "db": {"api_key": "REDACTED", "host": "h"}, "token": "REDACTED", "redact": ["token"],
                       "version": pipeline.SENSU_COMPAT_VERSION, "timestamp": int(NOW)}
    assert client["password"] == "p"


# --- subscriptions ---------------------------------------------------------------------------


def test_a_plain_subscription_is_a_fanout_pipe_read_through_the_clients_own_queue() -> None:
    assert subscription_pipe("web", "q") == ("web", "fanout", "q")
    assert subscription_pipe("roundrobin:web", "q") == ("roundrobin:web", "direct", None)
    assert subscription_pipe("direct:web", "q") == ("direct:web", "direct", None)
    assert subscription_pipe("team:web", "q") == ("team:web", "fanout", "q")


def test_the_client_subscribes_to_its_subscriptions_and_its_own_client_pipe() -> None:
    client = Agent(settings({"subscriptions": ["web", "roundrobin:api", "web"]}), MemoryTransport(),
                    clock=lambda: NOW, env={})
    queue = f"web-1-{pipeline.__version__}-{int(NOW)}"
    assert client.queue == queue
    assert client.subscriptions() == [
        ("web", "fanout", queue), ("roundrobin:api", "direct", None), ("client:web-1", "fanout", queue),
    ]


async def test_a_request_on_a_subscription_runs_the_check_and_publishes_the_result() -> None:
    transport = MemoryTransport()
    results = await Pipe.open(transport, "results")
    client = await started(Agent(settings({"subscriptions": ["web"]}), transport, env={}))
    try:
        request = {"name": "hello", "command": "echo hello; exit 1", "issued": 1699999999, "team": "ops"}
        await transport.publish("web", json.dumps(request).encode(), "fanout")
        result = await results.next()
    finally:
        await client.stop()
    assert result["client"] == "web-1"
    check = result["check"]
    assert {k: check[k] for k in ("name", "command", "issued", "team", "output", "status")} == {
        "name": "hello", "command": "echo hello; exit 1", "issued": 1699999999, "team": "ops",
        "output": "hello\n", "status": 1}
    assert isinstance(check["executed"], int) and isinstance(check["duration"], float)


async def test_every_client_on_a_fanout_subscription_runs_the_request() -> None:
    transport = MemoryTransport()
    results = await Pipe.open(transport, "results")
    clients = [await started(Agent(settings({"subscriptions": ["linux"]}), transport, env={"OGI_CLIENT_NAME": n}))
               for n in ("a", "b")]
    try:
        await transport.publish("linux", json.dumps({"name": "up", "command": "true"}).encode(), "fanout")
        got = {(await results.next())["client"] for _ in range(2)}
    finally:
        for client in clients:
            await client.stop()
    assert got == {"a", "b"}


async def test_a_roundrobin_request_goes_to_exactly_one_of_the_clients() -> None:
    transport = MemoryTransport()
    results = await Pipe.open(transport, "results")
    clients = [
        await started(Agent(settings({"subscriptions": ["roundrobin:web"]}), transport, env={"OGI_CLIENT_NAME": n}))
        for n in ("a", "b")
    ]
    got = []
    try:
        for i in range(10):
            request = {"name": f"req{i}", "command": f"echo {i}"}
            await transport.publish("roundrobin:web", json.dumps(request).encode())
            got.append(await results.next())
    finally:
        for client in clients:
            await client.stop()
    assert sorted(r["check"]["name"] for r in got) == sorted(f"req{i}" for i in range(10))
    by_client = {name: sum(r["client"] == name for r in got) for name in ("a", "b")}
    assert by_client["a"] > 0 and by_client["b"] > 0
    assert transport.depth("results") == 0


async def test_the_client_pipe_reaches_that_client_only() -> None:
    transport = MemoryTransport()
    results = await Pipe.open(transport, "results")
    clients = [await started(Agent(settings(), transport, env={"OGI_CLIENT_NAME": n})) for n in ("a", "b")]
    try:
        await transport.publish("client:b", json.dumps({"name": "only_b", "command": "true"}).encode(), "fanout")
        await transport.publish("client:a", json.dumps({"name": "only_a", "command": "true"}).encode(), "fanout")
        got = {(r := await results.next())["check"]["name"]: r["client"] for _ in range(2)}
    finally:
        for client in clients:
            await client.stop()
    assert got == {"only_a": "a", "only_b": "b"}


# --- check requests --------------------------------------------------------------------------


async def test_the_local_definition_overrides_the_request() -> None:
    transport = MemoryTransport()
    results = await Pipe.open(transport, "results")
    checks = {"disk": {"command": "echo local", "interval": 60, "subscribers": ["web"], "owner": "local"}}
    client = Agent(settings(checks=checks), transport, env={})
    await ask(client, {"name": "disk", "command": "echo remote", "issued": 5, "extra": 1})
    check = (await results.next())["check"]
    assert (check["output"], check["owner"], check["extra"], check["issued"]) == ("local\n", "local", 1, 5)


async def test_safe_mode_refuses_a_check_not_defined_locally_with_sensus_message(tmp_path: Path) -> None:
    transport = MemoryTransport()
    results = await Pipe.open(transport, "results")
    client = Agent(settings({"safe_mode": True}, {"known": {"command": "echo known"}}), transport, env={})
    marker = tmp_path / "ran"
    await ask(client, {"name": "remote", "command": f"touch {marker}"})
    refused = (await results.next())["check"]
    await ask(client, {"name": "known", "command": "ignored"})
    known = (await results.next())["check"]
    assert (refused["status"], refused["output"], refused["handle"]) == (
        3, "Check is not locally defined (safe mode)", False)
    assert not marker.exists()
    assert (known["status"], known["output"]) == (0, "known\n")


async def test_a_request_for_a_sensu_check_extension_becomes_an_unknown_result_not_a_silent_skip() -> None:
    transport = MemoryTransport()
    results = await Pipe.open(transport, "results")
    client = Agent(settings(), transport, env={})
    await ask(client, {"name": "cpu_ext", "extension": "cpu_metrics", "issued": 7})
    check = (await results.next())["check"]
    assert (check["name"], check["status"], check["issued"]) == ("cpu_ext", 3, 7)
    assert check["output"] == 'check extension \'cpu_metrics\' cannot run on an ogi client: give the check a "command"'
    assert client.counts["requests_malformed"] == 0


async def test_a_check_still_running_is_not_started_twice(tmp_path: Path) -> None:
    transport = MemoryTransport()
    results = await Pipe.open(transport, "results")
    client = Agent(settings(), transport, env={})
    go, runs = tmp_path / "go", tmp_path / "runs"
    command = f"echo run >> {runs}; while [ ! -e {go} ]; do sleep 0.01; done; echo finished"
    first = client.request(json.dumps({"name": "slow", "command": command}).encode())
    second = client.request(json.dumps({"name": "slow", "command": command}).encode())
    assert first is not None and second is not None
    assert await second is None
    assert client.counts["skipped_running"] == 1
    go.touch()
    assert (await first)["output"] == "finished\n"
    assert (await results.next())["check"]["output"] == "finished\n"
    assert runs.read_text() == "run\n"
    third = client.request(json.dumps({"name": "slow", "command": command}).encode())
    assert third is not None and (await third)["output"] == "finished\n"


async def test_an_agent_that_cannot_keep_up_logs_its_skips_once_a_minute_per_check(
        tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    clock = FakeClock()
    client = Agent(settings(), MemoryTransport(), clock=clock, env={})
    go = tmp_path / "go"
    request = json.dumps({"name": "slow", "command": f"while [ ! -e {go} ]; do sleep 0.01; done"}).encode()
    first = client.request(request)
    caplog.set_level("WARNING", logger="ogi.client")

    def skips() -> list[int]:
        return [getattr(r, "fields", {}).get("skipped") for r in caplog.records
                if r.getMessage() == "previous check command execution in progress"]

    for _ in range(5):
        assert await client.request(request) is None
        clock.advance(10)
    assert skips() == [1]  # the first skip at once, the next four within the minute stay quiet
    clock.advance(15)
    assert await client.request(request) is None
    assert skips() == [1, 5]  # 65 s on: one line standing for the five skips since
    assert client.counts["skipped_running"] == 6
    go.touch()
    assert first is not None and (await first)["status"] == 0


@pytest.mark.parametrize(
    ("body", "reason"),
    [
        (b"not json", "not JSON"),
        (b"[1, 2]", "not a JSON object"),
        (b'{"command": "true"}', "no valid check name"),
        (b'{"name": "bad name", "command": "true"}', "no valid check name"),
        (b'{"name": "nocommand"}', "no command"),
        (b'{"name": "empty", "command": " "}', "no command"),
    ],
)
async def test_a_malformed_request_is_logged_and_skipped_and_the_next_one_runs(
    body: bytes, reason: str, caplog: pytest.LogCaptureFixture
) -> None:
    transport = MemoryTransport()
    results = await Pipe.open(transport, "results")
    client = await started(Agent(settings({"subscriptions": ["web"]}), transport, env={}))
    try:
        await transport.publish("web", body, "fanout")
        await transport.publish("web", json.dumps({"name": "good", "command": "echo good"}).encode(), "fanout")
        result = await results.next()
    finally:
        await client.stop()
    assert result["check"]["name"] == "good"
    assert client.counts["requests_malformed"] == 1
    assert any(getattr(r, "fields", {}).get("reason") == reason for r in caplog.records)


async def test_run_check_refuses_a_check_without_a_name_or_command() -> None:
    transport = MemoryTransport()
    client = Agent(settings(), transport, env={})
    assert await client.run_check({"command": "true"}) is None
    assert await client.run_check({"name": "x"}) is None
    assert client.counts["requests_malformed"] == 2
    assert transport.depth("results") == 0


async def test_an_unmatched_token_reports_status_3_and_does_not_run_the_command(tmp_path: Path) -> None:
    transport = MemoryTransport()
    results = await Pipe.open(transport, "results")
    client = Agent(settings({"db": {"host": "db1"}}), transport, env={})
    marker = tmp_path / "ran"
    command = f"touch {marker} :::db.host::: :::db.name::: :::db.port|5432:::"
    await ask(client, {"name": "db", "command": command})
    check = (await results.next())["check"]
    assert (check["status"], check["output"], check["handle"]) == (3, "Unmatched client token(s): db.name", False)
    assert check["command"] == command
    assert not marker.exists()


async def test_tokens_are_filled_in_from_the_client_definition_before_the_command_runs() -> None:
    transport = MemoryTransport()
    results = await Pipe.open(transport, "results")
    client = Agent(settings({"disk": {"warning": 80}}), transport, env={})
    await ask(client, {"name": "disk", "command": "echo :::name::: :::disk.warning::: :::x|9:::",
                       "notes": "on :::address:::"})
    check = (await results.next())["check"]
    assert (check["output"], check["notes"]) == ("web-1 80 9\n", "on 10.0.0.5")


async def test_a_token_value_with_shell_metacharacters_is_refused_unless_the_check_allows_it(tmp_path: Path) -> None:
    transport = MemoryTransport()
    results = await Pipe.open(transport, "results")
    marker = tmp_path / "injected"
    client = Agent(settings({"dir": f"/tmp; touch {marker}"}), transport, env={})
    await ask(client, {"name": "ls", "command": "ls :::dir::: >/dev/null"})
    refused = (await results.next())["check"]
    assert refused["status"] == 3
    assert "dir (contains" in refused["output"]
    assert not marker.exists()
    await ask(client, {"name": "ls", "command": "ls :::dir::: >/dev/null; echo done",
                       "unsafe_tokens": True})
    allowed = (await results.next())["check"]
    assert allowed["output"].endswith("done\n")
    assert marker.exists()


async def test_the_signature_travels_with_every_result() -> None:
    transport = MemoryTransport()
    results = await Pipe.open(transport, "results")
    client = Agent(settings({"signature": "s1"}), transport, env={})
    await client.run_check({"name": "a", "command": "true"})
    assert (await results.next())["signature"] == "s1"


async def test_the_spawn_limit_is_shared_by_all_checks(tmp_path: Path) -> None:
    running, counts = tmp_path / "running", tmp_path / "counts"
    running.mkdir()
    client = Agent(settings(sensu={"spawn": {"limit": 1}}), MemoryTransport(), env={})
    script = (f"touch {running}/$$; ls {running} | wc -l >> {counts}; sleep 0.05; rm {running}/$$")
    await asyncio.gather(*(client.run_check({"name": f"c{i}", "command": script}) for i in range(4)))
    assert [int(n) for n in counts.read_text().split()] == [1, 1, 1, 1]


async def test_without_a_spawn_limit_twenty_checks_run_at_once(tmp_path: Path) -> None:
    running = tmp_path / "running"
    running.mkdir()
    client = Agent(settings(), MemoryTransport(), env={})
    # Each check waits (at most 5 s) until 20 are running; at Sensu's 12 slots only 12 ever would.
    script = (f"touch {running}/$$; i=0; while [ $(ls {running} | wc -l) -lt 20 ] && [ $i -lt 100 ]; "
              f"do sleep 0.05; i=$((i+1)); done; ls {running} | wc -l")
    results = await asyncio.gather(*(client.run_check({"name": f"c{i}", "command": script}) for i in range(20)))
    assert [int(r["output"]) for r in results] == [20] * 20


async def test_stopping_the_client_kills_running_checks(tmp_path: Path) -> None:
    pidfile = tmp_path / "pid"
    client = await started(Agent(settings(), MemoryTransport(), env={}))
    task = client._spawn(client.run_check({"name": "hang", "command": f"sleep 60 & echo $! > {pidfile}; wait"}))
    for _ in range(500):
        if pidfile.exists() and pidfile.read_text().strip():
            break
        await asyncio.sleep(0.01)
    pid = int(pidfile.read_text())
    await client.stop()
    assert task.cancelled()
    for _ in range(200):
        if not Path(f"/proc/{pid}").exists() or Path(f"/proc/{pid}/stat").read_text().split(") ")[1][0] == "Z":
            break
        await asyncio.sleep(0.01)
    else:
        pytest.fail(f"check child {pid} survived the client's stop")


def test_a_result_too_big_for_the_server_has_its_output_cut_to_fit() -> None:
    payload = {"client": "c", "check": {"name": "x", "output": "\x00" * 100_000, "status": 0}}
    body = fit_message(payload, limit=50_000)
    assert len(body) <= 50_000
    check = json.loads(body)["check"]
    assert check["output"].endswith("[ogi: output cut so the result fits 50000 bytes]\n")
    assert check["status"] == 0


# --- keepalives ------------------------------------------------------------------------------


class Recording(MemoryTransport):
    """A memory transport that notes, at each keepalive, whether the client's socket was open."""

    def __init__(self) -> None:
        super().__init__()
        self.client: Agent | None = None
        self.socket_open_at_keepalive: list[bool] = []

    async def publish(self, pipe: str, body: bytes, kind: PipeKind = "direct") -> None:
        if pipe == "keepalives" and self.client is not None:
            self.socket_open_at_keepalive.append(self.client.socket is not None)
        await super().publish(pipe, body, kind)


async def test_a_keepalive_is_sent_at_start_before_the_socket_opens() -> None:
    transport = Recording()
    keepalives = await Pipe.open(transport, "keepalives")
    client = Agent(settings({"socket": {"port": 0}}), transport, env={})
    transport.client = client
    await client.start()
    try:
        assert client.socket is not None
        first = await keepalives.next()
    finally:
        await client.stop()
    assert transport.socket_open_at_keepalive == [False]
    assert first["name"] == "web-1"


@pytest.mark.parametrize("monitored", [True, False])
async def test_keepalives_repeat_every_interval_with_the_client_clock_even_when_not_monitored(monitored: bool) -> None:
    time = SteppedTime()
    transport = MemoryTransport()
    keepalives = await Pipe.open(transport, "keepalives")
    client = Agent(settings({"keepalives": monitored, "password": "x"}), transport, clock=time.clock,
                    env={}, sleep=time.sleep)
    await client.start()
    try:
        received = [await keepalives.next()]
        await asyncio.wait_for(time.sleeping.wait(), 20)
        for _ in range(2):
            await time.step()
            received.append(await keepalives.next())
    finally:
        await client.stop()
    assert time.sleeps[:3] == [20.0, 20.0, 20.0]
    assert [k["timestamp"] for k in received] == [int(NOW), int(NOW) + 20, int(NOW) + 40]
    assert all(k["keepalives"] is monitored and k["password"] == "REDACTED" for k in received)


# --- standalone checks -----------------------------------------------------------------------


async def test_a_standalone_check_runs_on_its_splay_then_every_interval() -> None:
    time = SteppedTime()
    transport = MemoryTransport()
    results = await Pipe.open(transport, "results")
    checks = {"local": {"command": "echo local", "standalone": True, "interval": 60},
              "published": {"command": "echo no", "subscribers": ["x"], "interval": 60},
              "quiet": {"command": "echo no", "standalone": True, "publish": False, "interval": 60}}
    client = Agent(settings(checks=checks), transport, clock=time.clock, env={}, sleep=time.sleep)
    client.standalone.start()
    try:
        await asyncio.wait_for(time.sleeping.wait(), 20)
        issued = []
        for _ in range(3):
            await time.step()
            issued.append((await results.next())["check"]["issued"])
    finally:
        await client.standalone.stop()
    assert set(client.standalone.schedules) == {"local"}
    splay = first_delay("web-1:local", 60, NOW)
    assert time.sleeps[0] == pytest.approx(splay, abs=0.001)
    assert time.sleeps[1:4] == pytest.approx([60.0, 60.0, 60.0])
    assert issued == [int(NOW + time.sleeps[0] + 60 * i) for i in range(3)]


async def test_standalone_checks_due_within_a_few_ms_start_in_one_wake_up_and_none_is_late_by_more(
        monkeypatch: pytest.MonkeyPatch) -> None:
    time = SteppedTime()
    checks = {f"c{i}": {"command": "true", "standalone": True, "interval": 1} for i in range(200)}
    client = Agent(settings(checks=checks), MemoryTransport(), clock=time.clock, env={}, sleep=time.sleep)
    started: list[tuple[str, float]] = []

    async def record(check: dict[str, Any], issued: float | None = None) -> None:
        started.append((check["name"], time.now))

    monkeypatch.setattr(client, "run_check", record)
    client.standalone.start()
    ticks = {name: schedule.next_at for name, schedule in client.standalone.schedules.items()}
    try:
        await asyncio.wait_for(time.sleeping.wait(), 20)
        while len(started) < len(checks):
            await time.step()
    finally:
        await client.standalone.stop()
    assert sorted(name for name, _ in started) == sorted(checks)
    late = [at - ticks[name] for name, at in started]
    assert min(late) >= 0 and max(late) <= GATHER + 1e-9
    # 200 splay phases over one second: one wake-up each without gathering, at most ~50 with it
    assert len(set(ticks.values())) > 150
    assert len(time.sleeps) <= 1 / GATHER + 2


async def test_a_standalone_cron_check_runs_at_the_cron_times() -> None:
    time = SteppedTime()
    client = Agent(settings(checks={"c": {"command": "true", "standalone": True, "cron": "*/5 * * * *"}}),
                    MemoryTransport(), clock=time.clock, env={}, sleep=time.sleep)
    client.standalone.start()
    try:
        await asyncio.wait_for(time.sleeping.wait(), 20)
    finally:
        await client.standalone.stop()
    assert NOW + time.sleeps[0] == pytest.approx(next_cron(parse_cron("*/5 * * * *"), NOW))


async def test_a_subdued_standalone_check_skips_its_ticks() -> None:
    time = SteppedTime()
    transport = MemoryTransport()
    all_day = {"days": {"all": [{"begin": "00:00", "end": "23:59:59"}]}}
    checks = {"quiet": {"command": "echo no", "standalone": True, "interval": 10, "subdue": all_day}}
    client = Agent(settings(checks=checks), transport, clock=time.clock, env={}, sleep=time.sleep)
    client.standalone.start()
    try:
        await asyncio.wait_for(time.sleeping.wait(), 20)
        for _ in range(3):
            await time.step()
    finally:
        await client.standalone.stop()
    assert client.counts["subdued"] == 3
    assert transport.depth("results") == 0


async def test_a_standalone_check_that_cannot_be_scheduled_is_logged_and_the_others_run() -> None:
    checks = {"bad": {"command": "true", "standalone": True, "cron": "not a cron"},
              "good": {"command": "true", "standalone": True, "interval": 30}}
    client = Agent(settings(checks=checks), MemoryTransport(), env={})
    client.standalone.start()
    await client.standalone.stop()
    assert client.counts["standalone_unschedulable"] == 1


async def test_a_started_agent_announces_itself_and_answers_a_roundrobin_request() -> None:
    transport = MemoryTransport()
    keepalives = await Pipe.open(transport, "keepalives")
    results = await Pipe.open(transport, "results")
    # A direct pipe keeps the request until the agent has subscribed.
    await transport.publish("roundrobin:web", json.dumps({"name": "ping", "command": "echo pong"}).encode())
    agent = Agent(settings({"subscriptions": ["roundrobin:web"]}), transport, env={})
    await agent.start()
    try:
        assert (await keepalives.next())["name"] == "web-1"
        assert (await results.next())["check"]["output"] == "pong\n"
    finally:
        await agent.stop()


# --- docs/client.md --------------------------------------------------------------------------

DOC = Path(__file__).resolve().parents[2] / "docs" / "client.md"


def doc_blocks() -> list[dict[str, Any]]:
    return [json.loads(block) for block in re.findall(r"```json\n(.*?)```", DOC.read_text(), re.S)]


def doc_settings() -> list[dict[str, Any]]:
    return [block for block in doc_blocks() if "client" in block or "checks" in block]


@pytest.mark.parametrize("index", range(len(doc_settings())))
def test_every_configuration_in_the_client_doc_is_valid(index: int) -> None:
    block = doc_settings()[index]
    errors, _warnings = validate(block, default_registry, role="client")  # a client's files: handlers are the server's
    assert [str(e) for e in errors] == []


def test_the_client_doc_shows_the_keepalive_its_example_client_sends() -> None:
    example, *_ = doc_settings()
    shown = next(block for block in doc_blocks() if "timestamp" in block)
    assert keepalive_payload(client_definition(example["client"], {}), 1700000000) == shown


def test_the_client_doc_token_example_gives_the_command_it_describes() -> None:
    example, *_ = doc_settings()
    checks = next(block for block in doc_settings() if "mysql" in block.get("checks", {}))
    prepared = prepare_check(checks["checks"]["mysql"], client_definition(example["client"], {}))
    assert prepared.check["command"] == "check-mysql -P 3306 -u monitor"
    assert prepared.check["notes"] == "MySQL on web-1"
    assert "this runs `check-mysql -P 3306 -u monitor`" in DOC.read_text()
    unmatched = prepare_check(checks["checks"]["mysql"], {"name": "bare"})
    assert f"output `{unmatched.output}`" in DOC.read_text()


def test_the_client_doc_quotes_the_unsafe_token_message_as_ogi_writes_it() -> None:
    message = unsafe_message(unsafe_tokens("ls :::dir:::", {"dir": "/tmp; rm -rf /"}))
    assert f"    {message}\n" in DOC.read_text()


async def test_the_client_doc_safe_mode_example_refuses_other_checks() -> None:
    block = next(block for block in doc_settings() if block.get("client", {}).get("safe_mode"))
    block["client"]["socket"] = {"enabled": False}
    transport = MemoryTransport()
    results = await Pipe.open(transport, "results")
    client = Agent(settings_of(block), transport, env={})
    await ask(client, {"name": "other", "command": "true"})
    check = (await results.next())["check"]
    assert f"`{check['output']}`" in " ".join(DOC.read_text().split())
    assert (check["status"], check["handle"]) == (3, False)
