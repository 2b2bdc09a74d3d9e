"""The operator commands (`ogi events`, `ogi silence add`, ...) over the HTTP API.

Commands run in-process through `register()` on a parser built here, in a worker thread (they
use blocking urllib) while the API serves on this test's event loop. Listings and changes go
against the real ogi API over a memory store and transport; error paths the real API never
takes on purpose (a 500, a non-JSON body) come from a small aiohttp app that answers just that.
"""

from __future__ import annotations

import argparse
import asyncio
import io
import json
import re
import shlex
import subprocess
import sys
import time
import urllib.request
from collections.abc import AsyncIterator
from contextlib import redirect_stderr, redirect_stdout
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from aiohttp import web
from prometheus_client import CollectorRegistry

from pipeline.chain.engine import Engine
from pipeline.cli.main import common_options
from pipeline.cli.ops import register
from pipeline.cli.ops_api import endpoint
from pipeline.cli.ops_format import (
    format_age,
    format_duration,
    parse_duration,
    table,
)
from pipeline.config import load as config
from pipeline.config.load import settings_of
from pipeline.extension import Context
from pipeline.server.results import ResultProcessor
from pipeline.store.memory import MemoryStore
from pipeline.transport.memory import MemoryTransport
from tests.helpers import free_port

# --- running a command ---------------------------------------------------------------------------


@dataclass
class Outcome:
    code: int | str | None
    out: str
    err: str


def ogi_parser() -> argparse.ArgumentParser:
    """What `pipeline.cli.main.build_parser()` gives once the lead wires `register` in."""
    parser = argparse.ArgumentParser(prog="ogi")
    commands = parser.add_subparsers(dest="command", metavar="COMMAND")
    register(commands, common_options())
    return parser


def run_ogi(*argv: str, stdin: str | None = None) -> Outcome:
    """Parse and run like `pipeline.cli.main.main`, capturing output and the exit code (argparse's included)."""
    out, err = io.StringIO(), io.StringIO()
    saved = sys.stdin
    try:
        with redirect_stdout(out), redirect_stderr(err):
            if stdin is not None:
                sys.stdin = io.StringIO(stdin)
            try:
                args = ogi_parser().parse_args(list(argv))
                code: int | str | None = args.handler(args)
            except SystemExit as exit_:
                code = exit_.code
    finally:
        sys.stdin = saved
    return Outcome(code, out.getvalue(), err.getvalue())


async def ogi(*argv: str, stdin: str | None = None) -> Outcome:
    return await asyncio.to_thread(run_ogi, *argv, stdin=stdin)


@pytest.fixture(autouse=True)
def no_ambient_config(monkeypatch: pytest.MonkeyPatch) -> None:
    """No /etc/ogi, /etc/sensu or OGI_* variables from the machine running the tests."""
    monkeypatch.setattr(config, "DEFAULT_ROOTS", ())
    for var in ("OGI_API_URL", "OGI_API_USER", "OGI_API_PASSWORD", "OGI_API_PORT", "SENSU_API_PORT"):
        monkeypatch.delenv(var, raising=False)


# --- a canned API for the error paths ------------------------------------------------------------


@pytest.fixture
async def canned() -> AsyncIterator[tuple[str, list[web.Request]]]:
    """An app answering fixed responses by path; records each request it saw."""
    seen: list[web.Request] = []

    async def answer(request: web.Request) -> web.StreamResponse:
        seen.append(request)
        path = request.path
        if path == "/events":
            return web.Response(status=500, text="Traceback: nothing for people")
        if path == "/clients":
            return web.json_response({"error": "store unavailable: redis is down"}, status=503)
        if path == "/resolve":
            return web.Response(status=404)
        if path == "/checks":
            return web.Response(text="<html>not json</html>")
        if path == "/silenced":
            return web.Response(status=401)
        if path == "/results":
            await asyncio.sleep(1)
        return web.json_response({"error": "unexpected"}, status=418)

    app = web.Application()
    app.router.add_route("*", "/{tail:.*}", answer)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    port = free_port()
    await web.TCPSite(runner, "127.0.0.1", port).start()
    try:
        yield f"http://127.0.0.1:{port}", seen
    finally:
        await runner.cleanup()


# --- durations, ages and tables ------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "seconds"),
    [("1h", 3600), ("30m", 1800), ("90s", 90), ("2d", 172800), ("3600", 3600), ("1w", 604800),
     ("1h30m", 5400), ("2H", 7200), (" 45s ", 45)],
)
def test_a_duration_is_read_in_seconds(text: str, seconds: int) -> None:
    assert parse_duration(text) == seconds


@pytest.mark.parametrize("text", ["", "abc", "-5", "0", "0s", "1.5h", "h", "10x", "1h 30m", "30m1", "1y", "--1h"])
def test_a_duration_that_is_not_one_is_refused(text: str) -> None:
    with pytest.raises(ValueError, match="duration"):
        parse_duration(text)


@pytest.mark.parametrize(
    ("seconds", "shown"),
    [(0, "0s"), (45, "45s"), (60, "1m"), (90, "1m30s"), (3599, "59m59s"), (3600, "1h"), (3660, "1h1m"),
     (86400 + 3600 + 61, "1d1h"), (-5, "0s")],
)
def test_a_duration_is_shown_in_its_two_largest_units(seconds: int, shown: str) -> None:
    assert format_duration(seconds) == shown


def test_an_age_reads_as_ago_or_in_and_a_missing_timestamp_as_a_dash() -> None:
    assert format_age(1000, now=1090) == "1m30s ago"
    assert format_age(1600, now=1000) == "in 10m"
    assert format_age(None, now=1000) == "-"
    assert format_age(True, now=1000) == "-"


def test_a_table_sizes_each_column_to_its_widest_cell_and_leaves_no_trailing_spaces() -> None:
    text = table(("NAME", "STATUS", "OUTPUT"), [["web1", "CRITICAL", "disk full"], ["database-7", 0, ""]])
    assert text.splitlines() == [
        "NAME        STATUS    OUTPUT",
        "web1        CRITICAL  disk full",
        "database-7  0",
    ]


def test_a_cell_cannot_send_escape_sequences_to_the_terminal() -> None:
    text = table(("OUTPUT",), [["\x1b[2Jgone\ttab\rback"]])
    assert "\x1b" not in text and "\r" not in text
    assert text.splitlines()[1] == "\\x1b[2Jgone tab\\rback"


# --- where the API is ----------------------------------------------------------------------------


def _args(*argv: str) -> argparse.Namespace:
    return ogi_parser().parse_args(["events", *argv])


def test_without_flags_or_config_the_api_is_on_loopback_port_4567() -> None:
    api = endpoint(_args(), env={})
    assert (api.url, api.user) == ("http://127.0.0.1:4567", None)


def test_the_config_names_host_port_credentials_and_https(tmp_path: Path) -> None:
    (tmp_path / "api.json").write_text(json.dumps(
        {"api": {"host": "api.example", "port": 4000, "user": "ops", "password": "s3cret", "ssl": {"cert": "x"}}}))
    api = endpoint(_args("-d", str(tmp_path)), env={})
    assert (api.url, api.user, api.password) == ("https://api.example:4000", "ops", "s3cret")


@pytest.mark.parametrize(("bind", "url"), [("0.0.0.0", "http://127.0.0.1:4567"), ("::", "http://127.0.0.1:4567"),
                                           ("10.1.2.3", "http://10.1.2.3:4567"), ("::1", "http://[::1]:4567")])
def test_a_bind_address_is_used_unless_it_is_a_wildcard(tmp_path: Path, bind: str, url: str) -> None:
    (tmp_path / "config.json").write_text(json.dumps({"api": {"bind": bind}}))
    assert endpoint(_args("-c", str(tmp_path / "config.json")), env={}).url == url


def test_the_flag_beats_the_environment_which_beats_the_config(tmp_path: Path) -> None:
    file = tmp_path / "config.json"
    file.write_text(json.dumps({"api": {"port": 4000, "user": "fromconfig", "password": "c"}}))
    env = {"OGI_API_URL": "http://env.example:1", "OGI_API_USER": "fromenv", "OGI_API_PASSWORD": "e"}
    assert endpoint(_args("-c", str(file)), env=env).url == "http://env.example:1"
    api = endpoint(_args("-c", str(file), "--api", "http://flag.example:2/"), env=env)
    assert (api.url, api.user, api.password) == ("http://flag.example:2", "fromenv", "e")
    api = endpoint(_args("-c", str(file)), env={"OGI_API_PORT": "4999"})
    assert (api.url, api.user) == ("http://127.0.0.1:4000", "fromconfig")  # the file wins over the env port


def test_credentials_in_the_url_are_taken_out_of_it() -> None:
    api = endpoint(_args("--api", "https://ops:p%40ss@api.example:4567"), env={"OGI_API_USER": "other"})
    assert (api.url, api.user, api.password) == ("https://api.example:4567", "ops", "p@ss")


def test_a_url_without_a_scheme_is_taken_as_http() -> None:
    assert endpoint(_args("--api", "10.0.0.5:4567"), env={}).url == "http://10.0.0.5:4567"


@pytest.mark.parametrize("url", ["ftp://host", "http://", "http://host:port"])
def test_an_api_url_that_is_not_one_is_bad_usage(url: str) -> None:
    outcome = run_ogi("events", "--api", url)
    assert outcome.code == 2
    assert "--api" in outcome.err and outcome.out == ""


def test_a_config_file_that_cannot_be_read_fails_with_its_name(tmp_path: Path) -> None:
    missing = tmp_path / "nope.json"
    outcome = run_ogi("events", "-c", str(missing))
    assert outcome.code == 1
    assert str(missing) in outcome.err


# --- errors --------------------------------------------------------------------------------------


async def test_an_api_nobody_listens_on_gives_exit_1_and_says_where_it_looked() -> None:
    url = f"http://127.0.0.1:{free_port()}"
    outcome = await ogi("events", "--api", url)
    assert outcome.code == 1
    assert outcome.out == ""
    assert outcome.err.startswith(f"ogi events: cannot reach the ogi API at {url}: ")
    assert "Traceback" not in outcome.err


async def test_the_api_s_own_error_message_is_shown_with_the_status(canned: tuple[str, list[Any]]) -> None:
    url, _ = canned
    outcome = await ogi("clients", "--api", url)
    assert outcome.code == 1
    assert outcome.err == "ogi clients: store unavailable: redis is down (503 Service Unavailable from GET /clients)\n"


async def test_an_error_without_a_json_message_shows_the_status_line_only(canned: tuple[str, list[Any]]) -> None:
    url, _ = canned
    outcome = await ogi("events", "--api", url)
    assert (outcome.code, outcome.err) == (1, "ogi events: 500 Internal Server Error from GET /events\n")


async def test_a_404_from_resolve_says_there_is_no_such_open_event(canned: tuple[str, list[Any]]) -> None:
    url, _ = canned
    outcome = await ogi("resolve", "web1", "disk", "--api", url)
    assert outcome.code == 1
    assert outcome.err == "ogi resolve: no open event for web1/disk (404 Not Found from POST /resolve)\n"


async def test_a_401_says_how_to_give_credentials(canned: tuple[str, list[Any]]) -> None:
    url, _ = canned
    outcome = await ogi("silence", "list", "--api", url)
    assert outcome.code == 1
    assert "OGI_API_USER" in outcome.err and "401 Unauthorized from GET /silenced" in outcome.err


async def test_an_answer_that_is_not_json_is_an_error_not_a_crash(canned: tuple[str, list[Any]]) -> None:
    url, _ = canned
    outcome = await ogi("checks", "--api", url)
    assert outcome.code == 1
    assert "not JSON" in outcome.err


async def test_an_api_that_does_not_answer_in_time_is_given_up_on(canned: tuple[str, list[Any]]) -> None:
    url, _ = canned
    outcome = await ogi("results", "--api", url, "--timeout", "0.2")
    assert outcome.code == 1
    assert outcome.err.startswith(f"ogi results: cannot reach the ogi API at {url}: ")
    assert "0.2s" in outcome.err


async def test_credentials_go_as_basic_auth(canned: tuple[str, list[Any]], monkeypatch: pytest.MonkeyPatch) -> None:
    url, seen = canned
    monkeypatch.setenv("OGI_API_USER", "ops")
    monkeypatch.setenv("OGI_API_PASSWORD", "pw")
    await ogi("clients", "--api", url)
    assert seen[-1].headers["Authorization"] == "Basic b3BzOnB3"


# --- bad usage -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("argv", "said"),
    [
        (["silence", "add"], "say what to silence"),
        (["silence", "add", "--reason", "maintenance"], "say what to silence"),
        (["silence", "add", "--client", "web1", "--subscription", "web"], "not both"),
        (["silence", "add", "--check", "disk", "--expire", "soon"], "duration"),
        (["silence", "add", "--check", "disk", "--expire=-1h"], "duration"),
        (["silence", "add", "--check", "disk", "--begin", "tomorrow"], "not a time"),
        (["silence", "clear"], "say which silence"),
        (["silence", "clear", "--id", "web:*", "--check", "disk"], "not both"),
        (["silence"], "required"),
        (["stash", "set", "a/b", "[1, 2]"], "JSON object"),
        (["stash", "set", "a/b", "{nope"], "not JSON"),
        (["stash", "set", "/", "{}"], "empty"),
        (["request", "disk", "--subscribers", " , "], "at least one"),
        (["resolve", "web1"], "CHECK"),
        (["events", "--timeout", "0"], "positive"),
    ],
)
async def test_bad_usage_exits_2_with_a_message_and_calls_nothing(
    canned: tuple[str, list[Any]], argv: list[str], said: str
) -> None:
    url, seen = canned
    outcome = await ogi(*argv, "--api", url) if argv != ["silence"] else await ogi(*argv)
    assert outcome.code == 2
    assert said in outcome.err
    assert outcome.out == ""
    assert seen == []


# --- against the real API ------------------------------------------------------------------------

CHECKS: dict[str, Any] = {
    "disk": {"command": "check-disk -w 90 -c 95", "subscribers": ["web", "db"], "interval": 60,
             "handlers": ["mail", "pager"]},
    "backup": {"command": "check-backup", "subscribers": ["db"], "cron": "0 3 * * *"},
    "local-only": {"command": "true", "standalone": True, "interval": 10},
}


@dataclass
class Live:
    url: str
    port: int
    store: MemoryStore
    transport: MemoryTransport
    processor: ResultProcessor

    async def ogi(self, *argv: str, stdin: str | None = None) -> Outcome:
        return await ogi(*argv, "--api", self.url, stdin=stdin)

    async def raw(self, path: str) -> str:
        """The API's own body for a GET, to compare --json with."""
        def fetch() -> str:
            with urllib.request.urlopen(self.url + path, timeout=5) as response:
                return str(response.read().decode())
        return await asyncio.to_thread(fetch)

    async def result(self, client: str, check: str, status: int, output: str) -> None:
        executed = int(time.time())
        body = {"client": client, "check": {"name": check, "status": status, "output": output,
                                            "issued": executed, "executed": executed}}
        await self.processor.process_message(json.dumps(body).encode())


async def start_live(settings: dict[str, Any]) -> tuple[Live, Any, Engine]:
    api = pytest.importorskip("pipeline.api", reason="pipeline.api (start_api) has not landed yet")
    port = free_port()
    settings = {**settings, "api": {**settings.get("api", {}), "bind": "127.0.0.1", "port": port}}
    store, transport = MemoryStore(), MemoryTransport()
    engine = Engine(settings_of(settings), Context(settings=settings_of(settings), store=store, transport=transport, metrics=CollectorRegistry()))
    processor = ResultProcessor(settings_of(settings), store, engine)
    runner = await api.start_api(settings_of(settings), store, transport, time.time)
    return Live(f"http://127.0.0.1:{port}", port, store, transport, processor), runner, engine


async def seed(site: Live) -> None:
    """Two clients, two open events (one seen twice), one OK result."""
    now = int(time.time())
    await site.store.put_client({"name": "web1", "address": "10.0.0.7", "subscriptions": ["web", "client:web1"],
                                 "version": "1.9.0", "timestamp": now - 15})
    await site.store.put_client({"name": "db-primary", "address": "10.0.0.9",
                                 "subscriptions": ["db", "client:db-primary"], "version": "1.9.0",
                                 "timestamp": now - 75})
    await site.result("web1", "disk", 2, "CRITICAL: / is 97% full\nmounted on /dev/sda1")
    await site.result("db-primary", "disk", 1, "WARNING: /var is 91% full")
    await site.result("db-primary", "disk", 1, "WARNING: /var is 92% full")
    await site.result("db-primary", "backup", 0, "OK: last backup 3h ago")


@pytest.fixture
async def live() -> AsyncIterator[Live]:
    # Handlers that go nowhere: these tests are about the API, not about handling.
    nowhere = {"type": "set", "handlers": []}
    site, runner, engine = await start_live({"checks": CHECKS, "handlers": {"mail": nowhere, "pager": nowhere}})
    await seed(site)
    try:
        yield site
    finally:
        await runner.stop()
        await engine.close()
        await site.transport.close()


def rows(text: str) -> list[list[str]]:
    """A table's lines split on its column gaps (two or more spaces)."""
    return [re.split(r"\s{2,}", line) for line in text.splitlines()]


async def test_events_lists_open_events_as_an_aligned_table(live: Live) -> None:
    outcome = await live.ogi("events")
    assert (outcome.code, outcome.err) == (0, "")
    assert outcome.out.splitlines() == [
        "CLIENT      CHECK  STATUS    OCCURRENCES  SILENCED  OUTPUT",
        "db-primary  disk   WARNING   2            no        WARNING: /var is 92% full",
        "web1        disk   CRITICAL  1            no        CRITICAL: / is 97% full",
    ]


async def test_events_narrows_to_a_client_and_to_one_check(live: Live) -> None:
    outcome = await live.ogi("events", "web1")
    assert [r[0] for r in rows(outcome.out)] == ["CLIENT", "web1"]
    outcome = await live.ogi("events", "db-primary", "disk")
    assert rows(outcome.out)[1][:4] == ["db-primary", "disk", "WARNING", "2"]


async def test_events_says_silenced_once_a_silence_is_added_with_no_new_result(live: Live) -> None:
    # The events came from results before the silence; no result follows (a pushed check).
    outcome = await live.ogi("silence", "add", "--client", "web1", "--check", "disk", "--reason", "disk swap")
    assert outcome.code == 0, outcome.err
    listed = {r[0]: r[4] for r in rows((await live.ogi("events")).out)[1:]}
    assert listed == {"web1": "yes", "db-primary": "no"}
    outcome = await live.ogi("silence", "clear", "--client", "web1", "--check", "disk")
    assert outcome.code == 0, outcome.err
    assert {r[0]: r[4] for r in rows((await live.ogi("events")).out)[1:]} == {"web1": "no", "db-primary": "no"}


async def test_events_for_a_check_without_an_open_event_exits_1_with_a_404(live: Live) -> None:
    outcome = await live.ogi("events", "db-primary", "backup")
    assert outcome.code == 1
    assert outcome.err.startswith("ogi events: ") and "404" in outcome.err and "/events/db-primary/backup" in outcome.err
    assert outcome.out == ""


@pytest.mark.parametrize("argv", [["events"], ["events", "web1"], ["events", "web1", "disk"], ["clients"],
                                  ["checks"], ["results"], ["results", "db-primary"], ["silence", "list"],
                                  ["stash", "list"]])
async def test_json_prints_the_api_s_own_json(live: Live, argv: list[str]) -> None:
    path = {"silence": "/silenced", "stash": "/stashes"}.get(argv[0], "/" + "/".join(argv))
    outcome = await live.ogi(*argv, "--json")
    assert outcome.code == 0, outcome.err
    assert outcome.out == (await live.raw(path)).rstrip("\n") + "\n"
    json.loads(outcome.out)


async def test_clients_shows_subscriptions_without_the_own_one_and_the_keepalive_age(live: Live) -> None:
    table_rows = rows((await live.ogi("clients")).out)
    assert table_rows[0] == ["NAME", "ADDRESS", "SUBSCRIPTIONS", "VERSION", "LAST KEEPALIVE"]
    assert [r[:4] for r in table_rows[1:]] == [["db-primary", "10.0.0.9", "db", "1.9.0"],
                                               ["web1", "10.0.0.7", "web", "1.9.0"]]
    # 75 and 15 seconds before the command ran, give or take a slow machine
    assert re.fullmatch(r"1m(1[5-9]|[2-4]\d)s ago", table_rows[1][4])
    assert re.fullmatch(r"(1[5-9]|[2-4]\d)s ago", table_rows[2][4])


async def test_checks_shows_the_scheduled_checks_with_interval_or_cron(live: Live) -> None:
    assert rows((await live.ogi("checks")).out) == [
        ["NAME", "SCHEDULE", "SUBSCRIBERS", "HANDLERS", "COMMAND"],
        ["backup", "cron 0 3 * * *", "db", "-", "check-backup"],
        ["disk", "every 1m", "web,db", "mail,pager", "check-disk -w 90 -c 95"],
    ]


async def test_results_lists_the_last_result_of_each_check(live: Live) -> None:
    outcome = await live.ogi("results", "db-primary")
    assert [r[:3] + r[4:] for r in rows(outcome.out)] == [
        ["CLIENT", "CHECK", "STATUS", "OUTPUT"],
        ["db-primary", "backup", "OK", "OK: last backup 3h ago"],
        ["db-primary", "disk", "WARNING", "WARNING: /var is 92% full"],
    ]
    outcome = await live.ogi("results", "web1", "nope")
    assert outcome.code == 1 and "404" in outcome.err


async def test_an_empty_listing_says_so_on_stderr_and_prints_nothing(live: Live) -> None:
    outcome = await live.ogi("stash", "list")
    assert (outcome.code, outcome.out, outcome.err) == (0, "", "no stashes\n")


async def test_resolve_publishes_an_ok_result_for_the_open_event(live: Live) -> None:
    results = await live.transport.subscribe("results")
    outcome = await live.ogi("resolve", "web1", "disk")
    assert (outcome.code, outcome.out, outcome.err) == (0, "resolving web1/disk\n", "")
    message = await asyncio.wait_for(anext(aiter(results)), 5)
    async with message.process():
        published = json.loads(message.body)
    assert (published["client"], published["check"]["name"], published["check"]["status"]) == ("web1", "disk", 0)
    await results.close()


async def test_json_after_a_change_prints_the_api_s_answer(live: Live) -> None:
    outcome = await live.ogi("resolve", "web1", "disk", "--json")
    assert outcome.code == 0 and isinstance(json.loads(outcome.out)["issued"], int)
    outcome = await live.ogi("stash", "set", "a/b", "{}", "--json")
    assert (outcome.code, json.loads(outcome.out)) == (0, {"path": "a/b"})
    outcome = await live.ogi("silence", "add", "--check", "disk", "--json")
    assert (outcome.code, outcome.out) == (0, "")


async def test_resolve_of_no_open_event_exits_1(live: Live) -> None:
    outcome = await live.ogi("resolve", "web1", "backup")
    assert outcome.code == 1 and "404" in outcome.err and "POST /resolve" in outcome.err


async def test_request_asks_the_named_subscribers_to_run_the_check(live: Live) -> None:
    web = await live.transport.subscribe("web", kind="fanout")
    outcome = await live.ogi("request", "disk", "--subscribers", "web", "--reason", "after the fix")
    assert (outcome.code, outcome.out, outcome.err) == (0, "requested disk from the subscribers of web\n", "")
    message = await asyncio.wait_for(anext(aiter(web)), 5)
    async with message.process():
        assert json.loads(message.body)["name"] == "disk"
    await web.close()


async def test_request_of_an_undefined_check_exits_1(live: Live) -> None:
    outcome = await live.ogi("request", "nosuch")
    assert outcome.code == 1 and "404" in outcome.err


async def test_silence_add_list_and_clear_a_subscription_and_a_client(live: Live) -> None:
    outcome = await live.ogi("silence", "add", "--subscription", "db", "--expire", "1h", "--reason", "migration",
                             "--creator", "alice")
    assert (outcome.code, outcome.out, outcome.err) == (0, "silenced db:* (for 1h)\n", "")
    outcome = await live.ogi("silence", "add", "--client", "web1", "--check", "disk", "--expire-on-resolve",
                             "--creator", "bob")
    assert (outcome.code, outcome.out) == (0, "silenced client:web1:disk (until it resolves)\n")

    listed = rows((await live.ogi("silence", "list")).out)
    assert listed[0] == ["ID", "BEGIN", "EXPIRES", "ON RESOLVE", "CREATOR", "REASON"]
    assert listed[1] == ["client:web1:disk", "now", "never", "yes", "bob", "-"]
    assert listed[2][:2] == ["db:*", "now"] and listed[2][3:] == ["no", "alice", "migration"]
    assert re.fullmatch(r"(1h|59m\d+s)", listed[2][2])

    outcome = await live.ogi("silence", "clear", "--id", "db:*")
    assert (outcome.code, outcome.out) == (0, "cleared db:*\n")
    outcome = await live.ogi("silence", "clear", "--client", "web1", "--check", "disk")
    assert (outcome.code, outcome.out) == (0, "cleared client:web1:disk\n")
    assert await live.store.list_silences() == []
    outcome = await live.ogi("silence", "clear", "--check", "disk")
    assert outcome.code == 1 and "404" in outcome.err


async def test_a_silence_can_begin_later(live: Live) -> None:
    outcome = await live.ogi("silence", "add", "--check", "disk", "--begin", "+30m", "--expire", "1h")
    assert outcome.code == 0, outcome.err
    [entry] = await live.store.list_silences()
    assert entry["id"] == "*:disk"
    assert abs(entry["begin"] - (time.time() + 1800)) < 5
    begin = rows((await live.ogi("silence", "list")).out)[1][1]
    assert re.fullmatch(r"in (30m|29m\d+s)", begin)


async def test_the_silence_creator_defaults_to_the_login_name(live: Live, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("LOGNAME", "carol")
    monkeypatch.setenv("USER", "carol")
    assert (await live.ogi("silence", "add", "--subscription", "web")).code == 0
    [entry] = await live.store.list_silences()
    assert entry["creator"] == "carol"


async def test_stash_set_get_list_and_delete(live: Live) -> None:
    outcome = await live.ogi("stash", "set", "maintenance/web1", '{"reason": "disk swap", "ticket": 42}',
                             "--expire", "2h")
    assert (outcome.code, outcome.out, outcome.err) == (0, "stored maintenance/web1 (expires in 2h)\n", "")
    outcome = await live.ogi("stash", "set", "notes", "-", stdin='{"owner": "ops"}')
    assert outcome.code == 0, outcome.err

    outcome = await live.ogi("stash", "get", "maintenance/web1")
    assert json.loads(outcome.out) == {"reason": "disk swap", "ticket": 42}
    listed = rows((await live.ogi("stash", "list")).out)
    assert listed[0] == ["PATH", "EXPIRES", "CONTENT"]
    assert listed[1][0] == "maintenance/web1" and re.fullmatch(r"(2h|1h59m)", listed[1][1])
    assert listed[1][2] == '{"reason":"disk swap","ticket":42}'
    assert listed[2] == ["notes", "never", '{"owner":"ops"}']

    outcome = await live.ogi("stash", "delete", "maintenance/web1")
    assert (outcome.code, outcome.out) == (0, "deleted maintenance/web1\n")
    outcome = await live.ogi("stash", "get", "maintenance/web1")
    assert outcome.code == 1 and "404" in outcome.err


async def test_credentials_from_the_config_open_an_api_that_wants_them(tmp_path: Path) -> None:
    site, runner, engine = await start_live({"api": {"user": "ops", "password": "s3cret"}})
    try:
        outcome = await site.ogi("clients")
        assert outcome.code == 1 and "401" in outcome.err and "OGI_API_USER" in outcome.err
        (tmp_path / "api.json").write_text(json.dumps({"api": {"port": site.port, "user": "ops", "password": "s3cret"}}))
        outcome = await ogi("clients", "-d", str(tmp_path))
        assert (outcome.code, outcome.err) == (0, "no clients\n")
    finally:
        await runner.stop()
        await engine.close()


# --- docs/operators.md ---------------------------------------------------------------------------

DOC = Path(__file__).resolve().parents[2] / "docs" / "operators.md"


def doc_examples() -> list[tuple[str, list[str]]]:
    """(command, expected output lines) from the doc's console blocks, in order."""
    examples: list[tuple[str, list[str]]] = []
    in_block = False
    for line in DOC.read_text().splitlines():
        if line.startswith("```"):
            in_block = line == "```console"
        elif in_block and line.startswith("$ "):
            examples.append((line[2:], []))
        elif in_block and examples:
            examples[-1][1].append(line)
    return examples


def comparable(lines: list[str]) -> list[list[str]]:
    # Ages and times left depend on the clock; everything else must match.
    return [[re.sub(r"\d+[smhd](\d+[smhd])?", "T", cell) for cell in re.split(r"\s{2,}", line.rstrip())]
            for line in lines]


async def test_every_example_in_the_operators_doc_gives_the_output_shown(
    live: Live, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("LOGNAME", "alice")
    text = DOC.read_text()
    shown = json.loads(text[text.index("```json\n") + 8:text.index("```", text.index("```json\n") + 8)])
    real = json.loads((await live.ogi("events", "web1", "disk", "--json")).out)
    assert list(shown) == list(real) and list(shown["check"]) == list(real["check"])
    assert {k: v for k, v in shown["check"].items() if k not in ("issued", "executed")} == {
        k: v for k, v in real["check"].items() if k not in ("issued", "executed")}

    examples = doc_examples()
    assert len(examples) > 15
    ran = 0
    for command, expected in examples:
        argv = shlex.split(command)
        if "|" in argv:  # the jq example: the same selection, done here
            events = json.loads((await live.ogi("events", "--json")).out)
            assert [e["client"]["name"] for e in events if e["check"]["status"] == 2] == expected
            continue
        if "--api" in argv:  # the unreachable-API example; its port may be in use here
            continue
        assert argv[0] == "ogi"
        outcome = await live.ogi(*argv[1:])
        assert comparable((outcome.out + outcome.err).splitlines()) == comparable(expected), command
        ran += 1
    assert ran == len(examples) - 2


async def test_an_https_api_from_the_config_is_trusted_with_cacert_and_refused_without(tmp_path: Path) -> None:
    cert, key = tmp_path / "api.crt", tmp_path / "api.key"
    subprocess.run(
        ["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", str(key), "-out", str(cert),
         "-days", "1", "-subj", "/CN=127.0.0.1", "-addext", "subjectAltName=IP:127.0.0.1"],
        check=True, capture_output=True,
    )
    site, runner, engine = await start_live({"api": {"ssl": {"cert_file": str(cert), "key_file": str(key)}}})
    try:
        conf = tmp_path / "conf.d"
        conf.mkdir()
        (conf / "api.json").write_text(json.dumps(
            {"api": {"port": site.port, "ssl": {"cert_file": str(cert), "key_file": str(key)}}}))
        outcome = await ogi("clients", "-d", str(conf), "--cacert", str(cert))
        assert (outcome.code, outcome.err) == (0, "no clients\n")
        outcome = await ogi("clients", "-d", str(conf))
        assert outcome.code == 1
        assert outcome.err.startswith(f"ogi clients: cannot reach the ogi API at https://127.0.0.1:{site.port}: ")
        assert "CERTIFICATE_VERIFY_FAILED" in outcome.err
    finally:
        await runner.stop()
        await engine.close()
